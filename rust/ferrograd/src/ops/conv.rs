//! `conv2d`: a channels-last 2-D convolution (Keras's layout: input `(n, h, w, c)`, kernel
//! `(kh, kw, c / groups, filters)`, output `(n, oh, ow, filters)`) with strides, dilation,
//! explicit padding and groups, plus the bias. 1-D convolutions are the `h = 1` case.
//! `conv2d_transpose` is its input gradient as an op of its own (Keras's `Conv2DTranspose`).
//!
//! The algorithm is chosen per call:
//! - A 1×1 kernel with unit strides, no padding and one group is a plain GEMM over all pixels,
//!   `(n·h·w, c) @ (c, filters)`: it goes through [`Tensor::linear`], whose fused backward is
//!   two GEMMs and a column sum.
//! - Otherwise im2col in tiles + GEMM. Materialising the whole `(oh·ow, kh·kw·c)` patch matrix
//!   of a sample costs `kh·kw` times the input in memory; a tile of [`TILE_ELEMENTS`] elements
//!   stays in cache while the GEMM reads it, at the price of several smaller GEMMs (each still
//!   hundreds of rows, enough for the packed kernel). A direct convolution would avoid the copy
//!   but cannot use the packed GEMM, which is worth far more than the copy costs.
//!
//! Backward, per tile, with the same patch matrix `P` (recomputed, not stored: a training step
//! would otherwise hold `kh·kw` copies of every conv input):
//! - kernel gradient `dW += Pᵀ · dY` (one GEMM, accumulated over tiles and samples);
//! - input gradient `dP = dY · Wᵀ` (one GEMM), scattered back onto the input by col2im.
//!
//! Threads: many samples run one per thread with serial GEMMs; a small batch of large images
//! runs sample after sample with a parallel GEMM each. Never both (no nested parallel GEMMs).

use gemm::Parallelism;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, IxDyn};
use rayon::prelude::*;

use super::{some_grad, typed_grad, FusedActivation};
use crate::error::{Error, Result};
use crate::tensor::{Array, DType, Element, Storage, Tensor};
use crate::threads;

/// The patch matrix of one tile holds at most this many elements (256 KiB in f32: an L2 share).
const TILE_ELEMENTS: usize = 1 << 16;
/// A tile has at least this many rows, however long a patch is, so each GEMM stays efficient.
const MIN_TILE_ROWS: usize = 32;
/// Below this many multiply-adds a convolution runs on one thread.
const PARALLEL_MIN_FLOPS: usize = 64 * 64 * 64;

/// Strides, dilation, padding and groups of a 2-D convolution (axes in order height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dOptions {
    pub strides: [usize; 2],
    pub dilation: [usize; 2],
    /// Zeros added `(before, after)` each spatial axis.
    pub padding: [(usize, usize); 2],
    pub groups: usize,
}

impl Default for Conv2dOptions {
    /// Keras's defaults: strides 1, dilation 1, no padding ("valid"), one group.
    fn default() -> Self {
        Conv2dOptions {
            strides: [1, 1],
            dilation: [1, 1],
            padding: [(0, 0), (0, 0)],
            groups: 1,
        }
    }
}

/// Keras's "same" padding of one axis, `(before, after)`:
/// `total = max((ceil(in / stride) - 1) · stride + (k - 1) · dilation + 1 - in, 0)`,
/// `before = total / 2` (TensorFlow's rule, which Keras follows; the odd one goes after).
pub fn same_padding(input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let out = input.div_ceil(stride.max(1));
    let needed = (out.max(1) - 1) * stride + (kernel - 1) * dilation + 1;
    let total = needed.saturating_sub(input);
    (total / 2, total - total / 2)
}

/// The output length of one axis, or `None` when the dilated kernel does not fit the padded
/// input: `(in + before + after - ((k - 1) · dilation + 1)) / stride + 1`.
pub fn conv_output_length(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: (usize, usize),
) -> Option<usize> {
    let padded = input + padding.0 + padding.1;
    let span = (kernel.max(1) - 1) * dilation + 1;
    (padded >= span && kernel > 0).then(|| (padded - span) / stride + 1)
}

/// Every size of one convolution, resolved and checked once.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    in_h: usize,
    in_w: usize,
    in_c: usize,
    out_h: usize,
    out_w: usize,
    filters: usize,
    kh: usize,
    kw: usize,
    options: Conv2dOptions,
}

