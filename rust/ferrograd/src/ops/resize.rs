//! `resize_bilinear`: bilinear resizing of channels-last `(batch, height, width, channels)`
//! images, the op behind Keras's `UpSampling2D(interpolation="bilinear")`.
//!
//! The sampling rule is Keras 3's `ops.image.resize(..., interpolation="bilinear",
//! antialias=False)`, i.e. `jax.image.resize(method="bilinear")` and TensorFlow's
//! `resize_bilinear(half_pixel_centers=True)`: output pixel `o` of an axis resized from `in` to
//! `out` samples the input at the half-pixel-centred coordinate
//! `x = (o + 0.5) · in / out - 0.5`, clamped to `[0, in - 1]`, and mixes its two neighbours
//! `floor(x)` and `floor(x) + 1` with weights `1 - frac(x)` and `frac(x)`. (JAX renormalises the
//! triangle kernel over the taps that fall inside the image; for the one tap left at an edge
//! that is the same as clamping.) Without antialiasing the kernel is not widened when shrinking,
//! so the same rule serves downsampling.
//!
//! Each output pixel reads a 2×2 block of input pixels; the inner loop runs over the channels,
//! which are contiguous. The backward is the transpose: every output gradient is scattered onto
//! those four pixels with the same weights. Samples are independent, so a large batch is split
//! across the thread pool one sample per task (forward and backward alike).
//!
//! ```
//! use ferrograd::Tensor;
//!
//! // 2x upsampling of [[1, 2], [3, 4]]: the first row is [1, 1.25, 1.75, 2].
//! let x = Tensor::from_vec(&[1, 2, 2, 1], vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
//! let y = x.resize_bilinear([4, 4]).unwrap();
//! let row: Vec<f64> = y.to_f64().iter().take(4).copied().collect();
//! assert_eq!(row, vec![1.0, 1.25, 1.75, 2.0]);
//! ```

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::{some_grad, typed_grad};
use crate::error::{Error, Result};
use crate::tensor::{Array, Element, Storage, Tensor};
use crate::threads;

/// Where one output index of an axis reads: the lower and upper input neighbours and the
/// weight of the upper one (the lower one gets `1 - upper_weight`).
#[derive(Debug, Clone, Copy)]
struct Tap<F> {
    lower: usize,
    upper: usize,
    upper_weight: F,
}

/// The taps of every output index of one axis resized from `input` to `output` (both ≥ 1).
fn axis_taps<F: Element>(input: usize, output: usize) -> Vec<Tap<F>> {
    (0..output)
        .map(|o| {
            // x = (o + 0.5) · in / out - 0.5 = ((2o + 1) · in - out) / (2 · out): an exact
            // integer numerator, so integer scale factors give exact fractions (0.25, 0.75, ...).
            let numerator = (2 * o + 1) as f64 * input as f64 - output as f64;
            let x = (numerator / (2 * output) as f64).clamp(0.0, (input - 1) as f64);
            let lower = (x.floor() as usize).min(input - 1);
            Tap {
                lower,
                upper: (lower + 1).min(input - 1),
                upper_weight: F::from_f64(x - lower as f64).expect("a weight in [0, 1]"),
            }
        })
        .collect()
}

/// Every size of one resize, checked once, with the taps of both axes.
struct Plan<F> {
    batch: usize,
    in_h: usize,
    in_w: usize,
    channels: usize,
    out_h: usize,
    out_w: usize,
    rows: Vec<Tap<F>>,
    cols: Vec<Tap<F>>,
}

impl<F: Element> Plan<F> {
    fn new(shape: &[usize], size: [usize; 2]) -> Plan<F> {
        Plan {
            batch: shape[0],
            in_h: shape[1],
            in_w: shape[2],
            channels: shape[3],
            out_h: size[0],
            out_w: size[1],
            rows: axis_taps(shape[1], size[0]),
            cols: axis_taps(shape[2], size[1]),
        }
    }

