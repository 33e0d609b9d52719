//! Bindings of the engine's models: `_core.Model` (a graph of `_core.Layer`s with Keras's
//! compile/fit/evaluate/predict loop) and `_core.Dataset` (training arrays, read in place when
//! they are C-contiguous float arrays of the right dtype, else converted once). The
//! loops run with the GIL released; Python is entered after each batch only to check for Ctrl-C
//! and, when the front end asks for it, to run its batch hook (callbacks, progress bar).

use std::sync::Arc;

use ferrograd::config::deserialize;
use ferrograd::losses::{ReducedLoss, Reduction};
use ferrograd::model::{Compiled, CompiledLoss, Data, Graph, Logs, Model, ValueRef};
use ferrograd::{DType, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::convert::{dtype_from_py, to_tensor};
use crate::data::{column, columns};
use crate::errors::{stash, IntoPy};
use crate::json::to_json;
use crate::layers::{shape_from_py, PyLayer};
use crate::metrics::PyMetric;
use crate::optimizers::PyOptimizer;
use crate::tensor::PyTensor;

/// A compile loss from Python: a serialized built-in loss (`{"class_name": ..., "config":
/// {...}}`, read by the engine), or `(callable, reduction)` for a Python loss function
/// returning per-sample values, which the engine calls with the GIL.
fn compiled_loss(spec: &Bound<'_, PyAny>) -> PyResult<CompiledLoss> {
    if spec.is_instance_of::<PyDict>() || spec.is_instance_of::<PyString>() {
        let loss: ReducedLoss = deserialize(&to_json(spec, "loss")?).py()?;
        return Ok(loss.into());
    }
    let (first, second): (Bound<'_, PyAny>, Bound<'_, PyAny>) = spec.extract()?;
    let reduction = Reduction::from_name(second.extract::<Option<String>>()?.as_deref()).py()?;
    let function: Py<PyAny> = first.unbind();
    let per_sample = move |y_true: &Tensor, y_pred: &Tensor| -> ferrograd::Result<Tensor> {
        Python::attach(|py| {
            let out = function
                .call1(
                    py,
                    (PyTensor::new(y_true.clone()), PyTensor::new(y_pred.clone())),
                )
                .map_err(stash)?;
            to_tensor(out.bind(py)).map_err(stash)
        })
    };
    Ok(CompiledLoss::Custom {
        per_sample: Arc::new(per_sample),
        reduction,
    })
}

fn logs_to_dict<'py>(py: Python<'py>, logs: &Logs) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in logs {
        dict.set_item(k, v)?;
    }
    Ok(dict)
}

fn tensors(values: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Vec<Tensor>> {
    values
        .try_iter()?
        .map(|v| {
            let t = to_tensor(&v?)?;
            match dtype {
                Some(d) if t.dtype() != d => t.cast(d).py(),
                _ => Ok(t),
            }
        })
        .collect()
}

fn refs(values: Vec<(usize, usize)>) -> Vec<ValueRef> {
    values
        .into_iter()
        .map(|(node, output)| ValueRef { node, output })
        .collect()
}

/// Runs a loop with the GIL released, giving it a batch hook that enters Python to check for
/// Ctrl-C and to call `hook(batch, logs)` (when given); a Python error stops the loop and is
/// re-raised.
fn with_hook<T: Send>(
    py: Python<'_>,
    hook: Option<Py<PyAny>>,
    work: impl FnOnce(&mut dyn FnMut(usize, &Logs) -> bool) -> ferrograd::Result<T> + Send,
) -> PyResult<T> {
    let mut failure: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut on_batch = |batch: usize, logs: &Logs| -> bool {
            Python::attach(|py| {
                let step = || -> PyResult<bool> {
                    py.check_signals()?;
                    match &hook {
                        Some(h) => h.call1(py, (batch, logs_to_dict(py, logs)?))?.is_truthy(py),
                        None => Ok(true),
                    }
                };
                match step() {
                    Ok(go_on) => go_on,
                    Err(err) => {
                        failure = Some(err);
                        false
                    }
                }
            })
        };
        work(&mut on_batch)
    });
    if let Some(err) = failure {
        return Err(err);
    }
    result.py()
}

