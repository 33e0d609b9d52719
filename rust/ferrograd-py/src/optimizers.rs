//! Bindings of the engine's optimizers: `_core.Optimizer`, one class for every update rule with
//! the hyperparameters passed by Keras's names, and `_core.learning_rate_at`, Keras's schedules
//! evaluated by the engine. The Keras-shaped classes live in `ferrograd.optimizers`.

use ferrograd::optim::{
    Adadelta, Adagrad, Adam, Adamax, Algorithm, Clip, LearningRate, Lion, Nadam, Optimizer,
    RmsProp, Schedule, Sgd,
};
use std::sync::{Arc, Mutex};

use ferrograd::Tensor;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::convert::to_storage;
use crate::errors::IntoPy;
use crate::tensor::{run, PyTensor};

/// Keyword arguments read by name, with defaults; names left over are an error.
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
            known: vec!["name"],
        }
    }

    fn value(&mut self, key: &'static str) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.known.push(key);
        Ok(self.dict.get_item(key)?.filter(|v| !v.is_none()))
    }

    fn float(&mut self, key: &'static str, default: f64) -> PyResult<f64> {
        Ok(self.optional_float(key)?.unwrap_or(default))
    }

    fn required_float(&mut self, key: &'static str) -> PyResult<f64> {
        self.optional_float(key)?.ok_or_else(|| {
            PyTypeError::new_err(format!("{}: missing required argument `{key}`", self.owner))
        })
    }

    fn optional_float(&mut self, key: &'static str) -> PyResult<Option<f64>> {
        let owner = self.owner;
        self.value(key)?
            .map(|v| {
                v.extract::<f64>().map_err(|_| {
                    PyTypeError::new_err(format!("{owner}: `{key}` must be a number, got {v}"))
                })
            })
            .transpose()
    }

    fn bool(&mut self, key: &'static str, default: bool) -> PyResult<bool> {
        let owner = self.owner;
        self.value(key)?
            .map(|v| {
                v.is_truthy().map_err(|_| {
                    PyTypeError::new_err(format!("{owner}: `{key}` must be a boolean, got {v}"))
                })
            })
            .transpose()
            .map(|v| v.unwrap_or(default))
    }

    fn floats(&mut self, key: &'static str) -> PyResult<Vec<f64>> {
        let owner = self.owner;
        let value = self.value(key)?.ok_or_else(|| {
            PyTypeError::new_err(format!("{owner}: missing required argument `{key}`"))
        })?;
        value.extract::<Vec<f64>>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{owner}: `{key}` must be a list of numbers, got {value}"
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
                    self.owner,
                    &self.known[1..]
                )));
            }
        }
        Ok(())
    }
}

/// An update rule from its Keras name and hyperparameters (Keras's defaults for missing ones).
fn parse_algorithm(name: &str, params: &Bound<'_, PyDict>) -> PyResult<Algorithm> {
    let mut args = Arguments::new(name, params);
    let algorithm = match name.to_ascii_lowercase().as_str() {
        "sgd" => Sgd::new(args.float("momentum", 0.0)?, args.bool("nesterov", false)?).into(),
        "rmsprop" => {
            let d = RmsProp::default();
            RmsProp {
                rho: args.float("rho", d.rho)?,
                momentum: args.float("momentum", d.momentum)?,
                epsilon: args.float("epsilon", d.epsilon)?,
                centered: args.bool("centered", d.centered)?,
            }
            .into()
        }
        "adagrad" => {
            let d = Adagrad::default();
            Adagrad {
                initial_accumulator_value: args
                    .float("initial_accumulator_value", d.initial_accumulator_value)?,
                epsilon: args.float("epsilon", d.epsilon)?,
            }
            .into()
        }
        "adadelta" => {
            let d = Adadelta::default();
            Adadelta {
                rho: args.float("rho", d.rho)?,
                epsilon: args.float("epsilon", d.epsilon)?,
            }
            .into()
        }
        "adam" => {
            let d = Adam::default();
            Adam {
                beta_1: args.float("beta_1", d.beta_1)?,
                beta_2: args.float("beta_2", d.beta_2)?,
                epsilon: args.float("epsilon", d.epsilon)?,
                amsgrad: args.bool("amsgrad", d.amsgrad)?,
            }
            .into()
        }
        "adamax" => {
            let d = Adamax::default();
            Adamax {
                beta_1: args.float("beta_1", d.beta_1)?,
                beta_2: args.float("beta_2", d.beta_2)?,
                epsilon: args.float("epsilon", d.epsilon)?,
            }
            .into()
        }
        "nadam" => {
            let d = Nadam::default();
            Nadam {
                beta_1: args.float("beta_1", d.beta_1)?,
                beta_2: args.float("beta_2", d.beta_2)?,
                epsilon: args.float("epsilon", d.epsilon)?,
            }
            .into()
        }
        "lion" => {
            let d = Lion::default();
            Lion {
                beta_1: args.float("beta_1", d.beta_1)?,
                beta_2: args.float("beta_2", d.beta_2)?,
            }
            .into()
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown optimizer algorithm '{other}'; expected one of sgd, rmsprop, adagrad, \
                 adadelta, adam, adamax, nadam, lion"
            )))
        }
    };
    args.finish()?;
    Ok(algorithm)
}

