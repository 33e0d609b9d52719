//! How per-sample losses become the loss: Keras's `reduce_weighted_values`
//! (`keras/src/losses/loss.py`). `sample_weight` multiplies the per-sample losses first (after
//! the same squeeze-or-expand of a trailing size-1 axis as the labels get), then the reduction
//! applies.

use super::squeeze_or_expand;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras's loss reductions. The default, `SumOverBatchSize`, divides the sum of the (weighted)
/// per-sample losses by their number, not by the sum of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `"none"` / `None`: the weighted per-sample losses, unreduced.
    None,
    /// `"sum"`.
    Sum,
    /// `"sum_over_batch_size"`: sum / number of per-sample losses.
    #[default]
    SumOverBatchSize,
    /// `"mean"`: the same as `"sum_over_batch_size"`.
    Mean,
    /// `"mean_with_sample_weight"`: sum / sum of the sample weights (0 when they sum to 0);
    /// without weights, the same as `"mean"`.
    MeanWithSampleWeight,
}

impl Reduction {
    /// The names Keras accepts (`None` from Python is `"none"`).
    pub const NAMES: [&'static str; 5] = [
        "sum_over_batch_size",
        "sum",
        "none",
        "mean",
        "mean_with_sample_weight",
    ];

    /// Parses Keras's name of a reduction; `None` means no reduction, as in Keras.
    pub fn from_name(name: Option<&str>) -> Result<Reduction> {
        Ok(match name {
            None | Some("none") => Reduction::None,
            Some("sum") => Reduction::Sum,
            Some("sum_over_batch_size") => Reduction::SumOverBatchSize,
            Some("mean") => Reduction::Mean,
            Some("mean_with_sample_weight") => Reduction::MeanWithSampleWeight,
            Some(other) => {
                return Err(Error::argument(
                    "loss",
                    format!(
                        "invalid reduction '{other}'; expected one of {:?} or None",
                        Reduction::NAMES
                    ),
                ))
            }
        })
    }

    /// Keras's name (`None` for no reduction).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Reduction::None => None,
            Reduction::Sum => Some("sum"),
            Reduction::SumOverBatchSize => Some("sum_over_batch_size"),
            Reduction::Mean => Some("mean"),
            Reduction::MeanWithSampleWeight => Some("mean_with_sample_weight"),
        }
    }

    /// Weights `losses` by `sample_weight` (broadcast, after squeezing or expanding a trailing
    /// size-1 axis) and reduces them. As Keras, 0-d losses and empty `(0,)` losses are returned
    /// as they are (weighted).
    pub fn apply(self, losses: &Tensor, sample_weight: Option<&Tensor>) -> Result<Tensor> {
        let mut values = losses.clone();
        let mut weights = None;
        if let Some(w) = sample_weight {
            let w = w.cast(values.dtype())?;
            let (v, w) = squeeze_or_expand(&values, &w)?;
            values = v.mul(&w).map_err(|_| {
                Error::shape(
                    "loss",
                    format!(
                        "sample_weight of shape {:?} does not broadcast to the per-sample \
                         losses of shape {:?}",
                        w.shape(),
                        losses.shape()
                    ),
                )
            })?;
            weights = Some(w);
        }
        let shape = values.shape();
        if self == Reduction::None || shape.is_empty() || shape == [0] {
            return Ok(values);
        }
        let total = values.sum(None, false)?;
        match (self, weights) {
            (Reduction::Sum, _) => Ok(total),
            (Reduction::MeanWithSampleWeight, Some(w)) => {
                // divide_no_nan, as Keras: all-zero weights give a loss of 0.
                let weight_sum = w.sum(None, false)?.detach();
                if weight_sum.item()? == 0.0 {
                    total.scale(0.0)
                } else {
                    total.div(&weight_sum)
                }
            }
            _ => total.scale(1.0 / values.len() as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn reductions_follow_keras() {
        let losses = var64(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let w = t64(&[4], &[1.0, 0.0, 0.5, 2.0]);
        let mean = Reduction::SumOverBatchSize.apply(&losses, None).unwrap();
        assert_close(&values(&mean), &[2.5], 1e-15);
        // (1 + 0 + 1.5 + 8) / 4 samples, not / sum of weights
        let weighted = Reduction::SumOverBatchSize
            .apply(&losses, Some(&w))
            .unwrap();
        assert_close(&values(&weighted), &[10.5 / 4.0], 1e-15);
        let sum = Reduction::Sum.apply(&losses, Some(&w)).unwrap();
        assert_close(&values(&sum), &[10.5], 1e-15);
        let by_weight = Reduction::MeanWithSampleWeight
            .apply(&losses, Some(&w))
            .unwrap();
        assert_close(&values(&by_weight), &[10.5 / 3.5], 1e-15);
        let none = Reduction::None.apply(&losses, Some(&w)).unwrap();
        assert_close(&values(&none), &[1.0, 0.0, 1.5, 8.0], 1e-15);
        weighted.backward().unwrap();
        assert_close(
            &values(&losses.grad().unwrap()),
            &[0.25, 0.0, 0.125, 0.5],
            1e-15,
        );
    }

    #[test]
    fn sample_weight_with_trailing_axis_is_squeezed() {
        let losses = t64(&[2], &[1.0, 3.0]);
        let w = t64(&[2, 1], &[2.0, 0.0]);
        let out = Reduction::Sum.apply(&losses, Some(&w)).unwrap();
        // rank-1 losses meet (2, 1) weights: Keras expands the losses to (2, 1).
        assert_close(&values(&out), &[2.0], 1e-15);
    }

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for name in Reduction::NAMES {
            let r = Reduction::from_name(Some(name)).unwrap();
            assert_eq!(r.name().unwrap_or("none"), name);
        }
        assert_eq!(Reduction::from_name(None).unwrap(), Reduction::None);
        let message = Reduction::from_name(Some("avg")).unwrap_err().to_string();
        assert!(message.contains("sum_over_batch_size"), "{message}");
    }
}
