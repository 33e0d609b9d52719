//! `conv2d`: a channels-last 2-D convolution (Keras's layout: input `(n, h, w, c)`, kernel
//! `(kh, kw, c / groups, filters)`, output `(n, oh, ow, filters)`) with strides, dilation,
//! explicit padding and groups, plus the bias. 1-D convolutions are the `h = 1` case.
//! `conv2d_transpose` is its input gradient as an op of its own (Keras's `Conv2DTranspose`).
//!
//! The algorithm is chosen per call:
//! - A 1×1 kernel with unit strides, no padding and one group is a plain GEMM over all pixels,
//!   `(n·h·w, c) @ (c, filters)`: it goes through [`Tensor::linear`], whose fused backward is
//!   two GEMMs and a column sum.
//! - Otherwise im2col in tiles + GEMM. Materialising the whole patch matrix costs `kh·kw`
//!   times the input in memory; a tile of about [`TILE_ELEMENTS`] elements stays in cache while
//!   the GEMM reads it. A direct convolution would avoid the copy but cannot use the packed
//!   GEMM, which is worth far more than the copy costs.
//! - The patch matrix's layout follows the input. With one channel and unit strides (LeNet's
//!   first conv) it is built transposed, `(kh·kw·c, positions)`: each of its rows is a run of
//!   whole output rows copied in one `memcpy`, where the usual `(positions, kh·kw·c)` layout
//!   copies one float per tap (that cost half of a training step). With several channels the
//!   transposed runs become gathers with the channel stride, and the usual layout copies a
//!   whole kernel row (`kw·c` floats) at once: LeNet trained 30% faster with it.
//!   The GEMM packs its operands anyway, so neither layout costs it anything.
//! - Work is split in units of whole samples, several per unit for thin layers (LeNet's
//!   second conv: 100 positions × 150 taps per sample), so that each GEMM has hundreds to
//!   thousands of rows instead of one small GEMM per sample, and the col2im of two units never
//!   touches the same pixel.
//! - The bias and a [`FusedActivation`] are applied to each output tile right after its GEMM,
//!   while it is in cache; the backward takes the activation's derivative from the output.
//!
//! Backward, one pass over the tiles computing every requested gradient, with the same patch
//! matrix `P` (recomputed, not stored: a training step would otherwise hold `kh·kw` copies of
//! every conv input) and `dz = grad · activation'(y)`:
//! - kernel gradient `dW += P · dz` (one GEMM, accumulated over tiles and per thread);
//! - input gradient `dP = W · dzᵀ` (one GEMM), scattered back onto the input by col2im;
//! - bias gradient `db += Σ dz`.
//!
//! Threads: many samples run one unit per task with serial GEMMs; a small batch of large images
//! runs unit after unit with a parallel GEMM each. Never both (no nested parallel GEMMs).

use gemm::Parallelism;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, IxDyn};
use rayon::prelude::*;

use super::{some_grad, typed_grad, FusedActivation};
use crate::error::{Error, Result};
use crate::tensor::{Array, DType, Element, Storage, Tensor};
use crate::threads;

