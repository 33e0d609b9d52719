//! Training arrays read straight from the caller's numpy arrays: `fit` gathers each batch's rows
//! from the array's own memory instead of copying the whole array into the engine first (a
//! 60,000×784 float32 array was a 188 MB copy and 0.12 s per `fit` call). This is what
//! `torch.from_numpy` does, with the same caveat: the array is shared, not copied, so changing it
//! from another thread while `fit` runs is the caller's data race (values read mid-write), as it
//! is in PyTorch. Its memory can never go away under the engine: the source holds a reference to
//! the array, and numpy refuses to resize an array that other objects refer to.

use std::sync::Arc;

use ferrograd::model::{copy_rows, gather_rows, Column, RowSource};
use ferrograd::{DType, Tensor};
use numpy::npyffi::flags::NPY_ARRAY_ALIGNED;
use numpy::{PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::convert::to_tensor;
use crate::errors::IntoPy;

/// A C-contiguous, aligned float32 or float64 numpy array read in place.
struct NumpyRows {
    /// Never read: holding it keeps the buffer alive (see the module's documentation).
    _array: Py<PyUntypedArray>,
    /// The address of the first element.
    data: usize,
    shape: Vec<usize>,
    dtype: DType,
}

impl NumpyRows {
    /// The array as a source when it can be read in place: a numpy array (or subclass, such as
    /// `np.memmap`) of `dtype` exactly (float32 or float64 in native byte order), C-contiguous,
    /// aligned, with a batch axis and at least one element. Anything else is `None` and takes
    /// the copying path.
    fn borrow(value: &Bound<'_, PyAny>, dtype: Option<DType>) -> Option<NumpyRows> {
        let array = value.cast::<PyUntypedArray>().ok()?;
        let own = if array.cast::<PyArrayDyn<f32>>().is_ok() {
            DType::F32
        } else if array.cast::<PyArrayDyn<f64>>().is_ok() {
            DType::F64
        } else {
            return None;
        };
        if dtype.is_some_and(|d| d != own) {
            return None;
        }
        // SAFETY: reading the flags and data pointer of a live array object we hold.
        let (flags, data) = unsafe {
            let raw = &*array.as_array_ptr();
            (raw.flags, raw.data as usize)
        };
        let readable = array.is_c_contiguous() && flags & NPY_ARRAY_ALIGNED != 0;
        if !readable || array.ndim() == 0 || array.len() == 0 || data == 0 {
            return None;
        }
        Some(NumpyRows {
            _array: array.clone().unbind(),
            data,
            shape: array.shape().to_vec(),
            dtype: own,
        })
    }

    fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The array's elements as a slice.
    ///
    /// SAFETY: `data` points to `elements()` aligned, initialized values of type `F` (checked in
    /// `borrow`, with `F` matching `dtype`), kept alive by `_array` for as long as `self`.
    unsafe fn values<F>(&self) -> &[F] {
        std::slice::from_raw_parts(self.data as *const F, self.elements())
    }
}

impl RowSource for NumpyRows {
    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn gather(&self, rows: &[usize]) -> ferrograd::Result<Tensor> {
        // SAFETY: the element type matches `dtype` (see `values`).
        unsafe {
            match self.dtype {
                DType::F32 => gather_rows(self.values::<f32>(), &self.shape, rows),
                DType::F64 => gather_rows(self.values::<f64>(), &self.shape, rows),
            }
        }
    }

    fn range(&self, start: usize, stop: usize) -> ferrograd::Result<Tensor> {
        // SAFETY: the element type matches `dtype` (see `values`).
        unsafe {
            match self.dtype {
                DType::F32 => copy_rows(self.values::<f32>(), &self.shape, start, stop),
                DType::F64 => copy_rows(self.values::<f64>(), &self.shape, start, stop),
            }
        }
    }
}

/// One array of a dataset: read in place when [`NumpyRows::borrow`] allows it, else converted
/// to an engine tensor (a copy, and a cast to `dtype` when given) as before.
pub fn column(value: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Column> {
    if let Some(rows) = NumpyRows::borrow(value, dtype) {
        return Ok(Column::Rows(Arc::new(rows)));
    }
    let t = to_tensor(value)?;
    Ok(Column::Tensor(match dtype {
        Some(d) if t.dtype() != d => t.cast(d).py()?,
        _ => t,
    }))
}

/// [`column`] for each array of a list.
pub fn columns(values: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Vec<Column>> {
    values.try_iter()?.map(|v| column(&v?, dtype)).collect()
}
