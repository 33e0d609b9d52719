//! Metrics with Keras 3's definitions (`keras/src/metrics/`): stateful accumulators that a
//! training loop updates batch by batch and reads once per epoch.
//!
//! A [`Metric`] holds a [`MetricKind`] (the Keras class with its parameters), the name it is
//! logged under, and its running state. Metrics only read their inputs: they take plain tensors
//! (`f32` or `f64`, with or without a gradient) and never build a graph.
//!
//! ```
//! use ferrograd::metrics::Metric;
//! use ferrograd::Tensor;
//!
//! // Keras's docstring example of `BinaryAccuracy`.
//! let mut metric = Metric::from_name("binary_accuracy").unwrap();
//! let y_true = Tensor::from_vec(&[4, 1], vec![1.0f64, 1.0, 0.0, 0.0]).unwrap();
//! let y_pred = Tensor::from_vec(&[4, 1], vec![0.98f64, 1.0, 0.0, 0.6]).unwrap();
//! metric.update_state(&y_true, &y_pred, None).unwrap();
//! assert_eq!(metric.result(), 0.75);
//!
//! // `"accuracy"` in `compile` depends on the shapes: (n, 1) predictions make it binary.
//! let acc = Metric::resolve("accuracy", &[4, 1], &[4, 1]).unwrap();
//! assert_eq!(acc.name(), "accuracy");
//! ```
//!
//! The families, as Keras builds them:
//! - **Mean of per-sample values** (`MeanMetricWrapper`): the accuracies and the regression,
//!   hinge and probabilistic metrics compute one value per sample (the input shape without its
//!   last axis) and keep the weighted mean of those values.
//! - **Confusion counts** (`confusion_metrics.py`): AUC, precision, recall and the counts
//!   accumulate true/false positives/negatives per threshold; the result is read off them.
//! - **Plain reductions** (`Mean`, `Sum`) accumulate values given through
//!   [`Metric::update_values`].
//!
//! Shapes: as Keras's `squeeze_or_expand_to_same_rank`, when `y_true` and `y_pred` differ in rank
//! by one and the longer ends in an axis of size 1, that axis is squeezed (or the rank-1 side
//! expanded), so labels of shape `(n,)` meet predictions of shape `(n, 1)`.

mod accuracy;
mod confusion;
mod kind;
mod mean;
mod metric;

pub use accuracy::{
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy, top_k_categorical_accuracy,
};
pub use kind::{Curve, MetricKind, SummationMethod};
pub use metric::Metric;

use ndarray::{ArrayD, Axis, IxDyn};

use crate::error::{Error, Result};
use crate::tensor::{DType, Storage, Tensor};

/// Keras's `backend.epsilon()`: the margin of AUC's end thresholds.
pub const EPSILON: f64 = 1e-7;

/// Keras's `metrics_utils.NEG_INF`: the value top-k filtering gives to the predictions outside
/// the top k, and the default threshold of precision and recall when `top_k` is set.
pub const NEG_INF: f64 = -1e10;

