//! [`Loss`]: a loss function with its parameters, resolvable from Keras's string names, for
//! callers (such as a training loop) that hold the loss as data.

use super::crossentropy::labels_from_tensor;
use super::*;

/// A loss with its parameters. Defaults are Keras's (`Huber { delta: 1.0 }`, crossentropies
/// from probabilities without smoothing on the last axis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Huber {
        delta: f64,
    },
    LogCosh,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    BinaryCrossentropy {
        from_logits: bool,
        label_smoothing: f64,
        axis: isize,
    },
    CategoricalCrossentropy {
        from_logits: bool,
        label_smoothing: f64,
        axis: isize,
    },
    SparseCategoricalCrossentropy {
        from_logits: bool,
        axis: isize,
    },
    KLDivergence,
    Poisson,
    CosineSimilarity {
        axis: isize,
    },
    /// Keras's `CTC`: integer labels padded with the blank 0 against logits.
    Ctc,
}

impl Loss {
    /// Every string name Keras 3's `keras.losses.get` accepts for these losses: the function
    /// names, the class names and the short aliases of `ALL_OBJECTS_DICT`.
    pub const NAMES: &'static [&'static str] = &[
        "mean_squared_error",
        "mse",
        "MSE",
        "MeanSquaredError",
        "mean_absolute_error",
        "mae",
        "MAE",
        "MeanAbsoluteError",
        "mean_absolute_percentage_error",
        "mape",
        "MAPE",
        "MeanAbsolutePercentageError",
        "mean_squared_logarithmic_error",
        "msle",
        "MSLE",
        "MeanSquaredLogarithmicError",
        "huber",
        "Huber",
        "log_cosh",
        "LogCosh",
        "hinge",
        "Hinge",
        "squared_hinge",
        "SquaredHinge",
        "categorical_hinge",
        "CategoricalHinge",
        "binary_crossentropy",
        "bce",
        "BCE",
        "BinaryCrossentropy",
        "categorical_crossentropy",
        "CategoricalCrossentropy",
        "sparse_categorical_crossentropy",
        "SparseCategoricalCrossentropy",
        "kl_divergence",
        "kld",
        "KLD",
        "KLDivergence",
        "poisson",
        "Poisson",
        "cosine_similarity",
        "CosineSimilarity",
        "ctc",
        "CTC",
    ];

    /// The loss a Keras string name stands for, with Keras's default parameters.
    pub fn from_name(name: &str) -> Result<Loss> {
        Ok(match name {
            "mean_squared_error" | "mse" | "MSE" | "MeanSquaredError" => Loss::MeanSquaredError,
            "mean_absolute_error" | "mae" | "MAE" | "MeanAbsoluteError" => Loss::MeanAbsoluteError,
            "mean_absolute_percentage_error" | "mape" | "MAPE" | "MeanAbsolutePercentageError" => {
                Loss::MeanAbsolutePercentageError
            }
            "mean_squared_logarithmic_error" | "msle" | "MSLE" | "MeanSquaredLogarithmicError" => {
                Loss::MeanSquaredLogarithmicError
            }
            "huber" | "Huber" => Loss::Huber { delta: 1.0 },
            "log_cosh" | "LogCosh" => Loss::LogCosh,
            "hinge" | "Hinge" => Loss::Hinge,
            "squared_hinge" | "SquaredHinge" => Loss::SquaredHinge,
            "categorical_hinge" | "CategoricalHinge" => Loss::CategoricalHinge,
            "binary_crossentropy" | "bce" | "BCE" | "BinaryCrossentropy" => {
                Loss::BinaryCrossentropy {
                    from_logits: false,
                    label_smoothing: 0.0,
                    axis: -1,
                }
            }
            "categorical_crossentropy" | "CategoricalCrossentropy" => {
                Loss::CategoricalCrossentropy {
                    from_logits: false,
                    label_smoothing: 0.0,
                    axis: -1,
                }
            }
            "sparse_categorical_crossentropy" | "SparseCategoricalCrossentropy" => {
                Loss::SparseCategoricalCrossentropy {
                    from_logits: false,
                    axis: -1,
                }
            }
            "kl_divergence" | "kld" | "KLD" | "KLDivergence" => Loss::KLDivergence,
            "poisson" | "Poisson" => Loss::Poisson,
            "cosine_similarity" | "CosineSimilarity" => Loss::CosineSimilarity { axis: -1 },
            "ctc" | "CTC" => Loss::Ctc,
            other => {
                return Err(Error::argument(
                    "loss",
                    format!("unknown loss '{other}'; valid names are {:?}", Loss::NAMES),
                ))
            }
        })
    }

    /// The per-sample losses. For the sparse cross-entropy and CTC, `y_true` holds whole-number
    /// class ids as floats.
    pub fn per_sample(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        match *self {
            Loss::MeanSquaredError => mean_squared_error(y_true, y_pred),
            Loss::MeanAbsoluteError => mean_absolute_error(y_true, y_pred),
            Loss::MeanAbsolutePercentageError => mean_absolute_percentage_error(y_true, y_pred),
            Loss::MeanSquaredLogarithmicError => mean_squared_logarithmic_error(y_true, y_pred),
            Loss::Huber { delta } => huber(y_true, y_pred, delta),
            Loss::LogCosh => log_cosh(y_true, y_pred),
            Loss::Hinge => hinge(y_true, y_pred),
            Loss::SquaredHinge => squared_hinge(y_true, y_pred),
            Loss::CategoricalHinge => categorical_hinge(y_true, y_pred),
            Loss::BinaryCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            } => binary_crossentropy(y_true, y_pred, from_logits, label_smoothing, axis),
            Loss::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            } => categorical_crossentropy(y_true, y_pred, from_logits, label_smoothing, axis),
            Loss::SparseCategoricalCrossentropy { from_logits, axis } => {
                let labels = labels_from_tensor("sparse_categorical_crossentropy", y_true)?;
                sparse_categorical_crossentropy(&labels, y_pred, from_logits, axis)
            }
            Loss::KLDivergence => kl_divergence(y_true, y_pred),
            Loss::Poisson => poisson(y_true, y_pred),
            Loss::CosineSimilarity { axis } => cosine_similarity(y_true, y_pred, axis),
            Loss::Ctc => ctc(&labels_from_tensor("ctc", y_true)?, y_pred),
        }
    }

    /// The reduced loss: per-sample losses weighted by `sample_weight`, then `reduction`.
    pub fn compute(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor> {
        reduction.apply(&self.per_sample(y_true, y_pred)?, sample_weight)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn names_resolve_and_unknown_lists_valid_names() {
        for &name in Loss::NAMES {
            assert!(Loss::from_name(name).is_ok(), "{name}");
        }
        assert_eq!(Loss::from_name("mse").unwrap(), Loss::MeanSquaredError);
        let message = Loss::from_name("msq").unwrap_err().to_string();
        assert!(message.contains("mean_squared_error"), "{message}");
    }

    #[test]
    fn sparse_takes_float_labels_and_compute_reduces() {
        let loss = Loss::from_name("sparse_categorical_crossentropy").unwrap();
        let p = t64(&[2, 3], &[0.05, 0.95, 0.0, 0.1, 0.8, 0.1]);
        let y = t64(&[2], &[1.0, 2.0]);
        let w = t64(&[2], &[0.3, 0.7]);
        let v = loss
            .compute(&y, &p, Some(&w), Reduction::SumOverBatchSize)
            .unwrap();
        // Keras docs: 0.814
        let expected = (-0.3 * 0.95f64.ln() - 0.7 * 0.1f64.ln()) / 2.0;
        assert_close(&values(&v), &[expected], 1e-12);
        assert!(loss.per_sample(&t64(&[2], &[1.5, 0.0]), &p).is_err());
    }
}
