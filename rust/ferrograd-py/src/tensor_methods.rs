//! The Python `Tensor` class's numpy-style operators and methods (the class itself is in
//! `tensor.rs`): conversions of their arguments, then one engine call each.

use ferrograd::ops::Comparison;
use ferrograd::{autodiff, BackwardOptions, Tensor};
use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::{
    axes_from_py, dtype_from_py, indices_to_numpy, operand, storage_to_numpy, to_storage,
};
use crate::errors::IntoPy;
use crate::tensor::{run, wrap, PyTensor};

/// `Name([...], dtype=float32, grad_fn=op)`, numpy-formatted, as PyTorch prints tensors.
pub fn format_tensor(
    py: Python<'_>,
    class: &str,
    tensor: &Tensor,
    extra: &str,
) -> PyResult<String> {
    let array = storage_to_numpy(py, tensor.storage())?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("separator", ", ")?;
    kwargs.set_item("prefix", format!("{class}("))?;
    let text: String = py
        .import("numpy")?
        .getattr("array2string")?
        .call((array,), Some(&kwargs))?
        .extract()?;
    let mut suffix = format!(", dtype={}", tensor.dtype());
    if let Some(op) = tensor.grad_fn() {
        suffix.push_str(&format!(", grad_fn={op}"));
    } else if tensor.requires_grad() {
        suffix.push_str(", requires_grad=True");
    }
    Ok(format!("{class}({text}{suffix}{extra})"))
}

/// `lhs op rhs` for operators: NotImplemented when `rhs` is not an operand.
fn binary_operator<'py>(
    py: Python<'py>,
    this: &Tensor,
    other: &Bound<'py, PyAny>,
    reflected: bool,
    op: impl FnOnce(&Tensor, &Tensor) -> ferrograd::Result<Tensor> + Send,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(other) = operand(other, this)? else {
        return Ok(py.NotImplemented().into_bound(py));
    };
    let elements = this.len().max(other.len());
    let result = run(py, elements, || {
        if reflected {
            op(&other, this)
        } else {
            op(this, &other)
        }
    });
    Ok(Bound::new(py, PyTensor::new(result.py()?))?.into_any())
}

fn shape_tuple<'py>(py: Python<'py>, shape: &[usize]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, shape)
}

/// `reshape(2, 3)` and `reshape((2, 3))` both work, as numpy.
fn shape_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<isize>> {
    if args.len() == 1 {
        let first = args.get_item(0)?;
        if let Ok(v) = first.extract::<isize>() {
            return Ok(vec![v]);
        }
        return first.extract::<Vec<isize>>().map_err(|_| {
            PyTypeError::new_err(format!(
                "shape must be ints or a sequence of ints, got {first}"
            ))
        });
    }
    args.extract::<Vec<isize>>()
        .map_err(|_| PyTypeError::new_err("shape must be ints or a sequence of ints"))
}

