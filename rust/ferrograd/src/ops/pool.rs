//! Spatial pooling over channels-last `(batch, height, width, channels)` inputs: max pooling
//! (saving the argmax of every window for its backward) and average pooling (dividing by the
//! number of real, non-padded elements of each window, as Keras does for `padding="same"`).
//!
//! One-dimensional pooling is the same kernel on a `(batch, 1, length, channels)` view. The
//! inner loop runs over channels, which are contiguous in channels-last data; samples are
//! independent, so large batches are split across the thread pool one sample per task.
//!
//! ```
//! use ferrograd::ops::{Pool2dOptions, PoolPadding};
//! use ferrograd::Tensor;
//!
//! // One 2x2 window over a 2x2 single-channel image.
//! let x = Tensor::from_vec(&[1, 2, 2, 1], vec![1.0f32, 4.0, 3.0, 2.0]).unwrap();
//! let options = Pool2dOptions::new([2, 2], None, PoolPadding::Valid);
//! assert_eq!(x.max_pool2d(options).unwrap().item().unwrap(), 4.0);
//! assert_eq!(x.avg_pool2d(options).unwrap().item().unwrap(), 2.5);
//! ```

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::{same_padding, some_grad, typed_grad};
use crate::error::{Error, Result};
use crate::tensor::{Array, Element, Storage, Tensor};
use crate::threads;

/// Keras's `padding` for pooling: `Valid` keeps only whole windows; `Same` pads so that the
/// output has `ceil(input / stride)` positions (the padding never counts as a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolPadding {
    Valid,
    Same,
}

impl PoolPadding {
    /// Keras's name (`"valid"`, `"same"`).
    pub fn name(self) -> &'static str {
        match self {
            PoolPadding::Valid => "valid",
            PoolPadding::Same => "same",
        }
    }

    /// From Keras's name, case-insensitive as Keras.
    pub fn parse(name: &str) -> Result<PoolPadding> {
        match name.to_ascii_lowercase().as_str() {
            "valid" => Ok(PoolPadding::Valid),
            "same" => Ok(PoolPadding::Same),
            _ => Err(Error::argument(
                "pool",
                format!("padding must be 'valid' or 'same', got '{name}'"),
            )),
        }
    }
}

/// The window, strides and padding of a 2-D pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dOptions {
    pub pool_size: [usize; 2],
    pub strides: [usize; 2],
    pub padding: PoolPadding,
}

impl Pool2dOptions {
    /// Keras's defaults: `strides=None` means the pool size.
    pub fn new(pool_size: [usize; 2], strides: Option<[usize; 2]>, padding: PoolPadding) -> Self {
        Pool2dOptions {
            pool_size,
            strides: strides.unwrap_or(pool_size),
            padding,
        }
    }

    /// Non-zero window and strides.
    pub fn validate(&self, op: &'static str) -> Result<()> {
        if self.pool_size.contains(&0) || self.strides.contains(&0) {
            return Err(Error::argument(
                op,
                format!(
                    "pool_size and strides must be positive, got pool_size={:?}, strides={:?}",
                    self.pool_size, self.strides
                ),
            ));
        }
        Ok(())
    }

    /// The output length of spatial axis `axis` (0: height, 1: width) for an input length, or
    /// `None` when a `valid` window does not fit. Keras's formulas: `valid`:
    /// `(in - pool) / stride + 1`; `same`: `ceil(in / stride)`.
    pub fn output_length(&self, axis: usize, input: usize) -> Option<usize> {
        let (pool, stride) = (self.pool_size[axis], self.strides[axis]);
        match self.padding {
            PoolPadding::Valid => (input >= pool).then(|| (input - pool) / stride + 1),
            PoolPadding::Same => Some(input.div_ceil(stride)),
        }
    }
}

/// Every size of one pooling, resolved and checked once.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    in_h: usize,
    in_w: usize,
    channels: usize,
    out_h: usize,
    out_w: usize,
    pool: [usize; 2],
    strides: [usize; 2],
    /// Padding before the first row and column (the padding after only shapes the output).
    pad_top: usize,
    pad_left: usize,
}

