//! Module-level functions of `ferrograd._core`: tensor creation, the ops under Keras 3's
//! `keras.ops` names, autodiff entry points and the thread pool.

use ::std::cell::RefCell;
use ::std::mem;

use ferrograd::ops::Comparison;
use ferrograd::{autodiff, BackwardOptions, DType, Error, GradcheckOptions, Tensor};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::convert::{
    axes_from_py, dtype_from_py, indices_to_numpy, require_operand, to_indices, to_storage,
    to_tensor,
};
use crate::errors::IntoPy;
use crate::tensor::{run, wrap, PyTensor};

// ----- creation

/// A tensor from array-like data (copied). float32 unless `dtype` says otherwise or the data
/// is a float64 numpy array.
#[pyfunction]
#[pyo3(signature = (data, requires_grad=false, dtype=None))]
fn tensor(
    data: &Bound<'_, PyAny>,
    requires_grad: bool,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let storage = to_storage(data, dtype_from_py(dtype)?)?;
    Ok(PyTensor::new(Tensor::from_storage(storage, requires_grad)))
}

/// Keras's `ops.convert_to_tensor`: tensors pass through unchanged.
#[pyfunction]
#[pyo3(signature = (x, dtype=None))]
fn convert_to_tensor(x: &Bound<'_, PyAny>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    match dtype_from_py(dtype)? {
        Some(d) => wrap(t.cast(d)),
        None => Ok(PyTensor::new(t)),
    }
}

/// A shape argument, checked to be addressable: an absurd shape is a `ValueError`, not an
/// allocation failure that would abort the process.
fn shape_arg(shape: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let dims: Vec<usize> = if let Ok(n) = shape.extract::<usize>() {
        vec![n]
    } else {
        shape.extract::<Vec<usize>>().map_err(|_| {
            PyValueError::new_err(format!(
                "shape must be a non-negative int or a sequence of them, got {shape}"
            ))
        })?
    };
    let max_elements = isize::MAX as usize / mem::size_of::<f64>();
    let fits = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .is_some_and(|n| n <= max_elements);
    if !fits {
        return Err(PyValueError::new_err(format!(
            "shape {dims:?} has more elements than memory can address"
        )));
    }
    Ok(dims)
}

#[pyfunction]
#[pyo3(signature = (shape, dtype=None))]
fn zeros(shape: &Bound<'_, PyAny>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let dtype = dtype_from_py(dtype)?.unwrap_or(DType::F32);
    Ok(PyTensor::new(Tensor::zeros(&shape_arg(shape)?, dtype)))
}

#[pyfunction]
#[pyo3(signature = (shape, dtype=None))]
fn ones(shape: &Bound<'_, PyAny>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let dtype = dtype_from_py(dtype)?.unwrap_or(DType::F32);
    Ok(PyTensor::new(Tensor::full(&shape_arg(shape)?, 1.0, dtype)))
}

#[pyfunction]
#[pyo3(signature = (shape, fill_value, dtype=None))]
fn full(
    shape: &Bound<'_, PyAny>,
    fill_value: f64,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let dtype = dtype_from_py(dtype)?.unwrap_or(DType::F32);
    Ok(PyTensor::new(Tensor::full(
        &shape_arg(shape)?,
        fill_value,
        dtype,
    )))
}

/// Keras's `ops.cast`.
#[pyfunction]
fn cast(x: &Bound<'_, PyAny>, dtype: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    let dtype = dtype_from_py(Some(dtype))?.unwrap_or(t.dtype());
    wrap(t.cast(dtype))
}

// ----- elementwise: one tensor in, one out

macro_rules! unary_functions {
    ($($name:ident => |$t:ident| $body:expr;)*) => {$(
        #[pyfunction]
        fn $name(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
            let $t = to_tensor(x)?;
            wrap(run(py, $t.len(), || $body))
        }
    )*};
}

