//! Numerically stable softmax, log-softmax and logsumexp: the maximum is subtracted before
//! exponentiating, so no input overflows.

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use super::{normalize_axes, normalize_axis, some_grad, typed_grad};
use crate::error::Result;
use crate::tensor::{Array, Element, Storage, Tensor};

/// max over `axis` with keepdims; NaN-free inputs assumed for the shift (a NaN propagates anyway).
fn max_kept<F: Element>(a: &Array<F>, axis: usize) -> ArrayD<F> {
    a.fold_axis(
        Axis(axis),
        F::neg_infinity(),
        |&m, &x| if x > m { x } else { m },
    )
    .insert_axis(Axis(axis))
    // A lane of -inf only: shift by 0 so that exp gives 0s, not NaN.
    .mapv_into(|m| if m.is_finite() { m } else { F::zero() })
}

/// log(sum(exp(a))) over `axis`, keepdims.
fn logsumexp_kept<F: Element>(a: &Array<F>, axis: usize) -> ArrayD<F> {
    let shift = max_kept(a, axis);
    let sums = (a - &shift)
        .mapv(|v| v.exp())
        .sum_axis(Axis(axis))
        .insert_axis(Axis(axis));
    sums.mapv(|s| s.ln()) + shift
}

fn softmax_typed<F: Element>(input: &Tensor, a: Array<F>, axis: usize) -> Tensor {
    let shift = max_kept(&a, axis);
    let mut y = (&a - &shift).mapv(|v| v.exp());
    let sums = y.sum_axis(Axis(axis)).insert_axis(Axis(axis));
    y /= &sums;
    let y = y.into_shared();
    Tensor::from_op(F::wrap(y.clone()), "softmax", &[input], move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>("softmax", g)?;
            // dx = y ⊙ (g − Σ g⊙y)
            let dot = (g * &y).sum_axis(Axis(axis)).insert_axis(Axis(axis));
            Ok(vec![some_grad(&y * &(g - &dot))])
        })
    })
}

fn log_softmax_typed<F: Element>(input: &Tensor, a: Array<F>, axis: usize) -> Tensor {
    // (x − max) − log Σ exp(x − max), not x − logsumexp(x): for large x the latter subtracts
    // two nearly equal numbers and, in float32, lost ~4 digits at inputs ~1000.
    let shifted = &a - &max_kept(&a, axis);
    let log_sums = shifted
        .mapv(|v| v.exp())
        .sum_axis(Axis(axis))
        .insert_axis(Axis(axis))
        .mapv(|s| s.ln());
    let y = (shifted - &log_sums).into_shared();
    Tensor::from_op(F::wrap(y.clone()), "log_softmax", &[input], move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>("log_softmax", g)?;
            // dx = g − softmax ⊙ Σ g
            let total = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
            let dx = Zip::from(g)
                .and(&y)
                .and_broadcast(&total)
                .map_collect(|&g, &y, &t| g - y.exp() * t);
            Ok(vec![some_grad(dx)])
        })
    })
}

fn logsumexp_typed<F: Element>(
    input: &Tensor,
    a: Array<F>,
    axes: Vec<usize>,
    keepdims: bool,
) -> Tensor {
    let shape = a.shape().to_vec();
    // Move the reduced axes to the end and flatten them into one, then reduce that axis.
    let kept_axes: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
    let order: Vec<usize> = kept_axes.iter().chain(axes.iter()).copied().collect();
    let outer: Vec<usize> = kept_axes.iter().map(|&i| shape[i]).collect();
    let inner: usize = axes.iter().map(|&i| shape[i]).product();
    let mut flat_shape = outer.clone();
    flat_shape.push(inner);
    let flat = a
        .view()
        .permuted_axes(IxDyn(&order))
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&flat_shape))
        .expect("same size")
        .into_shared();
    let last = flat_shape.len() - 1;
    let lse = logsumexp_kept(&flat, last);
    let kept_shape: Vec<usize> = (0..shape.len())
        .map(|i| if axes.contains(&i) { 1 } else { shape[i] })
        .collect();
    let lse_kept = lse
        .into_shape_with_order(IxDyn(&kept_shape))
        .expect("same size")
        .into_shared();
    let out_shape: Vec<usize> = if keepdims { kept_shape.clone() } else { outer };
    let out = lse_kept
        .clone()
        .into_shape_with_order(IxDyn(&out_shape))
        .expect("same size");
    Tensor::from_op(F::wrap(out), "logsumexp", &[input], move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>("logsumexp", g)?;
            let g = g
                .to_shape(IxDyn(&kept_shape))
                .expect("gradient has the output's size");
            // d lse / dx = softmax(x) = exp(x − lse)
            let dx = Zip::from(&a)
                .and_broadcast(&lse_kept)
                .and_broadcast(&g)
                .map_collect(|&x, &l, &g| g * (x - l).exp());
            Ok(vec![some_grad(dx)])
        })
    })
}

impl Tensor {
    /// exp(x) / Σ exp(x) along `axis` (Keras's default: -1).
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        let axis = normalize_axis("softmax", axis, self.ndim())?;
        Ok(dispatch!(self.storage(), |a| softmax_typed(self, a, axis)))
    }

    /// log(softmax(x)) along `axis`, computed as x − logsumexp(x) for stability.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        let axis = normalize_axis("log_softmax", axis, self.ndim())?;
        Ok(dispatch!(self.storage(), |a| log_softmax_typed(
            self, a, axis
        )))
    }

    /// log Σ exp(x) over `axes` (all when `None`).
    pub fn logsumexp(&self, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
        let axes = normalize_axes("logsumexp", axes, self.ndim())?;
        Ok(dispatch!(self.storage(), |a| logsumexp_typed(
            self, a, axes, keepdims
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    #[test]
    fn softmax_is_stable_for_large_inputs() {
        let x = t64(&[3], &[1000.0, 1001.0, 1002.0]);
        let y = values(&x.softmax(-1).unwrap());
        let e = [(-2f64).exp(), (-1f64).exp(), 1.0];
        let s: f64 = e.iter().sum();
        assert_close(&y, &[e[0] / s, e[1] / s, e[2] / s], 1e-12);
        let l = values(&x.logsumexp(None, false).unwrap());
        assert_close(&l, &[1002.0 + s.ln()], 1e-12);
    }

    #[test]
    fn log_softmax_gradient_sums_to_zero() {
        let x = var64(&[2, 3], &[0.1, 0.2, 0.3, -1.0, 0.0, 1.0]);
        let w = t64(&[2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        x.log_softmax(-1)
            .unwrap()
            .mul(&w)
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        let g = values(&x.grad().unwrap());
        assert!((g[0] + g[1] + g[2]).abs() < 1e-12);
        assert!((g[3] + g[4] + g[5]).abs() < 1e-12);
    }
}
