//! Bindings of the engine's metrics (`ferrograd::metrics`): `_core.Metric`, one class for every
//! Keras metric, built from the Keras class name and its constructor arguments, and the
//! per-sample accuracy functions. The Keras-shaped classes live in `python/ferrograd/metrics.py`.

use std::sync::{Mutex, MutexGuard};

use ferrograd::metrics::{self, Curve, Metric, MetricKind, SummationMethod};
use ferrograd::Tensor;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::to_tensor;
use crate::errors::IntoPy;
use crate::tensor::{run, wrap, PyTensor};

/// Constructor arguments read by name, with defaults; names left over are an error.
struct Arguments<'a, 'py> {
    owner: &'a str,
    dict: &'a Bound<'py, PyDict>,
    known: Vec<&'static str>,
}

impl<'a, 'py> Arguments<'a, 'py> {
    fn new(owner: &'a str, dict: &'a Bound<'py, PyDict>) -> Self {
        Arguments {
            owner,
            dict,
            known: Vec::new(),
        }
    }

    fn value(&mut self, key: &'static str) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.known.push(key);
        Ok(self.dict.get_item(key)?.filter(|v| !v.is_none()))
    }

    fn extract<T: for<'b> FromPyObject<'b, 'py>>(
        &mut self,
        key: &'static str,
        expected: &str,
    ) -> PyResult<Option<T>> {
        let owner = self.owner;
        self.value(key)?
            .map(|v| {
                v.extract::<T>().map_err(|_| {
                    PyTypeError::new_err(format!("{owner}: `{key}` must be {expected}, got {v}"))
                })
            })
            .transpose()
    }

    fn float(&mut self, key: &'static str, default: f64) -> PyResult<f64> {
        Ok(self.extract(key, "a number")?.unwrap_or(default))
    }

    fn required_float(&mut self, key: &'static str) -> PyResult<f64> {
        self.extract(key, "a number")?.ok_or_else(|| {
            PyTypeError::new_err(format!("{}: missing required argument `{key}`", self.owner))
        })
    }

    fn count(&mut self, key: &'static str, default: usize) -> PyResult<usize> {
        Ok(self.optional_count(key)?.unwrap_or(default))
    }

    fn optional_count(&mut self, key: &'static str) -> PyResult<Option<usize>> {
        let owner = self.owner;
        match self.extract::<i64>(key, "an integer")? {
            Some(v) if v < 0 => Err(PyValueError::new_err(format!(
                "{owner}: `{key}` must be a non-negative integer, got {v}"
            ))),
            v => Ok(v.map(|v| v as usize)),
        }
    }

    fn axis(&mut self) -> PyResult<isize> {
        Ok(self.extract("axis", "an integer")?.unwrap_or(-1))
    }

    fn bool(&mut self, key: &'static str, default: bool) -> PyResult<bool> {
        Ok(self.extract(key, "a boolean")?.unwrap_or(default))
    }

    fn string(&mut self, key: &'static str, default: &str) -> PyResult<String> {
        Ok(self
            .extract(key, "a string")?
            .unwrap_or_else(|| default.to_owned()))
    }

    /// `thresholds`: None (Keras's default), a number, or a list of numbers.
    fn thresholds(&mut self) -> PyResult<Vec<f64>> {
        let owner = self.owner;
        let Some(value) = self.value("thresholds")? else {
            return Ok(Vec::new());
        };
        if let Ok(single) = value.extract::<f64>() {
            return Ok(vec![single]);
        }
        value.extract::<Vec<f64>>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{owner}: `thresholds` must be None, a number or a list of numbers, got {value}"
            ))
        })
    }

    /// Fails on any argument that was not read.
    fn finish(self) -> PyResult<()> {
        for key in self.dict.keys() {
            let key: String = key.extract()?;
            if !self.known.contains(&key.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "{}: argument not recognized: `{key}`; expected one of {:?}",
                    self.owner, self.known
                )));
            }
        }
        Ok(())
    }
}

