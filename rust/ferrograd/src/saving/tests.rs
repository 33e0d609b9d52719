//! Natively built models through their Keras config and back: every engine layer class writes a
//! config that [`config::graph_from_config`] reads into a layer computing the same thing, and
//! whole models save and load with [`save_model`] / [`load_model`] to identical predictions.

use std::sync::Arc;

use serde_json::Value;

use super::config::{graph_from_config, model_config};
use super::*;
use crate::init::Initializer;
use crate::model::Graph;
use crate::nn::layer_config;
use crate::nn::{
    build, Activation, ActivationLayer, BatchNormalization, Bidirectional, BidirectionalMerge,
    Conv, ConvTranspose, Cropping, Dense, DepthwiseConv, Dropout, Embedding, Flatten,
    GlobalPooling, GroupNormalization, Interpolation, Layer, LayerNormalization, Masking, Merge,
    MergeOp, PRelu, Padding, PoolMode, Pooling, Recurrent, RecurrentConfig, Reshape, SeparableConv,
    Shape, TimeDistributed, UpSampling, ZeroPadding,
};
use crate::ops::{PoolPadding, RnnCell};
use crate::regularizers::Regularizer;
use crate::tensor::{DType, Tensor};

const BATCH: usize = 3;

/// Random values in [-1, 1) (in [0.5, 1.5) for variances, which must stay positive).
fn randomize(graph: &Graph, seed: u64) {
    for (i, w) in graph.weights().iter().enumerate() {
        let init = if w.name.contains("variance") {
            Initializer::RandomUniform {
                minval: 0.5,
                maxval: 1.5,
            }
        } else {
            Initializer::RandomUniform {
                minval: -1.0,
                maxval: 1.0,
            }
        };
        let value = init
            .sample(&w.value.shape(), w.value.dtype(), Some(seed + i as u64))
            .unwrap();
        w.value.assign(value.storage()).unwrap();
    }
}

/// A random float input of `shape` (its batch axis `BATCH`).
fn random_input(shape: &Shape, seed: u64) -> Tensor {
    let dims: Vec<usize> = shape.iter().map(|d| d.unwrap_or(BATCH)).collect();
    Initializer::RandomNormal {
        mean: 0.0,
        stddev: 1.0,
    }
    .sample(&dims, DType::F64, Some(seed))
    .unwrap()
}

/// Integer ids in `[0, input_dim)` as floats, each sample's last steps 0 (padding).
fn ids(batch: usize, steps: usize, input_dim: usize) -> Tensor {
    let values: Vec<f64> = (0..batch * steps)
        .map(|i| {
            let (b, t) = (i / steps, i % steps);
            if t + b >= steps {
                0.0
            } else {
                ((i * 5 + 3) % (input_dim - 1) + 1) as f64
            }
        })
        .collect();
    Tensor::from_vec(&[batch, steps], values).unwrap()
}

fn predict(model: &Model, x: &[Tensor]) -> Vec<Tensor> {
    model.predict(x, 32, &mut |_, _| true).unwrap()
}

fn assert_same_predictions(a: &Model, b: &Model, x: &[Tensor], what: &str) {
    let (pa, pb) = (predict(a, x), predict(b, x));
    assert_eq!(pa.len(), pb.len(), "{what}: number of outputs");
    for (i, (ya, yb)) in pa.iter().zip(&pb).enumerate() {
        assert_eq!(ya.shape(), yb.shape(), "{what}: shape of output {i}");
        assert_eq!(ya.to_f64(), yb.to_f64(), "{what}: values of output {i}");
    }
}

/// A graph `inputs -> layer` (the layer built already), in float64.
fn one_layer_model(layer: Arc<dyn Layer>, shapes: &[Shape]) -> Model {
    let mut graph = Graph::new(DType::F64);
    let refs = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| graph.add_input(format!("input_{i}"), s.clone()))
        .collect();
    build(layer.as_ref(), shapes, DType::F64).unwrap();
    let outputs = graph.add_layer(layer, refs).unwrap();
    graph.set_outputs(outputs).unwrap();
    Model::new(graph)
}