unary_functions! {
    negative => |t| t.neg();
    exp => |t| t.exp();
    log => |t| t.log();
    log1p => |t| t.log1p();
    sqrt => |t| t.sqrt();
    abs => |t| t.abs();
    absolute => |t| t.abs();
    square => |t| t.square();
    sin => |t| t.sin();
    cos => |t| t.cos();
    reciprocal => |t| t.reciprocal();
    relu => |t| t.relu();
    relu6 => |t| t.relu6();
    selu => |t| t.selu();
    sigmoid => |t| t.sigmoid();
    tanh => |t| t.tanh();
    softplus => |t| t.softplus();
    softsign => |t| t.softsign();
    silu => |t| t.silu();
    swish => |t| t.silu();
    hard_sigmoid => |t| t.hard_sigmoid();
    ravel => |t| t.flatten();
}

/// Leaky ReLU (Keras's default slope is in `ferrograd.ops`).
#[pyfunction]
fn leaky_relu(py: Python<'_>, x: &Bound<'_, PyAny>, negative_slope: f64) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    wrap(run(py, t.len(), || t.leaky_relu(negative_slope)))
}

#[pyfunction]
fn elu(py: Python<'_>, x: &Bound<'_, PyAny>, alpha: f64) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    wrap(run(py, t.len(), || t.elu(alpha)))
}

/// GELU, exact or by the tanh approximation.
#[pyfunction]
fn gelu(py: Python<'_>, x: &Bound<'_, PyAny>, approximate: bool) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    wrap(run(py, t.len(), || t.gelu(approximate)))
}

#[pyfunction]
fn clip(py: Python<'_>, x: &Bound<'_, PyAny>, x_min: f64, x_max: f64) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    wrap(run(py, t.len(), || t.clip(x_min, x_max)))
}

// ----- elementwise: two tensors in, broadcast

fn binary_pair(
    x1: &Bound<'_, PyAny>,
    x2: &Bound<'_, PyAny>,
    op: &str,
) -> PyResult<(Tensor, Tensor)> {
    if x1.is_instance_of::<PyTensor>() || !x2.is_instance_of::<PyTensor>() {
        let a = to_tensor(x1)?;
        let b = require_operand(x2, &a, op)?;
        Ok((a, b))
    } else {
        let b = to_tensor(x2)?;
        let a = require_operand(x1, &b, op)?;
        Ok((a, b))
    }
}

macro_rules! binary_functions {
    ($($name:ident => |$a:ident, $b:ident| $body:expr;)*) => {$(
        #[pyfunction]
        fn $name(py: Python<'_>, x1: &Bound<'_, PyAny>, x2: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
            let ($a, $b) = binary_pair(x1, x2, stringify!($name))?;
            wrap(run(py, $a.len().max($b.len()), || $body))
        }
    )*};
}

binary_functions! {
    add => |a, b| a.add(&b);
    subtract => |a, b| a.sub(&b);
    multiply => |a, b| a.mul(&b);
    divide => |a, b| a.div(&b);
    true_divide => |a, b| a.div(&b);
    power => |a, b| a.pow(&b);
    maximum => |a, b| a.maximum(&b);
    minimum => |a, b| a.minimum(&b);
    matmul => |a, b| a.matmul(&b);
    equal => |a, b| a.compare(&b, Comparison::Equal);
    not_equal => |a, b| a.compare(&b, Comparison::NotEqual);
    greater => |a, b| a.compare(&b, Comparison::Greater);
    greater_equal => |a, b| a.compare(&b, Comparison::GreaterEqual);
    less => |a, b| a.compare(&b, Comparison::Less);
    less_equal => |a, b| a.compare(&b, Comparison::LessEqual);
}

/// `x1` where `condition` is true (nonzero), else `x2`.
#[pyfunction]
#[pyo3(signature = (condition, x1=None, x2=None))]
fn r#where(
    condition: &Bound<'_, PyAny>,
    x1: Option<&Bound<'_, PyAny>>,
    x2: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let (Some(x1), Some(x2)) = (x1, x2) else {
        return Err(PyValueError::new_err(
            "where: pass both x1 and x2 (the one-argument form, returning indices, is not supported)",
        ));
    };
    let (a, b) = binary_pair(x1, x2, "where")?;
    let condition = Tensor::from_storage(
        to_storage(condition, Some(a.dtype().promote(b.dtype())))?,
        false,
    );
    wrap(Tensor::where_(&condition, &a, &b))
}