/// A schedule from its Keras class name and `get_config()` dict.
fn parse_schedule(class_name: &str, config: &Bound<'_, PyDict>) -> PyResult<Schedule> {
    let mut args = Arguments::new(class_name, config);
    let schedule = match class_name {
        "ExponentialDecay" => Schedule::ExponentialDecay {
            initial_learning_rate: args.required_float("initial_learning_rate")?,
            decay_steps: args.required_float("decay_steps")?,
            decay_rate: args.required_float("decay_rate")?,
            staircase: args.bool("staircase", false)?,
        },
        "InverseTimeDecay" => Schedule::InverseTimeDecay {
            initial_learning_rate: args.required_float("initial_learning_rate")?,
            decay_steps: args.required_float("decay_steps")?,
            decay_rate: args.required_float("decay_rate")?,
            staircase: args.bool("staircase", false)?,
        },
        "PiecewiseConstantDecay" => Schedule::PiecewiseConstantDecay {
            boundaries: args.floats("boundaries")?,
            values: args.floats("values")?,
        },
        "PolynomialDecay" => Schedule::PolynomialDecay {
            initial_learning_rate: args.required_float("initial_learning_rate")?,
            decay_steps: args.required_float("decay_steps")?,
            end_learning_rate: args.float("end_learning_rate", 0.0001)?,
            power: args.float("power", 1.0)?,
            cycle: args.bool("cycle", false)?,
        },
        "CosineDecay" => Schedule::CosineDecay {
            initial_learning_rate: args.required_float("initial_learning_rate")?,
            decay_steps: args.required_float("decay_steps")?,
            alpha: args.float("alpha", 0.0)?,
            warmup_target: args.optional_float("warmup_target")?,
            warmup_steps: args.float("warmup_steps", 0.0)?,
        },
        "CosineDecayRestarts" => Schedule::CosineDecayRestarts {
            initial_learning_rate: args.required_float("initial_learning_rate")?,
            first_decay_steps: args.required_float("first_decay_steps")?,
            t_mul: args.float("t_mul", 2.0)?,
            m_mul: args.float("m_mul", 1.0)?,
            alpha: args.float("alpha", 0.0)?,
        },
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown learning-rate schedule '{other}'"
            )))
        }
    };
    args.finish()?;
    schedule.validate().py()?;
    Ok(schedule)
}

/// A learning rate: a number, or `{"class_name": ..., "config": {...}}` for a schedule.
fn parse_learning_rate(value: &Bound<'_, PyAny>) -> PyResult<LearningRate> {
    if let Ok(dict) = value.cast::<PyDict>() {
        let class_name = dict
            .get_item("class_name")?
            .ok_or_else(|| PyValueError::new_err("a schedule dict needs a 'class_name'"))?;
        let class_name = class_name.cast::<PyString>()?.to_string();
        let config = dict
            .get_item("config")?
            .ok_or_else(|| PyValueError::new_err("a schedule dict needs a 'config'"))?;
        return Ok(LearningRate::Schedule(parse_schedule(
            &class_name,
            config.cast::<PyDict>()?,
        )?));
    }
    let value: f64 = value.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "`learning_rate` must be a number or a learning-rate schedule, got {value}"
        ))
    })?;
    let learning_rate = LearningRate::Constant(value);
    learning_rate.validate().py()?;
    Ok(learning_rate)
}

fn parse_clip(
    clipnorm: Option<f64>,
    clipvalue: Option<f64>,
    global_clipnorm: Option<f64>,
) -> PyResult<Clip> {
    match (clipnorm, clipvalue, global_clipnorm) {
        (None, None, None) => Ok(Clip::None),
        (Some(c), None, None) => Ok(Clip::ByNorm(c)),
        (None, Some(c), None) => Ok(Clip::ByValue(c)),
        (None, None, Some(c)) => Ok(Clip::ByGlobalNorm(c)),
        _ => Err(PyValueError::new_err(format!(
            "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: \
             clipnorm={clipnorm:?}, clipvalue={clipvalue:?}, global_clipnorm={global_clipnorm:?}"
        ))),
    }
}

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
    #[new]
    #[pyo3(signature = (algorithm, hyperparameters, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None))]
    fn new(
        algorithm: &str,
        hyperparameters: &Bound<'_, PyDict>,
        learning_rate: &Bound<'_, PyAny>,
        weight_decay: Option<f64>,
        clipnorm: Option<f64>,
        clipvalue: Option<f64>,
        global_clipnorm: Option<f64>,
    ) -> PyResult<Self> {
        let algorithm = parse_algorithm(algorithm, hyperparameters)?;
        let learning_rate = parse_learning_rate(learning_rate)?;
        let clip = parse_clip(clipnorm, clipvalue, global_clipnorm)?;
        let inner = Optimizer::new(algorithm, learning_rate)
            .and_then(|o| o.with_weight_decay(weight_decay))
            .and_then(|o| o.with_clip(clip))
            .py()?;
        Ok(PyOptimizer {
            inner: Arc::new(Mutex::new(inner)),
        })
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
        let learning_rate = parse_learning_rate(value)?;
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
}

/// Keras's schedule `class_name` with `config` evaluated at `step` (validating the config).
#[pyfunction]
fn learning_rate_at(class_name: &str, config: &Bound<'_, PyDict>, step: u64) -> PyResult<f64> {
    Ok(parse_schedule(class_name, config)?.at(step))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOptimizer>()?;
    m.add_function(wrap_pyfunction!(learning_rate_at, m)?)?;
    Ok(())
}
