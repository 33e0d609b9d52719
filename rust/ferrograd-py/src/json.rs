//! Python values to JSON: the bindings hand the engine Keras configs as `serde_json::Value`s,
//! converted here once, so that every config is read by the engine's own `from_config`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// `value` (dicts with string keys, lists, tuples, strings, ints, floats, bools, None, and
/// numpy scalars through their Python conversions) as JSON; anything else is a `TypeError`
/// naming where it sits (`config['layer']['units']`).
pub fn to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    convert(value, &mut String::from("config"))
}

fn convert(value: &Bound<'_, PyAny>, path: &mut String) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if value.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(value.extract()?));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(v) = value.extract::<i64>() {
            return Ok(Value::from(v));
        }
        return Ok(Value::from(value.extract::<u64>().map_err(|_| {
            PyTypeError::new_err(format!("{path}: the integer {value} is out of range"))
        })?));
    }
    if value.is_instance_of::<PyFloat>() {
        let v: f64 = value.extract()?;
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err(format!("{path}: {v} is not a finite number")));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, item) in dict.iter() {
            let key: String = key.extract().map_err(|_| {
                PyTypeError::new_err(format!("{path}: dict keys must be strings, got {key}"))
            })?;
            let len = path.len();
            path.push_str(&format!("[{key:?}]"));
            map.insert(key, convert(&item, path)?);
            path.truncate(len);
        }
        return Ok(Value::Object(map));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            items.push(convert(&item?, path)?);
            path.truncate(len);
        }
        return Ok(Value::Array(items));
    }
    // numpy scalars: ints and floats by their Python conversion.
    if value.hasattr("item")? && value.hasattr("dtype")? {
        return convert(&value.call_method0("item")?, path);
    }
    Err(PyTypeError::new_err(format!(
        "{path}: a {} cannot be written as JSON (configs hold dicts, lists, strings, numbers, \
         booleans and None)",
        value.get_type().name()?
    )))
}
