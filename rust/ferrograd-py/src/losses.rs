//! Bindings of the engine's losses (`ferrograd::losses`): one function per loss returning the
//! per-sample losses, and `reduce_loss` applying `sample_weight` and a Keras reduction. The
//! Keras classes and string names live in `python/ferrograd/losses.py`.

use ferrograd::losses::{self, Reduction};
use ferrograd::Tensor;
use pyo3::prelude::*;

use crate::convert::{to_indices, to_tensor};
use crate::errors::IntoPy;
use crate::tensor::{run, wrap, PyTensor};

/// The two operands of a loss as engine tensors.
fn operands(y_true: &Bound<'_, PyAny>, y_pred: &Bound<'_, PyAny>) -> PyResult<(Tensor, Tensor)> {
    Ok((to_tensor(y_true)?, to_tensor(y_pred)?))
}

macro_rules! pair_loss {
    ($($(#[$doc:meta])* $name:ident => $engine:path;)*) => {$(
        $(#[$doc])*
        #[pyfunction]
        fn $name(
            py: Python<'_>,
            y_true: &Bound<'_, PyAny>,
            y_pred: &Bound<'_, PyAny>,
        ) -> PyResult<PyTensor> {
            let (t, p) = operands(y_true, y_pred)?;
            wrap(run(py, p.len(), || $engine(&t, &p)))
        }
    )*};
}

pair_loss! {
    /// Per-sample `mean(square(y_true - y_pred), axis=-1)`.
    loss_mean_squared_error => losses::mean_squared_error;
    /// Per-sample `mean(abs(y_true - y_pred), axis=-1)`.
    loss_mean_absolute_error => losses::mean_absolute_error;
    /// Per-sample `100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), eps)), axis=-1)`.
    loss_mean_absolute_percentage_error => losses::mean_absolute_percentage_error;
    /// Per-sample `mean(square(log1p(max(y_pred, eps)) - log1p(max(y_true, eps))), axis=-1)`.
    loss_mean_squared_logarithmic_error => losses::mean_squared_logarithmic_error;
    /// Per-sample `mean(log(cosh(y_pred - y_true)), axis=-1)`.
    loss_log_cosh => losses::log_cosh;
    /// Per-sample hinge loss ({0, 1} labels become {-1, 1}).
    loss_hinge => losses::hinge;
    /// Per-sample squared hinge loss.
    loss_squared_hinge => losses::squared_hinge;
    /// Per-sample categorical hinge loss.
    loss_categorical_hinge => losses::categorical_hinge;
    /// Per-sample `sum(y_true * log(y_true / y_pred), axis=-1)`, both clipped to [eps, 1].
    loss_kl_divergence => losses::kl_divergence;
    /// Per-sample `mean(y_pred - y_true * log(y_pred + eps), axis=-1)`.
    loss_poisson => losses::poisson;
}

/// Per-sample Huber loss with threshold `delta`.
#[pyfunction]
fn loss_huber(
    py: Python<'_>,
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    delta: f64,
) -> PyResult<PyTensor> {
    let (t, p) = operands(y_true, y_pred)?;
    wrap(run(py, p.len(), || losses::huber(&t, &p, delta)))
}

/// Per-sample negative cosine similarity along `axis`.
#[pyfunction]
fn loss_cosine_similarity(
    py: Python<'_>,
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    axis: isize,
) -> PyResult<PyTensor> {
    let (t, p) = operands(y_true, y_pred)?;
    wrap(run(py, p.len(), || losses::cosine_similarity(&t, &p, axis)))
}

/// Per-sample binary cross-entropy (mean over `axis`).
#[pyfunction]
fn loss_binary_crossentropy(
    py: Python<'_>,
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    from_logits: bool,
    label_smoothing: f64,
    axis: isize,
) -> PyResult<PyTensor> {
    let (t, p) = operands(y_true, y_pred)?;
    wrap(run(py, p.len(), || {
        losses::binary_crossentropy(&t, &p, from_logits, label_smoothing, axis)
    }))
}

/// Per-sample categorical cross-entropy along `axis`.
#[pyfunction]
fn loss_categorical_crossentropy(
    py: Python<'_>,
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    from_logits: bool,
    label_smoothing: f64,
    axis: isize,
) -> PyResult<PyTensor> {
    let (t, p) = operands(y_true, y_pred)?;
    wrap(run(py, p.len(), || {
        losses::categorical_crossentropy(&t, &p, from_logits, label_smoothing, axis)
    }))
}

/// Per-sample sparse categorical cross-entropy; `y_true` holds integer class ids.
#[pyfunction]
fn loss_sparse_categorical_crossentropy(
    py: Python<'_>,
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
    from_logits: bool,
    axis: isize,
) -> PyResult<PyTensor> {
    let labels = to_indices(y_true, "sparse_categorical_crossentropy")?;
    let p = to_tensor(y_pred)?;
    wrap(run(py, p.len(), || {
        losses::sparse_categorical_crossentropy(&labels, &p, from_logits, axis)
    }))
}

/// Applies `sample_weight` and a Keras reduction (`"sum_over_batch_size"`, `"sum"`, `"mean"`,
/// `"mean_with_sample_weight"`, `"none"` or `None`) to per-sample losses.
#[pyfunction]
#[pyo3(signature = (values, sample_weight, reduction))]
fn reduce_loss(
    values: &Bound<'_, PyAny>,
    sample_weight: Option<&Bound<'_, PyAny>>,
    reduction: Option<&str>,
) -> PyResult<PyTensor> {
    let reduction = Reduction::from_name(reduction).py()?;
    let values = to_tensor(values)?;
    let weights = match sample_weight {
        Some(w) if !w.is_none() => Some(to_tensor(w)?),
        _ => None,
    };
    wrap(reduction.apply(&values, weights.as_ref()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add {
        ($($f:ident),* $(,)?) => {$( m.add_function(wrap_pyfunction!($f, m)?)?; )*};
    }
    add!(
        loss_mean_squared_error,
        loss_mean_absolute_error,
        loss_mean_absolute_percentage_error,
        loss_mean_squared_logarithmic_error,
        loss_huber,
        loss_log_cosh,
        loss_hinge,
        loss_squared_hinge,
        loss_categorical_hinge,
        loss_binary_crossentropy,
        loss_categorical_crossentropy,
        loss_sparse_categorical_crossentropy,
        loss_kl_divergence,
        loss_poisson,
        loss_cosine_similarity,
        reduce_loss,
    );
    Ok(())
}
