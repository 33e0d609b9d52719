//! Bindings of gradient insight (`ferrograd.diagnostics`): the engine's one-batch
//! `gradient_report` and the training step's gradient monitor, returned to Python as plain
//! dicts and lists (the verdicts and the text are made in Python).

use ferrograd::model::{
    ActivationStats, GradientMonitor, GradientStats, MonitorRecord, NonFinite, WeightInsight,
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

/// One forward and backward pass of the compiled training step on `data` (one batch), measured
/// layer by layer; the weights and the optimizer are left as they were.
#[pyfunction]
fn gradient_report<'py>(
    py: Python<'py>,
    mut model: PyRefMut<'_, PyModel>,
    data: PyRef<'_, PyDataset>,
) -> PyResult<Bound<'py, PyDict>> {
    let data = &data.data;
    let model = &mut model.model;
    let report = py
        .detach(|| {
            let (x, y, sample_weight) = data.to_tensors()?;
            model.gradient_report(&x, &y, sample_weight.as_ref())
        })
        .py()?;
    let layers = PyList::empty(py);
    for layer in &report.layers {
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
        layers.append(d)?;
    }
    let out = PyDict::new(py);
    out.set_item("loss", report.loss)?;
    out.set_item("layers", layers)?;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gradient_report, m)?)?;
    m.add_function(wrap_pyfunction!(set_gradient_monitor, m)?)?;
    m.add_function(wrap_pyfunction!(take_gradient_records, m)?)?;
    Ok(())
}
