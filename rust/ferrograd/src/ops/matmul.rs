//! Matrix multiplication, 2-D and batched with numpy's broadcasting of the batch axes, through
//! the `gemm` crate (a pure-Rust, packed, SIMD GEMM that runs on our rayon pool).
//!
//! Parallelism is chosen once per call and never nested: many small matrices run one per thread
//! with a serial GEMM each; few large ones run one after another with a parallel GEMM each.

use gemm::Parallelism;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;

use super::{broadcast_shapes, some_grad, typed_grad, unbroadcast};
use crate::error::{Error, Result};
use crate::tensor::{Array, Element, Storage, Tensor};
use crate::threads;

/// Below this many multiply-adds a GEMM runs on one thread: waking the pool costs more.
const PARALLEL_MIN_FLOPS: usize = 96 * 96 * 96;

/// A raw pointer that may cross threads: each thread writes a disjoint block of the output.
#[derive(Clone, Copy)]
struct SendPtr<F>(*mut F);
unsafe impl<F> Send for SendPtr<F> {}
unsafe impl<F> Sync for SendPtr<F> {}

impl<F> SendPtr<F> {
    /// A method (not field access) so closures capture the whole `Send` wrapper.
    fn get(self) -> *mut F {
        self.0
    }
}

/// The element offset of batch `index` (row-major over `batch_shape`) in an operand whose batch
/// axes are `dims` with `strides`, right-aligned against `batch_shape` (broadcast axes: stride 0).
fn batch_offset(
    mut index: usize,
    batch_shape: &[usize],
    dims: &[usize],
    strides: &[isize],
) -> isize {
    let mut offset = 0isize;
    let lead = batch_shape.len() - dims.len();
    for axis in (0..batch_shape.len()).rev() {
        let i = index % batch_shape[axis];
        index /= batch_shape[axis];
        if axis >= lead {
            let j = axis - lead;
            if dims[j] != 1 {
                offset += i as isize * strides[j];
            }
        }
    }
    offset
}

