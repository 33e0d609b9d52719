//! `tensor[key]` with numpy's indexing rules: basic indexing (ints, slices, `...`, `None`) and
//! integer-array ("advanced") indexing, including several index arrays broadcast together.
//! Every step is a differentiable op (slice, expand_dims, transpose, reshape, take).

use ferrograd::ops::SliceSpec;
use ferrograd::Tensor;
use ndarray::{ArrayD, IxDyn};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyEllipsis, PyList, PySlice, PyTuple};

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

/// One element of an indexing key.
enum Item {
    Ellipsis,
    NewAxis,
    Slice(SliceSpec),
    Int(isize),
    /// An integer array of at least one dimension (0-d arrays are `Int`, as numpy).
    Array(ArrayD<i64>),
}

fn parse_item(item: &Bound<'_, PyAny>) -> PyResult<Item> {
    if item.is_instance_of::<PyEllipsis>() {
        return Ok(Item::Ellipsis);
    }
    if item.is_none() {
        return Ok(Item::NewAxis);
    }
    if let Ok(slice) = item.cast::<PySlice>() {
        return Ok(Item::Slice(slice_spec(slice)?));
    }
    // numpy treats a bool as a 0-d mask, not as 0/1: refuse rather than silently differ.
    if item.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "boolean indices are not supported; use integer indices",
        ));
    }
    if item.is_instance_of::<PyList>()
        || item.is_instance_of::<PyTuple>()
        || item.hasattr("__array__")?
        || item.hasattr("shape")?
    {
        let indices = to_indices(item, "indexing")?;
        if indices.ndim() == 0 {
            return Ok(Item::Int(indices[IxDyn(&[])] as isize));
        }
        return Ok(Item::Array(indices));
    }
    if let Ok(index) = item.extract::<isize>() {
        return Ok(Item::Int(index));
    }
    Err(PyTypeError::new_err(format!(
        "only integers, slices, '...', None and integer arrays are valid indices, got {}",
        item.get_type().name()?
    )))
}

/// `index` wrapped into `[0, len)`, or numpy's IndexError.
fn resolve(index: i64, axis: usize, len: usize) -> PyResult<i64> {
    let resolved = if index < 0 { index + len as i64 } else { index };
    if resolved < 0 || resolved >= len as i64 {
        return Err(PyIndexError::new_err(format!(
            "index {index} is out of bounds for axis {axis} with size {len}"
        )));
    }
    Ok(resolved)
}

/// The numpy broadcast of the index arrays' shapes (IndexError when they do not broadcast).
fn broadcast_index_shape(arrays: &[&ArrayD<i64>]) -> PyResult<Vec<usize>> {
    let ndim = arrays.iter().map(|a| a.ndim()).max().unwrap_or(0);
    let mut out = vec![1usize; ndim];
    for a in arrays {
        let lead = ndim - a.ndim();
        for (i, &d) in a.shape().iter().enumerate() {
            let o = &mut out[lead + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                let shapes: Vec<String> =
                    arrays.iter().map(|a| format!("{:?}", a.shape())).collect();
                return Err(PyIndexError::new_err(format!(
                    "shape mismatch: indexing arrays could not be broadcast together with shapes {}",
                    shapes.join(" ")
                )));
            }
        }
    }
    Ok(out)
}

