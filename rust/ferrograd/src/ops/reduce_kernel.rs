//! Copy-free reduction kernels (sum, max, min over any set of axes), shared by the reduction ops
//! and by the gradient of broadcasting.
//!
//! Why: the reductions used to copy their whole input (`to_owned`) and then fold one axis at a
//! time through ndarray, which for a full reduction of a 1-d array visits every element as a 0-d
//! subview; `sum` of 2^24 floats ran at 1.3 GB/s and `max` at 0.1 GB/s. Here an input that is
//! contiguous in memory (in any axis order, so transposes are fast too) is read straight from its
//! slice: the axes are merged into runs of reduced and kept axes, and each reduced run is one
//! `(outer, reduced, inner)` pass: row folds when `inner == 1` and column folds (rows added into an
//! accumulator row, a bias gradient) otherwise. Large passes run on the engine's pool.
//!
//! Accuracy: folds are pairwise, as numpy's `sum` along a contiguous axis: a leaf of up to 512
//! elements is folded in 32 independent lanes (which the compiler vectorizes), lanes and leaves
//! are combined in a binary tree. Column folds are pairwise over rows as well (leaves of 8 rows), which numpy's
//! axis-0 sum is not. The tree depends only on the lengths, never on the thread count, so results
//! are identical serial and parallel.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use rayon::prelude::*;

use super::fast_math;
use crate::tensor::Element;
use crate::threads;

