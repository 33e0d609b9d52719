//! Conversions between Python objects and engine values: tensors, numpy arrays, numbers, lists,
//! dtypes and axis arguments. Inputs are copied once into engine-owned memory (so the GIL can be
//! released while kernels run, as `torch.tensor` copies); outputs are handed to numpy without a
//! copy, as read-only views that keep the engine's buffer alive.

use ferrograd::{DType, Storage, Tensor};
use ndarray::ArrayD;
use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::tensor::PyTensor;

/// Keeps an engine buffer alive for as long as numpy views it.
#[pyclass(frozen, module = "ferrograd._core", name = "_Buffer")]
pub struct Buffer {
    storage: Storage,
}

/// A read-only numpy array viewing `storage` (no copy).
pub fn storage_to_numpy(py: Python<'_>, storage: Storage) -> PyResult<Bound<'_, PyAny>> {
    let owner = Bound::new(py, Buffer { storage })?;
    let buffer = owner.get();
    // SAFETY: the array lives inside `owner`, which becomes the numpy array's base object; the
    // buffer is never mutated or reallocated through `owner` (engine updates copy on write
    // because this clone shares it).
    let array = match &buffer.storage {
        Storage::F32(a) => unsafe { PyArrayDyn::borrow_from_array(a, owner.clone().into_any()) }
            .readonly()
            .make_nonwriteable_any(),
        Storage::F64(a) => unsafe { PyArrayDyn::borrow_from_array(a, owner.clone().into_any()) }
            .readonly()
            .make_nonwriteable_any(),
    };
    Ok(array)
}

/// `make_nonwriteable` returning the array as `PyAny`.
trait NonWriteable<'py> {
    fn make_nonwriteable_any(self) -> Bound<'py, PyAny>;
}

impl<'py, T: numpy::Element> NonWriteable<'py> for numpy::PyReadonlyArrayDyn<'py, T> {
    fn make_nonwriteable_any(self) -> Bound<'py, PyAny> {
        let array = self.as_array_ptr();
        // SAFETY: clearing WRITEABLE on an array we just created and hold the only view of.
        unsafe {
            (*array).flags &= !numpy::npyffi::flags::NPY_ARRAY_WRITEABLE;
        }
        self.as_any().clone()
    }
}

/// Parses a dtype argument: `None`, `"float32"`, `"float64"`, or anything `numpy.dtype` takes.
pub fn dtype_from_py(dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DType>> {
    let Some(dtype) = dtype else { return Ok(None) };
    if dtype.is_none() {
        return Ok(None);
    }
    let name: String = if let Ok(s) = dtype.cast::<PyString>() {
        s.to_string()
    } else {
        let numpy = dtype.py().import("numpy")?;
        numpy
            .call_method1("dtype", (dtype,))
            .and_then(|d| d.getattr("name"))
            .and_then(|n| n.extract())
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "unsupported dtype {dtype}; use 'float32' or 'float64'"
                ))
            })?
    };
    DType::parse(&name).map(Some).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "unsupported dtype '{name}'; ferrograd tensors are 'float32' or 'float64'"
        ))
    })
}

/// Copies a numpy array (any layout) of f32/f64 into engine storage; other dtypes are converted
/// to `target` (default float32) by numpy. Complex, string and object arrays are a `TypeError`.
fn array_to_storage(array: &Bound<'_, PyUntypedArray>, target: Option<DType>) -> PyResult<Storage> {
    let dtype = array.dtype();
    let kind: char = dtype.getattr("kind")?.extract()?;
    if !matches!(kind, 'f' | 'i' | 'u' | 'b') {
        return Err(PyTypeError::new_err(format!(
            "cannot make a tensor from a numpy array of dtype {dtype}; expected a real number dtype"
        )));
    }
    if let Ok(a) = array.cast::<PyArrayDyn<f32>>() {
        let storage = Storage::from_array(a.readonly().as_array().to_owned());
        return Ok(storage.cast(target.unwrap_or(DType::F32)));
    }
    if let Ok(a) = array.cast::<PyArrayDyn<f64>>() {
        let storage = Storage::from_array(a.readonly().as_array().to_owned());
        return Ok(storage.cast(target.unwrap_or(DType::F64)));
    }
    let target = target.unwrap_or(DType::F32);
    let converted = array.call_method1("astype", (target.name(),))?;
    array_to_storage(converted.cast::<PyUntypedArray>()?, Some(target))
}

