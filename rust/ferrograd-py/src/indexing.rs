//! `tensor[key]`: the Python key (an int, slice, `...`, `None`, integer array or list, boolean
//! mask, or a tuple of them) converted into the engine's [`IndexSpec`]s. numpy's rules — which
//! axes each item takes, broadcasting of index arrays, bounds — are the engine's
//! ([`Tensor::index`] in `ops/index_spec.rs`).

use ferrograd::ops::{IndexSpec, SliceSpec};
use ferrograd::Tensor;
use ndarray::IxDyn;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyEllipsis, PyList, PySlice, PyTuple};

use crate::convert::{to_indices, to_mask};
use crate::errors::IntoPy;

fn slice_spec(slice: &Bound<'_, PySlice>) -> PyResult<SliceSpec> {
    let get = |name: &str| -> PyResult<Option<isize>> {
        let v = slice.getattr(name)?;
        if v.is_none() {
            Ok(None)
        } else {
            v.extract::<isize>()
                .map(Some)
                .map_err(|_| PyTypeError::new_err("slice indices must be integers or None"))
        }
    };
    Ok(SliceSpec {
        start: get("start")?,
        stop: get("stop")?,
        step: get("step")?.unwrap_or(1),
    })
}

/// One element of an indexing key as the engine's description.
fn index_spec(item: &Bound<'_, PyAny>) -> PyResult<IndexSpec> {
    if item.is_instance_of::<PyEllipsis>() {
        return Ok(IndexSpec::Ellipsis);
    }
    if item.is_none() {
        return Ok(IndexSpec::NewAxis);
    }
    if let Ok(slice) = item.cast::<PySlice>() {
        return Ok(IndexSpec::Slice(slice_spec(slice)?));
    }
    // numpy treats a bool as a 0-d mask, not as 0/1: refuse rather than silently differ.
    if item.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "boolean indices are not supported; use integer indices or a boolean array",
        ));
    }
    if item.is_instance_of::<PyList>()
        || item.is_instance_of::<PyTuple>()
        || item.hasattr("__array__")?
        || item.hasattr("shape")?
    {
        if let Some(mask) = to_mask(item)? {
            return Ok(IndexSpec::Mask(mask));
        }
        let indices = to_indices(item, "indexing")?;
        if indices.ndim() == 0 {
            return Ok(IndexSpec::Int(indices[IxDyn(&[])] as isize));
        }
        return Ok(IndexSpec::Array(indices));
    }
    if let Ok(index) = item.extract::<isize>() {
        return Ok(IndexSpec::Int(index));
    }
    Err(PyTypeError::new_err(format!(
        "only integers, slices, '...', None, integer arrays and boolean masks are valid indices, \
         got {}",
        item.get_type().name()?
    )))
}

/// `tensor[key]`.
pub fn getitem(tensor: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let key = match key.cast::<PyTuple>() {
        Ok(items) => items.iter().map(|item| index_spec(&item)).collect(),
        Err(_) => index_spec(key).map(|spec| vec![spec]),
    }?;
    tensor.index(&key).py()
}
