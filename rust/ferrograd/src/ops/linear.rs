//! `linear`: `activation(x @ kernel + bias)` as one op — the body of a `Dense` layer.
//!
//! Unfused, a dense layer is three ops with three output buffers and three passes over them
//! (product, bias add, activation), and its backward adds a gradient buffer per op. Fused, the
//! forward is one GEMM plus one in-place pass (bias and activation together), and the backward
//! one pass for the activation's derivative, two GEMMs and a column sum for the bias. The
//! activations fused here are those whose derivative is a function of the output alone, so the
//! pre-activation is never stored.

use ndarray::{Ix2, IxDyn, Zip};

use super::{some_grad, typed_grad};
use crate::error::{Error, Result};
use crate::tensor::{Array, DType, Element, Storage, Tensor};
use crate::threads;

/// An activation a [`Tensor::linear`] applies in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedActivation {
    Linear,
    /// `max(x, 0)`; derivative `1[y > 0]`.
    Relu,
    /// `1 / (1 + e^-x)`; derivative `y (1 - y)`.
    Sigmoid,
    /// derivative `1 - y²`.
    Tanh,
}

impl FusedActivation {
    #[inline]
    pub(super) fn forward<F: Element>(self, v: F) -> F {
        match self {
            FusedActivation::Linear => v,
            FusedActivation::Relu => {
                // Written so that NaN propagates, as in the unfused `relu` (and numpy, PyTorch):
                // a NaN hidden as 0 here would hide where it came from.
                if v <= F::zero() {
                    F::zero()
                } else {
                    v
                }
            }
            FusedActivation::Sigmoid => {
                // The stable form: never exponentiate a large positive number.
                if v >= F::zero() {
                    F::one() / (F::one() + (-v).exp())
                } else {
                    let e = v.exp();
                    e / (F::one() + e)
                }
            }
            FusedActivation::Tanh => v.tanh(),
        }
    }

    /// The derivative at the point whose output is `y`.
    #[inline]
    pub(super) fn derivative<F: Element>(self, y: F) -> F {
        match self {
            FusedActivation::Linear => F::one(),
            FusedActivation::Relu => {
                if y > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            FusedActivation::Sigmoid => y * (F::one() - y),
            FusedActivation::Tanh => F::one() - y * y,
        }
    }

    /// The name of a fused convolution with this activation (as it appears in the graph).
    pub(super) fn conv_name(self) -> &'static str {
        match self {
            FusedActivation::Linear => "conv2d",
            FusedActivation::Relu => "conv2d_relu",
            FusedActivation::Sigmoid => "conv2d_sigmoid",
            FusedActivation::Tanh => "conv2d_tanh",
        }
    }

    fn name(self) -> &'static str {
        match self {
            FusedActivation::Linear => "linear",
            FusedActivation::Relu => "linear_relu",
            FusedActivation::Sigmoid => "linear_sigmoid",
            FusedActivation::Tanh => "linear_tanh",
        }
    }
}

/// Runs `body` over the rows of a 2-D zip, on the pool when there is enough work.
macro_rules! rows_pass {
    ($len:expr, $zip:expr, $body:expr) => {{
        let zip = $zip;
        if $len >= threads::PARALLEL_MIN_ELEMENTS {
            threads::install(|| zip.par_for_each($body));
        } else {
            zip.for_each($body);
        }
    }};
}

/// The column sums of a row-major `(rows, cols)` matrix (the bias gradient), each column summed
/// in row order, so the result is the same as a serial row-by-row sum bit for bit. Large
/// matrices split their columns between the pool's threads: an RNN's input projection sums
/// 3,200 rows of 512 per batch, and serially that held the other core idle.
fn column_sums<F: Element>(values: &[F], rows: usize, cols: usize) -> ndarray::Array1<F> {
    let mut sum = vec![F::zero(); cols];
    if cols == 0 {
        // A kernel with no units (reachable from Rust): nothing to sum, and no rows to cut.
        return ndarray::Array1::from_vec(sum);
    }
    let threads = threads::num_threads();
    // Blocks of whole cache lines (16 f32), at least one per thread.
    let block = cols.div_ceil(threads).next_multiple_of(16).max(16);
    let work = |(index, sums): (usize, &mut [F])| {
        let columns = index * block..index * block + sums.len();
        for row in values.chunks_exact(cols).take(rows) {
            for (s, &v) in sums.iter_mut().zip(&row[columns.clone()]) {
                *s += v;
            }
        }
    };
    if threads > 1 && cols > block && rows * cols >= threads::PARALLEL_MIN_ELEMENTS {
        use rayon::prelude::*;
        threads::install(|| sum.par_chunks_mut(block).enumerate().for_each(work));
    } else {
        work((0, &mut sum));
    }
    ndarray::Array1::from_vec(sum)
}

