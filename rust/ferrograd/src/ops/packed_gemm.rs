//! `dst (+)= a @ b` with `b` packed once and reused many times: the recurrent time loop
//! multiplies every step's state by the same recurrent kernel (50 steps of `(32, 128) @ (128,
//! 512)` per chunk in the LSTM benchmark).
//!
//! Why not the `gemm` crate there: it repacks `b` on every call, and at these thin shapes its
//! packing and dispatch took 8-10% of an LSTM's training time next to 42% in its microkernel
//! (`perf`). Here `b` is laid out once per sequence in panels of 16 columns (k-major, zero
//! padded), and an AVX2+FMA kernel computes tiles of up to 6 rows by 16 columns with twelve
//! accumulator registers, reading `a`'s rows in place (they are contiguous along `k`).
//! Other element types, CPUs without AVX2/FMA and operands whose rows are not contiguous take
//! [`gemm_serial`] on the original matrix, so results never depend on the path beyond float
//! rounding.

use super::matmul::{gemm_serial, StridedMatrix};
use crate::tensor::{DType, Element};

/// Columns per packed panel: two 8-lane registers.
const PANEL: usize = 16;
/// Rows per tile: 6 × 2 accumulators + 2 panel loads + 1 broadcast fit the 16 AVX2 registers.
const TILE_ROWS: usize = 6;

/// The right operand of many products, packed for the fast kernel when it can run.
pub(crate) struct PackedRhs<'a, F> {
    original: StridedMatrix<'a, F>,
    /// `k × 16` panels one after another, `f32`; empty when the fast kernel is not used.
    panels: Vec<f32>,
}