impl Geometry {
    /// 2×2 windows at stride 2 with no padding before, every window inside the input.
    fn is_plain_2x2(&self) -> bool {
        self.pool == [2, 2]
            && self.strides == [2, 2]
            && self.pad_top == 0
            && self.pad_left == 0
            && 2 * self.out_h <= self.in_h
            && 2 * self.out_w <= self.in_w
    }

    fn new(op: &'static str, shape: &[usize], options: Pool2dOptions) -> Result<Geometry> {
        options.validate(op)?;
        if shape.len() != 4 {
            return Err(Error::shape(
                op,
                format!(
                    "expects a 4-D input (batch, height, width, channels), got shape {shape:?}"
                ),
            ));
        }
        let (out_h, out_w) = match (
            options.output_length(0, shape[1]),
            options.output_length(1, shape[2]),
        ) {
            (Some(h), Some(w)) => (h, w),
            _ => {
                return Err(Error::shape(
                    op,
                    format!(
                        "pool_size {:?} is larger than the input's spatial size {:?} (input shape \
                         {shape:?}) with padding='valid'; use a smaller pool or padding='same'",
                        options.pool_size,
                        [shape[1], shape[2]]
                    ),
                ))
            }
        };
        let (pad_top, pad_left) = match options.padding {
            PoolPadding::Valid => (0, 0),
            PoolPadding::Same => (
                same_padding(shape[1], options.pool_size[0], options.strides[0], 1).0,
                same_padding(shape[2], options.pool_size[1], options.strides[1], 1).0,
            ),
        };
        Ok(Geometry {
            batch: shape[0],
            in_h: shape[1],
            in_w: shape[2],
            channels: shape[3],
            out_h,
            out_w,
            pool: options.pool_size,
            strides: options.strides,
            pad_top,
            pad_left,
        })
    }

    fn sample_in(&self) -> usize {
        self.in_h * self.in_w * self.channels
    }

    fn sample_out(&self) -> usize {
        self.out_h * self.out_w * self.channels
    }

    fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.out_h, self.out_w, self.channels]
    }

    /// The input rows (`axis` 0) or columns (1) that output position `o` covers, padding cut
    /// off: never empty, since the padding before is less than the window.
    #[inline]
    fn window(&self, axis: usize, o: usize) -> std::ops::Range<usize> {
        let (pad, len) = if axis == 0 {
            (self.pad_top, self.in_h)
        } else {
            (self.pad_left, self.in_w)
        };
        let start = o * self.strides[axis];
        let end = (start + self.pool[axis]).min(len + pad);
        start.saturating_sub(pad)..end - pad
    }

    /// Whether the work is large enough to split over the pool, one sample per task.
    fn parallel(&self) -> bool {
        self.batch > 1
            && self.batch * self.sample_in().max(self.sample_out())
                >= threads::PARALLEL_MIN_ELEMENTS
    }
}

/// Runs `body(sample, a, b)` over matching per-sample chunks of two buffers, one task per
/// sample when the work is large.
fn per_sample<A: Send, B: Send>(
    geometry: &Geometry,
    a: (&mut [A], usize),
    b: (&mut [B], usize),
    body: impl Fn(usize, &mut [A], &mut [B]) + Send + Sync,
) {
    let (a, a_len) = a;
    let (b, b_len) = b;
    if a_len == 0 || b_len == 0 {
        return;
    }
    if geometry.parallel() {
        threads::install(|| {
            a.par_chunks_mut(a_len)
                .zip(b.par_chunks_mut(b_len))
                .enumerate()
                .for_each(|(n, (a, b))| body(n, a, b));
        });
    } else {
        a.chunks_mut(a_len)
            .zip(b.chunks_mut(b_len))
            .enumerate()
            .for_each(|(n, (a, b))| body(n, a, b));
    }
}