#[pymethods]
impl PyTensor {
    /// `None` tells numpy to defer: `ndarray @ tensor` calls `Tensor.__rmatmul__` and so stays
    /// a differentiable tensor op instead of silently becoming a numpy array.
    #[classattr]
    fn __array_ufunc__(py: Python<'_>) -> Py<PyAny> {
        py.None()
    }

    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        shape_tuple(py, &self.inner.shape())
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype().name()
    }

    #[getter]
    fn ndim(&self) -> usize {
        self.inner.ndim()
    }

    #[getter]
    fn size(&self) -> usize {
        self.inner.len()
    }

    /// Whether operations on this tensor record a graph for `backward()`.
    #[getter]
    fn requires_grad(&self) -> bool {
        self.inner.requires_grad()
    }

    #[setter]
    fn set_requires_grad(&self, value: bool) -> PyResult<()> {
        self.inner.set_requires_grad(value).py()
    }

    #[getter]
    fn is_leaf(&self) -> bool {
        self.inner.is_leaf()
    }

    /// The name of the op that made this tensor, when a graph was recorded.
    #[getter]
    fn grad_fn(&self) -> Option<&'static str> {
        self.inner.grad_fn()
    }

    /// The gradient accumulated by `backward()`, or None.
    #[getter]
    fn grad(&self) -> Option<PyTensor> {
        self.inner.grad().map(PyTensor::new)
    }

    #[setter(grad)]
    fn set_grad(&self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        match value {
            None => {
                self.inner.zero_grad();
                Ok(())
            }
            Some(v) if v.is_none() => {
                self.inner.zero_grad();
                Ok(())
            }
            Some(v) => {
                let storage = to_storage(v, Some(self.inner.dtype()))?;
                self.inner.set_grad(Some(storage)).py()
            }
        }
    }

    /// Accumulates d(self)/d(leaf) into every leaf's `.grad`. A non-scalar tensor needs
    /// `gradient`, the gradient of some scalar with respect to it.
    #[pyo3(signature = (gradient=None, retain_graph=false))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<&Bound<'_, PyAny>>,
        retain_graph: bool,
    ) -> PyResult<()> {
        let seed = match gradient {
            Some(g) if !g.is_none() => Some(to_storage(g, Some(self.inner.dtype()))?),
            _ => None,
        };
        let inner = self.inner.clone();
        py.detach(move || autodiff::backward(&inner, seed, BackwardOptions { retain_graph }))
            .py()
    }

    /// A new tensor sharing the data, cut from the graph.
    fn detach(&self) -> PyTensor {
        PyTensor::new(self.inner.detach())
    }

    /// The data as a read-only numpy array (no copy).
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        storage_to_numpy(py, self.inner.storage())
    }

    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut array = storage_to_numpy(py, self.inner.storage())?;
        if let Some(d) = dtype.filter(|d| !d.is_none()) {
            array = array.call_method1("astype", (d,))?;
        } else if copy == Some(true) {
            array = array.call_method0("copy")?;
        }
        Ok(array)
    }

    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.numpy(py)?.call_method0("tolist")
    }

    /// The value of a one-element tensor as a Python float.
    fn item(&self) -> PyResult<f64> {
        self.inner.item().py()
    }

    fn __float__(&self) -> PyResult<f64> {
        self.inner.item().py()
    }

    fn __bool__(&self) -> PyResult<bool> {
        if self.inner.len() != 1 {
            return Err(PyValueError::new_err(format!(
                "the truth value of a tensor with {} elements is ambiguous; use .any() or .all() on .numpy()",
                self.inner.len()
            )));
        }
        Ok(self.inner.item().py()? != 0.0)
    }

    fn __len__(&self) -> PyResult<usize> {
        self.inner
            .shape()
            .first()
            .copied()
            .ok_or_else(|| PyTypeError::new_err("len() of a 0-d tensor"))
    }

    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        format_tensor(py, "Tensor", &self.inner, "")
    }

    fn __getitem__(&self, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        crate::indexing::getitem(&self.inner, key).map(PyTensor::new)
    }

    // ----- arithmetic operators (numpy broadcasting; Python numbers keep the tensor's dtype)

    fn __add__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, false, |a, b| a.add(b))
    }
    fn __radd__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, true, |a, b| a.add(b))
    }
    fn __sub__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, false, |a, b| a.sub(b))
    }
    fn __rsub__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, true, |a, b| a.sub(b))
    }
    fn __mul__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, false, |a, b| a.mul(b))
    }
    fn __rmul__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, true, |a, b| a.mul(b))
    }
    fn __truediv__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, false, |a, b| a.div(b))
    }
    fn __rtruediv__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, true, |a, b| a.div(b))
    }
    fn __matmul__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, false, |a, b| a.matmul(b))
    }
    fn __rmatmul__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, true, |a, b| a.matmul(b))
    }

    fn __pow__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
        modulo: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if modulo.is_some_and(|m| !m.is_none()) {
            return Err(PyTypeError::new_err(
                "pow() with a modulus is not supported for tensors",
            ));
        }
        // A constant exponent uses the cheaper scalar-power op (no gradient for the exponent).
        if !other.is_instance_of::<PyTensor>() {
            if let Ok(p) = other.extract::<f64>() {
                return Ok(Bound::new(py, wrap(self.inner.powf(p))?)?.into_any());
            }
        }
        binary_operator(py, &self.inner, other, false, |a, b| a.pow(b))
    }
    fn __rpow__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
        _modulo: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        binary_operator(py, &self.inner, other, true, |a, b| a.pow(b))
    }

    fn __neg__(&self) -> PyResult<PyTensor> {
        wrap(self.inner.neg())
    }
    fn __pos__(&self) -> PyTensor {
        PyTensor::new(self.inner.clone())
    }
    fn __abs__(&self) -> PyResult<PyTensor> {
        wrap(self.inner.abs())
    }

    /// Comparisons give 0/1 masks in the tensor's dtype (usable as `x * (x > 0)`).
    fn __richcmp__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
        op: CompareOp,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cmp = match op {
            CompareOp::Eq => Comparison::Equal,
            CompareOp::Ne => Comparison::NotEqual,
            CompareOp::Gt => Comparison::Greater,
            CompareOp::Ge => Comparison::GreaterEqual,
            CompareOp::Lt => Comparison::Less,
            CompareOp::Le => Comparison::LessEqual,
        };
        binary_operator(py, &self.inner, other, false, move |a, b| a.compare(b, cmp))
    }

    // ----- methods (numpy / PyTorch names)

    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        wrap(self.inner.reshape(&shape_args(shape)?))
    }

    #[pyo3(signature = (*axes))]
    fn transpose(&self, axes: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        if axes.is_empty() {
            return wrap(self.inner.transpose(None));
        }
        wrap(self.inner.permute(&shape_args(axes)?))
    }

    #[getter(T)]
    fn transposed(&self) -> PyResult<PyTensor> {
        wrap(self.inner.transpose(None))
    }

    fn flatten(&self) -> PyResult<PyTensor> {
        wrap(self.inner.flatten())
    }

    #[pyo3(signature = (axis=None))]
    fn squeeze(&self, axis: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        wrap(self.inner.squeeze(axes_from_py(axis)?.as_deref()))
    }

    fn expand_dims(&self, axis: isize) -> PyResult<PyTensor> {
        wrap(self.inner.expand_dims(axis))
    }

    /// The same values as `dtype` (differentiable).
    fn astype(&self, dtype: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let dtype = dtype_from_py(Some(dtype))?.unwrap_or(self.inner.dtype());
        wrap(self.inner.cast(dtype))
    }

    #[pyo3(signature = (axis=None, keepdims=false))]
    fn sum(&self, axis: Option<&Bound<'_, PyAny>>, keepdims: bool) -> PyResult<PyTensor> {
        wrap(self.inner.sum(axes_from_py(axis)?.as_deref(), keepdims))
    }
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn mean(&self, axis: Option<&Bound<'_, PyAny>>, keepdims: bool) -> PyResult<PyTensor> {
        wrap(self.inner.mean(axes_from_py(axis)?.as_deref(), keepdims))
    }
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn max(&self, axis: Option<&Bound<'_, PyAny>>, keepdims: bool) -> PyResult<PyTensor> {
        wrap(self.inner.max(axes_from_py(axis)?.as_deref(), keepdims))
    }
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn min(&self, axis: Option<&Bound<'_, PyAny>>, keepdims: bool) -> PyResult<PyTensor> {
        wrap(self.inner.min(axes_from_py(axis)?.as_deref(), keepdims))
    }
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn var(&self, axis: Option<&Bound<'_, PyAny>>, keepdims: bool) -> PyResult<PyTensor> {
        wrap(self.inner.var(axes_from_py(axis)?.as_deref(), keepdims))
    }
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn std(&self, axis: Option<&Bound<'_, PyAny>>, keepdims: bool) -> PyResult<PyTensor> {
        wrap(self.inner.std(axes_from_py(axis)?.as_deref(), keepdims))
    }
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn argmax<'py>(
        &self,
        py: Python<'py>,
        axis: Option<isize>,
        keepdims: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(indices_to_numpy(
            py,
            self.inner.argmax(axis, keepdims).py()?,
        ))
    }
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn argmin<'py>(
        &self,
        py: Python<'py>,
        axis: Option<isize>,
        keepdims: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(indices_to_numpy(
            py,
            self.inner.argmin(axis, keepdims).py()?,
        ))
    }

    fn exp(&self) -> PyResult<PyTensor> {
        wrap(self.inner.exp())
    }
    fn log(&self) -> PyResult<PyTensor> {
        wrap(self.inner.log())
    }
    fn sqrt(&self) -> PyResult<PyTensor> {
        wrap(self.inner.sqrt())
    }
    fn abs(&self) -> PyResult<PyTensor> {
        wrap(self.inner.abs())
    }
    fn square(&self) -> PyResult<PyTensor> {
        wrap(self.inner.square())
    }
    fn relu(&self) -> PyResult<PyTensor> {
        wrap(self.inner.relu())
    }
    fn sigmoid(&self) -> PyResult<PyTensor> {
        wrap(self.inner.sigmoid())
    }
    fn tanh(&self) -> PyResult<PyTensor> {
        wrap(self.inner.tanh())
    }
    #[pyo3(signature = (axis=-1))]
    fn softmax(&self, axis: isize) -> PyResult<PyTensor> {
        wrap(self.inner.softmax(axis))
    }
    #[pyo3(signature = (axis=-1))]
    fn log_softmax(&self, axis: isize) -> PyResult<PyTensor> {
        wrap(self.inner.log_softmax(axis))
    }
    fn clip(&self, min: f64, max: f64) -> PyResult<PyTensor> {
        wrap(self.inner.clip(min, max))
    }
    fn matmul(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let other = crate::convert::require_operand(other, &self.inner, "matmul")?;
        let this = self.inner.clone();
        wrap(run(py, this.len().max(other.len()), move || {
            this.matmul(&other)
        }))
    }
}
