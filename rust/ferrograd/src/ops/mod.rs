//! Tensor operations, one file per family. Each op's forward and backward sit side by side: the
//! forward computes the output and, only when a gradient will be needed, builds the closure that
//! maps the output's gradient to its inputs' gradients.

mod activation;
mod binary;
mod buffers;
mod compare;
mod conv;
pub use compare::Comparison;
pub use conv::{conv_output_length, same_padding, Conv2dOptions};
mod elementwise;
mod fast_math;
mod index;
mod index_spec;
mod linear;
mod matmul;
mod norm;
mod packed_gemm;
mod pool;
pub use pool::{Pool2dOptions, PoolPadding};
mod reduce;
mod reduce_kernel;
mod resize;
mod rnn;
pub use rnn::{RnnCell, RnnMasks, RnnSpec};
mod shape;
mod softmax;

pub(crate) mod ctc_common;
mod ctc_decode;
pub use ctc_decode::{ctc_beam_search_decode, ctc_greedy_decode, CtcDecoded};

#[cfg(target_arch = "x86_64")]
pub(crate) use fast_math::simd_available;
pub use index::SliceSpec;
pub use index_spec::{broadcast_index_shapes, IndexSpec};
pub use linear::FusedActivation;
pub use matmul::matmul_arrays;
pub use norm::BatchNormOutput;

use std::mem::MaybeUninit;

use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::tensor::{Array, Element, Storage, Tensor};
use crate::threads;

/// Resolves a possibly negative axis against `ndim`.
pub(crate) fn normalize_axis(op: &'static str, axis: isize, ndim: usize) -> Result<usize> {
    let resolved = if axis < 0 { axis + ndim as isize } else { axis };
    if resolved < 0 || resolved >= ndim as isize {
        return Err(Error::argument(
            op,
            format!("axis {axis} is out of range for a tensor with {ndim} dimensions"),
        ));
    }
    Ok(resolved as usize)
}

/// Resolves a list of axes (`None` = all), sorted and without duplicates.
pub(crate) fn normalize_axes(
    op: &'static str,
    axes: Option<&[isize]>,
    ndim: usize,
) -> Result<Vec<usize>> {
    let mut resolved = match axes {
        None => (0..ndim).collect::<Vec<_>>(),
        Some(list) => list
            .iter()
            .map(|&a| normalize_axis(op, a, ndim))
            .collect::<Result<Vec<_>>>()?,
    };
    resolved.sort_unstable();
    let before = resolved.len();
    resolved.dedup();
    if resolved.len() != before {
        return Err(Error::argument(op, format!("repeated axis in {axes:?}")));
    }
    Ok(resolved)
}

/// The numpy broadcast of two shapes.
pub(crate) fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let ndim = a.len().max(b.len());
    let mut out = vec![0; ndim];
    for i in 0..ndim {
        let da = if i + a.len() >= ndim {
            a[i + a.len() - ndim]
        } else {
            1
        };
        let db = if i + b.len() >= ndim {
            b[i + b.len() - ndim]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!("operands could not be broadcast together with shapes {a:?} and {b:?}"),
            ));
        };
    }
    Ok(out)
}

/// Sums `grad` (of the broadcast shape) back down to `shape`: the gradient of broadcasting. One
/// copy-free pass over `grad` (a bias gradient is a column sum over the batch).
pub(crate) fn unbroadcast<F: Element>(grad: ArrayD<F>, shape: &[usize]) -> ArrayD<F> {
    if grad.shape() == shape {
        return grad;
    }
    sum_to_shape(grad.view(), shape)
}

/// `grad` summed over the axes that broadcasting `shape` to `grad`'s shape added or stretched.
pub(crate) fn sum_to_shape<F: Element>(grad: ArrayViewD<'_, F>, shape: &[usize]) -> ArrayD<F> {
    let extra = grad.ndim() - shape.len();
    let axes: Vec<usize> = (0..grad.ndim())
        .filter(|&i| i < extra || (shape[i - extra] == 1 && grad.shape()[i] != 1))
        .collect();
    reduce_kernel::fold_axes_kept(grad, &axes, reduce_kernel::SumFold)
        .into_shape_with_order(IxDyn(shape))
        .expect("the kept shape has the target's size")
}

/// Elements per call of a chunk kernel: small enough to stay in L1 (a kernel may redo its chunk,
/// see `UnaryOp::FAST_F32_RANGE`), large enough that the call costs nothing.
pub(crate) const MAP_CHUNK: usize = 4096;