impl Geometry {
    fn group_in(&self) -> usize {
        self.in_c / self.options.groups
    }
    fn group_out(&self) -> usize {
        self.filters / self.options.groups
    }
    /// Length of a patch (a row of the patch matrix): `kh · kw · c / groups`.
    fn patch(&self) -> usize {
        self.kh * self.kw * self.group_in()
    }
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }
    fn tile_rows(&self) -> usize {
        (TILE_ELEMENTS / self.patch().max(1))
            .max(MIN_TILE_ROWS)
            .min(self.positions().max(1))
    }
    fn flops(&self) -> usize {
        self.batch * self.positions() * self.patch() * self.filters
    }

    /// Visits the input pixel under every kernel tap of the output positions `rows`, in the
    /// patch matrix's order (row = position, column = `(i, j, channel)`): `visit(row, col,
    /// pixel)` with `pixel` the input offset of channel 0 of the group, or `None` in the padding.
    fn for_each_tap(
        &self,
        rows: std::ops::Range<usize>,
        mut visit: impl FnMut(usize, usize, Option<usize>),
    ) {
        let o = &self.options;
        let cg = self.group_in();
        for (row, position) in rows.enumerate() {
            let (oh, ow) = (position / self.out_w, position % self.out_w);
            for i in 0..self.kh {
                let ih = (oh * o.strides[0] + i * o.dilation[0]) as isize - o.padding[0].0 as isize;
                for j in 0..self.kw {
                    let iw =
                        (ow * o.strides[1] + j * o.dilation[1]) as isize - o.padding[1].0 as isize;
                    let col = (i * self.kw + j) * cg;
                    let inside = ih >= 0
                        && iw >= 0
                        && (ih as usize) < self.in_h
                        && (iw as usize) < self.in_w;
                    let pixel = inside.then(|| (ih as usize * self.in_w + iw as usize) * self.in_c);
                    visit(row, col, pixel);
                }
            }
        }
    }

    /// im2col: the patches of output positions `rows` of one sample, channels of `group`.
    fn im2col<F: Element>(
        &self,
        sample: &[F],
        group: usize,
        rows: std::ops::Range<usize>,
        out: &mut Array2<F>,
    ) {
        let cg = self.group_in();
        let first = group * cg;
        let out = out.as_slice_mut().expect("patch buffer is contiguous");
        let width = self.patch();
        self.for_each_tap(rows, |row, col, pixel| {
            let dst = &mut out[row * width + col..row * width + col + cg];
            match pixel {
                Some(p) => dst.copy_from_slice(&sample[p + first..p + first + cg]),
                None => dst.fill(F::zero()),
            }
        });
    }

    /// col2im: adds the patch-matrix gradient of positions `rows` back onto one sample's input.
    fn col2im<F: Element>(
        &self,
        patches: &Array2<F>,
        group: usize,
        rows: std::ops::Range<usize>,
        sample: &mut [F],
    ) {
        let cg = self.group_in();
        let first = group * cg;
        let patches = patches.as_slice().expect("patch buffer is contiguous");
        let width = self.patch();
        self.for_each_tap(rows, |row, col, pixel| {
            if let Some(p) = pixel {
                let src = &patches[row * width + col..row * width + col + cg];
                for (d, &s) in sample[p + first..p + first + cg].iter_mut().zip(src) {
                    *d += s;
                }
            }
        });
    }

    /// The tiles of a sample's output positions.
    fn tiles(&self) -> impl Iterator<Item = std::ops::Range<usize>> {
        let (total, step) = (self.positions(), self.tile_rows());
        (0..total)
            .step_by(step)
            .map(move |start| start..(start + step).min(total))
    }
}

/// `dst (+)= a · b` through the `gemm` crate on views with any (non-negative) strides.
fn gemm_into<F: Element>(
    mut dst: ArrayViewMut2<'_, F>,
    a: ArrayView2<'_, F>,
    b: ArrayView2<'_, F>,
    accumulate: bool,
    parallelism: Parallelism,
) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    assert_eq!(b.dim().0, k, "inner dimensions");
    assert_eq!(dst.dim(), (m, n), "output dimensions");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(F::zero());
        }
        return;
    }
    let (ds, as_, bs) = (
        dst.strides().to_vec(),
        a.strides().to_vec(),
        b.strides().to_vec(),
    );
    // SAFETY: the pointers and strides come from live views of the stated shapes (strides of
    // views built here are never negative); `dst` is borrowed mutably for the call.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            ds[1],
            ds[0],
            accumulate,
            a.as_ptr(),
            as_[1],
            as_[0],
            b.as_ptr(),
            bs[1],
            bs[0],
            if accumulate { F::one() } else { F::zero() },
            F::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// How one convolution uses the threads.
#[derive(Clone, Copy)]
enum Plan {
    Serial,
    /// Samples in parallel, serial GEMMs.
    Samples,
    /// Samples one after another, each GEMM parallel.
    Gemm(usize),
}

fn plan(geometry: &Geometry) -> Plan {
    let threads = threads::num_threads();
    if threads == 1 || geometry.flops() < PARALLEL_MIN_FLOPS {
        Plan::Serial
    } else if geometry.batch >= threads.min(4) {
        Plan::Samples
    } else {
        Plan::Gemm(threads)
    }
}