/// The patch matrix of one tile holds at most this many elements (256 KiB in f32: an L2 share).
const TILE_ELEMENTS: usize = 1 << 16;
/// A tile has at least this many rows (or all of its unit's), however long a patch is: each
/// tile's GEMM packs the whole kernel again, which a thin tile does not repay. With 32 rows,
/// a 3×3 conv of 14×14×256 → 256 (2,304-long patches, 28 rows by the cache rule) ran at 0.73x
/// PyTorch's speed; with 256 at 0.95x. Its patch tile then outgrows L2, which costs less.
const MIN_TILE_ROWS: usize = 256;
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
    fn sample_in(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }
    fn flops(&self) -> usize {
        self.batch * self.positions() * self.patch() * self.filters
    }

    /// Whether the patch matrix is built in the row layout `(positions, patch)` rather than
    /// the transposed one `(patch, positions)`. The transposed layout copies whole output rows
    /// of one tap in one `memcpy` only when consecutive positions read consecutive floats (one
    /// input channel, unit stride: LeNet's first conv); otherwise each of its runs is a gather
    /// with the input's channel stride, and the row layout, whose runs are a tap's `c / groups`
    /// channels (a whole kernel row's `kw · c` with one group and no dilation), copies more
    /// per instruction: measured on LeNet's second conv (6 channels), the transposed gather
    /// was a quarter of the training step.
    fn row_layout(&self) -> bool {
        self.options.strides[1] * self.in_c != 1
    }

    /// Samples per work unit. A unit is the task one thread takes: whole samples, so that the
    /// col2im of two units never writes the same input pixel. Thin layers (LeNet's first conv:
    /// 784 positions × 25 taps) gather several samples into one unit so that each GEMM gets
    /// thousands of rows instead of hundreds; but every thread still gets several units.
    fn unit_samples(&self, threads: usize) -> usize {
        let per_sample = (self.patch() * self.positions()).max(1);
        let by_cache = (TILE_ELEMENTS / per_sample).max(1);
        let by_balance = (self.batch / (4 * threads)).max(1);
        by_cache.min(by_balance)
    }

    /// Rows (output positions) of one tile: its patch matrix holds about [`TILE_ELEMENTS`].
    fn tile_rows(&self, unit_positions: usize) -> usize {
        (TILE_ELEMENTS / self.patch().max(1))
            .max(MIN_TILE_ROWS)
            .min(unit_positions.max(1))
    }

    /// The output positions `o` of one axis whose input coordinate `o · stride + offset` lies
    /// in `0..input` (`offset = tap · dilation - pad_before`), as a range clipped to `0..out`.
    fn inside(out: usize, input: usize, stride: usize, offset: isize) -> std::ops::Range<usize> {
        let lo = if offset >= 0 {
            0
        } else {
            offset.unsigned_abs().div_ceil(stride)
        };
        let bound = input as isize - offset;
        let hi = if bound <= 0 {
            0
        } else {
            (bound as usize).div_ceil(stride)
        };
        let lo = lo.min(out);
        lo..hi.clamp(lo, out)
    }

    /// Calls `visit(t, n, oh, ows)` for the runs of unit positions `range` that share a sample
    /// `n` and output row `oh`: position `t` of the tile is `(n, oh, ows.start)`.
    fn for_each_run(
        &self,
        range: std::ops::Range<usize>,
        mut visit: impl FnMut(usize, usize, usize, std::ops::Range<usize>),
    ) {
        let (p, w) = (self.positions(), self.out_w);
        let mut at = range.start;
        while at < range.end {
            let (n, within) = (at / p, at % p);
            let (oh, ow) = (within / w, within % w);
            let end = (ow + (range.end - at)).min(w);
            visit(at - range.start, n, oh, ow..end);
            at += end - ow;
        }
    }

    /// Walks the patch matrix of unit positions `range` for the channels of `group`, in the
    /// row layout: `visit(t, tap, Some(offset), len)` for `len` consecutive patch elements of
    /// position `t` starting at element `tap` that are `len` consecutive floats of the unit's
    /// input from `offset`; `visit(t, tap, None, len)` for `len` padding taps. With one group
    /// and no dilation a kernel row inside the input is one run of `kw · c` floats.
    fn for_each_tap_run(
        &self,
        group: usize,
        range: std::ops::Range<usize>,
        mut visit: impl FnMut(usize, usize, Option<usize>, usize),
    ) {
        let o = &self.options;
        let cg = self.group_in();
        let sample_len = self.sample_in();
        let row_len = self.kw * cg;
        let whole_rows = o.dilation[1] == 1 && o.groups == 1;
        self.for_each_run(range, |t0, n, oh, ows| {
            for (k, ow) in ows.enumerate() {
                let t = t0 + k;
                let iw0 = (ow * o.strides[1]) as isize - o.padding[1].0 as isize;
                for i in 0..self.kh {
                    let ih =
                        (oh * o.strides[0] + i * o.dilation[0]) as isize - o.padding[0].0 as isize;
                    let first = i * row_len;
                    if ih < 0 || ih >= self.in_h as isize {
                        visit(t, first, None, row_len);
                        continue;
                    }
                    let line = n * sample_len + ih as usize * self.in_w * self.in_c;
                    let last = iw0 + ((self.kw - 1) * o.dilation[1]) as isize;
                    if whole_rows && iw0 >= 0 && last < self.in_w as isize {
                        visit(t, first, Some(line + iw0 as usize * self.in_c), row_len);
                        continue;
                    }
                    for j in 0..self.kw {
                        let iw = iw0 + (j * o.dilation[1]) as isize;
                        let tap = first + j * cg;
                        if iw < 0 || iw >= self.in_w as isize {
                            visit(t, tap, None, cg);
                        } else {
                            visit(
                                t,
                                tap,
                                Some(line + iw as usize * self.in_c + group * cg),
                                cg,
                            );
                        }
                    }
                }
            }
        });
    }

    /// Walks the patch matrix of unit positions `range` for the channels of `group`, in its
    /// transposed layout (row `(i, j, channel)`, column `t` = position `range.start + t`):
    /// `visit(row, t, Some(offset), len)` for a run of `len` positions of one output row whose
    /// taps lie inside the input, the first at `offset` in the unit's input and each next one
    /// `strides[1] · in_c` further; `visit(row, t, None, len)` for a run in the padding.
    ///
    /// The transposed layout makes the runs long (up to a whole output row) instead of
    /// `c / groups` channels long: a thin layer (one input channel) would otherwise copy one
    /// float per tap.
    fn for_each_patch_run(
        &self,
        group: usize,
        range: std::ops::Range<usize>,
        mut visit: impl FnMut(usize, usize, Option<usize>, usize),
    ) {
        let o = &self.options;
        let cg = self.group_in();
        let sample_len = self.sample_in();
        // Per kernel row `i` (column `j`): the input offset of the tap at output row (column)
        // 0, and the output rows (columns) whose tap lies inside the input. Computed once per
        // tile, so the walk below does no division.
        let taps_h: Vec<(isize, std::ops::Range<usize>)> = (0..self.kh)
            .map(|i| {
                let offset = (i * o.dilation[0]) as isize - o.padding[0].0 as isize;
                (
                    offset,
                    Self::inside(self.out_h, self.in_h, o.strides[0], offset),
                )
            })
            .collect();
        let taps_w: Vec<(isize, std::ops::Range<usize>)> = (0..self.kw)
            .map(|j| {
                let offset = (j * o.dilation[1]) as isize - o.padding[1].0 as isize;
                (
                    offset,
                    Self::inside(self.out_w, self.in_w, o.strides[1], offset),
                )
            })
            .collect();
        let mut emit = |row: usize, t: usize, offset: Option<usize>, len: usize| {
            if len > 0 {
                visit(row, t, offset, len);
            }
        };
        self.for_each_run(range, |t, n, oh, ows| {
            for (i, (h_offset, rows_in)) in taps_h.iter().enumerate() {
                let first_row = i * self.kw * cg;
                if !rows_in.contains(&oh) {
                    for row in first_row..first_row + self.kw * cg {
                        emit(row, t, None, ows.len());
                    }
                    continue;
                }
                let ih = ((oh * o.strides[0]) as isize + h_offset) as usize;
                let line = n * sample_len + ih * self.in_w * self.in_c + group * cg;
                for (j, (w_offset, cols_in)) in taps_w.iter().enumerate() {
                    let lo = cols_in.start.clamp(ows.start, ows.end);
                    let hi = cols_in.end.clamp(lo, ows.end);
                    let iw = ((lo * o.strides[1]) as isize + w_offset).max(0) as usize;
                    for ch in 0..cg {
                        let row = first_row + j * cg + ch;
                        if lo == hi {
                            emit(row, t, None, ows.len());
                            continue;
                        }
                        emit(row, t, None, lo - ows.start);
                        emit(
                            row,
                            t + lo - ows.start,
                            Some(line + iw * self.in_c + ch),
                            hi - lo,
                        );
                        emit(row, t + hi - ows.start, None, ows.end - hi);
                    }
                }
            }
        });
    }
}