/// An associative fold: sum, or NaN-propagating max/min.
pub(crate) trait Fold: Copy + Send + Sync {
    /// The fold of no elements (and the initial value of every lane).
    fn identity<F: Element>(self) -> F;
    fn combine<F: Element>(self, a: F, b: F) -> F;
    /// Whether leaves fold with [`Fold::combine_ordered`] and look for NaN on the side: max/min,
    /// whose NaN-propagating select costs twice the instructions of a plain one.
    const NAN_ON_THE_SIDE: bool = false;
    /// `combine` for arguments that are not NaN (a single `maxps`/`minps` for max/min).
    #[inline(always)]
    fn combine_ordered<F: Element>(self, a: F, b: F) -> F {
        self.combine(a, b)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct SumFold;
impl Fold for SumFold {
    #[inline(always)]
    fn identity<F: Element>(self) -> F {
        F::zero()
    }
    #[inline(always)]
    fn combine<F: Element>(self, a: F, b: F) -> F {
        a + b
    }
}

/// The larger of two values; NaN if either is NaN, as numpy's `max`. Written as a compare and a
/// select (no branches) so that it vectorizes.
#[derive(Clone, Copy)]
pub(crate) struct MaxFold;
impl Fold for MaxFold {
    #[inline(always)]
    fn identity<F: Element>(self) -> F {
        F::neg_infinity()
    }
    #[inline(always)]
    #[allow(clippy::eq_op)] // `a != a` is the NaN test that vectorizes
    fn combine<F: Element>(self, a: F, b: F) -> F {
        // a NaN: kept. b NaN: `a > b` is false, so b. Otherwise the larger.
        if (a > b) | (a != a) {
            a
        } else {
            b
        }
    }
    const NAN_ON_THE_SIDE: bool = true;
    #[inline(always)]
    fn combine_ordered<F: Element>(self, a: F, b: F) -> F {
        if a > b {
            a
        } else {
            b
        }
    }
}

/// The smaller of two values; NaN if either is NaN, as numpy's `min`.
#[derive(Clone, Copy)]
pub(crate) struct MinFold;
impl Fold for MinFold {
    #[inline(always)]
    fn identity<F: Element>(self) -> F {
        F::infinity()
    }
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn combine<F: Element>(self, a: F, b: F) -> F {
        if (a < b) | (a != a) {
            a
        } else {
            b
        }
    }
    const NAN_ON_THE_SIDE: bool = true;
    #[inline(always)]
    fn combine_ordered<F: Element>(self, a: F, b: F) -> F {
        if a < b {
            a
        } else {
            b
        }
    }
}

/// Independent accumulators of a leaf: four AVX registers of f32 (latency-bound adds need several
/// chains in flight to keep up with memory).
const LANES: usize = 32;
/// The most elements folded directly, without splitting: each lane adds up to 16 elements, as in
/// numpy's pairwise sum (8 lanes, blocks of 128), so the error bound is the same.
const LEAF: usize = 512;
/// Rows of a column fold's leaf.
const ROW_LEAF: usize = 8;
/// Columns per task of a column fold: the accumulator row and its pairwise partials stay in L2,
/// and the reads stay long runs (with 1024 columns, 4 KiB runs 16 KiB apart, a 4096 x 4096 column
/// sum ran at 15 GB/s; with 8192, at 24, as fast as a full sum).
const COLUMN_BLOCK: usize = 8192;
/// A fold splits into two pool tasks only above this many elements: reading is ~4x cheaper per
/// element than an elementwise op, so the serial cut-off is higher.
const PARALLEL_MIN: usize = 4 * threads::PARALLEL_MIN_ELEMENTS;

#[inline(always)]
fn fold_leaf<F: Element, R: Fold>(x: &[F], r: R) -> F {
    let mut acc = [r.identity::<F>(); LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    if R::NAN_ON_THE_SIDE {
        let mut nan = [false; LANES];
        for chunk in chunks {
            for ((a, n), &v) in acc.iter_mut().zip(&mut nan).zip(chunk) {
                *a = r.combine_ordered(*a, v);
                *n |= v.is_nan();
            }
        }
        if nan.contains(&true) {
            return F::nan();
        }
    } else {
        for chunk in chunks {
            for (a, &v) in acc.iter_mut().zip(chunk) {
                *a = r.combine(*a, v);
            }
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            acc[j] = r.combine(acc[j], acc[j + width]);
        }
    }
    tail.iter().fold(acc[0], |s, &v| r.combine(s, v))
}

/// The pairwise fold of a slice; halves run as two pool tasks when `parallel` and large.
fn fold_pairwise<F: Element, R: Fold>(x: &[F], r: R, parallel: bool) -> F {
    if !(parallel && x.len() >= PARALLEL_MIN) {
        #[cfg(target_arch = "x86_64")]
        if fast_math::simd_available() {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { fold_serial_avx2(x, r) };
        }
        return fold_serial(x, r);
    }
    let (left, right) = x.split_at(pairwise_split(x.len()));
    let (a, b) = rayon::join(
        || fold_pairwise(left, r, true),
        || fold_pairwise(right, r, true),
    );
    r.combine(a, b)
}

/// Where a pairwise fold splits `len` elements: the middle, on a lane boundary so that every leaf
/// but the last is whole chunks.
#[inline(always)]
fn pairwise_split(len: usize) -> usize {
    len / 2 / LANES * LANES
}

fn fold_serial<F: Element, R: Fold>(x: &[F], r: R) -> F {
    if x.len() <= LEAF {
        return fold_leaf(x, r);
    }
    let (left, right) = x.split_at(pairwise_split(x.len()));
    r.combine(fold_serial(left, r), fold_serial(right, r))
}

/// [`fold_serial`] compiled for AVX2 (the same tree, so the same result): a sum in L3 ran at
/// 30 GB/s with SSE2's 4-wide adds, short of memory's speed.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fold_serial_avx2<F: Element, R: Fold>(x: &[F], r: R) -> F {
    if x.len() <= LEAF {
        return fold_leaf(x, r);
    }
    let (left, right) = x.split_at(pairwise_split(x.len()));
    r.combine(fold_serial_avx2(left, r), fold_serial_avx2(right, r))
}

/// The fold of a whole slice, on the pool when large.
pub(crate) fn fold_slice<F: Element, R: Fold>(x: &[F], r: R) -> F {
    if x.len() >= PARALLEL_MIN {
        threads::install(|| fold_pairwise(x, r, true))
    } else {
        fold_pairwise(x, r, false)
    }
}

/// How many halvings take `rows` down to a leaf: the depth of a column fold's scratch.
fn row_depth(mut rows: usize) -> usize {
    let mut depth = 0;
    while rows > ROW_LEAF {
        rows = rows.div_ceil(2);
        depth += 1;
    }
    depth
}

/// `acc[c] = fold over rows k in lo..hi of x[k * stride + c]` for `c < acc.len()`, pairwise over
/// rows. `scratch` holds `acc.len() * row_depth(hi - lo)` elements for the right halves' partials.
/// Halves of at least `split_min` elements run as two pool tasks.
#[allow(clippy::too_many_arguments)]
fn fold_rows<F: Element, R: Fold>(
    x: &[F],
    stride: usize,
    lo: usize,
    hi: usize,
    acc: &mut [F],
    scratch: &mut [F],
    r: R,
    split_min: usize,
) {
    let w = acc.len();
    if hi - lo <= ROW_LEAF {
        let rows = || (lo..hi).map(|k| &x[k * stride..k * stride + w]);
        acc.fill(r.identity());
        if R::NAN_ON_THE_SIDE {
            let mut nan = false;
            for row in rows() {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a = r.combine_ordered(*a, v);
                    nan |= v.is_nan();
                }
            }
            if !nan {
                return;
            }
            // Rare: fold the leaf again, propagating NaN.
            acc.fill(r.identity());
        }
        for row in rows() {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a = r.combine(*a, v);
            }
        }
        return;
    }
    let mid = lo + (hi - lo) / 2;
    if (hi - lo) * w >= split_min {
        // The right half gets its own buffers: it runs on another thread.
        let mut right = vec![r.identity(); w * (1 + row_depth(hi - mid))];
        let (right_acc, right_scratch) = right.split_at_mut(w);
        rayon::join(
            || fold_rows(x, stride, lo, mid, acc, scratch, r, split_min),
            || fold_rows(x, stride, mid, hi, right_acc, right_scratch, r, split_min),
        );
        combine_into(acc, right_acc, r);
    } else {
        let (tmp, rest) = scratch.split_at_mut(w);
        fold_rows(x, stride, lo, mid, acc, rest, r, usize::MAX);
        fold_rows(x, stride, mid, hi, tmp, rest, r, usize::MAX);
        combine_into(acc, tmp, r);
    }
}

