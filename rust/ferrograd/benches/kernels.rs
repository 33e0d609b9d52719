//! Criterion benchmarks of the engine's kernels, so that a change that slows one shows up:
//! matmul (square and the MLP's shapes), elementwise ops, reductions, the fused softmax
//! cross-entropy, Dense / Conv2D / LSTM forward+backward and one full Adam training step of the
//! benchmark MLP (784-512-256-10, as `bench/bench_fit.py`).
//!
//!     cargo bench -p ferrograd --bench kernels                  # all, a few minutes
//!     cargo bench -p ferrograd --bench kernels -- matmul        # those whose id contains "matmul"
//!     cargo bench -p ferrograd --bench kernels -- --save-baseline main   # then compare with
//!     cargo bench -p ferrograd --bench kernels -- --baseline main
//!     cargo bench -p ferrograd --bench kernels -- --test        # run each once (a smoke test)
//!
//! Throughput is in elements per second; for matmuls an "element" is one floating-point
//! operation (2·m·k·n per product), so `Gelem/s` reads as GFLOP/s. Kernels use the engine's
//! thread pool at its default size (all cores). Sample counts and times are kept small so the
//! whole run takes minutes on a 2-core machine; differences under ~5% are noise there.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use ferrograd::autodiff::{self, BackwardOptions};
use ferrograd::losses::{Loss, Reduction};
use ferrograd::model::{Compiled, Graph, Model};
use ferrograd::nn::{build, Activation, Conv, Dense, Layer, Padding, Recurrent, RecurrentConfig};
use ferrograd::ops::RnnCell;
use ferrograd::optim::{Adam, Optimizer};
use ferrograd::{DType, Tensor};

/// Deterministic pseudo-random values in [-1, 1): benchmarks need data, not statistics.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn tensor(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(shape, values(shape.iter().product(), seed)).expect("shape and values agree")
}

/// Integer class labels 0..classes as float32 (what `fit` hands the sparse losses).
fn labels(n: usize, classes: usize) -> Tensor {
    let v: Vec<f32> = (0..n).map(|i| ((i * 7 + 3) % classes) as f32).collect();
    Tensor::from_vec(&[n], v).expect("one label per sample")
}

/// A group for work of milliseconds or more: flat sampling (the same iteration count in each of
/// ten samples), so a 100 ms kernel needs ~10 runs rather than criterion's default 55+.
fn heavy<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

fn matmul(c: &mut Criterion) {
    let mut group = heavy(c, "matmul_f32");
    let square = [128, 512, 1024].map(|n| (format!("{n}x{n}x{n}"), n, n, n));
    // The MLP's first layer forward at batch 32 and 128, and its weight gradient x^T · dy.
    let mlp = [
        ("mlp_fwd_32x784x512".to_string(), 32, 784, 512),
        ("mlp_fwd_128x784x512".to_string(), 128, 784, 512),
        ("mlp_wgrad_784x128x512".to_string(), 784, 128, 512),
    ];
    for (id, m, k, n) in square.into_iter().chain(mlp) {
        let a = tensor(&[m, k], 1);
        let b = tensor(&[k, n], 2);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function(id, |bench| bench.iter(|| black_box(a.matmul(&b).unwrap())));
    }
    group.finish();
}

fn elementwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("elementwise_f32");
    // Flat: exp of 2^22 elements takes ~20 ms, too long for linear sampling in a second.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for log2 in [16, 22] {
        let n = 1usize << log2;
        let a = tensor(&[n], 3);
        let b = tensor(&[n], 4);
        group.throughput(Throughput::Elements(n as u64));
        let size = format!("2^{log2}");
        group.bench_function(format!("add/{size}"), |bench| {
            bench.iter(|| black_box(a.add(&b).unwrap()))
        });
        group.bench_function(format!("mul/{size}"), |bench| {
            bench.iter(|| black_box(a.mul(&b).unwrap()))
        });
        group.bench_function(format!("relu/{size}"), |bench| {
            bench.iter(|| black_box(a.relu().unwrap()))
        });
        group.bench_function(format!("exp/{size}"), |bench| {
            bench.iter(|| black_box(a.exp().unwrap()))
        });
    }
    group.finish();
}

fn reductions(c: &mut Criterion) {
    let mut group = c.benchmark_group("sum_f32");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let a = tensor(&[2048, 2048], 5);
    group.throughput(Throughput::Elements(2048 * 2048));
    group.bench_function("full/2048x2048", |bench| {
        bench.iter(|| black_box(a.sum(None, false).unwrap()))
    });
    group.bench_function("axis0/2048x2048", |bench| {
        bench.iter(|| black_box(a.sum(Some(&[0]), false).unwrap()))
    });
    group.finish();
}

/// Forward and backward of a scalar made from `out` (its sum), returning the gradients of
/// `wrt`; the graph is dropped with them.
fn backward(out: &Tensor, wrt: &[Tensor]) -> Vec<Option<Tensor>> {
    let loss = out.sum(None, false).unwrap();
    autodiff::grad(&loss, wrt, None, BackwardOptions::default()).unwrap()
}

