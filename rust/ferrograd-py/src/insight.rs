//! Bindings of gradient insight (`ferrograd.diagnostics`): the engine's one-batch
//! `gradient_report` with its verdict (`ferrograd::model::GradientHealth`), the verdicts'
//! names, remedies and default thresholds, and the training step's gradient monitor, returned
//! to Python as plain dicts and lists (the text is made in Python).

use std::collections::HashMap;

use ferrograd::model::{
    ActivationStats, GradientHealth, GradientMonitor, GradientStats, LayerHealth, MonitorRecord,
    NonFinite, Thresholds, Verdict, WeightInsight,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::IntoPy;
use crate::models::{PyDataset, PyModel};

fn activation_dict<'py>(py: Python<'py>, s: &ActivationStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("shape", s.shape.clone())?;
    d.set_item("mean", s.mean)?;
    d.set_item("std", s.std)?;
    d.set_item("min", s.min)?;
    d.set_item("max", s.max)?;
    d.set_item("nonfinite", s.nonfinite)?;
    d.set_item("zero_fraction", s.zero_fraction)?;
    d.set_item("dead_unit_fraction", s.dead_unit_fraction)?;
    d.set_item("sigmoid_saturated_fraction", s.sigmoid_saturated_fraction)?;
    d.set_item("tanh_saturated_fraction", s.tanh_saturated_fraction)?;
    Ok(d)
}

fn gradient_dict<'py>(py: Python<'py>, g: &GradientStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("norm", g.norm)?;
    d.set_item("max_abs", g.max_abs)?;
    d.set_item("nonfinite", g.nonfinite)?;
    Ok(d)
}

fn weight_dict<'py>(py: Python<'py>, w: &WeightInsight) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &w.name)?;
    d.set_item("shape", w.shape.clone())?;
    d.set_item("trainable", w.trainable)?;
    d.set_item("norm", w.norm)?;
    match &w.gradient {
        Some(g) => d.set_item("gradient", gradient_dict(py, g)?)?,
        None => d.set_item("gradient", py.None())?,
    }
    d.set_item("update_norm", w.update_norm)?;
    Ok(d)
}

fn nonfinite_dict<'py>(py: Python<'py>, n: &NonFinite) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("stage", &n.stage)?;
    d.set_item("layer", &n.layer)?;
    d.set_item("class_name", &n.class_name)?;
    d.set_item("detail", &n.detail)?;
    Ok(d)
}

fn record_dict<'py>(py: Python<'py>, r: &MonitorRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("step", r.step)?;
    d.set_item("loss", r.loss)?;
    d.set_item("labels", r.labels.clone())?;
    d.set_item(
        "gradient_norms",
        r.gradients.iter().map(|g| g.norm).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "gradient_max_abs",
        r.gradients.iter().map(|g| g.max_abs).collect::<Vec<_>>(),
    )?;
    d.set_item("weight_norms", r.weight_norms.clone())?;
    d.set_item("update_norms", r.update_norms.clone())?;
    d.set_item("clipped", r.clipped)?;
    Ok(d)
}

fn verdict_names(verdicts: &[Verdict]) -> Vec<&'static str> {
    verdicts.iter().map(|v| v.name()).collect()
}

fn verdicts_from(names: &[String]) -> PyResult<Vec<Verdict>> {
    names
        .iter()
        .map(|name| Verdict::parse(name))
        .collect::<ferrograd::Result<_>>()
        .py()
}

/// Thresholds from `{name: value}` over the defaults (unknown names are a `ValueError`).
fn thresholds_from(values: Option<HashMap<String, f64>>) -> PyResult<Thresholds> {
    let mut thresholds = Thresholds::default();
    for (name, value) in values.unwrap_or_default() {
        thresholds.set(&name, value).py()?;
    }
    Ok(thresholds)
}

fn health_into(d: &Bound<'_, PyDict>, h: &LayerHealth) -> PyResult<()> {
    d.set_item("gradient_norm", h.gradient_norm)?;
    d.set_item("gradient_ratio", h.gradient_ratio)?;
    d.set_item("update_ratio", h.update_ratio)?;
    d.set_item("dead_fraction", h.dead_fraction)?;
    d.set_item("saturated_fraction", h.saturated_fraction)?;
    d.set_item("verdicts", verdict_names(&h.verdicts))?;
    Ok(())
}