/// [`per_sample`] over one buffer.
fn per_sample_one<A: Send>(
    geometry: &Geometry,
    a: (&mut [A], usize),
    body: impl Fn(usize, &mut [A]) + Send + Sync,
) {
    let mut samples = vec![(); geometry.batch];
    per_sample(geometry, a, (&mut samples, 1), |n, a, _| body(n, a));
}

/// A contiguous copy (or the array itself when already contiguous) as a flat slice owner.
fn contiguous<F: Element>(a: &Array<F>) -> Array<F> {
    if a.is_standard_layout() {
        a.clone()
    } else {
        a.as_standard_layout().into_owned().into_shared()
    }
}

/// Keras's default `MaxPooling2D()` (2×2 windows, stride 2, no padding) for one sample: the
/// general loop's per-window set-up (window ranges, a copy to start from, the argmax fill)
/// cost more than the four comparisons when there are few channels (LeNet's 6 and 16); here
/// each output pixel reads its four taps in one pass. Same results as the general loop: the
/// first maximum wins ties, NaN propagates (the last NaN's position is recorded).
fn max_pool_2x2<F: Element>(
    g: &Geometry,
    sample: &[F],
    out: &mut [F],
    argmax: &mut [u32],
    record: bool,
) {
    let c = g.channels;
    let row = g.in_w * c;
    #[allow(clippy::eq_op)]
    let take = |v: F, best: F| (v > best) | (v != v);
    for oh in 0..g.out_h {
        let (h0, h1) = (2 * oh, 2 * oh + 1);
        let (r0, r1) = (
            &sample[h0 * row..(h0 + 1) * row],
            &sample[h1 * row..(h1 + 1) * row],
        );
        for ow in 0..g.out_w {
            let w0 = 2 * ow;
            let taps = [
                &r0[w0 * c..(w0 + 1) * c],
                &r0[(w0 + 1) * c..(w0 + 2) * c],
                &r1[w0 * c..(w0 + 1) * c],
                &r1[(w0 + 1) * c..(w0 + 2) * c],
            ];
            let o = (oh * g.out_w + ow) * c;
            let best = &mut out[o..o + c];
            if record {
                let at = [
                    h0 * g.in_w + w0,
                    h0 * g.in_w + w0 + 1,
                    h1 * g.in_w + w0,
                    h1 * g.in_w + w0 + 1,
                ]
                .map(|i| i as u32);
                for (ch, (b, a)) in best.iter_mut().zip(&mut argmax[o..o + c]).enumerate() {
                    let (mut m, mut i) = (taps[0][ch], at[0]);
                    for (tap, &index) in taps.iter().zip(&at) {
                        let v = tap[ch];
                        let t = take(v, m);
                        m = if t { v } else { m };
                        i = if t { index } else { i };
                    }
                    *b = m;
                    *a = i;
                }
            } else {
                for (ch, b) in best.iter_mut().enumerate() {
                    let mut m = taps[0][ch];
                    for tap in &taps[1..] {
                        let v = tap[ch];
                        m = if take(v, m) { v } else { m };
                    }
                    *b = m;
                }
            }
        }
    }
}