// ----- reductions

macro_rules! reduce_functions {
    ($($name:ident => $method:ident;)*) => {$(
        #[pyfunction]
        #[pyo3(signature = (x, axis, keepdims))]
        fn $name(py: Python<'_>, x: &Bound<'_, PyAny>, axis: Option<&Bound<'_, PyAny>>, keepdims: bool) -> PyResult<PyTensor> {
            let t = to_tensor(x)?;
            let axes = axes_from_py(axis)?;
            wrap(run(py, t.len(), || t.$method(axes.as_deref(), keepdims)))
        }
    )*};
}

reduce_functions! {
    sum => sum;
    mean => mean;
    max => max;
    min => min;
    var => var;
    logsumexp => logsumexp;
}

/// Standard deviation (ddof = 0).
#[pyfunction(name = "std")]
#[pyo3(signature = (x, axis, keepdims))]
fn std_dev(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    axis: Option<&Bound<'_, PyAny>>,
    keepdims: bool,
) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    let axes = axes_from_py(axis)?;
    wrap(run(py, t.len(), || t.std(axes.as_deref(), keepdims)))
}

#[pyfunction]
#[pyo3(signature = (x, axis, keepdims))]
fn argmax<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    axis: Option<isize>,
    keepdims: bool,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(indices_to_numpy(
        py,
        to_tensor(x)?.argmax(axis, keepdims).py()?,
    ))
}

#[pyfunction]
#[pyo3(signature = (x, axis, keepdims))]
fn argmin<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    axis: Option<isize>,
    keepdims: bool,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(indices_to_numpy(
        py,
        to_tensor(x)?.argmin(axis, keepdims).py()?,
    ))
}

#[pyfunction]
fn softmax(py: Python<'_>, x: &Bound<'_, PyAny>, axis: isize) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    wrap(run(py, t.len(), || t.softmax(axis)))
}

#[pyfunction]
fn log_softmax(py: Python<'_>, x: &Bound<'_, PyAny>, axis: isize) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    wrap(run(py, t.len(), || t.log_softmax(axis)))
}

// ----- shapes

#[pyfunction]
fn reshape(x: &Bound<'_, PyAny>, newshape: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let shape: Vec<isize> = if let Ok(n) = newshape.extract::<isize>() {
        vec![n]
    } else {
        newshape.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "reshape: newshape must be an int or a sequence of ints, got {newshape}"
            ))
        })?
    };
    wrap(to_tensor(x)?.reshape(&shape))
}

#[pyfunction]
#[pyo3(signature = (x, axes=None))]
fn transpose(x: &Bound<'_, PyAny>, axes: Option<Vec<isize>>) -> PyResult<PyTensor> {
    let t = to_tensor(x)?;
    match axes {
        None => wrap(t.transpose(None)),
        Some(axes) => wrap(t.permute(&axes)),
    }
}

#[pyfunction]
fn expand_dims(x: &Bound<'_, PyAny>, axis: isize) -> PyResult<PyTensor> {
    wrap(to_tensor(x)?.expand_dims(axis))
}

#[pyfunction]
#[pyo3(signature = (x, axis=None))]
fn squeeze(x: &Bound<'_, PyAny>, axis: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    wrap(to_tensor(x)?.squeeze(axes_from_py(axis)?.as_deref()))
}

#[pyfunction]
fn broadcast_to(x: &Bound<'_, PyAny>, shape: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    wrap(to_tensor(x)?.broadcast_to(&shape_arg(shape)?))
}

/// Gathers along `axis` with integer `indices` (numpy's / Keras's `take`).
#[pyfunction]
#[pyo3(signature = (x, indices, axis=None))]
fn take(
    x: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    axis: Option<isize>,
) -> PyResult<PyTensor> {
    let indices = to_indices(indices, "take")?;
    wrap(to_tensor(x)?.take(&indices, axis))
}

