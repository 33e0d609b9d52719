//! Trains a small classifier natively in Rust — no Python anywhere — saves it to one
//! safetensors model file, loads it back and checks the loaded model predicts the same.
//!
//! The data are two interleaved spirals (made here, so nothing is downloaded); the model is
//! Dense(32, relu) → Dense(32, relu) → Dense(2) trained with Adam on sparse categorical
//! cross-entropy from logits. The saved file loads in Python with `fg.load_model(path)`.
//!
//!     cargo run --release -p ferrograd --example train_and_save -- [model.safetensors]

use std::sync::{Arc, Mutex};

use ferrograd::losses::Loss;
use ferrograd::metrics::{Metric, MetricKind};
use ferrograd::model::{Compiled, Data, Graph, Model};
use ferrograd::nn::{build, Activation, Dense, Layer, Shape};
use ferrograd::optim::{Adam, Optimizer};
use ferrograd::saving::{self, SaveOptions};
use ferrograd::{DType, Tensor};

/// `n` points of each of two spirals with a little deterministic jitter; labels 0 and 1.
fn spirals(n: usize) -> (Tensor, Tensor) {
    let mut x = Vec::with_capacity(4 * n);
    let mut y = Vec::with_capacity(2 * n);
    for class in 0..2 {
        for i in 0..n {
            let t = i as f32 / n as f32 * 3.0 * std::f32::consts::PI;
            let r = 0.2 + t / (3.0 * std::f32::consts::PI);
            let angle = t + class as f32 * std::f32::consts::PI;
            let jitter = ((i * 7919 + class * 104_729) % 97) as f32 / 97.0 * 0.04 - 0.02;
            x.push(r * angle.cos() + jitter);
            x.push(r * angle.sin() - jitter);
            y.push(class as f32);
        }
    }
    (
        Tensor::from_vec(&[2 * n, 2], x).expect("2 features per point"),
        Tensor::from_vec(&[2 * n], y).expect("one label per point"),
    )
}

fn dense(
    graph: &mut Graph,
    name: &str,
    units: usize,
    activation: Activation,
    input: ferrograd::model::ValueRef,
) -> ferrograd::Result<ferrograd::model::ValueRef> {
    let layer: Arc<dyn Layer> = Arc::new(Dense::new(name, units, activation, true));
    let shape: Shape = graph.shape(input)?.clone();
    build(layer.as_ref(), &[shape], DType::F32)?;
    Ok(graph.add_layer(layer, vec![input])?[0])
}

fn main() -> ferrograd::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "spirals.safetensors".to_string());

    let mut graph = Graph::new(DType::F32);
    let x = graph.add_input("input_layer", vec![None, Some(2)]);
    let h = dense(&mut graph, "dense", 32, Activation::Relu, x)?;
    let h = dense(&mut graph, "dense_1", 32, Activation::Relu, h)?;
    let logits = dense(&mut graph, "dense_2", 2, Activation::Linear, h)?;
    graph.set_outputs(vec![logits])?;

    let optimizer = Optimizer::new(Adam::default(), 0.01)?;
    let loss = Loss::SparseCategoricalCrossentropy {
        from_logits: true,
        axis: -1,
    };
    let mut compiled = Compiled::new(Arc::new(Mutex::new(optimizer)), vec![Some(loss)]);
    compiled.metrics = vec![vec![Metric::new(
        MetricKind::SparseCategoricalAccuracy,
        "accuracy",
    )?]];
    let mut model = Model::new(graph);
    model.compile(compiled)?;

    let (xs, ys) = spirals(200);
    let data = Data::new(vec![xs.clone()], vec![ys], None)?;
    let mut logs = Vec::new();
    for epoch in 0..60 {
        logs = model.fit_epoch(&data, 32, true, epoch, &mut |_, _| true)?.0;
    }
    println!("after 60 epochs: {logs:?}");

    saving::save_model(&model, std::path::Path::new(&path), &SaveOptions::default())?;
    let loaded = saving::load_model(std::path::Path::new(&path))?;
    let before = model.predict(std::slice::from_ref(&xs), 128, &mut |_, _| true)?;
    let after = loaded.predict(&[xs], 128, &mut |_, _| true)?;
    assert_eq!(
        before[0].to_f64(),
        after[0].to_f64(),
        "the loaded model predicts the same"
    );
    println!("saved to {path} and loaded back: predictions identical");
    Ok(())
}