/// The output of a chunk kernel `kernel(xs, ys, fma)` that writes `ys[i]` from `xs[i]` (every
/// element of `ys`), run over `MAP_CHUNK`-sized chunks: on the pool for large arrays, serially
/// for small ones. The kernel is compiled a second time for AVX2 + FMA where the CPU has them
/// (the wheel targets baseline x86-64): elementwise maths like `exp` is compute-bound and runs
/// twice as fast. `fma` is true in that copy and false in the other, a constant once the kernel
/// is inlined, so a kernel may use fused multiply-adds only where they are instructions.
/// A non-contiguous input is first copied to standard layout.
pub(crate) fn map_chunks<F: Element>(
    input: &Array<F>,
    kernel: impl Fn(&[F], &mut [MaybeUninit<F>], bool) + Sync + Send,
) -> ArrayD<F> {
    let input = input.as_standard_layout();
    let xs = input.as_slice().expect("standard layout");
    let mut out: Vec<F> = Vec::with_capacity(xs.len());
    let ys = &mut out.spare_capacity_mut()[..xs.len()];
    #[cfg(target_arch = "x86_64")]
    let simd = fast_math::simd_available();
    let run = |(xs, ys): (&[F], &mut [MaybeUninit<F>])| {
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            unsafe { run_chunk_avx2(&kernel, xs, ys) };
            return;
        }
        kernel(xs, ys, false)
    };
    if xs.len() >= threads::PARALLEL_MIN_ELEMENTS {
        threads::install(|| {
            xs.par_chunks(MAP_CHUNK)
                .zip(ys.par_chunks_mut(MAP_CHUNK))
                .for_each(run)
        });
    } else {
        xs.chunks(MAP_CHUNK)
            .zip(ys.chunks_mut(MAP_CHUNK))
            .for_each(run);
    }
    // SAFETY: every chunk kernel writes all of its `ys`, so the first `xs.len()` are initialized.
    unsafe { out.set_len(xs.len()) };
    ArrayD::from_shape_vec(IxDyn(input.shape()), out).expect("same length as input")
}

/// `kernel` compiled with AVX2 and FMA: it is inlined here and so inherits the features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_chunk_avx2<F: Element>(
    kernel: &impl Fn(&[F], &mut [MaybeUninit<F>], bool),
    xs: &[F],
    ys: &mut [MaybeUninit<F>],
) {
    kernel(xs, ys, true)
}

/// `f` applied to every element, in parallel for large arrays.
pub(crate) fn map_elements<F: Element>(
    input: &Array<F>,
    f: impl Fn(F) -> F + Sync + Send,
) -> ArrayD<F> {
    map_chunks(input, |xs, ys, _| {
        for (y, &x) in ys.iter_mut().zip(xs) {
            y.write(f(x));
        }
    })
}

/// `f(a, b, c)` elementwise for three arrays of one shape, in parallel when large.
pub(crate) fn zip3_elements<F: Element>(
    a: ArrayViewD<'_, F>,
    b: ArrayViewD<'_, F>,
    c: ArrayViewD<'_, F>,
    f: impl Fn(F, F, F) -> F + Sync + Send,
) -> ArrayD<F> {
    if a.len() >= threads::PARALLEL_MIN_ELEMENTS {
        threads::install(|| {
            Zip::from(a)
                .and(b)
                .and(c)
                .par_map_collect(|&x, &y, &z| f(x, y, z))
        })
    } else {
        Zip::from(a)
            .and(b)
            .and(c)
            .map_collect(|&x, &y, &z| f(x, y, z))
    }
}

/// The typed gradient handed to a backward closure (its dtype is the output's, by construction).
pub(crate) fn typed_grad<'a, F: Element>(
    op: &'static str,
    grad: &'a Storage,
) -> Result<&'a Array<F>> {
    grad.typed::<F>(op)
}

/// One gradient, wrapped for the backward return vector.
pub(crate) fn some_grad<F: Element>(grad: ArrayD<F>) -> Option<Storage> {
    Some(Storage::from_array(grad))
}

impl Tensor {
    /// The same values as `dtype`; differentiable (the gradient is cast back).
    pub fn cast(&self, dtype: crate::tensor::DType) -> Result<Tensor> {
        let from = self.dtype();
        if from == dtype {
            return Ok(self.clone());
        }
        let out = self.storage().cast(dtype);
        Ok(Tensor::from_op(out, "cast", &[self], || {
            Box::new(move |g: &Storage| Ok(vec![Some(g.cast(from))]))
        }))
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers for the ops' unit tests: tensors from literals and a central-difference check.
    use super::*;

    pub fn t64(shape: &[usize], values: &[f64]) -> Tensor {
        Tensor::from_vec(shape, values.to_vec()).unwrap()
    }

    pub fn var64(shape: &[usize], values: &[f64]) -> Tensor {
        let t = t64(shape, values);
        t.set_requires_grad(true).unwrap();
        t
    }

    pub fn values(t: &Tensor) -> Vec<f64> {
        t.to_f64().iter().copied().collect()
    }

    pub fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
        assert_eq!(
            actual.len(),
            expected.len(),
            "lengths differ: {actual:?} vs {expected:?}"
        );
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                (a - e).abs() <= tol * (1.0 + e.abs()),
                "{actual:?} != {expected:?}"
            );
        }
    }
}