fn max_pool_typed<F: Element>(x: &Tensor, a: &Array<F>, g: Geometry) -> Result<Tensor> {
    let input = contiguous(a);
    let input = input.as_slice().expect("standard layout");
    let c = g.channels;
    let mut out = vec![F::zero(); g.batch * g.sample_out()];
    // The flat spatial index (`h * in_w + w`) of each output's maximum, per sample; found only
    // when the op is recorded for a backward pass (inference skips it).
    let record = crate::autodiff::is_grad_enabled() && x.requires_grad();
    let mut argmax = vec![0u32; out.len()];
    per_sample(
        &g,
        (&mut out, g.sample_out()),
        (&mut argmax, g.sample_out()),
        |n, out, argmax| {
            let sample = &input[n * g.sample_in()..(n + 1) * g.sample_in()];
            if g.is_plain_2x2() {
                return max_pool_2x2(&g, sample, out, argmax, record);
            }
            for oh in 0..g.out_h {
                let rows = g.window(0, oh);
                for ow in 0..g.out_w {
                    let cols = g.window(1, ow);
                    let o = (oh * g.out_w + ow) * c;
                    let (best, best_at) = (&mut out[o..o + c], &mut argmax[o..o + c]);
                    let first = rows.start * g.in_w + cols.start;
                    best.copy_from_slice(&sample[first * c..(first + 1) * c]);
                    if !record {
                        for h in rows.clone() {
                            for w in cols.clone() {
                                let at = (h * g.in_w + w) * c;
                                #[allow(clippy::eq_op)]
                                for (b, &v) in best.iter_mut().zip(&sample[at..at + c]) {
                                    *b = if (v > *b) | (v != v) { v } else { *b };
                                }
                            }
                        }
                        continue;
                    }
                    best_at.fill(first as u32);
                    for h in rows.clone() {
                        for w in cols.clone() {
                            let at = h * g.in_w + w;
                            let values = &sample[at * c..(at + 1) * c];
                            let at = at as u32;
                            // Strictly greater: the first maximum wins ties; NaN propagates
                            // (`v != v`). Selects, not branches, so the loop vectorizes.
                            #[allow(clippy::eq_op)]
                            for ((b, a), &v) in best.iter_mut().zip(best_at.iter_mut()).zip(values)
                            {
                                let take = (v > *b) | (v != v);
                                *b = if take { v } else { *b };
                                *a = if take { at } else { *a };
                            }
                        }
                    }
                }
            }
        },
    );
    let out = ArrayD::from_shape_vec(IxDyn(&g.output_shape()), out).expect("output size");
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "max_pool2d",
        &[x],
        move || {
            Box::new(move |grad: &Storage| {
                let grad = contiguous(typed_grad::<F>("max_pool2d", grad)?);
                let grad = grad.as_slice().expect("standard layout");
                let mut input_grad = vec![F::zero(); g.batch * g.sample_in()];
                per_sample_one(&g, (&mut input_grad, g.sample_in()), |n, input_grad| {
                    let base = n * g.sample_out();
                    for o in 0..g.out_h * g.out_w {
                        for ch in 0..c {
                            let i = base + o * c + ch;
                            input_grad[argmax[i] as usize * c + ch] += grad[i];
                        }
                    }
                });
                let input_grad =
                    ArrayD::from_shape_vec(IxDyn(&[g.batch, g.in_h, g.in_w, c]), input_grad)
                        .expect("input size");
                Ok(vec![some_grad(input_grad)])
            })
        },
    ))
}

fn avg_pool_typed<F: Element>(x: &Tensor, a: &Array<F>, g: Geometry) -> Result<Tensor> {
    let input = contiguous(a);
    let input = input.as_slice().expect("standard layout");
    let c = g.channels;
    let mut out = vec![F::zero(); g.batch * g.sample_out()];
    per_sample_one(&g, (&mut out, g.sample_out()), |n, out| {
        let sample = &input[n * g.sample_in()..(n + 1) * g.sample_in()];
        for oh in 0..g.out_h {
            let rows = g.window(0, oh);
            for ow in 0..g.out_w {
                let cols = g.window(1, ow);
                let o = (oh * g.out_w + ow) * c;
                let sum = &mut out[o..o + c];
                for h in rows.clone() {
                    for w in cols.clone() {
                        let at = (h * g.in_w + w) * c;
                        for (s, &v) in sum.iter_mut().zip(&sample[at..at + c]) {
                            *s += v;
                        }
                    }
                }
                // Keras: the mean of the real elements, padding excluded.
                let count = F::from_usize(rows.len() * cols.len()).expect("window size");
                sum.iter_mut().for_each(|s| *s /= count);
            }
        }
    });
    let out = ArrayD::from_shape_vec(IxDyn(&g.output_shape()), out).expect("output size");
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "avg_pool2d",
        &[x],
        move || {
            Box::new(move |grad: &Storage| {
                let grad = contiguous(typed_grad::<F>("avg_pool2d", grad)?);
                let grad = grad.as_slice().expect("standard layout");
                let mut input_grad = vec![F::zero(); g.batch * g.sample_in()];
                per_sample_one(&g, (&mut input_grad, g.sample_in()), |n, input_grad| {
                    let sample_grad = &grad[n * g.sample_out()..(n + 1) * g.sample_out()];
                    for oh in 0..g.out_h {
                        let rows = g.window(0, oh);
                        for ow in 0..g.out_w {
                            let cols = g.window(1, ow);
                            let o = (oh * g.out_w + ow) * c;
                            let count =
                                F::from_usize(rows.len() * cols.len()).expect("window size");
                            let share = &sample_grad[o..o + c];
                            for h in rows.clone() {
                                for w in cols.clone() {
                                    let at = (h * g.in_w + w) * c;
                                    for (gi, &go) in input_grad[at..at + c].iter_mut().zip(share) {
                                        *gi += go / count;
                                    }
                                }
                            }
                        }
                    }
                });
                let input_grad =
                    ArrayD::from_shape_vec(IxDyn(&[g.batch, g.in_h, g.in_w, c]), input_grad)
                        .expect("input size");
                Ok(vec![some_grad(input_grad)])
            })
        },
    ))
}