/// One forward and backward pass of the compiled training step on `data` (one batch), measured
/// layer by layer and judged with `thresholds` (`{name: value}` over the defaults), each layer's
/// output read through `activations` (`{layer name: Keras activation name}`); the weights and
/// the optimizer are left as they were.
#[pyfunction]
#[pyo3(signature = (model, data, activations=None, thresholds=None))]
fn gradient_report<'py>(
    py: Python<'py>,
    mut model: PyRefMut<'_, PyModel>,
    data: PyRef<'_, PyDataset>,
    activations: Option<HashMap<String, String>>,
    thresholds: Option<HashMap<String, f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    let thresholds = thresholds_from(thresholds)?;
    let data = &data.data;
    let model = &mut model.model;
    let report = py
        .detach(|| {
            let (x, y, sample_weight) = data.to_tensors()?;
            model.gradient_report(&x, &y, sample_weight.as_ref())
        })
        .py()?;
    let health = GradientHealth::of(&report, &activations.unwrap_or_default(), &thresholds);
    let layers = PyList::empty(py);
    for (layer, layer_health) in report.layers.iter().zip(&health.layers) {
        let d = PyDict::new(py);
        d.set_item("name", &layer.name)?;
        d.set_item("class_name", &layer.class_name)?;
        let outputs = PyList::empty(py);
        for o in &layer.outputs {
            outputs.append(activation_dict(py, o)?)?;
        }
        d.set_item("outputs", outputs)?;
        let weights = PyList::empty(py);
        for w in &layer.weights {
            weights.append(weight_dict(py, w)?)?;
        }
        d.set_item("weights", weights)?;
        health_into(&d, layer_health)?;
        layers.append(d)?;
    }
    let out = PyDict::new(py);
    out.set_item("loss", report.loss)?;
    out.set_item("layers", layers)?;
    out.set_item("first_last_ratio", health.first_last_ratio)?;
    match &report.nonfinite {
        Some(n) => out.set_item("nonfinite", nonfinite_dict(py, n)?)?,
        None => out.set_item("nonfinite", py.None())?,
    }
    Ok(out)
}

/// Installs the training step's gradient monitor (`every_n_batches=None` removes it).
#[pyfunction]
#[pyo3(signature = (model, every_n_batches, stop_on_nonfinite=false))]
fn set_gradient_monitor(
    mut model: PyRefMut<'_, PyModel>,
    every_n_batches: Option<u64>,
    stop_on_nonfinite: bool,
) -> PyResult<()> {
    if every_n_batches == Some(0) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "every_n_batches must be a positive integer, got 0",
        ));
    }
    let monitor = every_n_batches.map(|n| GradientMonitor::new(n, stop_on_nonfinite));
    model.model.set_gradient_monitor(monitor);
    Ok(())
}

/// The monitor's records since the last call (each a dict of per-weight lists), and the first
/// non-finite step it saw (a dict, or None).
#[pyfunction]
fn take_gradient_records<'py>(
    py: Python<'py>,
    mut model: PyRefMut<'_, PyModel>,
) -> PyResult<(Bound<'py, PyList>, Py<PyAny>)> {
    let Some(monitor) = model.model.gradient_monitor_mut() else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "no gradient monitor is installed on this model",
        ));
    };
    let records = PyList::empty(py);
    for r in monitor.take_records() {
        records.append(record_dict(py, &r)?)?;
    }
    let nonfinite = match monitor.nonfinite() {
        Some(n) => nonfinite_dict(py, n)?.into_any().unbind(),
        None => py.None(),
    };
    Ok((records, nonfinite))
}

/// The verdicts' names, worst first.
#[pyfunction]
fn gradient_verdicts() -> Vec<&'static str> {
    verdict_names(&Verdict::ALL)
}

/// `{verdict name: remedies}` for every verdict that has remedies.
#[pyfunction]
fn gradient_remedies() -> Vec<(&'static str, Vec<&'static str>)> {
    Verdict::ALL
        .iter()
        .filter(|v| !v.remedies().is_empty())
        .map(|v| (v.name(), v.remedies().to_vec()))
        .collect()
}

/// The default thresholds as `(name, value)` pairs, in declaration order.
#[pyfunction]
fn gradient_thresholds() -> Vec<(&'static str, f64)> {
    Thresholds::default().fields().to_vec()
}

/// The worst of the named verdicts (`"healthy"` for none).
#[pyfunction]
fn worst_verdict(verdicts: Vec<String>) -> PyResult<&'static str> {
    Ok(Verdict::worst(verdicts_from(&verdicts)?).name())
}

/// The remedies for the named verdicts, worst verdict first, each once.
#[pyfunction]
fn verdict_remedies(verdicts: Vec<String>) -> PyResult<Vec<&'static str>> {
    Ok(Verdict::remedies_for(verdicts_from(&verdicts)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gradient_verdicts, m)?)?;
    m.add_function(wrap_pyfunction!(gradient_remedies, m)?)?;
    m.add_function(wrap_pyfunction!(gradient_thresholds, m)?)?;
    m.add_function(wrap_pyfunction!(worst_verdict, m)?)?;
    m.add_function(wrap_pyfunction!(verdict_remedies, m)?)?;
    m.add_function(wrap_pyfunction!(gradient_report, m)?)?;
    m.add_function(wrap_pyfunction!(set_gradient_monitor, m)?)?;
    m.add_function(wrap_pyfunction!(take_gradient_records, m)?)?;
    Ok(())
}