/// im2col, transposed: `out` `(patch, cols)` row-major gets in column `t` the patch of unit
/// position `range.start + t` (channels of `group`), zeros where a tap falls in the padding.
fn im2col<F: Element>(
    g: &Geometry,
    unit: &[F],
    group: usize,
    range: std::ops::Range<usize>,
    out: &mut [F],
) {
    let cols = range.len();
    let step = g.options.strides[1] * g.in_c;
    g.for_each_patch_run(group, range, |row, t, offset, len| {
        let dst = &mut out[row * cols + t..row * cols + t + len];
        match offset {
            None => dst.fill(F::zero()),
            Some(at) if step == 1 => dst.copy_from_slice(&unit[at..at + len]),
            Some(at) => {
                // A counted loop over a checked span: `step_by` re-derives its remaining
                // length every element, which cost a third of this function.
                let span = &unit[at..=at + (len - 1) * step];
                for (k, d) in dst.iter_mut().enumerate() {
                    // SAFETY: k < len, so k · step <= (len - 1) · step, the span's last index.
                    *d = unsafe { *span.get_unchecked(k * step) };
                }
            }
        }
    });
}

/// col2im, transposed: adds column `t` of `patches` `(patch, cols)` back onto the input pixels
/// of unit position `range.start + t` (padding taps dropped).
fn col2im<F: Element>(
    g: &Geometry,
    patches: &[F],
    group: usize,
    range: std::ops::Range<usize>,
    unit: &mut [F],
) {
    let cols = range.len();
    let step = g.options.strides[1] * g.in_c;
    g.for_each_patch_run(group, range, |row, t, offset, len| {
        if let Some(at) = offset {
            let src = &patches[row * cols + t..row * cols + t + len];
            let span = &mut unit[at..=at + (len - 1) * step];
            for (k, &s) in src.iter().enumerate() {
                // SAFETY: k < len, so k · step <= (len - 1) · step, the span's last index.
                unsafe { *span.get_unchecked_mut(k * step) += s };
            }
        }
    });
}

/// im2col, row layout: `out` `(len, patch)` row-major gets in row `t` the patch of unit
/// position `range.start + t` (channels of `group`; taps in the kernel's `(kh, kw, c)` order),
/// zeros where a tap falls in the padding.
fn im2col_rows<F: Element>(
    g: &Geometry,
    unit: &[F],
    group: usize,
    range: std::ops::Range<usize>,
    out: &mut [F],
) {
    let patch = g.patch();
    g.for_each_tap_run(group, range, |t, tap, offset, len| {
        let dst = &mut out[t * patch + tap..t * patch + tap + len];
        match offset {
            Some(at) => dst.copy_from_slice(&unit[at..at + len]),
            None => dst.fill(F::zero()),
        }
    });
}