fn gemm_parallelism(plan: Plan) -> Parallelism {
    match plan {
        Plan::Gemm(threads) => Parallelism::Rayon(threads),
        _ => Parallelism::None,
    }
}

/// Runs `work(sample index, chunk)` over equal chunks of `data`, one per sample, as `plan` says.
fn per_sample<F: Element>(
    plan: Plan,
    data: &mut [F],
    chunk: usize,
    work: impl Fn(usize, &mut [F]) + Sync + Send,
) {
    if chunk == 0 {
        return;
    }
    match plan {
        Plan::Samples => threads::install(|| {
            data.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(n, c)| work(n, c));
        }),
        Plan::Gemm(_) => threads::install(|| {
            data.chunks_mut(chunk)
                .enumerate()
                .for_each(|(n, c)| work(n, c));
        }),
        Plan::Serial => data
            .chunks_mut(chunk)
            .enumerate()
            .for_each(|(n, c)| work(n, c)),
    }
}

/// The output `(n, oh·ow, filters)` of the convolution, bias not added.
fn forward<F: Element>(g: &Geometry, x: &[F], kernel: ArrayView2<'_, F>) -> Vec<F> {
    let (p, f, fg) = (g.positions(), g.filters, g.group_out());
    let sample_len = g.in_h * g.in_w * g.in_c;
    let mut out = vec![F::zero(); g.batch * p * f];
    let plan = plan(g);
    let parallelism = gemm_parallelism(plan);
    per_sample(plan, &mut out, p * f, |n, out_n| {
        let sample = &x[n * sample_len..(n + 1) * sample_len];
        let mut out_n = ArrayViewMut2::from_shape((p, f), out_n).expect("p * filters");
        let mut patches = Array2::<F>::zeros((g.tile_rows(), g.patch()));
        for group in 0..g.options.groups {
            let w = kernel.slice(ndarray::s![.., group * fg..(group + 1) * fg]);
            for rows in g.tiles() {
                let len = rows.len();
                g.im2col(sample, group, rows.clone(), &mut patches);
                let dst = out_n.slice_mut(ndarray::s![rows, group * fg..(group + 1) * fg]);
                gemm_into(
                    dst,
                    patches.slice(ndarray::s![..len, ..]),
                    w,
                    false,
                    parallelism,
                );
            }
        }
    });
    out
}

/// The input gradient `(n, h, w, c)` for the output gradient `grad` `(n, oh·ow, filters)`.
fn input_grad<F: Element>(g: &Geometry, grad: &[F], kernel: ArrayView2<'_, F>) -> Vec<F> {
    let (p, f, fg) = (g.positions(), g.filters, g.group_out());
    let sample_len = g.in_h * g.in_w * g.in_c;
    let mut dx = vec![F::zero(); g.batch * sample_len];
    let plan = plan(g);
    let parallelism = gemm_parallelism(plan);
    per_sample(plan, &mut dx, sample_len, |n, dx_n| {
        let grad_n =
            ArrayView2::from_shape((p, f), &grad[n * p * f..(n + 1) * p * f]).expect("p * filters");
        let mut patches = Array2::<F>::zeros((g.tile_rows(), g.patch()));
        for group in 0..g.options.groups {
            // Wᵀ of the group: (filters / groups, patch), a free transposed view.
            let wt = kernel
                .slice(ndarray::s![.., group * fg..(group + 1) * fg])
                .reversed_axes();
            for rows in g.tiles() {
                let len = rows.len();
                let dy = grad_n.slice(ndarray::s![rows.clone(), group * fg..(group + 1) * fg]);
                gemm_into(
                    patches.slice_mut(ndarray::s![..len, ..]),
                    dy,
                    wt,
                    false,
                    parallelism,
                );
                g.col2im(&patches, group, rows, dx_n);
            }
        }
    });
    dx
}