fn tensor_list(xs: &Bound<'_, PyAny>, op: &str) -> PyResult<Vec<Tensor>> {
    if xs.is_instance_of::<PyTensor>() {
        return Err(PyTypeError::new_err(format!(
            "{op}: expects a list or tuple of tensors, got one tensor"
        )));
    }
    let items: Vec<Bound<'_, PyAny>> = xs
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{op}: expects a list or tuple of tensors")))?
        .collect::<PyResult<_>>()?;
    items.iter().map(to_tensor).collect()
}

#[pyfunction]
fn concatenate(xs: &Bound<'_, PyAny>, axis: isize) -> PyResult<PyTensor> {
    wrap(Tensor::concatenate(&tensor_list(xs, "concatenate")?, axis))
}

#[pyfunction]
fn stack(x: &Bound<'_, PyAny>, axis: isize) -> PyResult<PyTensor> {
    wrap(Tensor::stack(&tensor_list(x, "stack")?, axis))
}

/// Constant padding with numpy's `pad_width` forms: an int, a (before, after) pair, or one pair
/// per axis.
#[pyfunction]
#[pyo3(signature = (x, pad_width, mode, constant_values))]
fn pad(
    x: &Bound<'_, PyAny>,
    pad_width: &Bound<'_, PyAny>,
    mode: &str,
    constant_values: Option<f64>,
) -> PyResult<PyTensor> {
    if mode != "constant" {
        return Err(PyValueError::new_err(format!(
            "pad: only mode='constant' is supported, got '{mode}'"
        )));
    }
    let t = to_tensor(x)?;
    let ndim = t.ndim();
    let widths: Vec<(usize, usize)> = if let Ok(n) = pad_width.extract::<usize>() {
        vec![(n, n); ndim]
    } else if let Ok((a, b)) = pad_width.extract::<(usize, usize)>() {
        vec![(a, b); ndim]
    } else if let Ok(pairs) = pad_width.extract::<Vec<(usize, usize)>>() {
        if pairs.len() == 1 {
            vec![pairs[0]; ndim]
        } else {
            pairs
        }
    } else {
        return Err(PyValueError::new_err(format!(
            "pad: pad_width must be a non-negative int, a (before, after) pair or one pair per axis, got {pad_width}"
        )));
    };
    wrap(t.pad(&widths, constant_values.unwrap_or(0.0)))
}

/// One-hot encodes integer `x` along a new axis (`axis=-1`: last). Out-of-range ids give zeros.
#[pyfunction]
#[pyo3(signature = (x, num_classes, axis, dtype))]
fn one_hot(
    x: &Bound<'_, PyAny>,
    num_classes: usize,
    axis: isize,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let indices = to_indices(x, "one_hot")?;
    let dtype = dtype_from_py(dtype)?.unwrap_or(DType::F32);
    let encoded = Tensor::one_hot(&indices, num_classes, dtype);
    let ndim = encoded.ndim() as isize;
    let target = if axis < 0 { axis + ndim } else { axis };
    if target < 0 || target >= ndim {
        return Err(PyValueError::new_err(format!(
            "one_hot: axis {axis} is out of range for a result with {ndim} dimensions"
        )));
    }
    if target == ndim - 1 {
        return Ok(PyTensor::new(encoded));
    }
    let mut order: Vec<isize> = (0..ndim - 1).collect();
    order.insert(target as usize, ndim - 1);
    wrap(encoded.permute(&order))
}

// ----- autodiff

#[pyfunction]
fn _push_no_grad() {
    autodiff::push_no_grad();
}

#[pyfunction]
fn _pop_no_grad() {
    autodiff::pop_no_grad();
}

#[pyfunction]
fn is_grad_enabled() -> bool {
    autodiff::is_grad_enabled()
}

