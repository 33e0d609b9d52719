//! Loss functions with Keras 3's formulas (`keras/src/losses/losses.py`), as differentiable
//! tensor ops.
//!
//! Each loss is a function returning the **per-sample** losses (the input shape without its last
//! axis, as Keras's function forms `keras.losses.mean_squared_error`, ...); a [`Reduction`] then
//! applies `sample_weight` and reduces them, as `keras.losses.Loss.__call__` does. [`Loss`] bundles
//! a loss with its parameters, addressable by Keras's string names (`"mse"`,
//! `"categorical_crossentropy"`, ...).
//!
//! ```
//! use ferrograd::losses::{mean_squared_error, Reduction};
//! use ferrograd::Tensor;
//!
//! let y_true = Tensor::from_vec(&[2, 2], vec![0.0f64, 1.0, 0.0, 0.0]).unwrap();
//! let y_pred = Tensor::from_vec(&[2, 2], vec![1.0f64, 1.0, 1.0, 0.0]).unwrap();
//! let per_sample = mean_squared_error(&y_true, &y_pred).unwrap(); // [0.5, 0.5]
//! let loss = Reduction::SumOverBatchSize.apply(&per_sample, None).unwrap();
//! assert_eq!(loss.item().unwrap(), 0.5);
//! ```
//!
//! Shapes: `y_true` is cast to `y_pred`'s dtype and must have `y_pred`'s shape, except that, as
//! Keras's `squeeze_or_expand_to_same_rank`, a trailing axis of size 1 on one side only is
//! squeezed (or a rank-1 side expanded), so labels of shape `(n,)` meet predictions `(n, 1)`.

mod crossentropy;
pub(crate) mod ctc;
mod hinge;
mod loss;
mod reduction;
mod regression;

pub use crossentropy::{
    binary_crossentropy, categorical_crossentropy, sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits, sparse_categorical_crossentropy,
};
pub use ctc::{ctc, ctc_loss};
pub use hinge::{categorical_hinge, hinge, squared_hinge};
pub use loss::{Loss, ReducedLoss};
pub use reduction::Reduction;
pub use regression::{
    cosine_similarity, huber, kl_divergence, log_cosh, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error, poisson,
};

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras's `backend.epsilon()`: the clipping margin of probabilities and the floor of divisors.
pub const EPSILON: f64 = 1e-7;

/// A 0-d constant in `like`'s dtype.
fn constant(value: f64, like: &Tensor) -> Tensor {
    Tensor::scalar_of(value, like.dtype())
}

/// Keras's `squeeze_or_expand_to_same_rank(x1, x2)`: when the ranks differ by one and the
/// longer side ends in an axis of size 1, that axis is squeezed, or, if the shorter side has
/// rank 1, the shorter side gains a trailing axis instead.
pub(crate) fn squeeze_or_expand(x1: &Tensor, x2: &Tensor) -> Result<(Tensor, Tensor)> {
    let (s1, s2) = (x1.shape(), x2.shape());
    let (mut x1, mut x2) = (x1.clone(), x2.clone());
    if s1.len() == s2.len() + 1 && s1.last() == Some(&1) {
        if s2.len() == 1 {
            x2 = x2.expand_dims(-1)?;
        } else {
            x1 = x1.squeeze(Some(&[-1]))?;
        }
    } else if s2.len() == s1.len() + 1 && s2.last() == Some(&1) {
        if s1.len() == 1 {
            x1 = x1.expand_dims(-1)?;
        } else {
            x2 = x2.squeeze(Some(&[-1]))?;
        }
    }
    Ok((x1, x2))
}

/// `y_true` in `y_pred`'s dtype, both brought to one shape (see the module docs), or a shape
/// error naming both shapes.
pub(crate) fn align(
    op: &'static str,
    y_true: &Tensor,
    y_pred: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let y_true_cast = y_true.cast(y_pred.dtype())?;
    let (t, p) = squeeze_or_expand(&y_true_cast, y_pred)?;
    if t.shape() != p.shape() {
        return Err(Error::shape(
            op,
            format!(
                "y_true and y_pred must have the same shape, got y_true.shape={:?} and \
                 y_pred.shape={:?}",
                y_true.shape(),
                y_pred.shape()
            ),
        ));
    }
    Ok((t, p))
}

/// `label_smoothing` must lie in [0, 1].
fn check_label_smoothing(op: &'static str, label_smoothing: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(Error::argument(
            op,
            format!("label_smoothing must be in [0, 1], got {label_smoothing}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_util {
    pub use crate::ops::test_util::*;
}