    fn sample_in(&self) -> usize {
        self.in_h * self.in_w * self.channels
    }

    fn sample_out(&self) -> usize {
        self.out_h * self.out_w * self.channels
    }

    /// Whether the work is large enough to split over the pool, one sample per task.
    fn parallel(&self) -> bool {
        self.batch > 1
            && self.batch * self.sample_in().max(self.sample_out())
                >= threads::PARALLEL_MIN_ELEMENTS
    }

    /// Runs `body(sample, chunk)` over the per-sample chunks of `buffer` (`chunk_len` each),
    /// one task per sample when the work is large.
    fn per_sample(
        &self,
        buffer: &mut [F],
        chunk_len: usize,
        body: impl Fn(usize, &mut [F]) + Send + Sync,
    ) {
        if chunk_len == 0 {
            return; // no channels: nothing to compute (and `chunks_mut(0)` would panic)
        }
        if self.parallel() {
            threads::install(|| {
                buffer
                    .par_chunks_mut(chunk_len)
                    .enumerate()
                    .for_each(|(n, chunk)| body(n, chunk));
            });
        } else {
            buffer
                .chunks_mut(chunk_len)
                .enumerate()
                .for_each(|(n, chunk)| body(n, chunk));
        }
    }

    /// The four input pixels (flat spatial indices) and weights of output pixel `(oh, ow)`.
    #[inline]
    fn corners(&self, oh: usize, ow: usize) -> [(usize, F); 4] {
        let (row, col) = (self.rows[oh], self.cols[ow]);
        let (wy, wx) = (row.upper_weight, col.upper_weight);
        let (vy, vx) = (F::one() - wy, F::one() - wx);
        [
            (row.lower * self.in_w + col.lower, vy * vx),
            (row.lower * self.in_w + col.upper, vy * wx),
            (row.upper * self.in_w + col.lower, wy * vx),
            (row.upper * self.in_w + col.upper, wy * wx),
        ]
    }
}

fn resize_bilinear_typed<F: Element>(x: &Tensor, a: &Array<F>, size: [usize; 2]) -> Tensor {
    let plan = Plan::<F>::new(a.shape(), size);
    let input = a.as_standard_layout();
    let input = input.as_slice().expect("standard layout");
    let c = plan.channels;
    let mut out = vec![F::zero(); plan.batch * plan.sample_out()];
    plan.per_sample(&mut out, plan.sample_out(), |n, out| {
        let sample = &input[n * plan.sample_in()..(n + 1) * plan.sample_in()];
        for oh in 0..plan.out_h {
            for ow in 0..plan.out_w {
                let [(p00, w00), (p01, w01), (p10, w10), (p11, w11)] = plan.corners(oh, ow);
                let (x00, x01) = (&sample[p00 * c..][..c], &sample[p01 * c..][..c]);
                let (x10, x11) = (&sample[p10 * c..][..c], &sample[p11 * c..][..c]);
                let o = (oh * plan.out_w + ow) * c;
                // Zipped slices, not indices: no bounds checks, so the loop vectorizes.
                let corners = x00.iter().zip(x01).zip(x10.iter().zip(x11));
                for (y, ((&a, &b), (&d, &e))) in out[o..o + c].iter_mut().zip(corners) {
                    *y = w00 * a + w01 * b + w10 * d + w11 * e;
                }
            }
        }
    });
    let out_shape = [plan.batch, plan.out_h, plan.out_w, c];
    let out = ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("output size");
    Tensor::from_op(
        Storage::from_array(out),
        "resize_bilinear",
        &[x],
        move || {
            Box::new(move |grad: &Storage| {
                let grad = typed_grad::<F>("resize_bilinear", grad)?.as_standard_layout();
                let grad = grad.as_slice().expect("standard layout");
                let mut input_grad = vec![F::zero(); plan.batch * plan.sample_in()];
                // The transpose of the forward's gather: each output gradient goes back to its
                // four input pixels, weighted as they were read.
                plan.per_sample(&mut input_grad, plan.sample_in(), |n, input_grad| {
                    let sample_grad = &grad[n * plan.sample_out()..(n + 1) * plan.sample_out()];
                    for oh in 0..plan.out_h {
                        for ow in 0..plan.out_w {
                            let o = (oh * plan.out_w + ow) * c;
                            let grad_output = &sample_grad[o..o + c];
                            for (pixel, weight) in plan.corners(oh, ow) {
                                let target = &mut input_grad[pixel * c..][..c];
                                for (gi, &go) in target.iter_mut().zip(grad_output) {
                                    *gi += weight * go;
                                }
                            }
                        }
                    }
                });
                let input_grad = ArrayD::from_shape_vec(
                    IxDyn(&[plan.batch, plan.in_h, plan.in_w, c]),
                    input_grad,
                )
                .expect("input size");
                Ok(vec![some_grad(input_grad)])
            })
        },
    )
}