/// Training arrays for `fit`, `evaluate` and the batch methods. C-contiguous float32/float64
/// numpy arrays of the dataset's dtype are read in place batch by batch (see `data.rs`: no copy,
/// as `torch.from_numpy`); other arrays are converted to engine tensors once.
#[pyclass(name = "Dataset", module = "ferrograd._core", frozen)]
pub struct PyDataset {
    pub(crate) data: Data,
}

#[pymethods]
impl PyDataset {
    /// Inputs and targets as lists of arrays (samples on axis 0), cast to `dtype`; sample
    /// weights optional.
    #[new]
    #[pyo3(signature = (x, y, sample_weight=None, dtype=None))]
    fn new(
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        sample_weight: Option<&Bound<'_, PyAny>>,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyDataset> {
        let dtype = dtype_from_py(dtype)?;
        let sample_weight = sample_weight.map(|w| column(w, dtype)).transpose()?;
        let data =
            Data::from_columns(columns(x, dtype)?, columns(y, dtype)?, sample_weight).py()?;
        Ok(PyDataset { data })
    }

    fn __len__(&self) -> usize {
        self.data.len()
    }

    /// The number of batches of `batch_size`.
    fn batches(&self, batch_size: usize) -> usize {
        self.data.batches(batch_size)
    }
}

/// A model: a graph of layers and Keras's training loop.
#[pyclass(name = "Model", module = "ferrograd._core")]
pub struct PyModel {
    pub(crate) model: Model,
}

impl PyModel {
    fn graph_mut(&mut self) -> PyResult<&mut Graph> {
        self.model.graph_mut().py()
    }

    /// One batch without the GIL — a training step or a test step — then the running logs.
    fn batch_step<'py>(
        &mut self,
        py: Python<'py>,
        data: &Data,
        reset: bool,
        train: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        if reset {
            self.model.reset_metrics();
        }
        let model = &mut self.model;
        py.detach(|| {
            // One batch: arrays read in place are copied here, as the loop copies each batch.
            let (x, y, sample_weight) = data.to_tensors()?;
            if train {
                model.train_step(&x, &y, sample_weight.as_ref())
            } else {
                model.test_step(&x, &y, sample_weight.as_ref())
            }
        })
        .py()?;
        logs_to_dict(py, &self.model.logs())
    }
}

#[pymethods]
impl PyModel {
    #[new]
    #[pyo3(signature = (dtype=None))]
    fn new(dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyModel> {
        let dtype = dtype_from_py(dtype)?.unwrap_or(DType::F32);
        Ok(PyModel {
            model: Model::new(Graph::new(dtype)),
        })
    }

    /// Adds a model input; returns its value reference `(node, output)`.
    fn add_input(&mut self, name: String, shape: &Bound<'_, PyAny>) -> PyResult<(usize, usize)> {
        let shape = shape_from_py(shape)?;
        let r = self.graph_mut()?.add_input(name, shape);
        Ok((r.node, r.output))
    }

    /// Applies a layer to earlier values; returns its outputs' references.
    fn add_layer(
        &mut self,
        layer: PyRef<'_, PyLayer>,
        inputs: Vec<(usize, usize)>,
    ) -> PyResult<Vec<(usize, usize)>> {
        let layer = layer.inner.clone();
        let out = self.graph_mut()?.add_layer(layer, refs(inputs)).py()?;
        Ok(out.into_iter().map(|r| (r.node, r.output)).collect())
    }

    fn set_outputs(&mut self, outputs: Vec<(usize, usize)>) -> PyResult<()> {
        self.graph_mut()?.set_outputs(refs(outputs)).py()
    }

    #[getter]
    fn output_shapes(&self) -> Vec<Vec<Option<usize>>> {
        self.model.graph().output_shapes()
    }

    /// The model's weights once each: `[(layer name, weight name, tensor, trainable)]`.
    fn weights(&self) -> Vec<(String, String, PyTensor, bool)> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for layer in self.model.graph().layers() {
            for w in layer.weights() {
                if seen.insert(w.value.id()) {
                    out.push((
                        layer.name().to_string(),
                        w.name,
                        PyTensor::new(w.value),
                        w.trainable,
                    ));
                }
            }
        }
        out
    }