/// col2im, row layout: adds row `t` of `patches` `(len, patch)` back onto the input pixels of
/// unit position `range.start + t` (padding taps dropped).
fn col2im_rows<F: Element>(
    g: &Geometry,
    patches: &[F],
    group: usize,
    range: std::ops::Range<usize>,
    unit: &mut [F],
) {
    let patch = g.patch();
    g.for_each_tap_run(group, range, |t, tap, offset, len| {
        if let Some(at) = offset {
            let src = &patches[t * patch + tap..t * patch + tap + len];
            for (d, &v) in unit[at..at + len].iter_mut().zip(src) {
                *d += v;
            }
        }
    });
}

/// Builds the patch matrix of unit positions `range` in the layout `g` uses.
fn build_patches<F: Element>(
    g: &Geometry,
    unit: &[F],
    group: usize,
    range: std::ops::Range<usize>,
    out: &mut [F],
) {
    if g.row_layout() {
        im2col_rows(g, unit, group, range, out)
    } else {
        im2col(g, unit, group, range, out)
    }
}

/// Scatters a patch matrix in the layout `g` uses back onto the unit's input.
fn scatter_patches<F: Element>(
    g: &Geometry,
    patches: &[F],
    group: usize,
    range: std::ops::Range<usize>,
    unit: &mut [F],
) {
    if g.row_layout() {
        col2im_rows(g, patches, group, range, unit)
    } else {
        col2im(g, patches, group, range, unit)
    }
}

/// The first `len` positions' patch matrix as a `(len, patch)` view, whatever its layout.
fn patch_view<'a, F: Element>(g: &Geometry, patches: &'a [F], len: usize) -> ArrayView2<'a, F> {
    let patch = g.patch();
    if g.row_layout() {
        ArrayView2::from_shape((len, patch), &patches[..patch * len]).expect("len · patch")
    } else {
        ArrayView2::from_shape((patch, len), &patches[..patch * len])
            .expect("patch · len")
            .reversed_axes()
    }
}

/// [`patch_view`], mutable.
fn patch_view_mut<'a, F: Element>(
    g: &Geometry,
    patches: &'a mut [F],
    len: usize,
) -> ArrayViewMut2<'a, F> {
    let patch = g.patch();
    if g.row_layout() {
        ArrayViewMut2::from_shape((len, patch), &mut patches[..patch * len]).expect("len · patch")
    } else {
        ArrayViewMut2::from_shape((patch, len), &mut patches[..patch * len])
            .expect("patch · len")
            .reversed_axes()
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
    /// Units of samples in parallel, serial GEMMs.
    Units,
    /// Units one after another, each GEMM parallel.
    Gemm(usize),
}

impl Plan {
    fn of(geometry: &Geometry) -> Plan {
        let threads = threads::num_threads();
        if threads == 1 || geometry.flops() < PARALLEL_MIN_FLOPS {
            Plan::Serial
        } else if geometry.batch >= threads.min(4) {
            Plan::Units
        } else {
            Plan::Gemm(threads)
        }
    }

    fn threads(self) -> usize {
        match self {
            Plan::Serial => 1,
            Plan::Units => threads::num_threads(),
            Plan::Gemm(threads) => threads,
        }
    }

    fn gemm(self) -> Parallelism {
        match self {
            Plan::Gemm(threads) => Parallelism::Rayon(threads),
            _ => Parallelism::None,
        }
    }

    /// Runs `work(first sample, chunk)` over the chunks of `data` of `chunk` elements.
    fn for_each_chunk<F: Element>(
        self,
        data: &mut [F],
        chunk: usize,
        samples_per_chunk: usize,
        work: impl Fn(usize, &mut [F]) + Sync + Send,
    ) {
        if chunk == 0 {
            return;
        }
        let run = |(u, c): (usize, &mut [F])| work(u * samples_per_chunk, c);
        match self {
            Plan::Units => {
                threads::install(|| data.par_chunks_mut(chunk).enumerate().for_each(run))
            }
            Plan::Gemm(_) => threads::install(|| data.chunks_mut(chunk).enumerate().for_each(run)),
            Plan::Serial => data.chunks_mut(chunk).enumerate().for_each(run),
        }
    }
}