fn linear_typed<F: Element>(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    activation: FusedActivation,
) -> Result<Tensor> {
    let xs = x.shape();
    let (input_dim, units) = (kernel.shape()[0], kernel.shape()[1]);
    let rows: usize = xs[..xs.len() - 1].iter().product();
    let xa: Array<F> = x.array::<F>()?;
    let wa: Array<F> = kernel.array::<F>()?;
    let ba: Option<Array<F>> = bias.map(|b| b.array::<F>()).transpose()?;
    // (..., in) as (rows, in): free for contiguous data, one copy otherwise.
    let x2: Array<F> = if xa.is_standard_layout() {
        xa
    } else {
        xa.as_standard_layout().into_owned().into_shared()
    }
    .into_shape_with_order(IxDyn(&[rows, input_dim]))
    .expect("rows * input_dim elements");
    let mut out = super::matmul_arrays(x2.view(), wa.view())?
        .into_dimensionality::<Ix2>()
        .expect("2-D product");
    let len = rows * units;
    match &ba {
        Some(b) => {
            let b = b
                .view()
                .into_dimensionality::<ndarray::Ix1>()
                .expect("1-D bias");
            rows_pass!(len, Zip::from(out.rows_mut()), |mut row| {
                row.zip_mut_with(&b, |v, &bias| *v = activation.forward(*v + bias));
            });
        }
        None if activation != FusedActivation::Linear => {
            rows_pass!(len, Zip::from(out.rows_mut()), |mut row| {
                row.mapv_inplace(|v| activation.forward(v));
            });
        }
        None => {}
    }
    let mut out_shape = xs[..xs.len() - 1].to_vec();
    out_shape.push(units);
    let out: Array<F> = out
        .into_dyn()
        .into_shape_with_order(IxDyn(&out_shape))
        .expect("same size")
        .into_shared();
    // Shared with the backward rule (an `Arc` increment, not a copy); only a nonlinear
    // activation's derivative needs it.
    let saved_out = (activation != FusedActivation::Linear).then(|| out.clone());
    let (x_needs, w_needs) = (x.requires_grad(), kernel.requires_grad());
    let b_needs = bias.is_some_and(|b| b.requires_grad());
    let mut inputs = vec![x, kernel];
    if let Some(b) = bias {
        inputs.push(b);
    }
    let has_bias = bias.is_some();
    Ok(Tensor::from_op(
        F::wrap(out),
        activation.name(),
        &inputs,
        move || {
            Box::new(move |g: &Storage| {
                let g = typed_grad::<F>("linear", g)?;
                let g2 = g
                    .view()
                    .into_shape_with_order((rows, units))
                    .map_err(|_| Error::shape("linear", "gradient of an unexpected layout"))?;
                // The gradient before the activation: g ⊙ f'(y).
                let pre: ndarray::CowArray<'_, F, ndarray::Ix2> =
                    if let Some(saved_out) = &saved_out {
                        let y2 = saved_out
                            .view()
                            .into_shape_with_order((rows, units))
                            .expect("saved output is contiguous");
                        let mut pre = ndarray::Array2::<F>::zeros((rows, units));
                        rows_pass!(
                            len,
                            Zip::from(pre.rows_mut()).and(g2.rows()).and(y2.rows()),
                            |mut p, gr, yr| {
                                Zip::from(&mut p).and(&gr).and(&yr).for_each(|p, &g, &y| {
                                    *p = g * activation.derivative(y);
                                });
                            }
                        );
                        pre.into()
                    } else {
                        g2.into()
                    };
                let pre_dyn = pre.view().into_dyn();
                let gx = if x_needs {
                    // dX = dZ · Wᵀ
                    let mut wt = wa.view();
                    wt.swap_axes(0, 1);
                    let gx = super::matmul_arrays(pre_dyn.clone(), wt)?;
                    Some(
                        gx.into_shape_with_order(IxDyn(&xs))
                            .expect("rows * input_dim elements"),
                    )
                } else {
                    None
                };
                let gw = if w_needs {
                    // dW = Xᵀ · dZ. With fewer inputs than units (an RNN's input projection:
                    // 32 × 512 summed over 3,200 rows) the gemm crate runs twice as fast
                    // producing dWᵀ = dZᵀ · X; transposing the small result costs nothing.
                    if input_dim < units {
                        let mut gt = pre_dyn.clone();
                        gt.swap_axes(0, 1);
                        let mut gw_t = super::matmul_arrays(gt, x2.view())?;
                        gw_t.swap_axes(0, 1);
                        Some(gw_t.as_standard_layout().into_owned())
                    } else {
                        let mut xt = x2.view();
                        xt.swap_axes(0, 1);
                        Some(super::matmul_arrays(xt, pre_dyn.clone())?)
                    }
                } else {
                    None
                };
                let mut grads = vec![gx.and_then(some_grad), gw.and_then(some_grad)];
                if has_bias {
                    grads.push(if b_needs {
                        let sum = match pre.as_slice() {
                            Some(values) => column_sums(values, rows, units),
                            None => {
                                let mut sum = ndarray::Array1::<F>::zeros(units);
                                for row in pre.rows() {
                                    sum += &row;
                                }
                                sum
                            }
                        };
                        some_grad::<F>(sum.into_dyn())
                    } else {
                        None
                    });
                }
                Ok(grads)
            })
        },
    ))
}