    /// Runs the model on a list of inputs (recording the graph when gradients are needed).
    #[pyo3(signature = (inputs, training=false))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
        training: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let inputs = tensors(inputs, None)?;
        let graph = self.model.graph();
        let out = py.detach(|| graph.forward(&inputs, training)).py()?;
        PyList::new(py, out.into_iter().map(PyTensor::new))
    }

    /// Keras's `compile`: the optimizer (shared), per output a loss — a serialized built-in
    /// loss, `(callable, reduction)` or None —
    /// loss weights, metrics (each copied fresh) and output names.
    fn compile(
        &mut self,
        optimizer: PyRef<'_, PyOptimizer>,
        losses: Vec<Option<Bound<'_, PyAny>>>,
        loss_weights: Vec<f64>,
        metrics: Vec<Vec<PyRef<'_, PyMetric>>>,
        output_names: Vec<String>,
    ) -> PyResult<()> {
        let losses = losses
            .into_iter()
            .map(|l| l.map(|spec| compiled_loss(&spec)).transpose())
            .collect::<PyResult<Vec<_>>>()?;
        let metrics = metrics
            .into_iter()
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        let mut metric = m.inner();
                        metric.reset_state();
                        metric
                    })
                    .collect()
            })
            .collect();
        let compiled = Compiled {
            optimizer: optimizer.inner.clone(),
            losses,
            loss_weights,
            metrics,
            output_names,
        };
        self.model.compile(compiled).py()
    }

    /// One epoch of training; `hook(batch, logs)` after each batch (None: only Ctrl-C is
    /// checked). Returns `(logs, completed)`.
    #[pyo3(signature = (data, batch_size, shuffle, seed, hook=None))]
    fn fit_epoch<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'_, PyDataset>,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        hook: Option<Py<PyAny>>,
    ) -> PyResult<(Bound<'py, PyDict>, bool)> {
        let model = &mut self.model;
        let data = &data.data;
        let (logs, completed) = with_hook(py, hook, |on_batch| {
            model.fit_epoch(data, batch_size, shuffle, seed, on_batch)
        })?;
        Ok((logs_to_dict(py, &logs)?, completed))
    }

    /// Loss and metrics over a dataset.
    #[pyo3(signature = (data, batch_size, hook=None))]
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'_, PyDataset>,
        batch_size: usize,
        hook: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let model = &mut self.model;
        let data = &data.data;
        let logs = with_hook(py, hook, |on_batch| {
            model.evaluate(data, batch_size, on_batch)
        })?;
        logs_to_dict(py, &logs)
    }

    /// The outputs for a list of inputs, batch by batch.
    #[pyo3(signature = (x, batch_size, hook=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        batch_size: usize,
        hook: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let x = columns(x, Some(self.model.graph().dtype()))?;
        let data = Data::from_columns(x, Vec::new(), None).py()?;
        let model = &self.model;
        let out = with_hook(py, hook, |on_batch| {
            model.predict_data(&data, batch_size, on_batch)
        })?;
        PyList::new(py, out.into_iter().map(PyTensor::new))
    }

    /// One step on one batch; the running loss and metrics are reset first when `reset`.
    #[pyo3(signature = (data, reset=true))]
    fn train_on_batch<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'_, PyDataset>,
        reset: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.batch_step(py, &data.data, reset, true)
    }

    /// Loss and metrics of one batch without training.
    #[pyo3(signature = (data, reset=true))]
    fn test_on_batch<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'_, PyDataset>,
        reset: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.batch_step(py, &data.data, reset, false)
    }

    fn reset_metrics(&mut self) {
        self.model.reset_metrics();
    }

    /// The running logs.
    fn logs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        logs_to_dict(py, &self.model.logs())
    }

    #[getter]
    fn compiled(&self) -> bool {
        self.model.compiled().is_some()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_class::<PyDataset>()?;
    Ok(())
}
