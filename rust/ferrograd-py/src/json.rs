//! Python values ⇄ JSON values, for the configs the engine reads ([`ferrograd::config`]): the
//! bindings convert a Python dict once and hand it to a `from_config`; they read nothing in it.
//!
//! Converted: dict (string keys), list, tuple, str, int, float, bool, None, and numpy scalars
//! (through `float()`/`int()` when they are numbers). Anything else is a `TypeError` naming
//! where it sits (`config['learning_rate']`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// The JSON value of a Python object; `path` names it in errors (`"config"`).
pub fn to_json(value: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
    }
    if value.is_instance_of::<PyFloat>() {
        return float(value.extract::<f64>()?, path);
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, item) in dict.iter() {
            let key: String = key.extract().map_err(|_| {
                PyTypeError::new_err(format!("{path} has a key that is not a string: {key}"))
            })?;
            let item = to_json(&item, &format!("{path}['{key}']"))?;
            map.insert(key, item);
        }
        return Ok(Value::Object(map));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return value
            .try_iter()?
            .enumerate()
            .map(|(i, item)| to_json(&item?, &format!("{path}[{i}]")))
            .collect::<PyResult<Vec<Value>>>()
            .map(Value::Array);
    }
    // numpy scalars: an integer type converts exactly, any other number as a float.
    let type_name = value.get_type().name()?.to_string();
    if type_name.starts_with("int") || type_name.starts_with("uint") {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
    }
    if type_name.starts_with("float") {
        if let Ok(f) = value.extract::<f64>() {
            return float(f, path);
        }
    }
    Err(PyTypeError::new_err(format!(
        "{path} must be a dict, list, str, int, float, bool or None, got {type_name}: {value}"
    )))
}

fn float(f: f64, path: &str) -> PyResult<Value> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| PyTypeError::new_err(format!("{path} must be a finite number, got {f}")))
}

/// The Python value of a JSON value (dicts, lists, str, int, float, bool, None).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|item| to_py(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