/// Any array-like (tensor, numpy array, number, nested list) as engine storage.
pub fn to_storage(value: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Storage> {
    if let Ok(t) = value.cast::<PyTensor>() {
        let storage = t.get().inner.storage();
        return Ok(match dtype {
            Some(d) => storage.cast(d),
            None => storage,
        });
    }
    if let Ok(array) = value.cast::<PyUntypedArray>() {
        return array_to_storage(array, dtype);
    }
    if value.is_instance_of::<PyString>() || value.is_none() {
        return Err(PyTypeError::new_err(format!(
            "expected a tensor, a numpy array, a number or a (nested) list of numbers, got {}",
            value.get_type().name()?
        )));
    }
    let numpy = value.py().import("numpy")?;
    let array =
        numpy.call_method1("asarray", (value,)).map_err(|e| {
            PyValueError::new_err(format!(
            "cannot make a tensor from this {} ({}); expected numbers in a rectangular nested list",
            value.get_type().name().map(|n| n.to_string()).unwrap_or_default(),
            e.value(value.py())
        ))
        })?;
    let array = array.cast::<PyUntypedArray>()?;
    // Python floats and lists default to float32, as Keras and `torch.tensor` do.
    array_to_storage(array, Some(dtype.unwrap_or(DType::F32)))
}

/// A tensor from any array-like; an existing tensor is passed through (same graph node).
pub fn to_tensor(value: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    if let Ok(t) = value.cast::<PyTensor>() {
        return Ok(t.get().inner.clone());
    }
    Ok(Tensor::from_storage(to_storage(value, None)?, false))
}

/// The other operand of a binary op: Python numbers adopt `like`'s dtype (so `x * 2` stays
/// float32); `None` when the value cannot be an operand (the operator returns NotImplemented).
pub fn operand(value: &Bound<'_, PyAny>, like: &Tensor) -> PyResult<Option<Tensor>> {
    if let Ok(t) = value.cast::<PyTensor>() {
        return Ok(Some(t.get().inner.clone()));
    }
    if value.is_instance_of::<PyFloat>()
        || (value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>())
    {
        let v: f64 = value.extract()?;
        return Ok(Some(Tensor::scalar_of(v, like.dtype())));
    }
    if value.is_instance_of::<PyUntypedArray>()
        || value.is_instance_of::<PyList>()
        || value.is_instance_of::<PyTuple>()
    {
        return Ok(Some(Tensor::from_storage(to_storage(value, None)?, false)));
    }
    // numpy scalars and other numbers with __float__
    if value.hasattr("__float__")? && !value.is_instance_of::<PyString>() {
        if let Ok(v) = value.extract::<f64>() {
            return Ok(Some(Tensor::scalar_of(v, like.dtype())));
        }
    }
    Ok(None)
}

/// An operand that must convert (for functions rather than operators).
pub fn require_operand(value: &Bound<'_, PyAny>, like: &Tensor, op: &str) -> PyResult<Tensor> {
    operand(value, like)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{op}: expected a tensor, a numpy array or a number, got {}",
            value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// An `axis` argument: `None`, an int, or a sequence of ints.
pub fn axes_from_py(axis: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<isize>>> {
    let Some(axis) = axis else { return Ok(None) };
    if axis.is_none() {
        return Ok(None);
    }
    if let Ok(a) = axis.extract::<isize>() {
        return Ok(Some(vec![a]));
    }
    axis.extract::<Vec<isize>>().map(Some).map_err(|_| {
        PyTypeError::new_err(format!(
            "axis must be None, an int or a sequence of ints, got {axis}"
        ))
    })
}

/// Integer indices (token ids, labels, gather indices) as an i64 array. Float arrays are
/// accepted only when every value is a whole number.
pub fn to_indices(value: &Bound<'_, PyAny>, op: &str) -> PyResult<ArrayD<i64>> {
    let py = value.py();
    let numpy = py.import("numpy")?;
    let source = if let Ok(t) = value.cast::<PyTensor>() {
        storage_to_numpy(py, t.get().inner.storage())?
    } else {
        numpy.call_method1("asarray", (value,))?
    };
    let array = source
        .cast::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err(format!("{op}: indices must be integers")))?;
    let kind: char = array.dtype().getattr("kind")?.extract()?;
    let converted = match kind {
        'i' | 'u' => array.call_method1("astype", ("int64",))?,
        'f' => {
            let whole: bool = numpy
                .call_method1(
                    "all",
                    (numpy
                        .call_method1("equal", (array, numpy.call_method1("round", (array,))?))?,),
                )?
                .extract()?;
            if !whole {
                return Err(PyTypeError::new_err(format!(
                    "{op}: indices must be integers, got non-integral floats"
                )));
            }
            array.call_method1("astype", ("int64",))?
        }
        'b' => {
            return Err(PyTypeError::new_err(format!(
                "{op}: boolean masks are not supported as indices; use integer indices"
            )))
        }
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{op}: indices must be integers, got dtype {}",
                array.dtype()
            )))
        }
    };
    let typed = converted.cast::<PyArrayDyn<i64>>()?;
    Ok(typed.readonly().as_array().to_owned())
}

/// A boolean mask, when `value` is an array-like (not a tensor: tensors hold floats) of dtype
/// bool; `None` for anything else, which the caller converts another way.
pub fn to_mask(value: &Bound<'_, PyAny>) -> PyResult<Option<ArrayD<bool>>> {
    if value.is_instance_of::<PyTensor>() {
        return Ok(None);
    }
    let array = value
        .py()
        .import("numpy")?
        .call_method1("asarray", (value,))?;
    let Ok(array) = array.cast::<PyArrayDyn<bool>>() else {
        return Ok(None);
    };
    Ok(Some(array.readonly().as_array().to_owned()))
}

/// An i64 array as a numpy array (moved, no copy).
pub fn indices_to_numpy(py: Python<'_>, array: ArrayD<i64>) -> Bound<'_, PyAny> {
    PyArrayDyn::from_owned_array(py, array).into_any()
}