/// Writes the model's config, reads it back, copies the weights and checks that the rebuilt
/// model predicts exactly the same and writes the same config. Returns the layer's config.
fn round_trip(layer: Arc<dyn Layer>, shapes: &[Shape], x: &[Tensor]) -> Value {
    let what = format!("{} '{}'", layer.class_name(), layer.name());
    let model = one_layer_model(layer.clone(), shapes);
    randomize(model.graph(), 7);
    let config = model_config(model.graph()).unwrap();
    let text = config.to_string();
    let graph = graph_from_config(&serde_json::from_str(&text).unwrap())
        .unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    let rebuilt = Model::new(graph);
    let (tensors, metadata) = weights::state_tensors(&model, false).unwrap();
    let report = weights::load_weights(
        &rebuilt,
        &TensorFile { metadata, tensors },
        LoadOptions {
            skip_mismatch: false,
            strict_names: true,
        },
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(report.loaded.len(), model.graph().weights().len(), "{what}");
    assert_same_predictions(&model, &rebuilt, x, &what);

    let written = layer_config(layer.as_ref()).unwrap();
    let again = rebuilt
        .graph()
        .layers()
        .into_iter()
        .find(|l| l.name() == layer.name())
        .unwrap_or_else(|| panic!("{what}: not in the rebuilt graph"));
    assert_eq!(
        layer_config(again.as_ref()).unwrap(),
        written,
        "{what}: layer_config of the rebuilt layer"
    );
    assert_eq!(model_config(rebuilt.graph()).unwrap(), config, "{what}");
    written
}

/// `round_trip` on one random float input of `shape`.
fn check(layer: impl Layer + 'static, shape: &[Option<usize>]) -> Value {
    let shape: Shape = shape.to_vec();
    let x = random_input(&shape, 11);
    round_trip(Arc::new(layer), &[shape], &[x])
}

fn image() -> Vec<Option<usize>> {
    vec![None, Some(7), Some(6), Some(4)]
}

fn sequence() -> Vec<Option<usize>> {
    vec![None, Some(9), Some(4)]
}

#[test]
fn core_activation_and_normalization_layers_round_trip() {
    let mut dense = Dense::new("dense", 3, Activation::Selu, false);
    dense.kernel_regularizer = Some(Regularizer::L1L2 { l1: 0.01, l2: 0.02 });
    let c = check(dense, &[None, Some(5)]);
    assert_eq!(c["config"]["kernel_regularizer"]["class_name"], "L1L2");
    check(
        ActivationLayer::new("act", Activation::Gelu { approximate: false }),
        &[None, Some(5)],
    );
    check(
        ActivationLayer::with_class(
            "relu",
            "ReLU",
            Activation::ReluWith {
                negative_slope: 0.1,
                max_value: Some(0.8),
                threshold: 0.2,
            },
        ),
        &[None, Some(5)],
    );
    check(
        ActivationLayer::with_class("leaky", "LeakyReLU", Activation::LeakyRelu(0.1)),
        &[None, Some(5)],
    );
    check(
        ActivationLayer::with_class("elu", "ELU", Activation::Elu(0.7)),
        &[None, Some(5)],
    );
    check(
        ActivationLayer::with_class("softmax", "Softmax", Activation::Softmax(1)),
        &[None, Some(4), Some(3)],
    );
    check(Flatten::new("flatten"), &image());
    check(Reshape::new("reshape", vec![-1, 2]).unwrap(), &image());
    check(
        Dropout::new("dropout", 0.3, Some(vec![None, Some(1), Some(4)]), Some(5)).unwrap(),
        &sequence(),
    );
    let mut bn = BatchNormalization::new("bn", vec![-1], 0.9, 1e-2, false, true).unwrap();
    bn.gamma_regularizer = Some(Regularizer::L2 { l2: 0.03 });
    check(bn, &image());
    check(
        LayerNormalization::new("ln", vec![1, 2], 1e-4, true, false).unwrap(),
        &image(),
    );
    check(
        GroupNormalization::new("gn", 2, -1, 1e-2, true, true).unwrap(),
        &image(),
    );
    let mut prelu = PRelu::new("prelu", vec![1, 2]);
    prelu.alpha_regularizer = Some(Regularizer::L1 { l1: 0.5 });
    check(prelu, &image());
    check(PRelu::new("prelu_full", vec![]), &sequence());
}

#[test]
fn merges_round_trip() {
    let shape: Shape = vec![None, Some(3), Some(4)];
    let x = [random_input(&shape, 1), random_input(&shape, 2)];
    for op in [
        MergeOp::Add,
        MergeOp::Subtract,
        MergeOp::Multiply,
        MergeOp::Average,
        MergeOp::Maximum,
        MergeOp::Minimum,
        MergeOp::Concatenate { axis: 1 },
    ] {
        let merge = Arc::new(Merge::new("merge", op));
        round_trip(merge, &[shape.clone(), shape.clone()], &x);
    }
}

#[test]
fn convolutions_round_trip() {
    let conv1d = Conv::with_options(
        "conv1d",
        6,
        vec![3],
        vec![1],
        Padding::Causal,
        vec![2],
        2,
        Activation::Relu,
        false,
    )
    .unwrap();
    let c = check(conv1d, &sequence());
    assert_eq!(c["class_name"], "Conv1D");
    assert_eq!(c["config"]["kernel_size"], serde_json::json!([3]));
    assert_eq!(c["config"]["padding"], "causal");
    let mut conv2d = Conv::with_options(
        "conv2d",
        5,
        vec![3, 2],
        vec![2, 1],
        Padding::Same,
        vec![1, 2],
        1,
        Activation::Tanh,
        true,
    )
    .unwrap();
    conv2d.kernel_regularizer = Some(Regularizer::L2 { l2: 0.01 });
    conv2d.bias_regularizer = Some(Regularizer::L1 { l1: 0.02 });
    conv2d.core().set_trainable(false).unwrap();
    let c = check(conv2d, &image());
    assert_eq!(c["config"]["trainable"], false);
    assert_eq!(c["config"]["data_format"], "channels_last");

    for (rank, shape) in [(1, sequence()), (2, image())] {
        let depthwise = DepthwiseConv::new(
            format!("depthwise_{rank}"),
            2,
            vec![2; rank],
            vec![2; rank],
            Padding::Same,
            vec![1; rank],
            Activation::Sigmoid,
            true,
        )
        .unwrap();
        check(depthwise, &shape);
        let mut separable = SeparableConv::new(
            format!("separable_{rank}"),
            3,
            2,
            vec![2; rank],
            vec![1; rank],
            Padding::Valid,
            vec![2; rank],
            Activation::Elu(1.0),
            true,
        )
        .unwrap();
        separable.pointwise_regularizer = Some(Regularizer::L2 { l2: 0.1 });
        check(separable, &shape);
        let transpose = ConvTranspose::new(
            format!("transpose_{rank}"),
            3,
            vec![3; rank],
            vec![2; rank],
            Padding::Same,
            vec![1; rank],
            Activation::Linear,
            rank == 1,
        )
        .unwrap();
        let c = check(transpose, &shape);
        assert_eq!(c["config"]["output_padding"], Value::Null);
        let transpose = ConvTranspose::new(
            format!("transpose_padded_{rank}"),
            2,
            vec![3; rank],
            vec![2; rank],
            Padding::Valid,
            vec![1; rank],
            Activation::Relu,
            true,
        )
        .unwrap()
        .with_output_padding(Some(vec![1; rank]))
        .unwrap();
        let c = check(transpose, &shape);
        assert_eq!(
            c["config"]["output_padding"],
            serde_json::json!(vec![1; rank])
        );
    }
}

#[test]
fn pooling_and_spatial_layers_round_trip() {
    for (rank, shape) in [(1, sequence()), (2, image())] {
        for mode in [PoolMode::Max, PoolMode::Average] {
            let (pool, strides) = if rank == 1 {
                (vec![3], vec![2])
            } else {
                (vec![2, 3], vec![1, 2])
            };
            let same = Pooling::new("pool", mode, &pool, Some(&strides), PoolPadding::Same);
            let c = check(same.unwrap(), &shape);
            assert_eq!(c["config"]["pool_size"], serde_json::json!(pool));
            assert_eq!(c["config"]["strides"], serde_json::json!(strides));
            let valid = Pooling::new("pool_valid", mode, &pool, None, PoolPadding::Valid);
            check(valid.unwrap(), &shape);
            for keepdims in [false, true] {
                let global = GlobalPooling::new("global", mode, rank, keepdims).unwrap();
                check(global, &shape);
            }
        }
    }
    let c = check(ZeroPadding::new("zp1", vec![(1, 2)]).unwrap(), &sequence());
    assert_eq!(c["config"]["padding"], serde_json::json!([1, 2]));
    let c = check(
        ZeroPadding::new("zp2", vec![(1, 0), (2, 3)]).unwrap(),
        &image(),
    );
    assert_eq!(c["config"]["padding"], serde_json::json!([[1, 0], [2, 3]]));
    let c = check(Cropping::new("crop1", vec![(1, 2)]).unwrap(), &sequence());
    assert_eq!(c["config"]["cropping"], serde_json::json!([1, 2]));
    assert!(c["config"].get("data_format").is_none()); // Keras's Cropping1D takes none
    let c = check(
        Cropping::new("crop2", vec![(1, 0), (0, 2)]).unwrap(),
        &image(),
    );
    assert_eq!(c["config"]["cropping"], serde_json::json!([[1, 0], [0, 2]]));
    let c = check(UpSampling::new("up1", vec![3]).unwrap(), &sequence());
    assert_eq!(c["config"]["size"], serde_json::json!(3));
    check(UpSampling::new("up2", vec![2, 3]).unwrap(), &image());
    let bilinear =
        UpSampling::with_interpolation("up2_bilinear", vec![2, 3], Interpolation::Bilinear);
    let c = check(bilinear.unwrap(), &image());
    assert_eq!(c["config"]["interpolation"], "bilinear");
}

fn recurrent(name: &str, cell: RnnCell, config: RecurrentConfig) -> Recurrent {
    Recurrent::new(name, cell, config).unwrap()
}

#[test]
fn sequence_layers_round_trip() {
    let mut embedding = Embedding::new("embedding", 7, 3, true).unwrap();
    embedding.embeddings_regularizer = Some(Regularizer::L2 { l2: 0.1 });
    let shape: Shape = vec![None, Some(5)];
    round_trip(Arc::new(embedding), &[shape], &[ids(BATCH, 5, 7)]);
    let shape: Shape = vec![None, Some(4), Some(2)];
    let mut x = random_input(&shape, 3).to_f64();
    x[[0, 1, 0]] = 0.5;
    x[[0, 1, 1]] = 0.5;
    let x = Tensor::from_vec(&[BATCH, 4, 2], x.iter().copied().collect()).unwrap();
    round_trip(Arc::new(Masking::new("masking", 0.5)), &[shape], &[x]);

    let simple = RecurrentConfig {
        activation: Activation::Relu,
        use_bias: false,
        return_sequences: true,
        go_backwards: true,
        seed: Some(42),
        ..RecurrentConfig::new(3)
    };
    let c = check(
        recurrent("simple_rnn", RnnCell::Simple, simple),
        &sequence(),
    );
    assert!(c["config"].get("recurrent_activation").is_none());
    let lstm = RecurrentConfig {
        recurrent_activation: Activation::Tanh,
        return_state: true,
        unit_forget_bias: false,
        dropout: 0.2,
        recurrent_dropout: 0.1,
        ..RecurrentConfig::new(4)
    };
    let mut layer = recurrent("lstm", RnnCell::Lstm, lstm);
    layer.recurrent_regularizer = Some(Regularizer::L2 { l2: 0.01 });
    let c = check(layer, &sequence());
    assert_eq!(c["config"]["unit_forget_bias"], false);
    let gru = RecurrentConfig {
        reset_after: false,
        return_sequences: true,
        zero_output_for_mask: true,
        activation: Activation::Sigmoid,
        ..RecurrentConfig::new(2)
    };
    let c = check(recurrent("gru", RnnCell::Gru, gru), &sequence());
    assert_eq!(c["config"]["reset_after"], false);
    let gru = RecurrentConfig {
        return_state: true,
        recurrent_dropout: 0.3,
        ..RecurrentConfig::new(3)
    };
    check(recurrent("gru_states", RnnCell::Gru, gru), &sequence());
}

#[test]
fn wrappers_round_trip() {
    let shape: Shape = sequence();
    for (cell, merge, sequences) in [
        (RnnCell::Lstm, BidirectionalMerge::Sum, true),
        (RnnCell::Gru, BidirectionalMerge::Concat, false),
        (RnnCell::Simple, BidirectionalMerge::Ave, true),
        (RnnCell::Lstm, BidirectionalMerge::Mul, false),
    ] {
        let config = RecurrentConfig {
            return_sequences: sequences,
            return_state: !sequences,
            ..RecurrentConfig::new(3)
        };
        let bi = Bidirectional::wrap("bidirectional", "rnn", cell, config, merge).unwrap();
        for inner in [bi.forward(), bi.backward()] {
            build(inner.as_ref(), std::slice::from_ref(&shape), DType::F64).unwrap();
        }
        let c = check(bi, &shape);
        assert_eq!(c["config"]["layer"]["config"]["name"], "forward_rnn");
        assert!(c["config"].get("backward_layer").is_none(), "{c}");
    }

    // A backward layer that is not the forward one's copy is written out.
    let forward = RecurrentConfig {
        return_sequences: true,
        zero_output_for_mask: true,
        ..RecurrentConfig::new(3)
    };
    let backward = RecurrentConfig {
        units: 2,
        activation: Activation::Relu,
        go_backwards: true,
        ..forward
    };
    let f: Arc<dyn Layer> = Arc::new(recurrent("forward_gru", RnnCell::Gru, forward));
    let b: Arc<dyn Layer> = Arc::new(recurrent("backward_other", RnnCell::Gru, backward));
    for inner in [&f, &b] {
        build(inner.as_ref(), std::slice::from_ref(&shape), DType::F64).unwrap();
    }
    let bi = Bidirectional::new("bi", f, b, BidirectionalMerge::Concat, true);
    let c = check(bi, &shape);
    assert_eq!(
        c["config"]["backward_layer"]["config"]["name"],
        "backward_other"
    );

    // A forward layer not named as Keras names it cannot be written.
    let f: Arc<dyn Layer> = Arc::new(recurrent("gru", RnnCell::Gru, forward));
    let b: Arc<dyn Layer> = Arc::new(recurrent("gru_back", RnnCell::Gru, backward));
    let bi = Bidirectional::new("bi", f, b, BidirectionalMerge::Concat, true);
    let err = layer_config(&bi).unwrap_err().to_string();
    assert!(err.contains("forward_<name>"), "{err}");

    let dense: Arc<dyn Layer> = Arc::new(Dense::new("dense", 2, Activation::Softplus, true));
    build(dense.as_ref(), &[vec![None, Some(4)]], DType::F64).unwrap();
    let c = check(TimeDistributed::new("td", dense), &shape);
    assert_eq!(c["config"]["layer"]["class_name"], "Dense");
    let conv: Arc<dyn Layer> = Arc::new(Conv::new("conv", 2, vec![2, 2], Activation::Relu));
    build(conv.as_ref(), &[image()], DType::F64).unwrap();
    let mut frames = vec![None, Some(2)];
    frames.extend(image().into_iter().skip(1));
    check(TimeDistributed::new("td_conv", conv), &frames);
}

#[test]
fn activations_without_a_keras_name_are_refused() {
    let dense = Dense::new("dense", 2, Activation::LeakyRelu(0.1), true);
    let err = layer_config(&dense).unwrap_err().to_string();
    assert!(err.contains("LeakyReLU"), "{err}");
    let conv = Conv::new("conv", 2, vec![2], Activation::Softmax(1));
    assert!(layer_config(&conv).is_err());
    let act = ActivationLayer::new("act", Activation::Elu(0.5));
    assert!(layer_config(&act).is_err());
    // Names that mean exactly the activation are written.
    let dense = Dense::new("dense", 2, Activation::LeakyRelu(0.2), true);
    assert_eq!(
        layer_config(&dense).unwrap()["config"]["activation"],
        "leaky_relu"
    );
}

// ----- whole models through files

/// Chains `layers` after one input of `shape` (each built on the way), in float32.
fn chain(shape: Shape, layers: Vec<Arc<dyn Layer>>) -> Model {
    let mut graph = Graph::new(DType::F32);
    let mut value = graph.add_input("input_layer", shape);
    for layer in layers {
        let input = graph.shape(value).unwrap().clone();
        build(layer.as_ref(), &[input], DType::F32).unwrap();
        value = graph.add_layer(layer, vec![value]).unwrap()[0];
    }
    graph.set_outputs(vec![value]).unwrap();
    let model = Model::new(graph);
    randomize(model.graph(), 3);
    model
}

fn save_and_load(model: &Model, x: &[Tensor], what: &str) -> Model {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_model(model, &path, &SaveOptions::default()).unwrap();
    let loaded = load_model(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_same_predictions(model, &loaded, x, what);
    assert_eq!(
        config::model_config(loaded.graph()).unwrap(),
        config::model_config(model.graph()).unwrap(),
        "{what}"
    );
    loaded
}

fn f32_input(shape: &[usize], seed: u64) -> Tensor {
    Initializer::RandomNormal {
        mean: 0.0,
        stddev: 1.0,
    }
    .sample(shape, DType::F32, Some(seed))
    .unwrap()
}

#[test]
fn convolutional_model_saves_and_loads() {
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Conv::new("conv2d", 4, vec![3, 3], Activation::Relu)),
        Arc::new(
            BatchNormalization::new("batch_normalization", vec![-1], 0.99, 1e-3, true, true)
                .unwrap(),
        ),
        Arc::new(
            Pooling::new(
                "max_pooling2d",
                PoolMode::Max,
                &[2, 2],
                None,
                PoolPadding::Valid,
            )
            .unwrap(),
        ),
        Arc::new(
            Conv::with_options(
                "conv2d_1",
                6,
                vec![2, 2],
                vec![1, 1],
                Padding::Same,
                vec![1, 1],
                1,
                Activation::Linear,
                true,
            )
            .unwrap(),
        ),
        Arc::new(
            GlobalPooling::new("global_average_pooling2d", PoolMode::Average, 2, false).unwrap(),
        ),
        Arc::new(Dense::new("dense", 8, Activation::Relu, true)),
        Arc::new(Dropout::new("dropout", 0.5, None, None).unwrap()),
        Arc::new(Dense::new("dense_1", 3, Activation::Softmax(-1), true)),
    ];
    let model = chain(vec![None, Some(10), Some(10), Some(2)], layers);
    save_and_load(&model, &[f32_input(&[5, 10, 10, 2], 1)], "conv model");
}

