//! Bindings of `ferrograd::saving`: the file format, atomic writes and validated reads live in
//! the engine (so native Rust programs read exactly what Python writes); Python hands over the
//! architecture and compile settings as JSON strings and rebuilds its own objects from them.

use std::collections::HashMap;
use std::path::PathBuf;

use ferrograd::saving::{self, LoadOptions, SaveOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::IntoPy;
use crate::models::PyModel;
use crate::optimizers::PyOptimizer;

/// Writes the whole model: weights, the architecture and compile settings given as JSON, and
/// the state of `optimizer` (the Python model's, which the engine model may not be compiled
/// with yet) when one is given.
#[pyfunction]
#[pyo3(signature = (model, path, model_config, compile_config=None, optimizer=None, overwrite=true))]
fn save_model(
    py: Python<'_>,
    model: PyRef<'_, PyModel>,
    path: PathBuf,
    model_config: String,
    compile_config: Option<String>,
    optimizer: Option<PyRef<'_, PyOptimizer>>,
    overwrite: bool,
) -> PyResult<()> {
    let options = SaveOptions {
        include_optimizer: false,
        overwrite,
        model_config: Some(model_config),
        compile_config,
    };
    let model = &model.model;
    let optimizer = optimizer.map(|o| o.inner.clone());
    py.detach(|| {
        let slots = optimizer.map(|o| {
            let o = o.lock().expect("optimizer lock");
            let named = saving::weights::named_weights(model.graph());
            saving::weights::optimizer_tensors(&named, &o)
        });
        saving::save_model_with(model, &path, &options, slots)
    })
    .py()
}

/// Writes the weights alone.
#[pyfunction]
#[pyo3(signature = (model, path, overwrite=true))]
fn save_weights(
    py: Python<'_>,
    model: PyRef<'_, PyModel>,
    path: PathBuf,
    overwrite: bool,
) -> PyResult<()> {
    let model = &model.model;
    py.detach(|| saving::save_weights(model, &path, overwrite))
        .py()
}

/// Loads weights by name (or by position when no name matches and the saved order fits);
/// returns `{"loaded": [...], "skipped": [(name, why), ...], "by_position": bool}`.
#[pyfunction]
#[pyo3(signature = (model, path, skip_mismatch=false, strict_names=false))]
fn load_weights<'py>(
    py: Python<'py>,
    model: PyRef<'_, PyModel>,
    path: PathBuf,
    skip_mismatch: bool,
    strict_names: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let options = LoadOptions {
        skip_mismatch,
        strict_names,
    };
    let model = &model.model;
    let report = py
        .detach(|| saving::load_weights(model, &path, options))
        .py()?;
    let d = PyDict::new(py);
    d.set_item("loaded", report.loaded)?;
    d.set_item("skipped", report.skipped)?;
    d.set_item("by_position", report.by_position)?;
    Ok(d)
}

/// The metadata of a ferrograd model file, after validating the whole file.
#[pyfunction]
fn read_model_metadata(py: Python<'_>, path: PathBuf) -> PyResult<HashMap<String, String>> {
    let file = py.detach(|| saving::read_model_file(&path)).py()?;
    Ok(file.metadata)
}

/// The metadata of a ferrograd model file and the shape of every tensor it holds, after
/// validating the whole file (the front end bounds the weights it builds by these shapes).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn read_model_header(
    py: Python<'_>,
    path: PathBuf,
) -> PyResult<(HashMap<String, String>, HashMap<String, Vec<usize>>)> {
    let file = py.detach(|| saving::read_model_file(&path)).py()?;
    let shapes = file
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shape().to_vec()))
        .collect();
    Ok((file.metadata, shapes))
}

/// Loads a model file's weights into a model rebuilt from its config (every name must match)
/// and, when an optimizer is given and the file holds its state, that state. Returns whether
/// optimizer state was restored.
#[pyfunction]
#[pyo3(signature = (model, path, optimizer=None))]
fn load_model_state(
    py: Python<'_>,
    model: PyRef<'_, PyModel>,
    path: PathBuf,
    optimizer: Option<PyRef<'_, PyOptimizer>>,
) -> PyResult<bool> {
    let model = &model.model;
    let optimizer = optimizer.map(|o| o.inner.clone());
    py.detach(|| {
        let file = saving::read_model_file(&path)?;
        let options = LoadOptions {
            skip_mismatch: false,
            strict_names: true,
        };
        saving::weights::load_weights(model, &file, options)?;
        match optimizer {
            Some(o) => {
                let mut o = o.lock().expect("optimizer lock");
                saving::weights::load_optimizer_state_into(model.graph(), &mut o, &file)
            }
            None => Ok(false),
        }
    })
    .py()
}

/// The engine's own loader, with no Python in the loop: rebuilds the model from the file's
/// config as a native Rust program does (`ferrograd::saving::load_model`).
#[pyfunction]
fn load_model_native(py: Python<'_>, path: PathBuf) -> PyResult<PyModel> {
    let model = py.detach(|| saving::load_model(&path)).py()?;
    Ok(PyModel { model })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(save_model, m)?)?;
    m.add_function(wrap_pyfunction!(save_weights, m)?)?;
    m.add_function(wrap_pyfunction!(load_weights, m)?)?;
    m.add_function(wrap_pyfunction!(read_model_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(read_model_header, m)?)?;
    m.add_function(wrap_pyfunction!(load_model_state, m)?)?;
    m.add_function(wrap_pyfunction!(load_model_native, m)?)?;
    Ok(())
}