/// A metric kind from its Keras class name and constructor arguments (Keras's defaults for the
/// missing ones).
fn parse_kind(class_name: &str, config: &Bound<'_, PyDict>) -> PyResult<MetricKind> {
    let mut args = Arguments::new(class_name, config);
    let kind = match class_name {
        "BinaryAccuracy" => MetricKind::BinaryAccuracy {
            threshold: args.float("threshold", 0.5)?,
        },
        "TopKCategoricalAccuracy" => MetricKind::TopKCategoricalAccuracy {
            k: args.count("k", 5)?,
        },
        "SparseTopKCategoricalAccuracy" => MetricKind::SparseTopKCategoricalAccuracy {
            k: args.count("k", 5)?,
        },
        "AUC" => MetricKind::Auc {
            num_thresholds: args.count("num_thresholds", 200)?,
            curve: Curve::parse(&args.string("curve", "ROC")?).py()?,
            summation_method: SummationMethod::parse(
                &args.string("summation_method", "interpolation")?,
            )
            .py()?,
            from_logits: args.bool("from_logits", false)?,
        },
        "Precision" => MetricKind::Precision {
            thresholds: args.thresholds()?,
            top_k: args.optional_count("top_k")?,
            class_id: args.optional_count("class_id")?,
        },
        "Recall" => MetricKind::Recall {
            thresholds: args.thresholds()?,
            top_k: args.optional_count("top_k")?,
            class_id: args.optional_count("class_id")?,
        },
        "TruePositives" => MetricKind::TruePositives {
            thresholds: args.thresholds()?,
        },
        "FalsePositives" => MetricKind::FalsePositives {
            thresholds: args.thresholds()?,
        },
        "TrueNegatives" => MetricKind::TrueNegatives {
            thresholds: args.thresholds()?,
        },
        "FalseNegatives" => MetricKind::FalseNegatives {
            thresholds: args.thresholds()?,
        },
        "PrecisionAtRecall" => MetricKind::PrecisionAtRecall {
            recall: args.required_float("recall")?,
            num_thresholds: args.count("num_thresholds", 200)?,
            class_id: args.optional_count("class_id")?,
        },
        "RecallAtPrecision" => MetricKind::RecallAtPrecision {
            precision: args.required_float("precision")?,
            num_thresholds: args.count("num_thresholds", 200)?,
            class_id: args.optional_count("class_id")?,
        },
        "SensitivityAtSpecificity" => MetricKind::SensitivityAtSpecificity {
            specificity: args.required_float("specificity")?,
            num_thresholds: args.count("num_thresholds", 200)?,
            class_id: args.optional_count("class_id")?,
        },
        "SpecificityAtSensitivity" => MetricKind::SpecificityAtSensitivity {
            sensitivity: args.required_float("sensitivity")?,
            num_thresholds: args.count("num_thresholds", 200)?,
            class_id: args.optional_count("class_id")?,
        },
        "CosineSimilarity" => MetricKind::CosineSimilarity { axis: args.axis()? },
        "BinaryCrossentropy" => MetricKind::BinaryCrossentropy {
            from_logits: args.bool("from_logits", false)?,
            label_smoothing: args.float("label_smoothing", 0.0)?,
        },
        "CategoricalCrossentropy" => MetricKind::CategoricalCrossentropy {
            from_logits: args.bool("from_logits", false)?,
            label_smoothing: args.float("label_smoothing", 0.0)?,
            axis: args.axis()?,
        },
        "SparseCategoricalCrossentropy" => MetricKind::SparseCategoricalCrossentropy {
            from_logits: args.bool("from_logits", false)?,
            axis: args.axis()?,
        },
        // The parameterless classes (and unknown names, which name the valid classes).
        other => MetricKind::default_for_class(other).py()?,
    };
    args.finish()?;
    Ok(kind)
}

/// The constructor arguments of `kind` under Keras's names (what `parse_kind` reads back).
fn kind_config<'py>(py: Python<'py>, kind: &MetricKind) -> PyResult<Bound<'py, PyDict>> {
    let config = PyDict::new(py);
    let thresholds = |t: &Vec<f64>| -> Option<Vec<f64>> {
        if t.is_empty() {
            None
        } else {
            Some(t.clone())
        }
    };
    match kind {
        MetricKind::BinaryAccuracy { threshold } => config.set_item("threshold", threshold)?,
        MetricKind::TopKCategoricalAccuracy { k }
        | MetricKind::SparseTopKCategoricalAccuracy { k } => config.set_item("k", k)?,
        MetricKind::Auc {
            num_thresholds,
            curve,
            summation_method,
            from_logits,
        } => {
            config.set_item("num_thresholds", num_thresholds)?;
            config.set_item("curve", curve.name())?;
            config.set_item("summation_method", summation_method.name())?;
            config.set_item("from_logits", from_logits)?;
        }
        MetricKind::Precision {
            thresholds: t,
            top_k,
            class_id,
        }
        | MetricKind::Recall {
            thresholds: t,
            top_k,
            class_id,
        } => {
            config.set_item("thresholds", thresholds(t))?;
            config.set_item("top_k", top_k)?;
            config.set_item("class_id", class_id)?;
        }
        MetricKind::TruePositives { thresholds: t }
        | MetricKind::FalsePositives { thresholds: t }
        | MetricKind::TrueNegatives { thresholds: t }
        | MetricKind::FalseNegatives { thresholds: t } => {
            config.set_item("thresholds", thresholds(t))?
        }
        MetricKind::PrecisionAtRecall {
            recall: value,
            num_thresholds,
            class_id,
        }
        | MetricKind::RecallAtPrecision {
            precision: value,
            num_thresholds,
            class_id,
        }
        | MetricKind::SensitivityAtSpecificity {
            specificity: value,
            num_thresholds,
            class_id,
        }
        | MetricKind::SpecificityAtSensitivity {
            sensitivity: value,
            num_thresholds,
            class_id,
        } => {
            let key = match kind {
                MetricKind::PrecisionAtRecall { .. } => "recall",
                MetricKind::RecallAtPrecision { .. } => "precision",
                MetricKind::SensitivityAtSpecificity { .. } => "specificity",
                _ => "sensitivity",
            };
            config.set_item(key, value)?;
            config.set_item("num_thresholds", num_thresholds)?;
            config.set_item("class_id", class_id)?;
        }
        MetricKind::CosineSimilarity { axis } => config.set_item("axis", axis)?,
        MetricKind::BinaryCrossentropy {
            from_logits,
            label_smoothing,
        } => {
            config.set_item("from_logits", from_logits)?;
            config.set_item("label_smoothing", label_smoothing)?;
        }
        MetricKind::CategoricalCrossentropy {
            from_logits,
            label_smoothing,
            axis,
        } => {
            config.set_item("from_logits", from_logits)?;
            config.set_item("label_smoothing", label_smoothing)?;
            config.set_item("axis", axis)?;
        }
        MetricKind::SparseCategoricalCrossentropy { from_logits, axis } => {
            config.set_item("from_logits", from_logits)?;
            config.set_item("axis", axis)?;
        }
        _ => {}
    }
    Ok(config)
}

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
        let kind = parse_kind(kind, config)?;
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
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let kind = self.lock().kind().clone();
        kind_config(py, &kind)
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
#[pyo3(signature = (y_true, y_pred, threshold=0.5))]
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
#[pyo3(signature = (y_true, y_pred, k=5))]
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
#[pyo3(signature = (y_true, y_pred, k=5))]
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