/// The output `(n, oh·ow, filters)` of the convolution `x` `(n, h, w, c)` by `kernel`
/// `(patch, filters)`, with the bias and the activation applied to each tile while it is in
/// cache.
fn forward<F: Element>(
    g: &Geometry,
    x: &[F],
    kernel: ArrayView2<'_, F>,
    bias: Option<&[F]>,
    activation: FusedActivation,
) -> Vec<F> {
    let (p, f, fg, patch) = (g.positions(), g.filters, g.group_out(), g.patch());
    let plan = Plan::of(g);
    let unit = g.unit_samples(plan.threads());
    let mut out = vec![F::zero(); g.batch * p * f];
    plan.for_each_chunk(&mut out, unit * p * f, unit, |first, out_unit| {
        let samples = out_unit.len() / (p * f);
        let x_unit = &x[first * g.sample_in()..(first + samples) * g.sample_in()];
        let positions = samples * p;
        let tile = g.tile_rows(positions);
        let mut patches = vec![F::zero(); patch * tile];
        let mut out_unit = ArrayViewMut2::from_shape((positions, f), out_unit).expect("p · f");
        for start in (0..positions).step_by(tile) {
            let rows = start..(start + tile).min(positions);
            let len = rows.len();
            for group in 0..g.options.groups {
                build_patches(g, x_unit, group, rows.clone(), &mut patches);
                let lhs = patch_view(g, &patches, len);
                let cols = group * fg..(group + 1) * fg;
                let w = kernel.slice(ndarray::s![.., cols.clone()]);
                let dst = out_unit.slice_mut(ndarray::s![rows.clone(), cols]);
                gemm_into(dst, lhs, w, false, plan.gemm());
            }
            let tile_out = out_unit
                .slice_mut(ndarray::s![rows, ..])
                .into_slice()
                .expect("a tile is contiguous rows");
            bias_and_activation(tile_out, bias, activation);
        }
    });
    out
}

/// `v = activation(v + bias)` over rows of `bias.len()` channels, in place. The match sits
/// outside the loops so that each loop is a plain, vectorizable pass.
fn bias_and_activation<F: Element>(
    values: &mut [F],
    bias: Option<&[F]>,
    activation: FusedActivation,
) {
    fn pass<F: Element>(values: &mut [F], bias: Option<&[F]>, act: impl Fn(F) -> F) {
        match bias {
            Some(b) if !b.is_empty() => {
                for row in values.chunks_exact_mut(b.len()) {
                    for (v, &b) in row.iter_mut().zip(b) {
                        *v = act(*v + b);
                    }
                }
            }
            _ => values.iter_mut().for_each(|v| *v = act(*v)),
        }
    }
    match activation {
        FusedActivation::Linear if bias.is_none() => {}
        FusedActivation::Linear => pass(values, bias, |v| v),
        FusedActivation::Relu => pass(values, bias, |v| if v > F::zero() { v } else { F::zero() }),
        other => pass(values, bias, |v| other.forward(v)),
    }
}

/// `dz = grad · activation'(output)`, the derivative taken from the output.
fn activation_grad<F: Element>(
    dz: &mut [F],
    grad: &[F],
    output: &[F],
    activation: FusedActivation,
) {
    match activation {
        FusedActivation::Relu => {
            for ((d, &g), &y) in dz.iter_mut().zip(grad).zip(output) {
                *d = if y > F::zero() { g } else { F::zero() };
            }
        }
        other => {
            for ((d, &g), &y) in dz.iter_mut().zip(grad).zip(output) {
                *d = g * other.derivative(y);
            }
        }
    }
}

/// What [`backward`] is asked to compute.
#[derive(Clone, Copy)]
struct Needs {
    input: bool,
    kernel: bool,
    bias: bool,
}

