use std::time::Instant;
fn main() {
    for &threads in &[1usize, 2] {
        ferrograd::threads::set_num_threads(threads).unwrap();
        for &n in &[256usize, 512, 1024, 1536, 2048] {
            let a = ndarray::ArrayD::<f32>::from_shape_fn(ndarray::IxDyn(&[n, n]), |i| {
                ((i[0] * 7 + i[1]) % 13) as f32
            });
            let b = a.clone();
            let reps = (4e9 / (2.0 * (n as f64).powi(3))).max(2.0) as usize;
            let _ = ferrograd::ops::matmul_arrays(a.view(), b.view()).unwrap();
            let t = Instant::now();
            for _ in 0..reps {
                let _ = ferrograd::ops::matmul_arrays(a.view(), b.view()).unwrap();
            }
            let s = t.elapsed().as_secs_f64() / reps as f64;
            println!(
                "threads {threads} n {n}: {:.1} GFLOP/s",
                2.0 * (n as f64).powi(3) / s / 1e9
            );
        }
    }
}
