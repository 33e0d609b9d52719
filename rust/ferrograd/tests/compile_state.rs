//! Compile state through a model file, natively: a model compiled (from a Keras
//! `compile_config`) with each of the nine optimizers — each with a learning-rate schedule and
//! a clipping option — and each built-in loss and metric, trained an epoch, saved and loaded
//! with `ferrograd::saving::load_model`, continues training exactly as the model that was
//! never saved: the same epoch logs (loss and every metric) and the same weights.
//!
//! The reference is the uninterrupted run of the same engine; the file must lose nothing (the
//! optimizer's class, hyperparameters, schedule, clipping and slots, the loss and its
//! reduction, the loss weights, the metrics and their names).

use std::sync::Arc;

use ferrograd::model::{Compiled, Data, Graph, Model};
use ferrograd::nn::{build, Activation, Dense, Layer};
use ferrograd::saving::{load_model, save_model, SaveOptions};
use ferrograd::{DType, Tensor};
use serde_json::{json, Value};

const SAMPLES: usize = 12;
const CLASSES: usize = 3;

/// A deterministic stream in [-1, 1) (xorshift), so the test needs no RNG crate.
fn stream(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// `x -> Dense(5, tanh) -> Dense(3, softmax)`: probabilities every loss accepts.
fn model(seed: u64) -> Model {
    let mut graph = Graph::new(DType::F64);
    let mut value = graph.add_input("x", vec![None, Some(4)]);
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Dense::new("hidden", 5, Activation::Tanh, true)),
        Arc::new(Dense::new("probs", CLASSES, Activation::Softmax(-1), true)),
    ];
    for layer in layers {
        let input = graph.shape(value).unwrap().clone();
        build(layer.as_ref(), &[input], DType::F64).unwrap();
        value = graph.add_layer(layer, vec![value]).unwrap()[0];
    }
    graph.set_outputs(vec![value]).unwrap();
    let mut next = stream(seed);
    for w in graph.weights() {
        let values: Vec<f64> = (0..w.value.len()).map(|_| next() * 0.8).collect();
        let t = Tensor::from_vec(&w.value.shape(), values).unwrap();
        w.value.assign(t.storage()).unwrap();
    }
    Model::new(graph)
}

/// Inputs and class ids, and the targets a loss takes: one-hot rows, or the ids themselves for
/// the sparse cross-entropy.
fn data(sparse: bool) -> Data {
    let mut next = stream(7);
    let x: Vec<f64> = (0..SAMPLES * 4).map(|_| next()).collect();
    let ids: Vec<usize> = (0..SAMPLES).map(|i| (i * 7 + 1) % CLASSES).collect();
    let y = if sparse {
        Tensor::from_vec(&[SAMPLES], ids.iter().map(|&c| c as f64).collect()).unwrap()
    } else {
        let mut one_hot = vec![0.0; SAMPLES * CLASSES];
        for (i, &c) in ids.iter().enumerate() {
            one_hot[i * CLASSES + c] = 1.0;
        }
        Tensor::from_vec(&[SAMPLES, CLASSES], one_hot).unwrap()
    };
    let x = Tensor::from_vec(&[SAMPLES, 4], x).unwrap();
    Data::new(vec![x], vec![y], None).unwrap()
}

