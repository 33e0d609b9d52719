//! Bindings of the engine's metrics (`ferrograd::metrics`): `_core.Metric`, one class for every
//! Keras metric, built from the Keras class name and its constructor arguments, and the
//! per-sample accuracy functions. The Keras-shaped classes live in `python/ferrograd/metrics.py`.

use std::sync::{Mutex, MutexGuard};

use ferrograd::config::{Config, KerasObject};
use ferrograd::metrics::{self, Metric, MetricKind};
use ferrograd::Tensor;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::to_tensor;
use crate::errors::IntoPy;
use crate::json::{to_json, to_py};
use crate::tensor::{run, wrap, PyTensor};

/// An optional array-like argument as a tensor.
fn optional_tensor(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Tensor>> {
    match value {
        Some(v) if !v.is_none() => Ok(Some(to_tensor(v)?)),
        _ => Ok(None),
    }
}

/// An engine metric: `update_state` accumulates a batch, `result` reads the value. The state
/// sits behind a mutex so that the object can be shared (the model binding copies it with
/// `inner`).
#[pyclass(name = "Metric", module = "ferrograd._core", frozen)]
pub struct PyMetric {
    inner: Mutex<Metric>,
}

impl PyMetric {
    fn wrap(metric: Metric) -> PyMetric {
        PyMetric {
            inner: Mutex::new(metric),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Metric> {
        // A panic while holding the lock cannot leave a metric half-updated in a way that
        // matters more than losing the batch: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the engine metric (with its current state), for the model binding.
    pub fn inner(&self) -> Metric {
        self.lock().clone()
    }
}

#[pymethods]
impl PyMetric {
    /// A metric from its Keras class name (`"AUC"`, `"BinaryAccuracy"`, ...), its constructor
    /// arguments (Keras's names; missing ones take Keras's defaults) and the name it is logged
    /// under.
    #[new]
    fn new(kind: &str, config: &Bound<'_, PyDict>, name: &str) -> PyResult<Self> {
        let config = to_json(config, "config")?;
        let kind = MetricKind::from_config(kind, &Config::new(kind, &config).py()?).py()?;
        Ok(PyMetric::wrap(Metric::new(kind, name).py()?))
    }

    /// The metric a Keras string name stands for, named by that string.
    #[staticmethod]
    fn from_name(name: &str) -> PyResult<Self> {
        Ok(PyMetric::wrap(Metric::from_name(name).py()?))
    }

    /// `compile`'s resolution of `"accuracy"`/`"acc"` (and `"crossentropy"`/`"ce"`) from the
    /// shapes of the targets and predictions; other names as `from_name`.
    #[staticmethod]
    fn resolve(name: &str, y_true_shape: Vec<usize>, y_pred_shape: Vec<usize>) -> PyResult<Self> {
        Ok(PyMetric::wrap(
            Metric::resolve(name, &y_true_shape, &y_pred_shape).py()?,
        ))
    }

    /// Accumulates one batch (array-likes or tensors).
    #[pyo3(signature = (y_true, y_pred, sample_weight=None))]
    fn update_state(
        &self,
        py: Python<'_>,
        y_true: &Bound<'_, PyAny>,
        y_pred: &Bound<'_, PyAny>,
        sample_weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (y_true, y_pred) = (to_tensor(y_true)?, to_tensor(y_pred)?);
        let weights = optional_tensor(sample_weight)?;
        run(py, y_pred.len(), || {
            self.lock().update_state(&y_true, &y_pred, weights.as_ref())
        })
        .py()
    }

    /// For `Mean` and `Sum`: accumulates `values`, weighted by `sample_weight`.
    #[pyo3(signature = (values, sample_weight=None))]
    fn update_values(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        sample_weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let values = to_tensor(values)?;
        let weights = optional_tensor(sample_weight)?;
        run(py, values.len(), || {
            self.lock().update_values(&values, weights.as_ref())
        })
        .py()
    }

    /// The value over everything accumulated (the first threshold's for several thresholds).
    fn result(&self) -> f64 {
        self.lock().result()
    }

    /// Every value: one per threshold for precision, recall and the counts.
    fn results(&self) -> Vec<f64> {
        self.lock().results()
    }

    fn reset_state(&self) {
        self.lock().reset_state();
    }

    /// The name the metric is logged under.
    #[getter]
    fn name(&self) -> String {
        self.lock().name().to_owned()
    }

    #[setter]
    fn set_name(&self, name: &str) {
        self.lock().set_name(name);
    }

    /// The Keras class name of the metric.
    #[getter]
    fn kind(&self) -> &'static str {
        self.lock().kind().class_name()
    }

    /// Whether higher is better (Keras's direction "up"), lower (`False`), or neither (`None`).
    #[getter]
    fn higher_is_better(&self) -> Option<bool> {
        self.lock().kind().higher_is_better()
    }

    /// The constructor arguments under Keras's names.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let config = self.lock().kind().to_config();
        to_py(py, &serde_json::Value::Object(config))
    }

    /// An independent copy, with the current state.
    fn copy(&self) -> PyMetric {
        PyMetric::wrap(self.inner())
    }

    fn __repr__(&self) -> String {
        let metric = self.lock();
        format!(
            "Metric(kind={:?}, name={:?}, result={})",
            metric.kind().class_name(),
            metric.name(),
            metric.result()
        )
    }
}

/// Per-sample elementwise accuracy.
#[pyfunction]
fn metric_accuracy(y_true: &Bound<'_, PyAny>, y_pred: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    wrap(metrics::accuracy(&to_tensor(y_true)?, &to_tensor(y_pred)?))
}

/// Per-sample binary accuracy at `threshold`.
#[pyfunction]
fn metric_binary_accuracy(
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    threshold: f64,
) -> PyResult<PyTensor> {
    wrap(metrics::binary_accuracy(
        &to_tensor(y_true)?,
        &to_tensor(y_pred)?,
        threshold,
    ))
}

/// Per-sample categorical accuracy (one-hot `y_true`).
#[pyfunction]
fn metric_categorical_accuracy(
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
) -> PyResult<PyTensor> {
    wrap(metrics::categorical_accuracy(
        &to_tensor(y_true)?,
        &to_tensor(y_pred)?,
    ))
}

/// Per-sample sparse categorical accuracy (class-id `y_true`).
#[pyfunction]
fn metric_sparse_categorical_accuracy(
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
) -> PyResult<PyTensor> {
    wrap(metrics::sparse_categorical_accuracy(
        &to_tensor(y_true)?,
        &to_tensor(y_pred)?,
    ))
}

/// Per-sample top-k categorical accuracy.
#[pyfunction]
fn metric_top_k_categorical_accuracy(
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    k: usize,
) -> PyResult<PyTensor> {
    wrap(metrics::top_k_categorical_accuracy(
        &to_tensor(y_true)?,
        &to_tensor(y_pred)?,
        k,
    ))
}

/// Per-sample sparse top-k categorical accuracy.
#[pyfunction]
fn metric_sparse_top_k_categorical_accuracy(
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    k: usize,
) -> PyResult<PyTensor> {
    wrap(metrics::sparse_top_k_categorical_accuracy(
        &to_tensor(y_true)?,
        &to_tensor(y_pred)?,
        k,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMetric>()?;
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        metric_accuracy,
        metric_binary_accuracy,
        metric_categorical_accuracy,
        metric_sparse_categorical_accuracy,
        metric_top_k_categorical_accuracy,
        metric_sparse_top_k_categorical_accuracy,
    );
    Ok(())
}