/// The kernel gradient `(patch, filters)`: `Σ Pᵀ · dY` over samples and tiles.
fn kernel_grad<F: Element>(g: &Geometry, x: &[F], grad: &[F]) -> Array2<F> {
    let (p, f, fg) = (g.positions(), g.filters, g.group_out());
    let sample_len = g.in_h * g.in_w * g.in_c;
    let accumulate_sample = |n: usize, dw: &mut Array2<F>, patches: &mut Array2<F>, parallelism| {
        let sample = &x[n * sample_len..(n + 1) * sample_len];
        let grad_n =
            ArrayView2::from_shape((p, f), &grad[n * p * f..(n + 1) * p * f]).expect("p * filters");
        for group in 0..g.options.groups {
            for rows in g.tiles() {
                let len = rows.len();
                g.im2col(sample, group, rows.clone(), patches);
                let pt = patches.slice(ndarray::s![..len, ..]).reversed_axes();
                let dy = grad_n.slice(ndarray::s![rows, group * fg..(group + 1) * fg]);
                let dst = dw.slice_mut(ndarray::s![.., group * fg..(group + 1) * fg]);
                gemm_into(dst, pt, dy, true, parallelism);
            }
        }
    };
    let fresh = || {
        (
            Array2::<F>::zeros((g.patch(), f)),
            Array2::<F>::zeros((g.tile_rows(), g.patch())),
        )
    };
    match plan(g) {
        Plan::Samples => threads::install(|| {
            (0..g.batch)
                .into_par_iter()
                .fold(fresh, |(mut dw, mut patches), n| {
                    accumulate_sample(n, &mut dw, &mut patches, Parallelism::None);
                    (dw, patches)
                })
                .map(|(dw, _)| dw)
                .reduce(|| Array2::<F>::zeros((g.patch(), f)), |a, b| a + b)
        }),
        plan => threads::install(|| {
            let (mut dw, mut patches) = fresh();
            for n in 0..g.batch {
                accumulate_sample(n, &mut dw, &mut patches, gemm_parallelism(plan));
            }
            dw
        }),
    }
}

fn conv2d_typed<F: Element>(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    g: Geometry,
) -> Result<Tensor> {
    let xa: Array<F> = x.array::<F>()?;
    let xa = if xa.is_standard_layout() {
        xa
    } else {
        xa.as_standard_layout().into_owned().into_shared()
    };
    let wa: Array<F> = kernel.array::<F>()?;
    let wa = if wa.is_standard_layout() {
        wa
    } else {
        wa.as_standard_layout().into_owned().into_shared()
    };
    let (patch, f) = (g.patch(), g.filters);
    let w2 = wa
        .view()
        .into_shape_with_order((patch, f))
        .expect("standard layout kernel");
    let mut out = forward(&g, xa.as_slice().expect("standard layout"), w2);
    if let Some(b) = bias {
        let b = b.array::<F>()?;
        let b: Vec<F> = b.iter().copied().collect();
        for row in out.chunks_mut(f) {
            for (v, &bias) in row.iter_mut().zip(&b) {
                *v += bias;
            }
        }
    }
    let out_shape = [g.batch, g.out_h, g.out_w, f];
    let out = ndarray::ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("output size");
    let (x_needs, w_needs) = (x.requires_grad(), kernel.requires_grad());
    let b_needs = bias.is_some_and(|b| b.requires_grad());
    let has_bias = bias.is_some();
    let mut inputs = vec![x, kernel];
    if let Some(b) = bias {
        inputs.push(b);
    }
    let kernel_shape = kernel.shape();
    let input_shape = x.shape();
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "conv2d",
        &inputs,
        move || {
            Box::new(move |grad: &Storage| {
                let grad = typed_grad::<F>("conv2d", grad)?;
                let grad = grad.as_standard_layout();
                let grad = grad.as_slice().expect("standard layout");
                let xs = xa.as_slice().expect("standard layout");
                let w2 = wa
                    .view()
                    .into_shape_with_order((patch, f))
                    .expect("standard layout kernel");
                let gx = x_needs.then(|| {
                    let dx = input_grad(&g, grad, w2);
                    ndarray::ArrayD::from_shape_vec(IxDyn(&input_shape), dx).expect("input size")
                });
                let gw = w_needs.then(|| {
                    kernel_grad(&g, xs, grad)
                        .into_shape_with_order(IxDyn(&kernel_shape))
                        .expect("kernel size")
                });
                let mut grads = vec![gx.and_then(some_grad), gw.and_then(some_grad)];
                if has_bias {
                    grads.push(if b_needs {
                        let rows = ndarray::ArrayView2::from_shape((grad.len() / f, f), grad)
                            .expect("rows of filters");
                        some_grad(rows.sum_axis(Axis(0)).into_dyn())
                    } else {
                        None
                    });
                }
                Ok(grads)
            })
        },
    ))
}