#[test]
fn embedding_lstm_model_saves_and_loads() {
    let sequences = RecurrentConfig {
        return_sequences: true,
        ..RecurrentConfig::new(5)
    };
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Embedding::new("embedding", 11, 4, true).unwrap()),
        Arc::new(recurrent("lstm", RnnCell::Lstm, sequences)),
        Arc::new(recurrent("lstm_1", RnnCell::Lstm, RecurrentConfig::new(3))),
        Arc::new(Dense::new("dense", 1, Activation::Sigmoid, true)),
    ];
    let model = chain(vec![None, Some(6)], layers);
    let x = ids(4, 6, 11).cast(DType::F32).unwrap();
    save_and_load(&model, &[x], "embedding model");
}

#[test]
fn bidirectional_gru_model_saves_and_loads() {
    let shape: Shape = vec![None, Some(6), Some(3)];
    let config = RecurrentConfig {
        return_sequences: true,
        ..RecurrentConfig::new(4)
    };
    let bi = Bidirectional::wrap(
        "bidirectional",
        "gru",
        RnnCell::Gru,
        config,
        BidirectionalMerge::Concat,
    )
    .unwrap();
    for inner in [bi.forward(), bi.backward()] {
        build(inner.as_ref(), std::slice::from_ref(&shape), DType::F32).unwrap();
    }
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Masking::new("masking", 0.0)),
        Arc::new(bi),
        Arc::new(
            GlobalPooling::new("global_average_pooling1d", PoolMode::Average, 1, false).unwrap(),
        ),
        Arc::new(Dense::new("dense", 2, Activation::Linear, true)),
    ];
    let model = chain(shape, layers);
    let mut x = f32_input(&[4, 6, 3], 5).to_f64();
    for t in 4..6 {
        for f in 0..3 {
            x[[1, t, f]] = 0.0; // sample 1's last two steps are padding
        }
    }
    let x = Tensor::from_vec(&[4, 6, 3], x.iter().map(|&v| v as f32).collect()).unwrap();
    save_and_load(&model, &[x], "bidirectional model");
}