/// `ops.divide_no_nan`: 0 where the divisor is 0.
fn divide_no_nan(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// A tensor's values as `f64`, after casting to `dtype` (Keras converts `y_true` to `y_pred`'s
/// dtype before comparing, so a float64 label meets a float32 prediction as float32).
fn values_as(tensor: &Tensor, dtype: DType) -> ArrayD<f64> {
    tensor.storage().cast(dtype).to_f64()
}

/// Per-sample values as a tensor of `dtype` (the public function forms return these).
fn to_tensor(values: ArrayD<f64>, dtype: DType) -> Tensor {
    Tensor::from_storage(Storage::from_array(values).cast(dtype), false)
}

/// Keras's `squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1)`: when the ranks differ by
/// one and the longer side ends in an axis of size 1, that axis is squeezed, or, if the shorter
/// side has rank 1 and `expand_rank_1`, the shorter side gains a trailing axis instead.
fn squeeze_or_expand(
    x1: ArrayD<f64>,
    x2: ArrayD<f64>,
    expand_rank_1: bool,
) -> (ArrayD<f64>, ArrayD<f64>) {
    let (r1, r2) = (x1.ndim(), x2.ndim());
    if r1 == r2 + 1 && x1.shape().last() == Some(&1) {
        if r2 == 1 && expand_rank_1 {
            return (x1, append_axis(x2));
        }
        return (squeeze_last(x1), x2);
    }
    if r2 == r1 + 1 && x2.shape().last() == Some(&1) {
        if r1 == 1 && expand_rank_1 {
            return (append_axis(x1), x2);
        }
        return (x1, squeeze_last(x2));
    }
    (x1, x2)
}

/// `x` with a trailing axis of size 1.
fn append_axis(x: ArrayD<f64>) -> ArrayD<f64> {
    let last = x.ndim();
    x.insert_axis(Axis(last))
}

/// `x` without its trailing axis (of size 1).
fn squeeze_last(x: ArrayD<f64>) -> ArrayD<f64> {
    let last = x.ndim() - 1;
    x.index_axis_move(Axis(last), 0)
}

/// `y_true` and `y_pred` brought to one shape by [`squeeze_or_expand`], or a shape error naming
/// both original shapes.
fn align(
    op: &'static str,
    y_true: ArrayD<f64>,
    y_pred: ArrayD<f64>,
) -> Result<(ArrayD<f64>, ArrayD<f64>)> {
    let (true_shape, pred_shape) = (y_true.shape().to_vec(), y_pred.shape().to_vec());
    let (t, p) = squeeze_or_expand(y_true, y_pred, true);
    if t.shape() != p.shape() {
        return Err(Error::shape(
            op,
            format!(
                "y_true and y_pred must have the same shape, got y_true.shape={true_shape:?} \
                 and y_pred.shape={pred_shape:?}"
            ),
        ));
    }
    Ok((t, p))
}

/// Reduces `x` over all axes from `keep` on (trailing axes), by their mean or their sum. The
/// trailing axes are contiguous in the standard layout, so each output element reduces one run.
fn reduce_trailing(x: &ArrayD<f64>, keep: usize, mean: bool) -> ArrayD<f64> {
    if keep >= x.ndim() {
        return x.clone();
    }
    let outer: Vec<usize> = x.shape()[..keep].to_vec();
    let inner: usize = x.shape()[keep..].iter().product();
    let data: Vec<f64> = x.iter().copied().collect();
    let reduced: Vec<f64> = if inner == 0 {
        // An empty run: the sum is 0 and the mean 0/0, as numpy.
        vec![if mean { f64::NAN } else { 0.0 }; outer.iter().product()]
    } else {
        data.chunks(inner)
            .map(|run| {
                let sum: f64 = run.iter().sum();
                if mean {
                    sum / inner as f64
                } else {
                    sum
                }
            })
            .collect()
    };
    ArrayD::from_shape_vec(IxDyn(&outer), reduced).expect("outer shape matches the runs")
}

/// The mean over the last axis (`ops.mean(x, axis=-1)`); a 0-d array is returned as it is.
fn mean_last_axis(x: &ArrayD<f64>) -> ArrayD<f64> {
    if x.ndim() == 0 {
        return x.clone();
    }
    reduce_trailing(x, x.ndim() - 1, true)
}

/// The index of the largest value of `row` (the first on ties, as `argmax`).
fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        // NaN wins, as numpy's argmax returns the first NaN.
        if v > row[best] || (v.is_nan() && !row[best].is_nan()) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
pub(crate) mod test_util {
    pub use crate::ops::test_util::*;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(shape: &[usize], values: &[f64]) -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
    }

    #[test]
    fn squeeze_or_expand_follows_keras() {
        // (n,) against (n, 1): the rank-1 side gains an axis.
        let (a, b) = squeeze_or_expand(array(&[2], &[1., 2.]), array(&[2, 1], &[1., 2.]), true);
        assert_eq!((a.shape(), b.shape()), (&[2, 1][..], &[2, 1][..]));
        // Without expand_rank_1 the longer side is squeezed instead.
        let (a, b) = squeeze_or_expand(array(&[2], &[1., 2.]), array(&[2, 1], &[1., 2.]), false);
        assert_eq!((a.shape(), b.shape()), (&[2][..], &[2][..]));
        // (n, k, 1) against (n, k): squeezed.
        let (a, b) = squeeze_or_expand(
            array(&[1, 2, 1], &[1., 2.]),
            array(&[1, 2], &[1., 2.]),
            true,
        );
        assert_eq!((a.shape(), b.shape()), (&[1, 2][..], &[1, 2][..]));
        // Different trailing sizes are left alone (and fail `align`).
        assert!(align("test", array(&[2, 3], &[0.; 6]), array(&[2, 2], &[0.; 4])).is_err());
    }

    #[test]
    fn trailing_reductions() {
        let x = array(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        assert_eq!(
            reduce_trailing(&x, 1, true).into_raw_vec_and_offset().0,
            vec![2., 5.]
        );
        assert_eq!(
            reduce_trailing(&x, 0, false).into_raw_vec_and_offset().0,
            vec![21.]
        );
        assert_eq!(reduce_trailing(&x, 2, true), x);
        assert_eq!(argmax(&[0.1, 0.9, 0.9]), 1);
        assert_eq!(divide_no_nan(1.0, 0.0), 0.0);
    }
}