#[inline(always)]
fn combine_into<F: Element, R: Fold>(acc: &mut [F], other: &[F], r: R) {
    for (a, &b) in acc.iter_mut().zip(other) {
        *a = r.combine(*a, b);
    }
}

/// Folds the middle axis of a contiguous `(outer, len, inner)` array: the `(outer, inner)` result.
pub(crate) fn fold_middle<F: Element, R: Fold>(
    x: &[F],
    outer: usize,
    len: usize,
    inner: usize,
    r: R,
) -> Vec<F> {
    debug_assert_eq!(x.len(), outer * len * inner);
    let mut out = vec![r.identity(); outer * inner];
    if x.is_empty() {
        return out;
    }
    let parallel = x.len() >= PARALLEL_MIN;
    if outer == 1 && inner == 1 {
        out[0] = fold_slice(x, r);
        return out;
    }
    if inner == 1 {
        // Row folds. Each task takes enough rows to be worth a thread; a few long rows split
        // inside `fold_pairwise` instead.
        let work = |(o, y): (usize, &mut F)| {
            *y = fold_pairwise(&x[o * len..(o + 1) * len], r, parallel);
        };
        if parallel {
            let min_rows = (PARALLEL_MIN / len).max(1);
            threads::install(|| {
                out.par_iter_mut()
                    .enumerate()
                    .with_min_len(min_rows)
                    .for_each(work)
            });
        } else {
            out.iter_mut().enumerate().for_each(work);
        }
        return out;
    }
    fold_columns(x, &mut out, len, inner, COLUMN_BLOCK, r);
    out
}