impl Tensor {
    /// Max pooling of a channels-last `(batch, height, width, channels)` tensor. The backward
    /// routes each output's gradient to the element that was its maximum (the first on ties).
    pub fn max_pool2d(&self, options: Pool2dOptions) -> Result<Tensor> {
        let g = Geometry::new("max_pool2d", &self.shape(), options)?;
        if g.in_h * g.in_w > u32::MAX as usize {
            return Err(Error::shape(
                "max_pool2d",
                format!("a spatial size of {}x{} is too large", g.in_h, g.in_w),
            ));
        }
        dispatch!(self.storage(), |a| max_pool_typed(self, &a, g))
    }

    /// Average pooling of a channels-last `(batch, height, width, channels)` tensor; with
    /// `Same` padding each window is divided by its count of real elements (Keras's rule).
    pub fn avg_pool2d(&self, options: Pool2dOptions) -> Result<Tensor> {
        let g = Geometry::new("avg_pool2d", &self.shape(), options)?;
        dispatch!(self.storage(), |a| avg_pool_typed(self, &a, g))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn grads_of(y: &Tensor, x: &Tensor, weights: &Tensor) -> Vec<f64> {
        let loss = y.mul(weights).unwrap().sum(None, false).unwrap();
        let g = crate::autodiff::grad(&loss, std::slice::from_ref(x), None, Default::default())
            .unwrap();
        values(g[0].as_ref().unwrap())
    }

    #[test]
    fn max_pool_picks_window_maxima_and_routes_gradients_to_them() {
        // 1 sample, 3x3, 1 channel; 2x2 windows, stride 1.
        let x = var64(
            &[1, 3, 3, 1],
            &[1.0, 5.0, 2.0, 4.0, 3.0, 9.0, 0.0, 8.0, 6.0],
        );
        let y = x
            .max_pool2d(Pool2dOptions::new([2, 2], Some([1, 1]), PoolPadding::Valid))
            .unwrap();
        assert_eq!(y.shape(), vec![1, 2, 2, 1]);
        assert_close(&values(&y), &[5.0, 9.0, 8.0, 9.0], 0.0);
        let w = t64(&[1, 2, 2, 1], &[1.0, 2.0, 3.0, 4.0]);
        // 5 gets 1; 9 gets 2 + 4; 8 gets 3.
        assert_close(
            &grads_of(&y, &x, &w),
            &[0.0, 1.0, 0.0, 0.0, 0.0, 6.0, 0.0, 3.0, 0.0],
            0.0,
        );
    }

    /// The 2×2 stride-2 fast path agrees with the rule the general loop implements: taps in
    /// row-major order, the first maximum wins ties (gradients go there), NaN propagates.
    #[test]
    fn plain_2x2_max_pool_keeps_ties_nan_and_routing() {
        let shape = [2, 4, 6, 3];
        let n: usize = shape.iter().product();
        let mut data: Vec<f64> = (0..n).map(|i| ((i * 7) % 3) as f64).collect();
        data[5] = f64::NAN;
        data[40] = f64::NAN;
        let x = var64(&shape, &data);
        let y = x
            .max_pool2d(Pool2dOptions::new([2, 2], None, PoolPadding::Valid))
            .unwrap();
        assert_eq!(y.shape(), vec![2, 2, 3, 3]);
        let (h, w, c) = (4, 6, 3);
        let mut want = vec![0.0; 2 * 2 * 3 * 3];
        let mut want_grad = vec![0.0; n];
        for s in 0..2 {
            for oh in 0..2 {
                for ow in 0..3 {
                    for ch in 0..c {
                        let at =
                            |i: usize, j: usize| ((s * h + 2 * oh + i) * w + 2 * ow + j) * c + ch;
                        let (mut m, mut arg) = (data[at(0, 0)], at(0, 0));
                        for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                            let v = data[at(i, j)];
                            if v > m || v.is_nan() {
                                (m, arg) = (v, at(i, j));
                            }
                        }
                        want[((s * 2 + oh) * 3 + ow) * c + ch] = m;
                        want_grad[arg] += 1.0;
                    }
                }
            }
        }
        let got = values(&y);
        for (g, e) in got.iter().zip(&want) {
            assert!(g == e || (g.is_nan() && e.is_nan()), "{got:?} != {want:?}");
        }
        let ones = t64(&[2, 2, 3, 3], &[1.0; 36]);
        assert_close(&grads_of(&y, &x, &ones), &want_grad, 0.0);
        // Without a gradient to record (no argmax), the same values.
        let plain = t64(&shape, &data)
            .max_pool2d(Pool2dOptions::new([2, 2], None, PoolPadding::Valid))
            .unwrap();
        for (g, e) in values(&plain).iter().zip(&want) {
            assert!(g == e || (g.is_nan() && e.is_nan()));
        }
    }

