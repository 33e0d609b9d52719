//! Dtype-erased array storage: an enum over shared ndarray arrays of each [`Element`] type.

use ndarray::{ArrayD, IxDyn};

use super::element::{Array, DType, Element};
use crate::error::{Error, Result};

/// The data of a tensor: a shared copy-on-write array of `f32` or `f64`.
#[derive(Clone, Debug)]
pub enum Storage {
    F32(Array<f32>),
    F64(Array<f64>),
}

impl Storage {
    /// Storage from an owned array.
    pub fn from_array<F: Element>(array: ArrayD<F>) -> Storage {
        F::wrap(array.into_shared())
    }

    pub fn dtype(&self) -> DType {
        match self {
            Storage::F32(_) => DType::F32,
            Storage::F64(_) => DType::F64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        dispatch!(self, |a| a.shape())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        dispatch!(self, |a| a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The typed array, or a dtype error naming `op`.
    pub fn typed<F: Element>(&self, op: &'static str) -> Result<&Array<F>> {
        F::unwrap(self).ok_or_else(|| {
            Error::dtype(
                op,
                format!("expected a {} array, got {}", F::DTYPE, self.dtype()),
            )
        })
    }

    /// A copy converted to `dtype` (a cheap clone when it already has that dtype).
    pub fn cast(&self, dtype: DType) -> Storage {
        match (self, dtype) {
            (Storage::F32(_), DType::F32) | (Storage::F64(_), DType::F64) => self.clone(),
            (Storage::F32(a), DType::F64) => Storage::F64(a.mapv(f64::from).into_shared()),
            (Storage::F64(a), DType::F32) => Storage::F32(a.mapv(|v| v as f32).into_shared()),
        }
    }

    /// The values as an owned `f64` array (used by gradient checking and tests).
    pub fn to_f64(&self) -> ArrayD<f64> {
        match self {
            Storage::F32(a) => a.mapv(f64::from),
            Storage::F64(a) => a.to_owned(),
        }
    }

    /// A storage of zeros with the given shape and dtype.
    pub fn zeros(shape: &[usize], dtype: DType) -> Storage {
        match dtype {
            DType::F32 => Storage::from_array(ArrayD::<f32>::zeros(IxDyn(shape))),
            DType::F64 => Storage::from_array(ArrayD::<f64>::zeros(IxDyn(shape))),
        }
    }

    /// A storage filled with `value`.
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Storage {
        match dtype {
            DType::F32 => Storage::from_array(ArrayD::<f32>::from_elem(IxDyn(shape), value as f32)),
            DType::F64 => Storage::from_array(ArrayD::<f64>::from_elem(IxDyn(shape), value)),
        }
    }

    /// `self + other` elementwise for equal shapes and dtypes: gradient accumulation.
    pub(crate) fn add_same_shape(&self, other: &Storage) -> Result<Storage> {
        match (self, other) {
            (Storage::F32(a), Storage::F32(b)) if a.shape() == b.shape() => {
                Ok(Storage::F32((a + b).into_shared()))
            }
            (Storage::F64(a), Storage::F64(b)) if a.shape() == b.shape() => {
                Ok(Storage::F64((a + b).into_shared()))
            }
            _ => Err(Error::Autograd(format!(
                "internal error: cannot accumulate a {} gradient of shape {:?} into one of {} {:?}",
                other.dtype(),
                other.shape(),
                self.dtype(),
                self.shape()
            ))),
        }
    }
}