/// The column folds of [`fold_middle`] into `out`, one task per (outer index, block of columns);
/// on the pool, blocks also split by rows until there are a few tasks per thread.
fn fold_columns<F: Element, R: Fold>(
    x: &[F],
    out: &mut [F],
    len: usize,
    inner: usize,
    block: usize,
    r: R,
) {
    let blocks = inner.div_ceil(block);
    let depth = row_depth(len);
    let split_min = if x.len() >= PARALLEL_MIN {
        PARALLEL_MIN.max(x.len() / (4 * threads::num_threads()))
    } else {
        usize::MAX
    };
    let work = |(task, y): (usize, &mut [F])| {
        let (o, b) = (task / blocks, task % blocks);
        let start = o * len * inner + b * block;
        let mut scratch = vec![r.identity(); y.len() * depth];
        fold_rows(&x[start..], inner, 0, len, y, &mut scratch, r, split_min);
    };
    // Chunks of `out` in task order: each outer row of `out` splits into the column blocks.
    let chunks = out.chunks_mut(inner).flat_map(|row| row.chunks_mut(block));
    if split_min < usize::MAX {
        let tasks: Vec<&mut [F]> = chunks.collect();
        threads::install(|| tasks.into_par_iter().enumerate().for_each(work));
    } else {
        chunks.enumerate().for_each(work);
    }
}

/// Folds `a` over `axes` (sorted, unique, in range) and returns the result with the reduced axes
/// kept as length 1, in standard layout. The input is never copied: a contiguous input (in any
/// axis order) is read from its slice; any other one is folded one axis at a time from the view.
pub(crate) fn fold_axes_kept<F: Element, R: Fold>(
    a: ArrayViewD<'_, F>,
    axes: &[usize],
    r: R,
) -> ArrayD<F> {
    let shape = a.shape().to_vec();
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    if a.is_empty() {
        return ArrayD::from_elem(IxDyn(&kept), r.identity());
    }
    // Axis order from the largest stride to the smallest: a contiguous array in any axis order
    // (a transpose, a Fortran-order array) becomes a standard-layout view of the same memory.
    let mut order: Vec<usize> = (0..a.ndim()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(a.strides()[i].unsigned_abs()));
    let permuted = a.clone().permuted_axes(IxDyn(&order));
    let Some(data) = permuted.as_slice() else {
        return fold_strided(a, axes, r);
    };
    let perm_shape: Vec<usize> = order.iter().map(|&i| shape[i]).collect();
    let perm_reduced: Vec<bool> = order.iter().map(|i| axes.contains(i)).collect();
    let values = fold_contiguous(data, &perm_shape, &perm_reduced, r);
    let perm_kept: Vec<usize> = order.iter().map(|&i| kept[i]).collect();
    let out = ArrayD::from_shape_vec(IxDyn(&perm_kept), values).expect("kept size");
    let mut inverse = vec![0; order.len()];
    for (k, &i) in order.iter().enumerate() {
        inverse[i] = k;
    }
    let out = out.permuted_axes(IxDyn(&inverse));
    if out.is_standard_layout() {
        out
    } else {
        out.as_standard_layout().into_owned()
    }
}

/// Folds the `reduced` axes of a standard-layout array given as its slice and shape: the result's
/// elements in standard order (reduced axes dropped). Axes of length 1 are ignored, consecutive
/// reduced (or kept) axes merge, and the runs of reduced axes are folded innermost first: each
/// pass shrinks the data, and the innermost is usually the longest contiguous run.
fn fold_contiguous<F: Element, R: Fold>(
    data: &[F],
    shape: &[usize],
    reduced: &[bool],
    r: R,
) -> Vec<F> {
    // (length, reduced) runs.
    let mut runs: Vec<(usize, bool)> = Vec::new();
    for (&d, &red) in shape.iter().zip(reduced) {
        if d == 1 {
            continue;
        }
        match runs.last_mut() {
            Some((len, last)) if *last == red => *len *= d,
            _ => runs.push((d, red)),
        }
    }
    let Some(last) = runs.iter().rposition(|&(_, red)| red) else {
        return data.to_vec();
    };
    let len = runs[last].0;
    let inner: usize = runs[last + 1..].iter().map(|&(d, _)| d).product();
    let outer: usize = runs[..last].iter().map(|&(d, _)| d).product();
    let out = fold_middle(data, outer, len, inner, r);
    if runs[..last].iter().any(|&(_, red)| red) {
        // More reduced runs further out: fold them in the (smaller) result.
        let mut rest_shape: Vec<usize> = runs[..last].iter().map(|&(d, _)| d).collect();
        let mut rest_reduced: Vec<bool> = runs[..last].iter().map(|&(_, red)| red).collect();
        rest_shape.push(inner);
        rest_reduced.push(false);
        fold_contiguous(&out, &rest_shape, &rest_reduced, r)
    } else {
        out
    }
}