/// Gradients of `output` with respect to `inputs` (a list), returned rather than accumulated;
/// `None` where `output` does not depend on an input.
#[pyfunction]
#[pyo3(signature = (output, inputs, output_gradient=None, retain_graph=false))]
fn gradients(
    py: Python<'_>,
    output: &Bound<'_, PyTensor>,
    inputs: Vec<Bound<'_, PyTensor>>,
    output_gradient: Option<&Bound<'_, PyAny>>,
    retain_graph: bool,
) -> PyResult<Vec<Option<PyTensor>>> {
    let output = output.get().inner.clone();
    let seed = match output_gradient {
        Some(g) if !g.is_none() => Some(to_storage(g, Some(output.dtype()))?),
        _ => None,
    };
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.get().inner.clone()).collect();
    let grads = py
        .detach(move || autodiff::grad(&output, &inputs, seed, BackwardOptions { retain_graph }))
        .py()?;
    Ok(grads.into_iter().map(|g| g.map(PyTensor::new)).collect())
}

/// Checks `fn(*inputs)`'s analytic gradient against central differences in float64. Returns the
/// worst |analytic − numeric| / (atol + rtol·|numeric|) ratio; raises `GradcheckError` naming the
/// worst element when it exceeds 1.
#[pyfunction]
#[pyo3(signature = (func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3))]
fn gradcheck(
    py: Python<'_>,
    func: &Bound<'_, PyAny>,
    inputs: &Bound<'_, PyAny>,
    eps: f64,
    atol: f64,
    rtol: f64,
) -> PyResult<f64> {
    let inputs: Vec<Tensor> =
        if inputs.is_instance_of::<PyList>() || inputs.is_instance_of::<PyTuple>() {
            inputs
                .try_iter()?
                .map(|i| to_tensor(&i?))
                .collect::<PyResult<_>>()?
        } else {
            vec![to_tensor(inputs)?]
        };
    let python_error: RefCell<Option<PyErr>> = RefCell::new(None);
    let call = |xs: &[Tensor]| -> ferrograd::Result<Tensor> {
        let result = (|| -> PyResult<Tensor> {
            let args: Vec<Bound<'_, PyTensor>> = xs
                .iter()
                .map(|t| Bound::new(py, PyTensor::new(t.clone())))
                .collect::<PyResult<_>>()?;
            let out = func.call1(PyTuple::new(py, args)?)?;
            out.cast::<PyTensor>()
                .map(|t| t.get().inner.clone())
                .map_err(|_| {
                    PyTypeError::new_err("gradcheck: the function must return a ferrograd Tensor")
                })
        })();
        result.map_err(|e| {
            *python_error.borrow_mut() = Some(e);
            Error::Autograd("the Python function raised".into())
        })
    };
    let outcome = ferrograd::gradcheck(&call, &inputs, GradcheckOptions { eps, atol, rtol });
    if let Some(e) = python_error.borrow_mut().take() {
        return Err(e);
    }
    Ok(outcome.py()?.worst_ratio)
}

// ----- threads

/// Sets how many threads the kernels use.
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    ferrograd::threads::set_num_threads(n).py()
}

#[pyfunction]
fn get_num_threads() -> usize {
    ferrograd::threads::num_threads()
}

/// Adds every function above to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        tensor,
        convert_to_tensor,
        zeros,
        ones,
        full,
        cast,
        negative,
        exp,
        log,
        log1p,
        sqrt,
        abs,
        absolute,
        square,
        sin,
        cos,
        reciprocal,
        relu,
        relu6,
        selu,
        sigmoid,
        tanh,
        softplus,
        softsign,
        silu,
        swish,
        hard_sigmoid,
        ravel,
        leaky_relu,
        elu,
        gelu,
        clip,
        add,
        subtract,
        multiply,
        divide,
        true_divide,
        power,
        maximum,
        minimum,
        matmul,
        equal,
        not_equal,
        greater,
        greater_equal,
        less,
        less_equal,
        r#where,
        sum,
        mean,
        max,
        min,
        var,
        std_dev,
        logsumexp,
        argmax,
        argmin,
        softmax,
        log_softmax,
        reshape,
        transpose,
        expand_dims,
        squeeze,
        broadcast_to,
        take,
        concatenate,
        stack,
        pad,
        one_hot,
        _push_no_grad,
        _pop_no_grad,
        is_grad_enabled,
        gradients,
        gradcheck,
        set_num_threads,
        get_num_threads,
    );
    Ok(())
}