/// Each optimizer as Keras writes it, with a schedule and one of the clipping options.
fn optimizers() -> Vec<Value> {
    let schedules = [
        json!({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.05, "decay_steps": 2, "decay_rate": 0.7, "staircase": true}}),
        json!({"class_name": "InverseTimeDecay", "config": {"initial_learning_rate": 0.05, "decay_steps": 1, "decay_rate": 0.5}}),
        json!({"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [2, 5], "values": [0.05, 0.02, 0.01]}}),
        json!({"class_name": "PolynomialDecay", "config": {"initial_learning_rate": 0.05, "decay_steps": 6, "power": 2.0, "cycle": true}}),
        json!({"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.01, "decay_steps": 8, "alpha": 0.1, "warmup_target": 0.05, "warmup_steps": 2}}),
        json!({"class_name": "CosineDecayRestarts", "config": {"initial_learning_rate": 0.05, "first_decay_steps": 3, "t_mul": 1.5, "m_mul": 0.8}}),
    ];
    let clips = [
        ("clipnorm", 0.5),
        ("clipvalue", 0.05),
        ("global_clipnorm", 0.3),
    ];
    let rules = [
        ("SGD", json!({"momentum": 0.9, "nesterov": true})),
        (
            "RMSprop",
            json!({"rho": 0.8, "momentum": 0.5, "centered": true}),
        ),
        ("Adagrad", json!({"initial_accumulator_value": 0.2})),
        ("Adadelta", json!({"rho": 0.9})),
        ("Adam", json!({"amsgrad": true, "weight_decay": 0.01})),
        ("AdamW", json!({"beta_2": 0.99})),
        ("Adamax", json!({"beta_1": 0.8})),
        ("Nadam", json!({"epsilon": 1e-6})),
        ("Lion", json!({"beta_1": 0.95})),
    ];
    rules
        .into_iter()
        .enumerate()
        .map(|(i, (class, mut config))| {
            config["learning_rate"] = schedules[i % schedules.len()].clone();
            let (clip, threshold) = clips[i % clips.len()];
            config[clip] = json!(threshold);
            json!({"module": "keras.optimizers", "class_name": class, "config": config})
        })
        .collect()
}

/// Every built-in loss but CTC (which takes sequences), as a string or a serialized object
/// with non-default arguments.
fn losses() -> Vec<Value> {
    vec![
        json!("mse"),
        json!("mean_absolute_error"),
        json!({"class_name": "MeanAbsolutePercentageError", "config": {"reduction": "sum"}}),
        json!("msle"),
        json!({"class_name": "Huber", "config": {"delta": 0.3}}),
        json!("log_cosh"),
        json!("hinge"),
        json!("squared_hinge"),
        json!("categorical_hinge"),
        json!({"class_name": "BinaryCrossentropy", "config": {"label_smoothing": 0.1}}),
        json!({"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.2, "reduction": "mean_with_sample_weight"}}),
        json!("sparse_categorical_crossentropy"),
        json!("kld"),
        json!("poisson"),
        json!({"class_name": "CosineSimilarity", "config": {"axis": -1}}),
    ]
}

/// Every metric class a compiled model can hold (all but `Mean` and `Sum`, which take values
/// rather than targets), for one-hot targets or for class ids.
fn metrics(sparse: bool) -> Value {
    if sparse {
        return json!([
            "accuracy",
            "sparse_categorical_accuracy",
            {"class_name": "SparseTopKCategoricalAccuracy", "config": {"k": 2, "name": "top2"}},
            {"class_name": "SparseCategoricalCrossentropy", "config": {}},
        ]);
    }
    json!([
        "accuracy",
        "acc",
        "crossentropy",
        {"class_name": "Accuracy", "config": {"name": "exact"}},
        {"class_name": "BinaryAccuracy", "config": {"threshold": 0.4}},
        "categorical_accuracy",
        {"class_name": "TopKCategoricalAccuracy", "config": {"k": 2}},
        {"class_name": "AUC", "config": {"num_thresholds": 20, "curve": "PR"}},
        {"class_name": "Precision", "config": {"thresholds": [0.3, 0.6]}},
        {"class_name": "Recall", "config": {"class_id": 1}},
        "true_positives",
        "false_positives",
        "true_negatives",
        "false_negatives",
        {"class_name": "PrecisionAtRecall", "config": {"recall": 0.5, "num_thresholds": 30}},
        {"class_name": "RecallAtPrecision", "config": {"precision": 0.5}},
        {"class_name": "SensitivityAtSpecificity", "config": {"specificity": 0.5}},
        {"class_name": "SpecificityAtSensitivity", "config": {"sensitivity": 0.5}},
        "mse",
        "mae",
        "root_mean_squared_error",
        "mape",
        "msle",
        "log_cosh_error",
        {"class_name": "CosineSimilarity", "config": {}},
        "hinge",
        "squared_hinge",
        "categorical_hinge",
        "kl_divergence",
        "poisson",
        {"class_name": "BinaryCrossentropy", "config": {"from_logits": false}},
        {"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.1}},
    ])
}

fn fit(model: &mut Model, data: &Data) -> Vec<(String, f64)> {
    model
        .fit_epoch(data, 5, false, 0, &mut |_, _| true)
        .unwrap()
        .0
}

fn weights(model: &Model) -> Vec<Vec<f64>> {
    model
        .graph()
        .weights()
        .iter()
        .map(|w| w.value.to_f64().iter().copied().collect())
        .collect()
}

/// Trains two epochs uninterrupted, and one epoch, a save and a load, and one more epoch;
/// both must end identical.
fn continues_identically(optimizer: &Value, loss: &Value, loss_weight: f64) {
    let sparse = loss == &json!("sparse_categorical_crossentropy");
    let what = format!("{} with {loss}", optimizer["class_name"]);
    let config = json!({
        "optimizer": optimizer, "loss": loss, "loss_weights": [loss_weight],
        "metrics": metrics(sparse),
    });
    let data = data(sparse);
    let mut uninterrupted = model(3);
    let compiled = Compiled::from_config(&config, uninterrupted.graph())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    uninterrupted.compile(compiled).unwrap();
    fit(&mut uninterrupted, &data);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_model(&uninterrupted, &path, &SaveOptions::default()).unwrap();
    let mut loaded = load_model(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (a, b) = (
        uninterrupted.compiled().unwrap(),
        loaded.compiled().expect("the compile state is restored"),
    );
    assert_eq!(
        a.to_config().unwrap(),
        b.to_config().unwrap(),
        "{what}: compile config"
    );
    let iterations = |c: &Compiled| c.optimizer.lock().unwrap().iterations();
    assert_eq!(iterations(a), iterations(b), "{what}: iterations");

    let expected = fit(&mut uninterrupted, &data);
    let got = fit(&mut loaded, &data);
    assert_eq!(got.len(), expected.len(), "{what}: {got:?}");
    for ((name, value), (expected_name, expected_value)) in got.iter().zip(&expected) {
        assert_eq!(name, expected_name, "{what}");
        assert!(
            value.to_bits() == expected_value.to_bits()
                || (value - expected_value).abs() <= 1e-12 * expected_value.abs().max(1.0),
            "{what}: {name} = {value} after loading, {expected_value} uninterrupted"
        );
    }
    assert_eq!(weights(&loaded), weights(&uninterrupted), "{what}: weights");
}

#[test]
fn every_optimizer_with_schedule_and_clipping_continues_after_loading() {
    let losses = losses();
    for (i, optimizer) in optimizers().iter().enumerate() {
        continues_identically(optimizer, &losses[i % losses.len()], 1.0);
    }
}

#[test]
fn every_loss_and_metric_continues_after_loading() {
    let optimizers = optimizers();
    for (i, loss) in losses().iter().enumerate() {
        continues_identically(&optimizers[i % optimizers.len()], loss, 0.5 + i as f64);
    }
}

#[test]
fn unsupported_compile_settings_are_refused_naming_them() {
    let model = model(1);
    let refuse = |config: Value, needle: &str| {
        let message = Compiled::from_config(&config, model.graph())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains(needle), "{needle}: {message}");
    };
    let adam = json!({"class_name": "Adam", "config": {}});
    refuse(json!({"optimizer": null, "loss": "mse"}), "no optimizer");
    refuse(json!({"optimizer": adam, "loss": "msq"}), "msq");
    refuse(
        json!({"optimizer": {"class_name": "Adam", "config": {"use_ema": true}}, "loss": "mse"}),
        "use_ema",
    );
    refuse(
        json!({"optimizer": adam, "loss": "mse", "metrics": ["f1"]}),
        "f1",
    );
    refuse(
        json!({"optimizer": adam, "loss": {"wrong_output": "mse"}}),
        "wrong_output",
    );
    refuse(
        json!({"optimizer": adam, "loss": "mse", "loss_weights": ["big"]}),
        "big",
    );
}
