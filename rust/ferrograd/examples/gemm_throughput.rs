//! GEMM throughput of the engine's matmul kernel from Rust, with 1 and 2 threads, for square
//! float32 matrices. No Python involved; compare with `bench/bench_core.py` to see what the
//! Python layer costs.
//!
//!     cargo run --release --example gemm_throughput -p ferrograd

use std::time::Instant;

use ndarray::{ArrayD, IxDyn};

fn main() {
    for threads in [1usize, 2] {
        ferrograd::threads::set_num_threads(threads).expect("thread pool");
        for n in [256usize, 512, 1024, 2048] {
            let a =
                ArrayD::<f32>::from_shape_fn(IxDyn(&[n, n]), |i| ((i[0] * 7 + i[1]) % 13) as f32);
            let flops = 2.0 * (n as f64).powi(3);
            let reps = (1e10 / flops).max(3.0) as usize;
            ferrograd::ops::matmul_arrays(a.view(), a.view()).expect("square shapes");
            let start = Instant::now();
            for _ in 0..reps {
                ferrograd::ops::matmul_arrays(a.view(), a.view()).expect("square shapes");
            }
            let seconds = start.elapsed().as_secs_f64() / reps as f64;
            println!(
                "threads {threads}  n {n:5}  {:7.1} GFLOP/s",
                flops / seconds / 1e9
            );
        }
    }
}
