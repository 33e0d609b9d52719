//! The float types a tensor can hold. Kernels are written once, generic over [`Element`], and the
//! [`Storage`] enum picks the instance at run time.

use std::fmt::{Debug, Display};
use std::iter::Sum;

use ndarray::{ArcArray, IxDyn, LinalgScalar, ScalarOperand};
use num_traits::{Float, FromPrimitive, NumAssign, ToPrimitive};

use super::storage::Storage;

/// The element types of a tensor: `f32` (the default) and `f64` (for gradient checking and for
/// users who need the precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
}

impl DType {
    /// The numpy / Keras name of the dtype.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parses `"float32"`/`"float64"` (and the short forms `"f32"`/`"f64"`).
    pub fn parse(name: &str) -> Option<DType> {
        match name {
            "float32" | "f32" => Some(DType::F32),
            "float64" | "f64" | "double" => Some(DType::F64),
            _ => None,
        }
    }

    /// The wider of two dtypes: numpy's promotion rule for float32 with float64.
    pub fn promote(self, other: DType) -> DType {
        if self == DType::F64 || other == DType::F64 {
            DType::F64
        } else {
            DType::F32
        }
    }
}

impl Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A shared, copy-on-write n-dimensional array: cloning is an `Arc` increment.
pub type Array<F> = ArcArray<F, IxDyn>;

/// A float type the kernels are generic over.
pub trait Element:
    Float
    + NumAssign
    + FromPrimitive
    + ToPrimitive
    + LinalgScalar
    + ScalarOperand
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + Sum
    + 'static
{
    const DTYPE: DType;

    /// Wraps an array of this type into the dtype-erased storage.
    fn wrap(array: Array<Self>) -> Storage;

    /// The array inside `storage` if it holds this type.
    fn unwrap(storage: &Storage) -> Option<&Array<Self>>;

    /// The array inside `storage` if it holds this type, by value (no refcount kept behind).
    fn unwrap_owned(storage: Storage) -> std::result::Result<Array<Self>, Storage>;

    /// A literal of this type (`F::lit(0.5)`); exact for every constant the kernels use.
    fn lit(value: f64) -> Self;

    /// The Gauss error function (for the exact GELU).
    fn erf(self) -> Self;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn wrap(array: Array<f32>) -> Storage {
        Storage::F32(array)
    }
    fn unwrap(storage: &Storage) -> Option<&Array<f32>> {
        match storage {
            Storage::F32(a) => Some(a),
            Storage::F64(_) => None,
        }
    }
    fn unwrap_owned(storage: Storage) -> std::result::Result<Array<f32>, Storage> {
        match storage {
            Storage::F32(a) => Ok(a),
            other => Err(other),
        }
    }
    #[inline(always)]
    fn lit(value: f64) -> f32 {
        value as f32
    }
    #[inline(always)]
    fn erf(self) -> f32 {
        libm::erff(self)
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn wrap(array: Array<f64>) -> Storage {
        Storage::F64(array)
    }
    fn unwrap(storage: &Storage) -> Option<&Array<f64>> {
        match storage {
            Storage::F64(a) => Some(a),
            Storage::F32(_) => None,
        }
    }
    fn unwrap_owned(storage: Storage) -> std::result::Result<Array<f64>, Storage> {
        match storage {
            Storage::F64(a) => Ok(a),
            other => Err(other),
        }
    }
    #[inline(always)]
    fn lit(value: f64) -> f64 {
        value
    }
    #[inline(always)]
    fn erf(self) -> f64 {
        libm::erf(self)
    }
}