/// `a @ b` for arrays of at least two dimensions; batch axes broadcast. Any strides are taken
/// as they are (a transposed view costs nothing); negative strides are copied first.
pub fn matmul_arrays<F: Element>(a: ArrayViewD<'_, F>, b: ArrayViewD<'_, F>) -> Result<ArrayD<F>> {
    if a.ndim() < 2 || b.ndim() < 2 {
        return Err(Error::shape(
            "matmul",
            format!(
                "needs at least 2-D operands, got shapes {:?} and {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let owned_a;
    let a = if a.strides().iter().any(|&s| s < 0) {
        owned_a = a.as_standard_layout().into_owned();
        owned_a.view()
    } else {
        a
    };
    let owned_b;
    let b = if b.strides().iter().any(|&s| s < 0) {
        owned_b = b.as_standard_layout().into_owned();
        owned_b.view()
    } else {
        b
    };
    let (ar, br) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[ar - 2], a.shape()[ar - 1]);
    let (k2, n) = (b.shape()[br - 2], b.shape()[br - 1]);
    if k != k2 {
        return Err(Error::shape(
            "matmul",
            format!(
                "shapes {:?} and {:?} are not aligned: {k} (last axis of the first) != {k2} (second-to-last axis of the second)",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let batch_shape = broadcast_shapes("matmul", &a.shape()[..ar - 2], &b.shape()[..br - 2])?;
    let batches: usize = batch_shape.iter().product();
    let mut out_shape = batch_shape.clone();
    out_shape.extend([m, n]);
    if m == 0 || n == 0 || k == 0 || batches == 0 {
        return Ok(ArrayD::<F>::zeros(IxDyn(&out_shape)));
    }
    // Every element is written by exactly one GEMM below (read_dst = false), so the output is
    // not zeroed first: that memset cost ~5% of a 1024³ product.
    let total: usize = out_shape.iter().product();
    let mut buffer: Vec<F> = Vec::with_capacity(total);

    let (a_rs, a_cs) = (a.strides()[ar - 2], a.strides()[ar - 1]);
    let (b_rs, b_cs) = (b.strides()[br - 2], b.strides()[br - 1]);
    let a_batch = (&a.shape()[..ar - 2], &a.strides()[..ar - 2]);
    let b_batch = (&b.shape()[..br - 2], &b.strides()[..br - 2]);
    let a_ptr = SendPtr(a.as_ptr() as *mut F);
    let b_ptr = SendPtr(b.as_ptr() as *mut F);
    let out_slice = buffer.spare_capacity_mut();

    let gemm_one =
        |dst: &mut [std::mem::MaybeUninit<F>], batch: usize, parallelism: Parallelism| {
            let a_off = batch_offset(batch, &batch_shape, a_batch.0, a_batch.1);
            let b_off = batch_offset(batch, &batch_shape, b_batch.0, b_batch.1);
            // SAFETY: offsets and strides come from valid views of `a` and `b` (checked shapes,
            // non-negative strides); `dst` is an exclusive m×n row-major block.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.as_mut_ptr() as *mut F,
                    1,
                    n as isize,
                    false,
                    a_ptr.get().offset(a_off),
                    a_cs,
                    a_rs,
                    b_ptr.get().offset(b_off),
                    b_cs,
                    b_rs,
                    F::zero(),
                    F::one(),
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        };

    let flops = m * n * k;
    let threads = threads::num_threads();
    if threads > 1 && batches >= threads && flops * batches >= PARALLEL_MIN_FLOPS {
        threads::install(|| {
            out_slice
                .par_chunks_mut(m * n)
                .enumerate()
                .for_each(|(batch, dst)| gemm_one(dst, batch, Parallelism::None));
        });
    } else if threads > 1 && flops >= PARALLEL_MIN_FLOPS {
        threads::install(|| {
            for (batch, dst) in out_slice.chunks_mut(m * n).enumerate() {
                gemm_one(dst, batch, Parallelism::Rayon(threads));
            }
        });
    } else {
        for (batch, dst) in out_slice.chunks_mut(m * n).enumerate() {
            gemm_one(dst, batch, Parallelism::None);
        }
    }
    // SAFETY: the chunks above cover all `total` elements and gemm wrote each one.
    unsafe { buffer.set_len(total) };
    Ok(ArrayD::from_shape_vec(IxDyn(&out_shape), buffer).expect("size matches"))
}

/// A strided matrix inside a slice: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct StridedMatrix<'a, F> {
    pub data: &'a [F],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<F> StridedMatrix<'_, F> {
    /// Whether every element's index lies inside `len` elements.
    fn fits(rows: usize, cols: usize, row_stride: usize, col_stride: usize, len: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
    }
}

/// `dst = a @ b` (or `dst += a @ b` with `accumulate`) on the calling thread, for kernels that
/// run many small products inside their own parallel loop (the recurrent time loop): no pool,
/// no allocation of the output. `dst` is row-major with `dst_row_stride` between rows. Panics
/// if the shapes disagree or an operand does not fit its slice (a bug in the caller).
pub(crate) fn gemm_serial<F: Element>(
    dst: &mut [F],
    dst_row_stride: usize,
    accumulate: bool,
    a: StridedMatrix<'_, F>,
    b: StridedMatrix<'_, F>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "gemm_serial: inner dimensions differ");
    assert!(
        StridedMatrix::<F>::fits(m, n, dst_row_stride, 1, dst.len())
            && StridedMatrix::<F>::fits(m, k, a.row_stride, a.col_stride, a.data.len())
            && StridedMatrix::<F>::fits(k, n, b.row_stride, b.col_stride, b.data.len()),
        "gemm_serial: an operand does not fit its slice"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_row_stride..i * dst_row_stride + n].fill(F::zero());
            }
        }
        return;
    }
    // SAFETY: the asserts above keep every index gemm touches inside the three slices, and
    // `dst` is borrowed mutably, so it does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            F::one(),
            F::one(),
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// The view of `a` with its last two axes swapped (free: only strides change).
fn transposed<F: Element>(a: &Array<F>) -> ArrayViewD<'_, F> {
    let mut view = a.view();
    let r = view.ndim();
    view.swap_axes(r - 2, r - 1);
    view
}

fn matmul_typed<F: Element>(
    lhs: &Tensor,
    rhs: &Tensor,
    a: Array<F>,
    b: Array<F>,
) -> Result<Tensor> {
    let out = matmul_arrays(a.view(), b.view())?;
    let (a_needs, b_needs) = (lhs.requires_grad(), rhs.requires_grad());
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "matmul",
        &[lhs, rhs],
        move || {
            Box::new(move |g: &Storage| {
                let g = typed_grad::<F>("matmul", g)?;
                // dA = dY · Bᵀ, dB = Aᵀ · dY, summed over broadcast batch axes.
                let ga = if a_needs {
                    some_grad(unbroadcast(
                        matmul_arrays(g.view(), transposed(&b))?,
                        a.shape(),
                    ))
                } else {
                    None
                };
                let gb = if b_needs {
                    some_grad(unbroadcast(
                        matmul_arrays(transposed(&a), g.view())?,
                        b.shape(),
                    ))
                } else {
                    None
                };
                Ok(vec![ga, gb])
            })
        },
    ))
}

impl Tensor {
    /// Matrix product with numpy's rules: 1-D operands are promoted to a row (left) or a column
    /// (right) vector and the added axis removed again; batch axes broadcast.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let (sa, sb) = (self.shape(), other.shape());
        if sa.is_empty() || sb.is_empty() {
            return Err(Error::shape(
                "matmul",
                format!("operands must have at least one dimension, got shapes {sa:?} and {sb:?}"),
            ));
        }
        let (k_a, k_b) = (
            sa[sa.len() - 1],
            if sb.len() == 1 {
                sb[0]
            } else {
                sb[sb.len() - 2]
            },
        );
        if k_a != k_b {
            return Err(Error::shape(
                "matmul",
                format!(
                    "shapes {sa:?} and {sb:?} are not aligned: {k_a} (last axis of the first) != {k_b} ({} of the second)",
                    if sb.len() == 1 { "only axis" } else { "second-to-last axis" }
                ),
            ));
        }
        let a = if sa.len() == 1 {
            self.reshape(&[1, sa[0] as isize])?
        } else {
            self.clone()
        };
        let b = if sb.len() == 1 {
            other.reshape(&[sb[0] as isize, 1])?
        } else {
            other.clone()
        };
        let dtype = a.dtype().promote(b.dtype());
        let (a, b) = (a.cast(dtype)?, b.cast(dtype)?);

        // (..., m, k) @ (k, n): one GEMM over all leading rows instead of a batch of small ones.
        let out = if b.ndim() == 2 && a.ndim() > 2 {
            let sa2 = a.shape();
            let rows: usize = sa2[..sa2.len() - 1].iter().product();
            let flat = a.reshape(&[rows as isize, sa2[sa2.len() - 1] as isize])?;
            let product = flat.matmul(&b)?;
            let mut shape: Vec<isize> = sa2[..sa2.len() - 1].iter().map(|&d| d as isize).collect();
            shape.push(b.shape()[1] as isize);
            product.reshape(&shape)?
        } else {
            match (a.storage(), b.storage()) {
                (Storage::F32(x), Storage::F32(y)) => matmul_typed(&a, &b, x, y)?,
                (Storage::F64(x), Storage::F64(y)) => matmul_typed(&a, &b, x, y)?,
                _ => unreachable!("both operands were cast to {dtype}"),
            }
        };
        let mut out = out;
        if sb.len() == 1 {
            out = out.squeeze(Some(&[-1]))?;
        }
        if sa.len() == 1 {
            out = out.squeeze(Some(&[-1 - (sb.len() != 1) as isize]))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    #[test]
    fn matmul_2d_against_hand_computed() {
        let a = var64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = var64(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        let y = a.matmul(&b).unwrap();
        assert_close(&values(&y), &[58.0, 64.0, 139.0, 154.0], 0.0);
        y.sum(None, false).unwrap().backward().unwrap();
        // dA = 1 · Bᵀ: row sums of B; dB = Aᵀ · 1: column sums of A.
        assert_close(
            &values(&a.grad().unwrap()),
            &[15.0, 19.0, 23.0, 15.0, 19.0, 23.0],
            0.0,
        );
        assert_close(
            &values(&b.grad().unwrap()),
            &[5.0, 5.0, 7.0, 7.0, 9.0, 9.0],
            0.0,
        );
    }

    #[test]
    fn matmul_vectors_follow_numpy() {
        let v = t64(&[3], &[1.0, 2.0, 3.0]);
        let m = t64(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(v.matmul(&m).unwrap().shape(), vec![2]);
        assert_eq!(
            m.transpose(None).unwrap().matmul(&v).unwrap().shape(),
            vec![2]
        );
        assert_eq!(v.matmul(&v).unwrap().shape(), Vec::<usize>::new());
        assert_close(&values(&v.matmul(&v).unwrap()), &[14.0], 0.0);
    }

    #[test]
    fn batched_matmul_broadcasts_and_reduces_gradient() {
        let a = var64(&[2, 1, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = var64(&[3, 2, 1], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        let y = a.matmul(&b).unwrap();
        assert_eq!(y.shape(), vec![2, 3, 1, 1]);
        y.sum(None, false).unwrap().backward().unwrap();
        assert_eq!(b.grad().unwrap().shape(), vec![3, 2, 1]);
        // dB[j] = sum_i A[i]ᵀ = [4, 6] for every j.
        assert_close(
            &values(&b.grad().unwrap()),
            &[4.0, 6.0, 4.0, 6.0, 4.0, 6.0],
            0.0,
        );
    }

    #[test]
    fn mismatched_inner_dimensions_are_an_error() {
        let a = t64(&[2, 3], &[0.0; 6]);
        let b = t64(&[4, 2], &[0.0; 8]);
        let message = a.matmul(&b).unwrap_err().to_string();
        assert!(
            message.contains("[2, 3]") && message.contains("[4, 2]"),
            "{message}"
        );
    }

    #[test]
    fn large_parallel_matmul_matches_naive() {
        let n = 130;
        let av: Vec<f64> = (0..n * n).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        let bv: Vec<f64> = (0..n * n).map(|i| ((i * 5) % 11) as f64 - 5.0).collect();
        let a = t64(&[n, n], &av);
        let b = t64(&[n, n], &bv);
        let y = values(&a.matmul(&b).unwrap());
        for &(i, j) in &[(0, 0), (17, 99), (129, 129)] {
            let expected: f64 = (0..n).map(|p| av[i * n + p] * bv[p * n + j]).sum();
            assert_eq!(y[i * n + j], expected);
        }
    }
}