/// The fallback for inputs that are not contiguous (strided slices, broadcasts): the last reduced
/// axis is folded straight from the view, which gives a standard-layout array; the remaining axes
/// then take the contiguous path.
fn fold_strided<F: Element, R: Fold>(a: ArrayViewD<'_, F>, axes: &[usize], r: R) -> ArrayD<F> {
    let Some((&axis, rest)) = axes.split_last() else {
        return a.as_standard_layout().into_owned();
    };
    let folded = a
        .fold_axis(Axis(axis), r.identity(), |&acc, &x| r.combine(acc, x))
        .insert_axis(Axis(axis));
    if rest.is_empty() {
        // `fold_axis` keeps a contiguous input's memory order, which may not be C order.
        return if folded.is_standard_layout() {
            folded
        } else {
            folded.as_standard_layout().into_owned()
        };
    }
    fold_axes_kept(folded.view(), rest, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array};

    /// The straightforward fold: one axis at a time, left to right, in f64.
    fn reference(a: &ArrayD<f64>, axes: &[usize], r: impl Fold) -> ArrayD<f64> {
        let mut out = a.clone();
        for &axis in axes.iter().rev() {
            out = out
                .fold_axis(Axis(axis), r.identity(), |&acc, &x| r.combine(acc, x))
                .insert_axis(Axis(axis));
        }
        out
    }

    fn assert_same(got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64) {
        assert_eq!(got.shape(), want.shape());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * (1.0 + w.abs()),
                "{g} != {w}"
            );
        }
    }

    fn sample(shape: &[usize]) -> ArrayD<f64> {
        let n: usize = shape.iter().product();
        // Distinct, irregular values (so that max/min have a single answer and orders matter).
        Array::from_iter((0..n).map(|i| ((i * 7919) % 1009) as f64 * 0.37 - 150.0))
            .into_shape_with_order(IxDyn(shape))
            .unwrap()
    }

    /// Every subset of the axes of `a`, for sum, max and min.
    fn check_all_axes(a: ArrayViewD<'_, f64>) {
        let owned = a.to_owned();
        for mask in 0..(1usize << a.ndim()) {
            let axes: Vec<usize> = (0..a.ndim()).filter(|i| mask & (1 << i) != 0).collect();
            assert_same(
                &fold_axes_kept(a.view(), &axes, SumFold),
                &reference(&owned, &axes, SumFold),
                1e-12,
            );
            assert_same(
                &fold_axes_kept(a.view(), &axes, MaxFold),
                &reference(&owned, &axes, MaxFold),
                0.0,
            );
            assert_same(
                &fold_axes_kept(a.view(), &axes, MinFold),
                &reference(&owned, &axes, MinFold),
                0.0,
            );
        }
    }

    #[test]
    fn reduce_kernel_matches_reference_on_contiguous_arrays() {
        check_all_axes(sample(&[3, 4, 5]).view());
        check_all_axes(sample(&[1, 7, 1, 300]).view());
        // Large enough to take the parallel paths and several column blocks.
        check_all_axes(sample(&[300, 2100]).view());
        check_all_axes(sample(&[3, 70_000]).view());
        check_all_axes(sample(&[70_000, 3]).view());
    }

    #[test]
    fn reduce_kernel_matches_reference_on_transposed_and_strided_views() {
        let a = sample(&[6, 5, 4]);
        check_all_axes(a.view().reversed_axes());
        check_all_axes(a.view().permuted_axes(IxDyn(&[1, 0, 2])));
        check_all_axes(a.slice(s![.., 1..4, ..]).into_dyn());
        check_all_axes(a.slice(s![..;2, ..;-1, ..]).into_dyn());
        let row = sample(&[1, 5]);
        check_all_axes(row.broadcast(IxDyn(&[4, 5])).unwrap());
        let big = sample(&[500, 400]);
        check_all_axes(big.view().reversed_axes());
    }

    #[test]
    fn reduce_kernel_empty_axes_give_the_identity() {
        let a = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
        let s = fold_axes_kept(a.view(), &[0], SumFold);
        assert_eq!(s.shape(), &[1, 3]);
        assert!(s.iter().all(|&v| v == 0.0));
        let s = fold_axes_kept(a.view(), &[1], SumFold);
        assert_eq!(s.shape(), &[0, 1]);
        let b = ArrayD::<f64>::zeros(IxDyn(&[4, 0]));
        let s = fold_axes_kept(b.view(), &[1], SumFold);
        assert_eq!(s.shape(), &[4, 1]);
        assert!(s.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn reduce_kernel_max_and_min_propagate_nan_from_any_position() {
        for n in [1, 5, 16, 129, 1000, 200_000] {
            for pos in [0, n / 3, n - 1] {
                let mut v: Vec<f32> = (0..n).map(|i| i as f32).collect();
                v[pos] = f32::NAN;
                assert!(fold_slice(&v, MaxFold).is_nan(), "max n={n} pos={pos}");
                assert!(fold_slice(&v, MinFold).is_nan(), "min n={n} pos={pos}");
                let a = ArrayD::from_shape_vec(IxDyn(&[1, n]), v).unwrap();
                let cols = fold_axes_kept(a.view().reversed_axes(), &[0], MaxFold);
                assert!(cols[[0, 0]].is_nan());
            }
        }
        let v = [f32::NEG_INFINITY, -3.0, f32::INFINITY];
        assert_eq!(fold_slice(&v, MaxFold), f32::INFINITY);
        assert_eq!(fold_slice(&v, MinFold), f32::NEG_INFINITY);
    }

    #[test]
    fn reduce_kernel_sum_is_pairwise_accurate_in_f32() {
        // 2^20 times 0.1: a sequential f32 sum is off by 4%; the pairwise one by less than 1e-6.
        let n = 1 << 20;
        let tenths = vec![0.1f32; n];
        let exact = n as f64 * 0.1f32 as f64;
        let got = fold_slice(&tenths, SumFold) as f64;
        assert!(((got - exact) / exact).abs() < 1e-6, "{got} vs {exact}");
        // Column sums of 2^17 rows of 0.1: within a few ulp of the exact value.
        let rows = 1 << 17;
        let col = ArrayD::from_elem(IxDyn(&[rows, 3]), 0.1f32);
        let s = fold_axes_kept(col.view(), &[0], SumFold);
        let exact = rows as f64 * 0.1f32 as f64;
        for &v in s.iter() {
            assert!(((v as f64 - exact) / exact).abs() < 1e-6, "{v} vs {exact}");
        }
    }

    #[test]
    fn reduce_kernel_parallel_and_serial_results_are_identical() {
        let v: Vec<f32> = (0..300_001).map(|i| ((i % 97) as f32).sin()).collect();
        let serial = fold_serial(&v, SumFold);
        let parallel = fold_slice(&v, SumFold);
        assert_eq!(serial.to_bits(), parallel.to_bits());
        #[cfg(target_arch = "x86_64")]
        if fast_math::simd_available() {
            // SAFETY: the CPU has the features.
            let avx2 = unsafe { fold_serial_avx2(&v, SumFold) };
            assert_eq!(serial.to_bits(), avx2.to_bits());
        }
    }
}