/// The gradients of a convolution from `grad` `(n, oh·ow, filters)`, the gradient of its
/// (activated) output `output`: with `z` the pre-activation, `dz = grad · activation'(output)`,
/// and per tile with its patch matrix `P` (recomputed: storing it would hold `kh·kw` copies
/// of the input from forward to backward)
/// - input `dx = col2im(W · dzᵀ)` (one GEMM, then a scatter-add),
/// - kernel `dW = Σ P · dz` (one GEMM, accumulated over tiles and per thread),
/// - bias `db = Σ dz`.
///
/// `x` is needed only for the kernel gradient.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn backward<F: Element>(
    g: &Geometry,
    x: Option<&[F]>,
    kernel: ArrayView2<'_, F>,
    output: Option<&[F]>,
    activation: FusedActivation,
    grad: &[F],
    needs: Needs,
) -> (Option<Vec<F>>, Option<Array2<F>>, Option<Vec<F>>) {
    let (p, f, fg, patch) = (g.positions(), g.filters, g.group_out(), g.patch());
    let sample_len = g.sample_in();
    let plan = Plan::of(g);
    let unit = g.unit_samples(plan.threads());
    let units = g.batch.div_ceil(unit);
    let mut dx = if needs.input {
        vec![F::zero(); g.batch * sample_len]
    } else {
        Vec::new()
    };
    let chunks: Vec<Option<&mut [F]>> = if needs.input {
        dx.chunks_mut(unit * sample_len).map(Some).collect()
    } else {
        (0..units).map(|_| None).collect()
    };
    // Per-task state: kernel and bias gradient partial sums and the scratch buffers.
    struct Partial<F> {
        dw: Array2<F>,
        db: Vec<F>,
        patches: Vec<F>,
        dz: Vec<F>,
    }
    let fresh = || Partial {
        dw: Array2::zeros(if needs.kernel { (patch, f) } else { (0, 0) }),
        db: vec![F::zero(); if needs.bias { f } else { 0 }],
        patches: Vec::new(),
        dz: Vec::new(),
    };
    let work = |mut state: Partial<F>, (u, dx_unit): (usize, Option<&mut [F]>)| {
        let first = u * unit;
        let samples = unit.min(g.batch - first);
        let positions = samples * p;
        let tile = g.tile_rows(positions);
        state.patches.resize(patch * tile, F::zero());
        let grad_unit = &grad[first * p * f..(first + samples) * p * f];
        let mut dx_unit = dx_unit;
        for start in (0..positions).step_by(tile) {
            let rows = start..(start + tile).min(positions);
            let len = rows.len();
            let grad_tile = &grad_unit[rows.start * f..rows.end * f];
            // dz = grad · activation'(output), or grad itself for a linear output.
            let dz: &[F] = match (activation, output) {
                (FusedActivation::Linear, _) | (_, None) => grad_tile,
                (_, Some(y)) => {
                    let y = &y[(first * p + rows.start) * f..(first * p + rows.end) * f];
                    state.dz.resize(grad_tile.len(), F::zero());
                    activation_grad(&mut state.dz, grad_tile, y, activation);
                    &state.dz
                }
            };
            let dz2 = ArrayView2::from_shape((len, f), dz).expect("len · f");
            if needs.bias {
                for row in dz.chunks_exact(f) {
                    for (b, &d) in state.db.iter_mut().zip(row) {
                        *b += d;
                    }
                }
            }
            for group in 0..g.options.groups {
                let cols = group * fg..(group + 1) * fg;
                let dz_g = dz2.slice(ndarray::s![.., cols.clone()]);
                if needs.kernel {
                    let x_unit = &x.expect("x for the kernel gradient")
                        [first * sample_len..(first + samples) * sample_len];
                    build_patches(g, x_unit, group, rows.clone(), &mut state.patches);
                    let lhs = patch_view(g, &state.patches, len).reversed_axes();
                    let dst = state.dw.slice_mut(ndarray::s![.., cols.clone()]);
                    gemm_into(dst, lhs, dz_g, true, plan.gemm());
                }
                if let Some(dx_unit) = dx_unit.as_deref_mut() {
                    let dst = patch_view_mut(g, &mut state.patches, len).reversed_axes();
                    let w = kernel.slice(ndarray::s![.., cols]);
                    gemm_into(dst, w, dz_g.reversed_axes(), false, plan.gemm());
                    scatter_patches(g, &state.patches, group, rows.clone(), dx_unit);
                }
            }
        }
        state
    };
    let merge = |mut a: Partial<F>, b: Partial<F>| {
        a.dw += &b.dw;
        for (x, y) in a.db.iter_mut().zip(&b.db) {
            *x += *y;
        }
        a
    };
    let total = match plan {
        Plan::Units => threads::install(|| {
            chunks
                .into_par_iter()
                .enumerate()
                .fold(fresh, work)
                .reduce(fresh, merge)
        }),
        Plan::Gemm(_) => threads::install(|| chunks.into_iter().enumerate().fold(fresh(), work)),
        Plan::Serial => chunks.into_iter().enumerate().fold(fresh(), work),
    };
    (
        needs.input.then_some(dx),
        needs.kernel.then_some(total.dw),
        needs.bias.then_some(total.db),
    )
}

/// A contiguous copy (or the array itself when already contiguous).
fn standard<F: Element>(a: Array<F>) -> Array<F> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned().into_shared()
    }
}