impl Tensor {
    /// Bilinear resize of a channels-last `(batch, height, width, channels)` tensor to
    /// `(batch, size[0], size[1], channels)`, with half-pixel centres and clamped edges (Keras 3's
    /// `ops.image.resize(interpolation="bilinear")`, no antialiasing). Differentiable.
    pub fn resize_bilinear(&self, size: [usize; 2]) -> Result<Tensor> {
        let shape = self.shape();
        if shape.len() != 4 {
            return Err(Error::shape(
                "resize_bilinear",
                format!(
                    "expects a 4-D input (batch, height, width, channels), got shape {shape:?}"
                ),
            ));
        }
        if shape[1] == 0 || shape[2] == 0 || size.contains(&0) {
            return Err(Error::shape(
                "resize_bilinear",
                format!(
                    "cannot resize an input of spatial size {:?} (shape {shape:?}) to {size:?}: \
                     every spatial size must be positive",
                    [shape[1], shape[2]]
                ),
            ));
        }
        Ok(dispatch!(self.storage(), |a| resize_bilinear_typed(
            self, &a, size
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    /// The half-pixel rule written out per output pixel, for reference.
    fn reference(x: &[f64], shape: [usize; 4], size: [usize; 2]) -> Vec<f64> {
        let [n, h, w, c] = shape;
        let source = |o: usize, input: usize, output: usize| {
            let s = ((o as f64 + 0.5) * input as f64 / output as f64 - 0.5)
                .clamp(0.0, (input - 1) as f64);
            let lo = s.floor() as usize;
            (lo, (lo + 1).min(input - 1), s - lo as f64)
        };
        let mut out = Vec::new();
        for b in 0..n {
            for oh in 0..size[0] {
                let (h0, h1, fy) = source(oh, h, size[0]);
                for ow in 0..size[1] {
                    let (w0, w1, fx) = source(ow, w, size[1]);
                    for ch in 0..c {
                        let at = |i: usize, j: usize| x[((b * h + i) * w + j) * c + ch];
                        let top = at(h0, w0) * (1.0 - fx) + at(h0, w1) * fx;
                        let bottom = at(h1, w0) * (1.0 - fx) + at(h1, w1) * fx;
                        out.push(top * (1.0 - fy) + bottom * fy);
                    }
                }
            }
        }
        out
    }

    fn ramp(len: usize) -> Vec<f64> {
        (0..len).map(|i| ((i * 7 + 3) % 11) as f64 - 4.5).collect()
    }

    #[test]
    fn doubling_a_2x2_follows_the_half_pixel_rule() {
        // Rows of x: [1, 2], [3, 4]. Output row r samples input row (r + 0.5) / 2 - 0.5, i.e.
        // -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1); the same for the columns.
        let x = t64(&[1, 2, 2, 1], &[1.0, 2.0, 3.0, 4.0]);
        let y = x.resize_bilinear([4, 4]).unwrap();
        assert_eq!(y.shape(), vec![1, 4, 4, 1]);
        #[rustfmt::skip]
        let expected = [
            1.0, 1.25, 1.75, 2.0,
            1.5, 1.75, 2.25, 2.5,
            2.5, 2.75, 3.25, 3.5,
            3.0, 3.25, 3.75, 4.0,
        ];
        assert_close(&values(&y), &expected, 0.0);
    }

    #[test]
    fn matches_the_reference_for_any_sizes_and_both_dtypes() {
        for (shape, size) in [
            ([2, 3, 2, 3], [6, 6]),
            ([1, 2, 3, 2], [4, 9]),
            ([3, 1, 4, 1], [3, 4]),
            ([1, 5, 4, 2], [3, 2]), // shrinking, no antialias
        ] {
            let data = ramp(shape.iter().product());
            let expected = reference(&data, shape, size);
            let y = t64(&shape, &data).resize_bilinear(size).unwrap();
            assert_eq!(y.shape(), vec![shape[0], size[0], size[1], shape[3]]);
            assert_close(&values(&y), &expected, 1e-12);
            let y32 = t64(&shape, &data)
                .cast(crate::tensor::DType::F32)
                .unwrap()
                .resize_bilinear(size)
                .unwrap();
            assert_eq!(y32.dtype(), crate::tensor::DType::F32);
            assert_close(&values(&y32), &expected, 1e-6);
        }
    }

    #[test]
    fn gradient_is_the_transposed_scatter() {
        // <resize(a), b> = <a, resize'(b)> for the backward resize'.
        let (shape, size) = ([2, 3, 2, 2], [6, 5]);
        let a = var64(&shape, &ramp(shape.iter().product()));
        let y = a.resize_bilinear(size).unwrap();
        let b = t64(
            &y.shape(),
            &ramp(y.len()).iter().map(|v| v * 0.3).collect::<Vec<_>>(),
        );
        let loss = y.mul(&b).unwrap().sum(None, false).unwrap();
        let g = crate::autodiff::grad(&loss, std::slice::from_ref(&a), None, Default::default())
            .unwrap();
        let grad = values(g[0].as_ref().unwrap());
        // Column j of the linear map is resize(e_j); its dot with b is d loss / d a_j.
        let n: usize = shape.iter().product();
        let bv = values(&b);
        for j in 0..n {
            let mut unit = vec![0.0; n];
            unit[j] = 1.0;
            let column = reference(&unit, shape, size);
            let expected: f64 = column.iter().zip(&bv).map(|(p, q)| p * q).sum();
            assert!(
                (grad[j] - expected).abs() < 1e-12,
                "{j}: {} vs {expected}",
                grad[j]
            );
        }
    }

    #[test]
    fn parallel_and_serial_paths_agree() {
        let shape = [8, 16, 16, 32];
        let n: usize = shape.iter().product();
        let data: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1013) as f64).collect();
        let x = var64(&shape, &data);
        let y = x.resize_bilinear([32, 48]).unwrap();
        let one = t64(&[1, 16, 16, 32], &data[..n / 8]);
        let single = values(&one.resize_bilinear([32, 48]).unwrap());
        assert_close(&values(&y)[..single.len()], &single, 0.0);
        let loss = y.sum(None, false).unwrap();
        let g = crate::autodiff::grad(&loss, std::slice::from_ref(&x), None, Default::default())
            .unwrap();
        // Every input pixel's weights over the output sum to (out / in) per axis: 2 · 3 = 6.
        assert_close(&values(g[0].as_ref().unwrap()), &vec![6.0; n], 1e-12);
    }

    #[test]
    fn clear_errors() {
        let err = t64(&[2, 2], &[0.0; 4])
            .resize_bilinear([4, 4])
            .unwrap_err()
            .to_string();
        assert!(err.contains("4-D") && err.contains("[2, 2]"), "{err}");
        let err = t64(&[1, 2, 2, 1], &[0.0; 4])
            .resize_bilinear([0, 4])
            .unwrap_err()
            .to_string();
        assert!(err.contains("[0, 4]"), "{err}");
    }
}