    #[test]
    fn same_average_pool_divides_by_the_real_elements() {
        // 1x3 input, pool 2, stride 2, same: output 2 windows [a, b] and [c] (padding after).
        let x = var64(&[1, 1, 3, 1], &[1.0, 3.0, 5.0]);
        let y = x
            .avg_pool2d(Pool2dOptions::new([1, 2], None, PoolPadding::Same))
            .unwrap();
        assert_close(&values(&y), &[2.0, 5.0], 1e-15);
        let w = t64(&[1, 1, 2, 1], &[1.0, 1.0]);
        assert_close(&grads_of(&y, &x, &w), &[0.5, 0.5, 1.0], 1e-15);
    }

    #[test]
    fn parallel_and_serial_paths_agree() {
        let shape = [8, 32, 32, 16];
        let n: usize = shape.iter().product();
        let data: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1013) as f64).collect();
        let x = t64(&shape, &data);
        let options = Pool2dOptions::new([3, 3], Some([2, 2]), PoolPadding::Same);
        let batched = values(&x.max_pool2d(options).unwrap());
        let one = t64(&[1, 32, 32, 16], &data[..n / 8]);
        let single = values(&one.max_pool2d(options).unwrap());
        assert_close(&batched[..single.len()], &single, 0.0);
    }

    #[test]
    fn clear_errors() {
        let x = t64(&[1, 2, 2, 1], &[0.0; 4]);
        let err = x
            .max_pool2d(Pool2dOptions::new([3, 3], None, PoolPadding::Valid))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[3, 3]") && err.contains("[1, 2, 2, 1]"),
            "{err}"
        );
        let err = t64(&[2, 2], &[0.0; 4])
            .avg_pool2d(Pool2dOptions::new([1, 1], None, PoolPadding::Valid))
            .unwrap_err()
            .to_string();
        assert!(err.contains("4-D"), "{err}");
        assert!(x
            .avg_pool2d(Pool2dOptions::new([3, 3], None, PoolPadding::Same))
            .is_ok());
        assert!(PoolPadding::parse("full").is_err());
    }
}
