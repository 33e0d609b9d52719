//! Bindings of the engine's layers: `_core.Layer`, one class over every built-in layer (made by
//! its static constructors) and over layers written in Python (`Layer.python`), which the engine
//! calls back with the GIL held. The Keras-shaped classes live in `ferrograd.layers`.

use std::sync::Arc;

use ferrograd::nn::{registry, Layer, LayerCore, Shape, Weight};
use ferrograd::regularizers::Regularizer;
use ferrograd::Tensor;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert::to_tensor;
use crate::errors::{stash, IntoPy};
use crate::json::to_json;
use crate::tensor::PyTensor;

/// A shape from Python: a sequence of ints and Nones.
pub fn shape_from_py(value: &Bound<'_, PyAny>) -> PyResult<Shape> {
    value.extract::<Vec<Option<usize>>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "a shape must be a tuple of non-negative ints or None, got {value}"
        ))
    })
}

pub(crate) fn shapes_from_py(value: &Bound<'_, PyAny>) -> PyResult<Vec<Shape>> {
    value
        .try_iter()?
        .map(|s| shape_from_py(&s?))
        .collect::<PyResult<Vec<_>>>()
}

/// A regularizer from the `(l1, l2)` factors the front end computed from its own object.
pub(crate) fn regularizer_from_factors(value: Option<(f64, f64)>) -> PyResult<Option<Regularizer>> {
    value
        .map(|(l1, l2)| Regularizer::new(l1, l2))
        .transpose()
        .py()
}

/// A layer for Python: a built-in engine layer or a Python-written one.
#[pyclass(name = "Layer", module = "ferrograd._core", frozen)]
pub struct PyLayer {
    pub inner: Arc<dyn Layer>,
}

impl PyLayer {
    /// A Python handle on an engine layer.
    pub(crate) fn wrap(layer: impl Layer + 'static) -> PyLayer {
        PyLayer {
            inner: Arc::new(layer),
        }
    }
}

fn tensors_from(values: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    values
        .try_iter()?
        .map(|v| to_tensor(&v?))
        .collect::<PyResult<Vec<_>>>()
}

/// A list of tensors or `None`s (the masks of a layer's inputs).
fn optional_tensors_from(values: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Tensor>>> {
    values
        .try_iter()?
        .map(|v| {
            let v = v?;
            if v.is_none() {
                Ok(None)
            } else {
                to_tensor(&v).map(Some)
            }
        })
        .collect()
}

fn to_py_list<'py>(py: Python<'py>, tensors: Vec<Tensor>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, tensors.into_iter().map(PyTensor::new))
}

#[pymethods]
impl PyLayer {
    /// The engine layer of Keras's class `class_name`, from its config (a dict of Keras's keys;
    /// missing ones take Keras's defaults, keys the engine does not use are ignored). A wrapper
    /// (`Bidirectional`, `TimeDistributed`) takes the engine layers it wraps as `inner`.
    #[staticmethod]
    #[pyo3(signature = (class_name, config, inner=None))]
    fn from_config(
        class_name: &str,
        config: &Bound<'_, PyAny>,
        inner: Option<Vec<PyRef<'_, PyLayer>>>,
    ) -> PyResult<PyLayer> {
        let config = to_json(config, "config")?;
        let inner: Vec<Arc<dyn Layer>> = inner
            .unwrap_or_default()
            .iter()
            .map(|l| l.inner.clone())
            .collect();
        let made = registry::layer_from_config_with(class_name, &config, &inner).py()?;
        Ok(PyLayer { inner: made.layer })
    }