fn softmax_cross_entropy(c: &mut Criterion) {
    let mut group = c.benchmark_group("loss");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let logits = tensor(&[128, 10], 6);
    logits.set_requires_grad(true).unwrap();
    let y = labels(128, 10);
    let loss = Loss::SparseCategoricalCrossentropy {
        from_logits: true,
        axis: -1,
    };
    group.throughput(Throughput::Elements(128 * 10));
    group.bench_function("sparse_softmax_xent_fwd_bwd/128x10", |bench| {
        bench.iter(|| {
            let value = loss
                .compute(&y, &logits, None, Reduction::SumOverBatchSize)
                .unwrap();
            black_box(
                autodiff::grad(
                    &value,
                    std::slice::from_ref(&logits),
                    None,
                    BackwardOptions::default(),
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

/// A built layer's trainable weights.
fn weights(layer: &dyn Layer) -> Vec<Tensor> {
    layer
        .weights()
        .into_iter()
        .filter(|w| w.trainable)
        .map(|w| w.value)
        .collect()
}

fn layers(c: &mut Criterion) {
    let mut group = heavy(c, "layer_fwd_bwd");

    let dense = Dense::new("dense", 512, Activation::Relu, true);
    build(&dense, &[vec![None, Some(784)]], DType::F32).unwrap();
    let x = tensor(&[128, 784], 7);
    let wrt = weights(&dense);
    // The forward product and the kernel's gradient (the input needs none).
    group.throughput(Throughput::Elements(2 * 2 * 128 * 784 * 512));
    group.bench_function("dense_relu/128x784->512", |bench| {
        bench.iter(|| {
            black_box(backward(
                &dense.call(std::slice::from_ref(&x), true).unwrap()[0],
                &wrt,
            ))
        })
    });

    let conv = Conv::with_options(
        "conv",
        64,
        vec![3, 3],
        vec![1, 1],
        Padding::Same,
        vec![1, 1],
        1,
        Activation::Relu,
        true,
    )
    .unwrap();
    build(
        &conv,
        &[vec![None, Some(28), Some(28), Some(32)]],
        DType::F32,
    )
    .unwrap();
    let images = tensor(&[32, 28, 28, 32], 8);
    // The input's gradient too, as for any conv layer after the first: 3x the forward products.
    images.set_requires_grad(true).unwrap();
    let mut wrt = weights(&conv);
    wrt.push(images.clone());
    group.throughput(Throughput::Elements(3 * 2 * 32 * 28 * 28 * 64 * 32 * 9));
    group.bench_function("conv2d_3x3_same/32x28x28x32->64", |bench| {
        bench.iter(|| {
            black_box(backward(
                &conv.call(std::slice::from_ref(&images), true).unwrap()[0],
                &wrt,
            ))
        })
    });

    let lstm = Recurrent::new("lstm", RnnCell::Lstm, RecurrentConfig::new(128)).unwrap();
    build(&lstm, &[vec![None, Some(50), Some(32)]], DType::F32).unwrap();
    let sequences = tensor(&[64, 50, 32], 9);
    let wrt = weights(&lstm);
    // 4 gates of (32 + 128) inputs per unit and step forward; backward about twice that (the
    // weights' gradients and the state's), so roughly 3x the forward products.
    group.throughput(Throughput::Elements(3 * 2 * 64 * 50 * (32 + 128) * 4 * 128));
    group.bench_function("lstm128/64x50x32", |bench| {
        bench.iter(|| {
            black_box(backward(
                &lstm.call(std::slice::from_ref(&sequences), true).unwrap()[0],
                &wrt,
            ))
        })
    });
    group.finish();
}

/// The benchmark MLP of `bench/bench_fit.py`, compiled with Adam(1e-3) and sparse categorical
/// cross-entropy on softmax outputs.
fn mlp() -> Model {
    let mut graph = Graph::new(DType::F32);
    let mut value = graph.add_input("input", vec![None, Some(784)]);
    let mut fan_in = 784;
    for (i, (units, activation)) in [
        (512, Activation::Relu),
        (256, Activation::Relu),
        (10, Activation::Softmax(-1)),
    ]
    .into_iter()
    .enumerate()
    {
        let layer: Arc<dyn Layer> =
            Arc::new(Dense::new(format!("dense_{i}"), units, activation, true));
        build(layer.as_ref(), &[vec![None, Some(fan_in)]], DType::F32).unwrap();
        value = graph.add_layer(layer, vec![value]).unwrap()[0];
        fan_in = units;
    }
    graph.set_outputs(vec![value]).unwrap();
    let optimizer = Optimizer::new(Adam::default(), 1e-3).unwrap();
    let loss = Loss::SparseCategoricalCrossentropy {
        from_logits: false,
        axis: -1,
    };
    let mut model = Model::new(graph);
    model
        .compile(Compiled::new(
            Arc::new(Mutex::new(optimizer)),
            vec![Some(loss)],
        ))
        .unwrap();
    model
}

fn training_step(c: &mut Criterion) {
    let mut group = heavy(c, "train_step");
    let mut model = mlp();
    let x = tensor(&[128, 784], 10);
    let y = labels(128, 10);
    group.throughput(Throughput::Elements(128));
    group.bench_function("mlp_784_512_256_10_adam/batch128", |bench| {
        bench.iter(|| {
            model
                .train_step(std::slice::from_ref(&x), std::slice::from_ref(&y), None)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(
    kernels,
    matmul,
    elementwise,
    reductions,
    softmax_cross_entropy,
    layers,
    training_step
);
criterion_main!(kernels);