impl Tensor {
    /// `activation(self @ kernel + bias)` over the last axis of `self` (any rank ≥ 1), with
    /// `kernel` of shape `(in, units)` and `bias` of shape `(units,)`: a dense layer in one op.
    pub fn linear(
        &self,
        kernel: &Tensor,
        bias: Option<&Tensor>,
        activation: FusedActivation,
    ) -> Result<Tensor> {
        let (xs, ks) = (self.shape(), kernel.shape());
        if ks.len() != 2 || xs.is_empty() || xs[xs.len() - 1] != ks[0] {
            return Err(Error::shape(
                "linear",
                format!("input of shape {xs:?} does not fit a kernel of shape {ks:?} (in, units)"),
            ));
        }
        if let Some(b) = bias {
            if b.shape() != [ks[1]] {
                return Err(Error::shape(
                    "linear",
                    format!(
                        "bias of shape {:?} does not fit a kernel of shape {ks:?}: it needs ({},)",
                        b.shape(),
                        ks[1]
                    ),
                ));
            }
        }
        let dtype = self.dtype().promote(kernel.dtype());
        let x = self.cast(dtype)?;
        let k = kernel.cast(dtype)?;
        let b = bias.map(|b| b.cast(dtype)).transpose()?;
        match dtype {
            DType::F32 => linear_typed::<f32>(&x, &k, b.as_ref(), activation),
            DType::F64 => linear_typed::<f64>(&x, &k, b.as_ref(), activation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn linear_matches_the_unfused_ops_and_their_gradients() {
        // (inputs, units): more inputs than units, and fewer (dW is computed transposed).
        for (inputs, units) in [(3, 2), (2, 3)] {
            for activation in [
                FusedActivation::Linear,
                FusedActivation::Relu,
                FusedActivation::Sigmoid,
                FusedActivation::Tanh,
            ] {
                let wave = |n: usize, seed: f64| -> Vec<f64> {
                    (0..n)
                        .map(|i| ((i as f64 + 1.0) * seed).sin() * 1.5)
                        .collect()
                };
                let x = var64(&[2, 2, inputs], &wave(4 * inputs, 0.7));
                let w = var64(&[inputs, units], &wave(inputs * units, 1.3));
                let b = var64(&[units], &wave(units, 2.9));
                let fused = x.linear(&w, Some(&b), activation).unwrap();
                let z = x.matmul(&w).unwrap().add(&b).unwrap();
                let unfused = match activation {
                    FusedActivation::Linear => z,
                    FusedActivation::Relu => z.relu().unwrap(),
                    FusedActivation::Sigmoid => z.sigmoid().unwrap(),
                    FusedActivation::Tanh => z.tanh().unwrap(),
                };
                assert_close(&values(&fused), &values(&unfused), 1e-12);
                let weights = t64(&[2, 2, units], &wave(4 * units, 0.37));
                let grads = |y: &Tensor| {
                    crate::autodiff::grad(
                        &y.mul(&weights).unwrap().sum(None, false).unwrap(),
                        &[x.clone(), w.clone(), b.clone()],
                        None,
                        Default::default(),
                    )
                    .unwrap()
                    .into_iter()
                    .map(|g| values(&g.unwrap()))
                    .collect::<Vec<_>>()
                };
                for (f, u) in grads(&fused).iter().zip(grads(&unfused)) {
                    assert_close(f, &u, 1e-12);
                }
            }
        }
    }

    #[test]
    fn column_sums_split_between_threads_equal_the_serial_row_sum_exactly() {
        // Large enough to run on the pool, with a ragged last block of columns.
        let (rows, cols) = (300, 520);
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i as f32) * 0.37).sin() * 1e3)
            .collect();
        let mut serial = vec![0.0f32; cols];
        for row in values.chunks_exact(cols) {
            serial.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
        }
        assert_eq!(column_sums(&values, rows, cols).to_vec(), serial);
        assert!(column_sums::<f32>(&[], 5, 0).is_empty());
    }

    #[test]
    fn linear_checks_shapes() {
        let x = t64(&[2, 3], &[0.0; 6]);
        let w = t64(&[4, 2], &[0.0; 8]);
        assert!(x.linear(&w, None, FusedActivation::Relu).is_err());
        let w = t64(&[3, 2], &[0.0; 6]);
        let b = t64(&[3], &[0.0; 3]);
        let err = x.linear(&w, Some(&b), FusedActivation::Linear).unwrap_err();
        assert!(err.to_string().contains("(2,)"), "{err}");
    }

    #[test]
    fn fused_relu_propagates_nan_like_the_unfused_one() {
        // Row 0 holds a NaN (NaN * 0 is NaN, so both its outputs are); row 1 is negative.
        let x = t64(&[2, 2], &[f64::NAN, 0.0, 0.0, -1.0]);
        let w = t64(&[2, 2], &[1.0, 0.0, 0.0, 1.0]);
        let out = values(&x.linear(&w, None, FusedActivation::Relu).unwrap());
        assert!(
            out[0].is_nan() && out[1].is_nan(),
            "relu(NaN) must stay NaN, got {out:?}"
        );
        assert_eq!(&out[2..], &[0.0, 0.0]);
    }
}
