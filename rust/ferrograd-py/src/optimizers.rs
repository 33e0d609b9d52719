//! Bindings of the engine's optimizers: `_core.Optimizer`, one class for every update rule with
//! the hyperparameters passed by Keras's names, and `_core.learning_rate_at`, Keras's schedules
//! evaluated by the engine. The Keras-shaped classes live in `ferrograd.optimizers`.

use std::sync::{Arc, Mutex};

use ferrograd::config::{deserialize, KerasObject};
use ferrograd::optim::{LearningRate, Optimizer, Schedule};
use ferrograd::Tensor;
use pyo3::prelude::*;
use serde_json::json;

use crate::convert::to_storage;
use crate::errors::IntoPy;
use crate::json::{to_json, to_py};
use crate::tensor::{run, PyTensor};

/// The engine optimizer: an update rule with its slots, learning rate, weight decay, clipping
/// and step count. `apply_gradients` updates the variables in place.
#[pyclass(name = "Optimizer", module = "ferrograd._core")]
pub struct PyOptimizer {
    /// Shared with the models compiled with it, whose training loops step it.
    pub inner: Arc<Mutex<Optimizer>>,
}

impl PyOptimizer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Optimizer> {
        self.inner.lock().expect("optimizer lock")
    }
}

#[pymethods]
impl PyOptimizer {
    /// An optimizer from Keras's serialized form, `{"class_name": "Adam", "config": {...}}`
    /// (or a name such as `"adam"`), read by the engine (`Optimizer::from_config`).
    #[new]
    fn new(config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let inner: Optimizer = deserialize(&to_json(config, "optimizer")?).py()?;
        Ok(PyOptimizer {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// Keras's `get_config()` of the engine optimizer, with its `class_name`.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &ferrograd::config::serialize(&*self.lock()))
    }

    /// One step on `[(gradient, variable), ...]`; gradients may be tensors or array-likes and
    /// are cast to their variable's dtype.
    fn apply_gradients(
        &mut self,
        py: Python<'_>,
        pairs: Vec<(Bound<'_, PyAny>, PyRef<'_, PyTensor>)>,
    ) -> PyResult<()> {
        let mut converted: Vec<(Tensor, Tensor)> = Vec::with_capacity(pairs.len());
        let mut elements = 0;
        for (grad, variable) in &pairs {
            let variable = variable.inner.clone();
            let grad = Tensor::from_storage(to_storage(grad, Some(variable.dtype()))?, false);
            elements += variable.len();
            converted.push((grad, variable));
        }
        let optimizer = &self.inner;
        run(py, elements, move || {
            optimizer
                .lock()
                .expect("optimizer lock")
                .apply_gradients(&converted)
        })
        .py()
    }

    /// The number of steps applied so far.
    #[getter]
    fn iterations(&self) -> u64 {
        self.lock().iterations()
    }

    #[setter]
    fn set_iterations(&mut self, iterations: u64) {
        self.lock().set_iterations(iterations);
    }

    /// The learning rate the next step will use.
    #[getter]
    fn learning_rate(&self) -> f64 {
        self.lock().current_learning_rate()
    }

    /// Replaces the learning rate: a number or a schedule dict.
    fn set_learning_rate(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let learning_rate = LearningRate::from_value(&to_json(value, "learning_rate")?).py()?;
        self.lock().set_learning_rate(learning_rate).py()
    }

    /// Whether the learning rate is a schedule.
    #[getter]
    fn scheduled(&self) -> bool {
        matches!(self.lock().learning_rate(), LearningRate::Schedule(_))
    }

    /// Keeps weight decay off `variable`.
    fn exclude_from_weight_decay(&mut self, variable: PyRef<'_, PyTensor>) {
        self.lock().exclude_from_weight_decay(&variable.inner);
    }

    /// The names of the per-variable slots, in Keras's order.
    fn slot_names(&self) -> Vec<&'static str> {
        self.lock().slot_names()
    }

    /// A copy of slot `name` of `variable` (None before its first step).
    fn slot(&self, variable: PyRef<'_, PyTensor>, name: &str) -> Option<PyTensor> {
        self.lock().slot(&variable.inner, name).map(PyTensor::new)
    }

    #[getter]
    fn algorithm(&self) -> &'static str {
        self.lock().algorithm().name()
    }

    /// Keras's class name (`"AdamW"`, ...).
    #[getter]
    fn class_name(&self) -> &'static str {
        self.lock().class_name()
    }
}

/// Keras's schedule `class_name` with `config` evaluated at `step` (validating the config).
#[pyfunction]
fn learning_rate_at(class_name: &str, config: &Bound<'_, PyAny>, step: u64) -> PyResult<f64> {
    let value = json!({"class_name": class_name, "config": to_json(config, "config")?});
    Ok(deserialize::<Schedule>(&value).py()?.at(step))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOptimizer>()?;
    m.add_function(wrap_pyfunction!(learning_rate_at, m)?)?;
    Ok(())
}