pub fn getitem(_py: Python<'_>, tensor: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let raw: Vec<Bound<'_, PyAny>> = match key.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => vec![key.clone()],
    };
    let items = raw.iter().map(parse_item).collect::<PyResult<Vec<_>>>()?;
    let consumed = items
        .iter()
        .filter(|i| matches!(i, Item::Slice(_) | Item::Int(_) | Item::Array(_)))
        .count();
    let ndim = tensor.ndim();
    if consumed > ndim {
        return Err(PyIndexError::new_err(format!(
            "too many indices for a tensor of shape {:?}: {consumed} given",
            tensor.shape()
        )));
    }
    if items.iter().filter(|i| matches!(i, Item::Ellipsis)).count() > 1 {
        return Err(PyIndexError::new_err(
            "an index can only have a single ellipsis ('...')",
        ));
    }
    // With any index array, numpy treats every int as an index array too (advanced indexing).
    let advanced = items.iter().any(|i| matches!(i, Item::Array(_)));

    let mut out = tensor.clone();
    let mut axis = 0usize;
    // (axis of `out`, indices, position in the key) of every advanced index.
    let mut gathers: Vec<(usize, ArrayD<i64>, usize)> = Vec::new();
    for (position, item) in items.into_iter().enumerate() {
        match item {
            Item::Ellipsis => axis += ndim - consumed,
            Item::NewAxis => {
                out = out.expand_dims(axis as isize).py()?;
                axis += 1;
            }
            Item::Slice(spec) => {
                out = out.slice(&specs_at(axis, spec)).py()?;
                axis += 1;
            }
            Item::Int(index) if !advanced => {
                let len = out.shape()[axis];
                let resolved = resolve(index as i64, axis, len)? as isize;
                out = out
                    .slice(&specs_at(axis, SliceSpec::range(resolved, resolved + 1)))
                    .py()?;
                out = out.squeeze(Some(&[axis as isize])).py()?;
            }
            Item::Int(index) => {
                gathers.push((axis, ArrayD::from_elem(IxDyn(&[]), index as i64), position));
                axis += 1;
            }
            Item::Array(indices) => {
                gathers.push((axis, indices, position));
                axis += 1;
            }
        }
    }
    if gathers.is_empty() {
        return Ok(out);
    }

    // numpy's advanced indexing: the index arrays broadcast to one shape B and pick elements
    // pointwise (not an outer product, as consecutive `take`s would). Move the indexed axes to
    // the front, merge them into one, and gather there with the row-major flat index.
    let shape = out.shape();
    let mut resolved = Vec::with_capacity(gathers.len());
    for (axis, indices, _) in &gathers {
        let mut wrapped = indices.clone();
        for i in wrapped.iter_mut() {
            *i = resolve(*i, *axis, shape[*axis])?;
        }
        resolved.push(wrapped);
    }
    let index_shape = broadcast_index_shape(&resolved.iter().collect::<Vec<_>>())?;
    let mut flat = ArrayD::<i64>::zeros(IxDyn(&index_shape));
    for ((axis, _, _), indices) in gathers.iter().zip(&resolved) {
        let len = shape[*axis] as i64;
        let spread = indices
            .broadcast(IxDyn(&index_shape))
            .expect("broadcast shape checked");
        flat.zip_mut_with(&spread, |f, &i| *f = *f * len + i);
    }
    let indexed: Vec<usize> = gathers.iter().map(|g| g.0).collect();
    let rest: Vec<usize> = (0..shape.len()).filter(|a| !indexed.contains(a)).collect();
    let order: Vec<isize> = indexed.iter().chain(&rest).map(|&a| a as isize).collect();
    let mut merged: Vec<isize> =
        vec![indexed.iter().map(|&a| shape[a]).product::<usize>() as isize];
    merged.extend(rest.iter().map(|&a| shape[a] as isize));
    out = out.permute(&order).py()?.reshape(&merged).py()?;
    out = out.take(&flat, Some(0)).py()?;

    // Index arrays next to each other in the key put B where they stood; separated ones (by a
    // slice, None or `...`) put B first.
    let adjacent = gathers.windows(2).all(|w| w[1].2 == w[0].2 + 1);
    let before = indexed[0];
    if adjacent && before > 0 {
        let b = index_shape.len();
        let order: Vec<isize> = (b..b + before)
            .chain(0..b)
            .chain(b + before..b + rest.len())
            .map(|a| a as isize)
            .collect();
        out = out.permute(&order).py()?;
    }
    Ok(out)
}