/// The transposed convolution: `x` `(n, ih, iw, c_in)` spread by `kernel`
/// `(kh, kw, filters, c_in)` onto `(n, oh, ow, filters)`. It is exactly the input gradient of
/// the convolution `g` (whose input is the transposed output and whose output is `x`), so its
/// forward is col2im and its backward the convolution's forward and kernel gradient.
fn conv2d_transpose_typed<F: Element>(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    g: Geometry,
) -> Result<Tensor> {
    let xa: Array<F> = x.array::<F>()?;
    let xa = if xa.is_standard_layout() {
        xa
    } else {
        xa.as_standard_layout().into_owned().into_shared()
    };
    let wa: Array<F> = kernel.array::<F>()?;
    let wa = if wa.is_standard_layout() {
        wa
    } else {
        wa.as_standard_layout().into_owned().into_shared()
    };
    let (patch, c_in, filters) = (g.patch(), g.filters, g.in_c);
    let w2 = wa
        .view()
        .into_shape_with_order((patch, c_in))
        .expect("standard layout kernel");
    let mut out = input_grad(&g, xa.as_slice().expect("standard layout"), w2);
    if let Some(b) = bias {
        let b: Vec<F> = b.array::<F>()?.iter().copied().collect();
        for row in out.chunks_mut(filters) {
            for (v, &bias) in row.iter_mut().zip(&b) {
                *v += bias;
            }
        }
    }
    let out_shape = [g.batch, g.in_h, g.in_w, filters];
    let out = ndarray::ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("output size");
    let (x_needs, w_needs) = (x.requires_grad(), kernel.requires_grad());
    let b_needs = bias.is_some_and(|b| b.requires_grad());
    let has_bias = bias.is_some();
    let mut inputs = vec![x, kernel];
    if let Some(b) = bias {
        inputs.push(b);
    }
    let (kernel_shape, input_shape) = (kernel.shape(), x.shape());
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "conv2d_transpose",
        &inputs,
        move || {
            Box::new(move |grad: &Storage| {
                let grad = typed_grad::<F>("conv2d_transpose", grad)?;
                let grad = grad.as_standard_layout();
                let grad = grad.as_slice().expect("standard layout");
                let xs = xa.as_slice().expect("standard layout");
                let w2 = wa
                    .view()
                    .into_shape_with_order((patch, c_in))
                    .expect("standard layout kernel");
                // dX = conv(dY, W); dW = Σ patches(dY)ᵀ · X; db = Σ dY.
                let gx = x_needs.then(|| {
                    ndarray::ArrayD::from_shape_vec(IxDyn(&input_shape), forward(&g, grad, w2))
                        .expect("input size")
                });
                let gw = w_needs.then(|| {
                    kernel_grad(&g, grad, xs)
                        .into_shape_with_order(IxDyn(&kernel_shape))
                        .expect("kernel size")
                });
                let mut grads = vec![gx.and_then(some_grad), gw.and_then(some_grad)];
                if has_bias {
                    grads.push(if b_needs {
                        let rows = ArrayView2::from_shape((grad.len() / filters, filters), grad)
                            .expect("rows of filters");
                        some_grad(rows.sum_axis(Axis(0)).into_dyn())
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
    /// A 2-D convolution, channels last: `self` `(n, h, w, c)`, `kernel`
    /// `(kh, kw, c / groups, filters)`, `bias` `(filters,)`; output `(n, oh, ow, filters)` with
    /// `oh = (h + pad_top + pad_bottom - ((kh - 1) · dilation + 1)) / stride + 1` (same for `w`).
    /// Output channel `f` of group `g = f / (filters / groups)` sees input channels
    /// `g · c/groups .. (g + 1) · c/groups` (Keras's grouped convolution).
    pub fn conv2d(
        &self,
        kernel: &Tensor,
        bias: Option<&Tensor>,
        options: &Conv2dOptions,
    ) -> Result<Tensor> {
        let (xs, ks) = (self.shape(), kernel.shape());
        if xs.len() != 4 || ks.len() != 4 {
            return Err(Error::shape(
                "conv2d",
                format!("expects an input (batch, height, width, channels) and a kernel (kh, kw, in/groups, filters), got shapes {xs:?} and {ks:?}"),
            ));
        }
        let o = *options;
        if o.groups == 0 || o.strides.contains(&0) || o.dilation.contains(&0) {
            return Err(Error::argument(
                "conv2d",
                format!(
                    "strides {:?}, dilation {:?} and groups {} must be positive",
                    o.strides, o.dilation, o.groups
                ),
            ));
        }
        let (in_c, filters) = (xs[3], ks[3]);
        if in_c % o.groups != 0 || filters % o.groups != 0 {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "groups={} must divide the input channels ({in_c}) and the filters ({filters})",
                    o.groups
                ),
            ));
        }
        if ks[2] * o.groups != in_c {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "input of shape {xs:?} has {in_c} channels, but the kernel of shape {ks:?} with groups={} expects {}",
                    o.groups,
                    ks[2] * o.groups
                ),
            ));
        }
        if let Some(b) = bias {
            if b.shape() != [filters] {
                return Err(Error::shape(
                    "conv2d",
                    format!("bias of shape {:?} does not fit a kernel of shape {ks:?}: it needs ({filters},)", b.shape()),
                ));
            }
        }
        let out = [0, 1].map(|a| {
            conv_output_length(xs[1 + a], ks[a], o.strides[a], o.dilation[a], o.padding[a])
        });
        let (Some(out_h), Some(out_w)) = (out[0], out[1]) else {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "kernel of size ({}, {}) with dilation {:?} is larger than the input of spatial size ({}, {}) padded by {:?}",
                    ks[0], ks[1], o.dilation, xs[1], xs[2], o.padding
                ),
            ));
        };
        let dtype = self.dtype().promote(kernel.dtype());
        let x = self.cast(dtype)?;
        let k = kernel.cast(dtype)?;
        let b = bias.map(|b| b.cast(dtype)).transpose()?;
        let pointwise = ks[0] == 1
            && ks[1] == 1
            && o.groups == 1
            && o.strides == [1, 1]
            && o.padding == [(0, 0), (0, 0)];
        if pointwise {
            // 1×1: every pixel is a row of one GEMM.
            let k2 = k.reshape(&[in_c as isize, filters as isize])?;
            return x.linear(&k2, b.as_ref(), FusedActivation::Linear);
        }
        let geometry = Geometry {
            batch: xs[0],
            in_h: xs[1],
            in_w: xs[2],
            in_c,
            out_h,
            out_w,
            filters,
            kh: ks[0],
            kw: ks[1],
            options: o,
        };
        match dtype {
            DType::F32 => conv2d_typed::<f32>(&x, &k, b.as_ref(), geometry),
            DType::F64 => conv2d_typed::<f64>(&x, &k, b.as_ref(), geometry),
        }
    }

    /// The transposed convolution (the input gradient of [`Tensor::conv2d`], TensorFlow's and
    /// Keras's `conv_transpose`): `self` `(n, ih, iw, c)`, `kernel` `(kh, kw, filters, c)`,
    /// output `(n, oh, ow, filters)` of the given `output_size`, which must be one whose
    /// convolution by `options` (groups 1) has `ih × iw` positions.
    pub fn conv2d_transpose(
        &self,
        kernel: &Tensor,
        bias: Option<&Tensor>,
        output_size: [usize; 2],
        options: &Conv2dOptions,
    ) -> Result<Tensor> {
        let (xs, ks) = (self.shape(), kernel.shape());
        if xs.len() != 4 || ks.len() != 4 {
            return Err(Error::shape(
                "conv2d_transpose",
                format!("expects an input (batch, height, width, channels) and a kernel (kh, kw, filters, in), got shapes {xs:?} and {ks:?}"),
            ));
        }
        let o = *options;
        if o.groups != 1 || o.strides.contains(&0) || o.dilation.contains(&0) {
            return Err(Error::argument(
                "conv2d_transpose",
                format!(
                    "strides {:?} and dilation {:?} must be positive and groups 1, got groups={}",
                    o.strides, o.dilation, o.groups
                ),
            ));
        }
        let (in_c, filters) = (xs[3], ks[2]);
        if ks[3] != in_c {
            return Err(Error::shape(
                "conv2d_transpose",
                format!("input of shape {xs:?} has {in_c} channels, but the kernel of shape {ks:?} expects {}", ks[3]),
            ));
        }
        if let Some(b) = bias {
            if b.shape() != [filters] {
                return Err(Error::shape(
                    "conv2d_transpose",
                    format!("bias of shape {:?} does not fit a kernel of shape {ks:?}: it needs ({filters},)", b.shape()),
                ));
            }
        }
        let positions = [0, 1].map(|a| {
            conv_output_length(
                output_size[a],
                ks[a],
                o.strides[a],
                o.dilation[a],
                o.padding[a],
            )
        });
        if positions != [Some(xs[1]), Some(xs[2])] {
            return Err(Error::shape(
                "conv2d_transpose",
                format!(
                    "an output of spatial size {output_size:?} convolved by a ({}, {}) kernel with strides {:?}, dilation {:?} and padding {:?} gives {positions:?} positions, not the input's ({}, {})",
                    ks[0], ks[1], o.strides, o.dilation, o.padding, xs[1], xs[2]
                ),
            ));
        }
        let dtype = self.dtype().promote(kernel.dtype());
        let x = self.cast(dtype)?;
        let k = kernel.cast(dtype)?;
        let b = bias.map(|b| b.cast(dtype)).transpose()?;
        // The convolution this one transposes: its input is our output, its output our input.
        let geometry = Geometry {
            batch: xs[0],
            in_h: output_size[0],
            in_w: output_size[1],
            in_c: filters,
            out_h: xs[1],
            out_w: xs[2],
            filters: in_c,
            kh: ks[0],
            kw: ks[1],
            options: o,
        };
        match dtype {
            DType::F32 => conv2d_transpose_typed::<f32>(&x, &k, b.as_ref(), geometry),
            DType::F64 => conv2d_transpose_typed::<f64>(&x, &k, b.as_ref(), geometry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// A direct convolution by its definition, for reference.
    fn direct(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ks: [usize; 4],
        o: &Conv2dOptions,
    ) -> (Vec<f64>, [usize; 4]) {
        let [n, h, wd, c] = xs;
        let [kh, kw, cg, f] = ks;
        let oh = conv_output_length(h, kh, o.strides[0], o.dilation[0], o.padding[0]).unwrap();
        let ow = conv_output_length(wd, kw, o.strides[1], o.dilation[1], o.padding[1]).unwrap();
        let fg = f / o.groups;
        let mut out = vec![0.0; n * oh * ow * f];
        for b in 0..n {
            for y in 0..oh {
                for z in 0..ow {
                    for ff in 0..f {
                        let g = ff / fg;
                        let mut acc = 0.0;
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (y * o.strides[0] + i * o.dilation[0]) as isize
                                    - o.padding[0].0 as isize;
                                let iz = (z * o.strides[1] + j * o.dilation[1]) as isize
                                    - o.padding[1].0 as isize;
                                if iy < 0 || iz < 0 || iy >= h as isize || iz >= wd as isize {
                                    continue;
                                }
                                for cc in 0..cg {
                                    let xv = x[((b * h + iy as usize) * wd + iz as usize) * c
                                        + g * cg
                                        + cc];
                                    acc += xv * w[((i * kw + j) * cg + cc) * f + ff];
                                }
                            }
                        }
                        out[((b * oh + y) * ow + z) * f + ff] = acc;
                    }
                }
            }
        }
        (out, [n, oh, ow, f])
    }

    fn ramp(len: usize, scale: f64) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7 + 3) % 11) as f64 * scale - 0.5)
            .collect()
    }

    #[test]
    fn conv2d_matches_the_direct_definition() {
        let cases = [
            ([2, 5, 6, 3], [3, 2, 3, 4], Conv2dOptions::default()),
            (
                [1, 7, 7, 4],
                [3, 3, 2, 6],
                Conv2dOptions {
                    strides: [2, 1],
                    padding: [(1, 1), (0, 2)],
                    groups: 2,
                    ..Default::default()
                },
            ),
            (
                [3, 6, 5, 2],
                [2, 2, 2, 3],
                Conv2dOptions {
                    dilation: [2, 2],
                    padding: [(1, 0), (1, 1)],
                    ..Default::default()
                },
            ),
            ([2, 4, 4, 3], [1, 1, 3, 5], Conv2dOptions::default()),
            (
                [2, 4, 4, 3],
                [1, 1, 1, 3],
                Conv2dOptions {
                    groups: 3,
                    strides: [2, 2],
                    ..Default::default()
                },
            ),
        ];
        for (xs, ks, o) in cases {
            let xv = ramp(xs.iter().product(), 0.1);
            let wv = ramp(ks.iter().product(), 0.07);
            let (expected, out_shape) = direct(&xv, xs, &wv, ks, &o);
            let y = t64(&xs, &xv).conv2d(&t64(&ks, &wv), None, &o).unwrap();
            assert_eq!(y.shape(), out_shape.to_vec());
            assert_close(&values(&y), &expected, 1e-12);
        }
    }

    #[test]
    fn conv2d_gradients_match_central_differences() {
        let (xs, ks) = ([2, 5, 4, 4], [3, 2, 2, 4]);
        let o = Conv2dOptions {
            strides: [2, 1],
            dilation: [1, 2],
            padding: [(1, 1), (1, 0)],
            groups: 2,
        };
        let xv = ramp(xs.iter().product(), 0.1);
        let wv = ramp(ks.iter().product(), 0.07);
        let bv = vec![0.1, -0.2, 0.3, 0.05];
        let (x, w, b) = (var64(&xs, &xv), var64(&ks, &wv), var64(&[4], &bv));
        let y = x.conv2d(&w, Some(&b), &o).unwrap();
        let weighting: Vec<f64> = ramp(y.len(), 0.3);
        let weights = t64(&y.shape(), &weighting);
        y.mul(&weights)
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        let loss = |xv: &[f64], wv: &[f64], bv: &[f64]| {
            let (out, _) = direct(xv, xs, wv, ks, &o);
            out.chunks(4)
                .zip(weighting.chunks(4))
                .map(|(r, q)| {
                    r.iter()
                        .zip(bv)
                        .zip(q)
                        .map(|((v, b), q)| (v + b) * q)
                        .sum::<f64>()
                })
                .sum::<f64>()
        };
        let eps = 1e-6;
        let numeric = |which: usize, len: usize| -> Vec<f64> {
            (0..len)
                .map(|i| {
                    let mut args = [xv.clone(), wv.clone(), bv.clone()];
                    args[which][i] += eps;
                    let plus = loss(&args[0], &args[1], &args[2]);
                    args[which][i] -= 2.0 * eps;
                    let minus = loss(&args[0], &args[1], &args[2]);
                    (plus - minus) / (2.0 * eps)
                })
                .collect()
        };
        assert_close(&values(&x.grad().unwrap()), &numeric(0, xv.len()), 1e-6);
        assert_close(&values(&w.grad().unwrap()), &numeric(1, wv.len()), 1e-6);
        assert_close(&values(&b.grad().unwrap()), &numeric(2, bv.len()), 1e-6);
    }

    #[test]
    fn threaded_and_tiled_paths_match_the_direct_definition() {
        // Several tiles per sample (a 576-long patch), samples in parallel and parallel GEMMs.
        let cases = [
            (
                [3, 20, 20, 64],
                [3, 3, 64, 4],
                Conv2dOptions {
                    padding: [(1, 1), (1, 1)],
                    ..Default::default()
                },
            ),
            ([1, 24, 24, 8], [3, 3, 8, 16], Conv2dOptions::default()),
        ];
        for (xs, ks, o) in cases {
            let xv = ramp(xs.iter().product(), 0.1);
            let wv = ramp(ks.iter().product(), 0.07);
            let (expected, _) = direct(&xv, xs, &wv, ks, &o);
            let (x, w) = (var64(&xs, &xv), var64(&ks, &wv));
            let y = x.conv2d(&w, None, &o).unwrap();
            assert_close(&values(&y), &expected, 1e-10);
            // sum(y) has input gradient Σ over taps of the kernel and kernel gradient Σ of
            // the patches; compare against the serial single-sample computation.
            y.sum(None, false).unwrap().backward().unwrap();
            let mut gw = vec![0.0; wv.len()];
            for n in 0..xs[0] {
                let one = var64(
                    &[1, xs[1], xs[2], xs[3]],
                    &xv[n * xs[1] * xs[2] * xs[3]..(n + 1) * xs[1] * xs[2] * xs[3]],
                );
                let w1 = var64(&ks, &wv);
                let y1 = crate::threads::install(|| {
                    one.conv2d(&w1, None, &Conv2dOptions { ..o }).unwrap()
                });
                y1.sum(None, false).unwrap().backward().unwrap();
                for (a, b) in gw.iter_mut().zip(values(&w1.grad().unwrap())) {
                    *a += b;
                }
            }
            assert_close(&values(&w.grad().unwrap()), &gw, 1e-10);
        }
    }

    #[test]
    fn conv2d_transpose_is_the_adjoint_of_conv2d() {
        // <conv(a), b> = <a, conv_transpose(b)> for every a, b: the definition of the transpose.
        let (xs, ks) = ([2, 7, 6, 3], [3, 2, 3, 4]);
        let o = Conv2dOptions {
            strides: [2, 2],
            padding: [(1, 1), (0, 1)],
            ..Default::default()
        };
        let a = t64(&xs, &ramp(xs.iter().product(), 0.1));
        let w = t64(&ks, &ramp(ks.iter().product(), 0.07));
        let y = a.conv2d(&w, None, &o).unwrap();
        let b = t64(&y.shape(), &ramp(y.len(), 0.13));
        let back = b.conv2d_transpose(&w, None, [7, 6], &o).unwrap();
        assert_eq!(back.shape(), xs.to_vec());
        let lhs: f64 = values(&y).iter().zip(values(&b)).map(|(p, q)| p * q).sum();
        let rhs: f64 = values(&a)
            .iter()
            .zip(values(&back))
            .map(|(p, q)| p * q)
            .sum();
        assert!(
            (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
        assert!(b.conv2d_transpose(&w, None, [9, 6], &o).is_err());
    }

    #[test]
    fn same_padding_follows_keras() {
        assert_eq!(same_padding(5, 3, 1, 1), (1, 1));
        assert_eq!(same_padding(6, 3, 2, 1), (0, 1));
        assert_eq!(same_padding(7, 4, 1, 1), (1, 2));
        assert_eq!(same_padding(4, 1, 2, 1), (0, 0));
        assert_eq!(same_padding(8, 3, 1, 2), (2, 2));
    }

    #[test]
    fn conv2d_reports_bad_shapes() {
        let x = t64(&[1, 2, 2, 3], &[0.0; 12]);
        let big = t64(&[3, 3, 3, 1], &[0.0; 27]);
        let err = x
            .conv2d(&big, None, &Conv2dOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than the input"), "{err}");
        let wrong_c = t64(&[1, 1, 2, 1], &[0.0; 2]);
        let err = x
            .conv2d(&wrong_c, None, &Conv2dOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 channels"), "{err}");
        let o = Conv2dOptions {
            groups: 2,
            ..Default::default()
        };
        assert!(x.conv2d(&wrong_c, None, &o).is_err());
    }
}
