//! The engine used natively from Rust, no Python: fit a small two-layer network to a known
//! function with mini-batch gradient descent, every gradient from `backward()`.

use ferrograd::{no_grad, Tensor};
use ndarray::{Array, ArrayD, IxDyn};

/// A deterministic pseudo-random stream in [-1, 1) (xorshift), so the test needs no RNG crate.
fn stream(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn parameter(shape: &[usize], scale: f64, next: &mut impl FnMut() -> f64) -> Tensor {
    let values = ArrayD::from_shape_simple_fn(IxDyn(shape), || next() * scale);
    let t = Tensor::from_array(values);
    t.set_requires_grad(true).unwrap();
    t
}

#[test]
fn two_layer_network_learns_a_nonlinear_function() {
    let mut next = stream(42);
    // Targets: y = sin(2 x0) + x1² on 256 points of [-1, 1]².
    let n = 256;
    let x = Array::from_shape_simple_fn((n, 2), &mut next).into_dyn();
    let y = Array::from_shape_fn((n, 1), |(i, _)| {
        (2.0 * x[[i, 0]]).sin() + x[[i, 1]] * x[[i, 1]]
    })
    .into_dyn();
    let (x, y) = (Tensor::from_array(x), Tensor::from_array(y));

    let w1 = parameter(&[2, 32], 1.0, &mut next);
    let b1 = parameter(&[32], 0.0, &mut next);
    let w2 = parameter(&[32, 1], 0.25, &mut next);
    let b2 = parameter(&[1], 0.0, &mut next);
    let params = [&w1, &b1, &w2, &b2];

    let loss_of = |x: &Tensor, y: &Tensor| -> Tensor {
        let hidden = x.matmul(&w1).unwrap().add(&b1).unwrap().tanh().unwrap();
        let prediction = hidden.matmul(&w2).unwrap().add(&b2).unwrap();
        prediction
            .sub(y)
            .unwrap()
            .square()
            .unwrap()
            .mean(None, false)
            .unwrap()
    };

    let initial = loss_of(&x, &y).item().unwrap();
    let learning_rate = 0.1;
    for step in 0..600 {
        // Mini-batches of 64 rows, in order.
        let start = (step % 4) as isize * 64;
        let rows = ferrograd::ops::SliceSpec::range(start, start + 64);
        let loss = loss_of(&x.slice(&[rows]).unwrap(), &y.slice(&[rows]).unwrap());
        loss.backward().unwrap();
        let _guard = no_grad();
        for p in params {
            let grad = p.grad().unwrap().array::<f64>().unwrap();
            p.update_in_place::<f64>(|w| w.scaled_add(-learning_rate, &grad))
                .unwrap();
            p.zero_grad();
        }
    }
    let last = loss_of(&x, &y).item().unwrap();
    assert!(last < initial / 10.0, "loss went from {initial} to {last}");
    assert!(last < 0.02, "final loss {last}");
}