impl<'a, F: Element> PackedRhs<'a, F> {
    pub(crate) fn new(b: StridedMatrix<'a, F>) -> PackedRhs<'a, F> {
        let panels = if fast_kernel_available::<F>() && b.rows > 0 && b.cols > 0 {
            pack(b)
        } else {
            Vec::new()
        };
        PackedRhs {
            original: b,
            panels,
        }
    }
}

impl<'a, F> PackedRhs<'a, F> {
    /// `b` left as it is: products take the general GEMM.
    pub(crate) fn plain(b: StridedMatrix<'a, F>) -> PackedRhs<'a, F> {
        PackedRhs {
            original: b,
            panels: Vec::new(),
        }
    }
}

fn fast_kernel_available<F: Element>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        F::DTYPE == DType::F32 && super::fast_math::simd_available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `b` as `f32` panels of [`PANEL`] columns: panel `p` holds `b[kk, 16p + j]` at `kk * 16 + j`.
fn pack<F: Element>(b: StridedMatrix<'_, F>) -> Vec<f32> {
    let (k, n) = (b.rows, b.cols);
    let count = n.div_ceil(PANEL);
    let mut panels = vec![0f32; count * k * PANEL];
    for (p, panel) in panels.chunks_exact_mut(k * PANEL).enumerate() {
        let j0 = p * PANEL;
        let width = (n - j0).min(PANEL);
        for (kk, row) in panel.chunks_exact_mut(PANEL).enumerate() {
            for (j, v) in row[..width].iter_mut().enumerate() {
                let value = b.data[kk * b.row_stride + (j0 + j) * b.col_stride];
                *v = value.to_f32().expect("an f32 operand");
            }
        }
    }
    panels
}

/// `dst = a @ b` (or `dst += a @ b` with `accumulate`) on the calling thread; `dst` is
/// row-major with `dst_row_stride` between rows. Panics if the shapes disagree or an operand
/// does not fit its slice (a bug in the caller), as [`gemm_serial`].
pub(crate) fn gemm_packed<F: Element>(
    dst: &mut [F],
    dst_row_stride: usize,
    accumulate: bool,
    a: StridedMatrix<'_, F>,
    b: &PackedRhs<'_, F>,
) {
    let (m, k, n) = (a.rows, a.cols, b.original.cols);
    if b.panels.is_empty() || a.col_stride != 1 || m == 0 {
        return gemm_serial(dst, dst_row_stride, accumulate, a, b.original);
    }
    assert_eq!(k, b.original.rows, "gemm_packed: inner dimensions differ");
    assert!(
        (m - 1) * dst_row_stride + n <= dst.len() && (m - 1) * a.row_stride + k <= a.data.len(),
        "gemm_packed: an operand does not fit its slice"
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `panels` is non-empty only for f32 (so the casts reinterpret f32 as f32) on a CPU
    // with AVX2 and FMA; the assert above keeps every row access inside `dst` and `a`.
    unsafe {
        avx2::gemm(
            dst.as_mut_ptr() as *mut f32,
            dst_row_stride,
            accumulate,
            a.data.as_ptr() as *const f32,
            a.row_stride,
            (m, k, n),
            &b.panels,
        );
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{PANEL, TILE_ROWS};

    /// Every panel against every tile of rows; a panel (k × 64 bytes) stays in L1/L2 while
    /// the tiles of `a` stream past it.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm(
        dst: *mut f32,
        dst_rs: usize,
        accumulate: bool,
        a: *const f32,
        a_rs: usize,
        (m, k, n): (usize, usize, usize),
        panels: &[f32],
    ) {
        for (p, panel) in panels.chunks_exact(k * PANEL).enumerate() {
            let j0 = p * PANEL;
            let width = (n - j0).min(PANEL);
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(TILE_ROWS);
                let d = dst.add(i * dst_rs + j0);
                let ai = a.add(i * a_rs);
                let b = panel.as_ptr();
                match rows {
                    6 => tile::<6>(d, dst_rs, accumulate, ai, a_rs, k, b, width),
                    5 => tile::<5>(d, dst_rs, accumulate, ai, a_rs, k, b, width),
                    4 => tile::<4>(d, dst_rs, accumulate, ai, a_rs, k, b, width),
                    3 => tile::<3>(d, dst_rs, accumulate, ai, a_rs, k, b, width),
                    2 => tile::<2>(d, dst_rs, accumulate, ai, a_rs, k, b, width),
                    _ => tile::<1>(d, dst_rs, accumulate, ai, a_rs, k, b, width),
                }
                i += rows;
            }
        }
    }

    /// `R` rows × 16 columns: `R × 2` accumulators over the whole `k`, then one pass over
    /// `dst` (only `width` columns of a partial last panel are touched).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        dst: *mut f32,
        dst_rs: usize,
        accumulate: bool,
        a: *const f32,
        a_rs: usize,
        k: usize,
        b: *const f32,
        width: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(b.add(kk * PANEL));
            let b1 = _mm256_loadu_ps(b.add(kk * PANEL + 8));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(r * a_rs + kk));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let d = dst.add(r * dst_rs);
            if width == PANEL {
                let (mut v0, mut v1) = (row[0], row[1]);
                if accumulate {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(d));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(d.add(8)));
                }
                _mm256_storeu_ps(d, v0);
                _mm256_storeu_ps(d.add(8), v1);
            } else {
                let mut sums = [0f32; PANEL];
                _mm256_storeu_ps(sums.as_mut_ptr(), row[0]);
                _mm256_storeu_ps(sums.as_mut_ptr().add(8), row[1]);
                for (j, &s) in sums[..width].iter().enumerate() {
                    let out = d.add(j);
                    *out = if accumulate { *out + s } else { s };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        // A small LCG: deterministic values in [-1, 1).
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The packed product equals the straightforward one for every tile remainder, partial
    /// panels, strided rows, a transposed right operand, with and without accumulation.
    #[test]
    fn packed_gemm_matches_the_naive_product() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (6, 3, 16),
            (7, 5, 17),
            (13, 128, 40),
            (32, 128, 512),
            (5, 33, 15),
        ] {
            for transposed_b in [false, true] {
                for accumulate in [false, true] {
                    let (a_rs, d_rs) = (k + 3, n + 5);
                    let a = values(m * a_rs, 1);
                    let b_data = values(k * n, 2);
                    let b = if transposed_b {
                        StridedMatrix {
                            data: &b_data,
                            rows: k,
                            cols: n,
                            row_stride: 1,
                            col_stride: k,
                        }
                    } else {
                        StridedMatrix {
                            data: &b_data,
                            rows: k,
                            cols: n,
                            row_stride: n,
                            col_stride: 1,
                        }
                    };
                    let a_m = StridedMatrix {
                        data: &a,
                        rows: m,
                        cols: k,
                        row_stride: a_rs,
                        col_stride: 1,
                    };
                    let start = values(m * d_rs, 3);
                    let mut got = start.clone();
                    gemm_packed(&mut got, d_rs, accumulate, a_m, &PackedRhs::new(b));
                    for i in 0..m {
                        for j in 0..d_rs {
                            let at = i * d_rs + j;
                            if j >= n {
                                assert_eq!(got[at], start[at], "column {j} beyond n was written");
                                continue;
                            }
                            let mut want = if accumulate { start[at] as f64 } else { 0.0 };
                            for kk in 0..k {
                                want += a[i * a_rs + kk] as f64
                                    * b.data[kk * b.row_stride + j * b.col_stride] as f64;
                            }
                            assert!(
                                (got[at] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                                "({m}, {k}, {n}) transposed {transposed_b} accumulate {accumulate}: [{i}, {j}] = {}, want {want}",
                                got[at]
                            );
                        }
                    }
                }
            }
        }
    }

    /// f64 takes the general GEMM and agrees with it exactly.
    #[test]
    fn packed_gemm_f64_falls_back_to_the_general_gemm() {
        let a: Vec<f64> = values(4 * 3, 4).into_iter().map(f64::from).collect();
        let b: Vec<f64> = values(3 * 5, 5).into_iter().map(f64::from).collect();
        let am = StridedMatrix {
            data: &a,
            rows: 4,
            cols: 3,
            row_stride: 3,
            col_stride: 1,
        };
        let bm = StridedMatrix {
            data: &b,
            rows: 3,
            cols: 5,
            row_stride: 5,
            col_stride: 1,
        };
        let packed = PackedRhs::new(bm);
        assert!(packed.panels.is_empty());
        let (mut got, mut want) = (vec![0.0; 20], vec![0.0; 20]);
        gemm_packed(&mut got, 5, false, am, &packed);
        gemm_serial(&mut want, 5, false, am, bm);
        assert_eq!(got, want);
    }
}
