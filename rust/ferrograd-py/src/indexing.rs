//! `tensor[key]` with numpy's basic indexing (ints, slices, `...`, `None`) and integer-array
//! indexing along one axis (a `take`). Every step is a differentiable op.

use ferrograd::ops::SliceSpec;
use ferrograd::Tensor;
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PyList, PySlice, PyTuple};

use crate::convert::to_indices;
use crate::errors::IntoPy;

/// A whole-axis spec for every axis before `axis`, then `spec`.
fn specs_at(axis: usize, spec: SliceSpec) -> Vec<SliceSpec> {
    let mut specs = vec![SliceSpec::full(); axis];
    specs.push(spec);
    specs
}

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

pub fn getitem(_py: Python<'_>, tensor: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let items: Vec<Bound<'_, PyAny>> = match key.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => vec![key.clone()],
    };
    let consumes =
        |item: &Bound<'_, PyAny>| !(item.is_none() || item.is_instance_of::<PyEllipsis>());
    let consumed = items.iter().filter(|i| consumes(i)).count();
    let ndim = tensor.ndim();
    if consumed > ndim {
        return Err(PyIndexError::new_err(format!(
            "too many indices for a tensor of shape {:?}: {consumed} given",
            tensor.shape()
        )));
    }
    if items
        .iter()
        .filter(|i| i.is_instance_of::<PyEllipsis>())
        .count()
        > 1
    {
        return Err(PyIndexError::new_err(
            "an index can only have a single ellipsis ('...')",
        ));
    }

    let mut out = tensor.clone();
    let mut axis = 0usize;
    for item in &items {
        if item.is_instance_of::<PyEllipsis>() {
            axis += ndim - consumed;
        } else if item.is_none() {
            out = out.expand_dims(axis as isize).py()?;
            axis += 1;
        } else if let Ok(slice) = item.cast::<PySlice>() {
            out = out.slice(&specs_at(axis, slice_spec(slice)?)).py()?;
            axis += 1;
        } else if item.is_instance_of::<PyList>()
            || item.hasattr("__array__")?
            || item.hasattr("shape")?
        {
            let indices = to_indices(item, "indexing")?;
            let added = indices.ndim();
            out = out.take(&indices, Some(axis as isize)).py()?;
            axis += added;
        } else if let Ok(index) = item.extract::<isize>() {
            let len = out.shape()[axis] as isize;
            let resolved = if index < 0 { index + len } else { index };
            if resolved < 0 || resolved >= len {
                return Err(PyIndexError::new_err(format!(
                    "index {index} is out of bounds for axis {axis} with size {len}"
                )));
            }
            out = out
                .slice(&specs_at(axis, SliceSpec::range(resolved, resolved + 1)))
                .py()?;
            out = out.squeeze(Some(&[axis as isize])).py()?;
        } else {
            return Err(PyTypeError::new_err(format!(
                "only integers, slices, '...', None and integer arrays are valid indices, got {}",
                item.get_type().name()?
            )));
        }
    }
    Ok(out)
}