fn conv2d_typed<F: Element>(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    activation: FusedActivation,
    g: Geometry,
) -> Result<Tensor> {
    let xa: Array<F> = standard(x.array::<F>()?);
    let wa: Array<F> = standard(kernel.array::<F>()?);
    let bias_values: Option<Vec<F>> = bias
        .map(|b| b.array::<F>().map(|b| b.iter().copied().collect()))
        .transpose()?;
    let (patch, f) = (g.patch(), g.filters);
    let w2 = wa
        .view()
        .into_shape_with_order((patch, f))
        .expect("standard layout kernel");
    let out = forward(
        &g,
        xa.as_slice().expect("standard layout"),
        w2,
        bias_values.as_deref(),
        activation,
    );
    let out_shape = [g.batch, g.out_h, g.out_w, f];
    let out = ndarray::ArrayD::from_shape_vec(IxDyn(&out_shape), out)
        .expect("output size")
        .into_shared();
    let needs = Needs {
        input: x.requires_grad(),
        kernel: kernel.requires_grad(),
        bias: bias.is_some_and(|b| b.requires_grad()),
    };
    let has_bias = bias.is_some();
    let mut inputs = vec![x, kernel];
    if let Some(b) = bias {
        inputs.push(b);
    }
    let kernel_shape = kernel.shape();
    let input_shape = x.shape();
    // The backward reads the output for the activation's derivative (a shared handle, no copy).
    let output = (activation != FusedActivation::Linear).then(|| out.clone());
    Ok(Tensor::from_op(
        F::wrap(out),
        activation.conv_name(),
        &inputs,
        move || {
            Box::new(move |grad: &Storage| {
                let grad = typed_grad::<F>("conv2d", grad)?;
                let grad = grad.as_standard_layout();
                let w2 = wa
                    .view()
                    .into_shape_with_order((patch, f))
                    .expect("standard layout kernel");
                let (dx, dw, db) = backward(
                    &g,
                    Some(xa.as_slice().expect("standard layout")),
                    w2,
                    output
                        .as_ref()
                        .map(|y| y.as_slice().expect("standard layout")),
                    activation,
                    grad.as_slice().expect("standard layout"),
                    needs,
                );
                let gx = dx.map(|dx| {
                    ndarray::ArrayD::from_shape_vec(IxDyn(&input_shape), dx).expect("input size")
                });
                let gw = dw.map(|dw| {
                    dw.into_shape_with_order(IxDyn(&kernel_shape))
                        .expect("kernel size")
                });
                let mut grads = vec![gx.and_then(some_grad), gw.and_then(some_grad)];
                if has_bias {
                    grads.push(db.and_then(|db| some_grad(ndarray::Array1::from(db).into_dyn())));
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
    let xa: Array<F> = standard(x.array::<F>()?);
    let wa: Array<F> = standard(kernel.array::<F>()?);
    let (patch, c_in, filters) = (g.patch(), g.filters, g.in_c);
    let w2 = wa
        .view()
        .into_shape_with_order((patch, c_in))
        .expect("standard layout kernel");
    let only_input = Needs {
        input: true,
        kernel: false,
        bias: false,
    };
    let xs = xa.as_slice().expect("standard layout");
    let (out, _, _) = backward(&g, None, w2, None, FusedActivation::Linear, xs, only_input);
    let mut out = out.expect("input gradient requested");
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
                // dX = conv(dY, W); dW = Σ patches(dY) · X; db = Σ dY.
                let gx = x_needs.then(|| {
                    let dx = forward(&g, grad, w2, None, FusedActivation::Linear);
                    ndarray::ArrayD::from_shape_vec(IxDyn(&input_shape), dx).expect("input size")
                });
                let gw = w_needs.then(|| {
                    let only_kernel = Needs {
                        input: false,
                        kernel: true,
                        bias: false,
                    };
                    let (_, dw, _) = backward(
                        &g,
                        Some(grad),
                        w2,
                        None,
                        FusedActivation::Linear,
                        xs,
                        only_kernel,
                    );
                    dw.expect("kernel gradient requested")
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
        self.conv2d_fused(kernel, bias, options, FusedActivation::Linear)
    }

    /// [`Tensor::conv2d`] followed by `activation`, as one op: the bias and the activation are
    /// applied to each tile of the output while it is in cache, and the backward takes the
    /// activation's derivative from the output (no pre-activation is stored).
    pub fn conv2d_fused(
        &self,
        kernel: &Tensor,
        bias: Option<&Tensor>,
        options: &Conv2dOptions,
        activation: FusedActivation,
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
            return x.linear(&k2, b.as_ref(), activation);
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
            DType::F32 => conv2d_typed::<f32>(&x, &k, b.as_ref(), activation, geometry),
            DType::F64 => conv2d_typed::<f64>(&x, &k, b.as_ref(), activation, geometry),
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

    /// The gradients of `Σ weighting · conv(x, w)` by the definition, loop by loop:
    /// `dx[n, ih, iw, c] = Σ w[i, j, c', f] · G[n, oh, ow, f]` over the taps that read the
    /// pixel, and `dw[i, j, c', f] = Σ x[n, ih, iw, c] · G[n, oh, ow, f]`.
    fn direct_grads(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ks: [usize; 4],
        o: &Conv2dOptions,
        grad: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        let [n, h, wd, c] = xs;
        let [kh, kw, cg, f] = ks;
        let oh = conv_output_length(h, kh, o.strides[0], o.dilation[0], o.padding[0]).unwrap();
        let ow = conv_output_length(wd, kw, o.strides[1], o.dilation[1], o.padding[1]).unwrap();
        let fg = f / o.groups;
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        for b in 0..n {
            for y in 0..oh {
                for z in 0..ow {
                    for ff in 0..f {
                        let gy = grad[((b * oh + y) * ow + z) * f + ff];
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
                                    let xi = ((b * h + iy as usize) * wd + iz as usize) * c
                                        + (ff / fg) * cg
                                        + cc;
                                    let wi = ((i * kw + j) * cg + cc) * f + ff;
                                    dx[xi] += w[wi] * gy;
                                    dw[wi] += x[xi] * gy;
                                }
                            }
                        }
                    }
                }
            }
        }
        (dx, dw)
    }

    #[test]
    fn batched_units_match_the_direct_definition_with_fused_activations() {
        // Batches large enough that a unit (one thread's task) holds several samples, so the
        // runs of a tile cross sample boundaries; every option variant, each activation.
        let cases = [
            (
                [64, 10, 9, 4],
                [3, 3, 4, 6],
                Conv2dOptions {
                    padding: [(1, 1), (1, 1)],
                    ..Default::default()
                },
            ),
            (
                [64, 11, 10, 1],
                [5, 5, 1, 6],
                Conv2dOptions {
                    padding: [(2, 2), (2, 2)],
                    ..Default::default()
                },
            ),
            (
                [64, 11, 12, 4],
                [3, 2, 2, 6],
                Conv2dOptions {
                    strides: [2, 3],
                    padding: [(1, 0), (2, 1)],
                    groups: 2,
                    ..Default::default()
                },
            ),
            (
                [48, 12, 12, 3],
                [2, 3, 3, 5],
                Conv2dOptions {
                    dilation: [3, 2],
                    padding: [(0, 2), (1, 1)],
                    ..Default::default()
                },
            ),
        ];
        let activations = [
            FusedActivation::Linear,
            FusedActivation::Relu,
            FusedActivation::Sigmoid,
            FusedActivation::Tanh,
        ];
        for ((xs, ks, o), activation) in cases.into_iter().zip(activations.into_iter().cycle()) {
            let f = ks[3];
            let xv = ramp(xs.iter().product(), 0.1);
            let wv = ramp(ks.iter().product(), 0.07);
            let bv: Vec<f64> = (0..f).map(|i| 0.1 * i as f64 - 0.2).collect();
            let (z, _) = direct(&xv, xs, &wv, ks, &o);
            let z: Vec<f64> = z
                .chunks(f)
                .flat_map(|row| row.iter().zip(&bv).map(|(v, b)| v + b))
                .collect();
            let act = |v: f64| activation.forward(v);
            let expected: Vec<f64> = z.iter().map(|&v| act(v)).collect();
            let (x, w, b) = (var64(&xs, &xv), var64(&ks, &wv), var64(&[f], &bv));
            let y = x.conv2d_fused(&w, Some(&b), &o, activation).unwrap();
            assert_close(&values(&y), &expected, 1e-10);
            let weighting = ramp(y.len(), 0.3);
            y.mul(&t64(&y.shape(), &weighting))
                .unwrap()
                .sum(None, false)
                .unwrap()
                .backward()
                .unwrap();
            // The gradient reaching the pre-activation: weighting · act'(z), by the formula.
            let dz: Vec<f64> = z
                .iter()
                .zip(&weighting)
                .map(|(&z, &q)| {
                    q * match activation {
                        FusedActivation::Linear => 1.0,
                        FusedActivation::Relu => f64::from(u8::from(z > 0.0)),
                        FusedActivation::Sigmoid => {
                            let s = 1.0 / (1.0 + (-z).exp());
                            s * (1.0 - s)
                        }
                        FusedActivation::Tanh => 1.0 - z.tanh().powi(2),
                    }
                })
                .collect();
            let (dx, dw) = direct_grads(&xv, xs, &wv, ks, &o, &dz);
            let db: Vec<f64> = (0..f).map(|c| dz.iter().skip(c).step_by(f).sum()).collect();
            assert_close(&values(&x.grad().unwrap()), &dx, 1e-9);
            assert_close(&values(&w.grad().unwrap()), &dw, 1e-9);
            assert_close(&values(&b.grad().unwrap()), &db, 1e-9);
        }
    }

    #[test]
    fn inside_ranges_clip_the_padding() {
        // Output positions o with 0 <= o·stride + offset < input.
        let brute = |out: usize, input: usize, stride: usize, offset: isize| {
            let v: Vec<usize> = (0..out)
                .filter(|&o| {
                    let at = (o * stride) as isize + offset;
                    at >= 0 && at < input as isize
                })
                .collect();
            v.first().map_or(0..0, |&lo| lo..v.last().unwrap() + 1)
        };
        for out in 0..6 {
            for input in 1..7 {
                for stride in 1..4 {
                    for offset in -5..8 {
                        let got = Geometry::inside(out, input, stride, offset);
                        let want = brute(out, input, stride, offset);
                        assert!(
                            got == want || (got.is_empty() && want.is_empty()),
                            "{out} {input} {stride} {offset}: {got:?} vs {want:?}"
                        );
                    }
                }
            }
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
