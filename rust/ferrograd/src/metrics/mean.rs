//! How values and `sample_weight` become a running total and count: Keras's
//! `reduce_to_samplewise_values` followed by the sums of `Mean.update_state`
//! (`keras/src/metrics/reduction_metrics.py`).
//!
//! Without weights, each sample (first axis) contributes the mean of its values and counts once;
//! a 0-d value counts as one sample. With weights, the weights are first brought to the values'
//! rank (a trailing size-1 axis squeezed or a rank-1 side expanded), the values are averaged down
//! to the weights' rank, the weights are broadcast to them, and the per-sample weight (the mean
//! of the broadcast weights over all but the first axis) is what the sample counts for. So a
//! scalar weight `w` makes the whole batch one sample of weight `w`, as in Keras.

use ndarray::ArrayD;

use super::{reduce_trailing, squeeze_or_expand};
use crate::error::{Error, Result};

/// How the values of one sample are combined: `Mean` for Keras's `Mean` (and every
/// `MeanMetricWrapper`), `Sum` for `Sum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduce {
    Mean,
    Sum,
}

/// What one batch adds to a running `(total, count)`: the sum of the weighted per-sample
/// values, and the sum of the per-sample weights (the number of samples without weights).
pub(crate) fn batch_totals(
    op: &'static str,
    values: ArrayD<f64>,
    sample_weight: Option<ArrayD<f64>>,
    reduce: Reduce,
) -> Result<(f64, f64)> {
    let mean = reduce == Reduce::Mean;
    let Some(weights) = sample_weight else {
        let per_sample = reduce_trailing(&values, 1, mean);
        let count = per_sample.shape().first().map_or(1.0, |&n| n as f64);
        return Ok((per_sample.sum(), count));
    };
    let (values_shape, weights_shape) = (values.shape().to_vec(), weights.shape().to_vec());
    let (values, weights) = squeeze_or_expand(values, weights, true);
    let weight_ndim = weights.ndim();
    let values = reduce_trailing(&values, weight_ndim, mean);
    let broadcast = weights.broadcast(values.raw_dim()).ok_or_else(|| {
        Error::shape(
            op,
            format!(
                "sample_weight of shape {weights_shape:?} does not broadcast to the per-sample \
                 values of shape {values_shape:?}"
            ),
        )
    })?;
    let weighted = &values * &broadcast;
    let per_sample_weights = reduce_trailing(&broadcast.to_owned(), 1, mean);
    let per_sample_values = reduce_trailing(&weighted, 1, mean);
    Ok((per_sample_values.sum(), per_sample_weights.sum()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn array(shape: &[usize], values: &[f64]) -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
    }

    #[test]
    fn keras_mean_docstring() {
        // keras.metrics.Mean: [1, 3, 5, 7] -> 4; with weights [1, 1, 0, 0] -> 2.
        let values = array(&[4], &[1., 3., 5., 7.]);
        assert_eq!(
            batch_totals("mean", values.clone(), None, Reduce::Mean).unwrap(),
            (16.0, 4.0)
        );
        let w = array(&[4], &[1., 1., 0., 0.]);
        let (total, count) = batch_totals("mean", values.clone(), Some(w), Reduce::Mean).unwrap();
        assert_eq!(total / count, 2.0);
        // keras.metrics.Sum with the same weights: 4.
        let w = array(&[4], &[1., 1., 0., 0.]);
        assert_eq!(
            batch_totals("sum", values, Some(w), Reduce::Sum).unwrap().0,
            4.0
        );
    }

    #[test]
    fn weights_reduce_values_to_their_rank() {
        // Values (2, 2) with per-sample weights (2,): each row's mean is weighted.
        let values = array(&[2, 2], &[1., 3., 5., 7.]);
        let w = array(&[2], &[1., 3.]);
        let (total, count) = batch_totals("m", values.clone(), Some(w), Reduce::Mean).unwrap();
        assert_eq!((total, count), (2.0 + 18.0, 4.0));
        // Full-shape weights (2, 2): per-sample weight is the row mean of the weights.
        let w = array(&[2, 2], &[1., 0., 2., 2.]);
        let (total, count) = batch_totals("m", values.clone(), Some(w), Reduce::Mean).unwrap();
        assert_eq!((total, count), (0.5 + 12.0, 0.5 + 2.0));
        // A scalar weight makes the batch one sample of that weight.
        let (total, count) =
            batch_totals("m", values.clone(), Some(array(&[], &[2.0])), Reduce::Mean).unwrap();
        assert_eq!((total, count), (8.0, 2.0));
        // (n, 1) weights against (n,) values.
        let (total, count) = batch_totals(
            "m",
            array(&[2], &[1., 3.]),
            Some(array(&[2, 1], &[1., 0.])),
            Reduce::Mean,
        )
        .unwrap();
        assert_eq!((total, count), (1.0, 1.0));
    }

    #[test]
    fn weights_that_do_not_broadcast_name_both_shapes() {
        let message = batch_totals(
            "m",
            array(&[3], &[1., 2., 3.]),
            Some(array(&[2], &[1., 1.])),
            Reduce::Mean,
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("[2]") && message.contains("[3]"),
            "{message}"
        );
    }
}