    /// A layer written in Python: the engine calls `obj._engine_call(inputs, training)`,
    /// `obj._engine_output_shapes(shapes)` and `obj._engine_weights()` with the GIL held.
    #[staticmethod]
    fn python(obj: Py<PyAny>, name: String, class_name: String) -> PyLayer {
        let core = LayerCore::new(name);
        core.set_built();
        PyLayer::wrap(PythonLayer {
            core,
            class_name,
            obj,
        })
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    #[getter]
    fn class_name(&self) -> &str {
        self.inner.class_name()
    }

    #[getter]
    fn trainable(&self) -> bool {
        self.inner.core().trainable()
    }

    #[setter]
    fn set_trainable(&self, value: bool) -> PyResult<()> {
        self.inner.core().set_trainable(value).py()
    }

    #[getter]
    fn built(&self) -> bool {
        self.inner.core().built()
    }

    /// Marks the layer built once the front end has added its weights.
    fn set_built(&self) {
        self.inner.core().set_built();
    }

    /// Adds a weight (a Variable) in Keras's order, with an optional `(l1, l2)` regularizer.
    #[pyo3(signature = (name, variable, trainable=true, regularizer=None))]
    fn add_weight(
        &self,
        name: String,
        variable: PyRef<'_, PyTensor>,
        trainable: bool,
        regularizer: Option<(f64, f64)>,
    ) -> PyResult<()> {
        self.inner
            .core()
            .add_weight(Weight {
                name,
                value: variable.inner.clone(),
                trainable,
                regularizer: regularizer_from_factors(regularizer)?,
            })
            .py()
    }

    /// `[(name, shape)]` of the weights inputs of these shapes need, in Keras's order.
    fn weight_specs(&self, input_shapes: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Vec<usize>)>> {
        let shapes = shapes_from_py(input_shapes)?;
        Ok(self
            .inner
            .weight_specs(&shapes)
            .py()?
            .into_iter()
            .map(|s| (s.name.to_string(), s.shape))
            .collect())
    }

    /// The output shapes for these input shapes (tuples with None for unknown axes).
    fn output_shapes(&self, input_shapes: &Bound<'_, PyAny>) -> PyResult<Vec<Shape>> {
        let shapes = shapes_from_py(input_shapes)?;
        self.inner.output_shapes(&shapes).py()
    }

    /// Runs the layer on concrete tensors (recording the graph when gradients are needed).
    #[pyo3(signature = (inputs, training=false))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
        training: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let inputs = tensors_from(inputs)?;
        let out = self.inner.call(&inputs, training).py()?;
        to_py_list(py, out)
    }

    /// Runs the layer given the inputs' masks (`None` where an input has none), as the graph
    /// does when a mask reaches the layer (Keras's `call(..., mask=...)`).
    #[pyo3(signature = (inputs, masks, training=false))]
    fn call_masked<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
        masks: &Bound<'py, PyAny>,
        training: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let inputs = tensors_from(inputs)?;
        let masks = optional_tensors_from(masks)?;
        let out = self.inner.call_masked(&inputs, &masks, training).py()?;
        to_py_list(py, out)
    }

    /// Keras's `compute_mask`: the outputs' masks (`None` where an output has none) for these
    /// inputs and their masks.
    fn compute_mask(
        &self,
        inputs: &Bound<'_, PyAny>,
        masks: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Option<PyTensor>>> {
        let inputs = tensors_from(inputs)?;
        let masks = optional_tensors_from(masks)?;
        let out = self.inner.compute_mask(&inputs, &masks).py()?;
        Ok(out.into_iter().map(|m| m.map(PyTensor::new)).collect())
    }

    /// `[(name, tensor, trainable)]` in creation order.
    fn weights(&self) -> Vec<(String, PyTensor, bool)> {
        self.inner
            .weights()
            .into_iter()
            .map(|w| (w.name, PyTensor::new(w.value), w.trainable))
            .collect()
    }
}

/// A layer whose `call` is Python code: the engine enters Python for it, with the GIL.
struct PythonLayer {
    core: LayerCore,
    class_name: String,
    obj: Py<PyAny>,
}

impl Layer for PythonLayer {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        &self.class_name
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> ferrograd::Result<Vec<Shape>> {
        Python::attach(|py| {
            let shapes = PyList::new(py, input_shapes.iter().cloned()).map_err(stash)?;
            let out = self
                .obj
                .call_method1(py, "_engine_output_shapes", (shapes,))
                .map_err(stash)?;
            shapes_from_py(out.bind(py)).map_err(stash)
        })
    }

    fn call(&self, inputs: &[Tensor], training: bool) -> ferrograd::Result<Vec<Tensor>> {
        Python::attach(|py| {
            let args = to_py_list(py, inputs.to_vec()).map_err(stash)?;
            let out = self
                .obj
                .call_method1(py, "_engine_call", (args, training))
                .map_err(stash)?;
            tensors_from(out.bind(py)).map_err(stash)
        })
    }

    fn weights(&self) -> Vec<Weight> {
        Python::attach(|py| -> PyResult<Vec<Weight>> {
            let listed = self.obj.call_method0(py, "_engine_weights")?;
            let mut out = Vec::new();
            for item in listed.bind(py).try_iter()? {
                let (name, variable, trainable, regularizer): (
                    String,
                    PyRef<'_, PyTensor>,
                    bool,
                    Option<(f64, f64)>,
                ) = item?.extract()?;
                out.push(Weight {
                    name,
                    value: variable.inner.clone(),
                    trainable: trainable && self.core.trainable(),
                    regularizer: regularizer_from_factors(regularizer)?,
                });
            }
            Ok(out)
        })
        .unwrap_or_else(|err| {
            // Weights are read where no error can be returned; report and train none of them.
            Python::attach(|py| err.print(py));
            Vec::new()
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLayer>()?;
    Ok(())
}
