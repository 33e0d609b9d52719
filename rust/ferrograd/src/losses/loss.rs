//! [`Loss`]: a loss function with its parameters, resolvable from Keras's string names, for
//! callers (such as a training loop) that hold the loss as data.

use serde_json::{json, Map, Value};

use super::crossentropy::labels_from_tensor;
use super::*;
use crate::config::{object, Config, KerasObject};

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

/// Keras's `Loss` object: a built-in loss with the reduction of its per-sample values (Keras's
/// `reduction`, default `"sum_over_batch_size"`; `null` means none). This is what a Keras loss's
/// config describes and what `compile` trains with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReducedLoss {
    pub loss: Loss,
    pub reduction: Reduction,
}

impl From<Loss> for ReducedLoss {
    fn from(loss: Loss) -> ReducedLoss {
        ReducedLoss {
            loss,
            reduction: Reduction::SumOverBatchSize,
        }
    }
}

impl Loss {
    /// Keras's class name.
    pub fn class_name(&self) -> &'static str {
        match self {
            Loss::MeanSquaredError => "MeanSquaredError",
            Loss::MeanAbsoluteError => "MeanAbsoluteError",
            Loss::MeanAbsolutePercentageError => "MeanAbsolutePercentageError",
            Loss::MeanSquaredLogarithmicError => "MeanSquaredLogarithmicError",
            Loss::Huber { .. } => "Huber",
            Loss::LogCosh => "LogCosh",
            Loss::Hinge => "Hinge",
            Loss::SquaredHinge => "SquaredHinge",
            Loss::CategoricalHinge => "CategoricalHinge",
            Loss::BinaryCrossentropy { .. } => "BinaryCrossentropy",
            Loss::CategoricalCrossentropy { .. } => "CategoricalCrossentropy",
            Loss::SparseCategoricalCrossentropy { .. } => "SparseCategoricalCrossentropy",
            Loss::KLDivergence => "KLDivergence",
            Loss::Poisson => "Poisson",
            Loss::CosineSimilarity { .. } => "CosineSimilarity",
            Loss::Ctc => "CTC",
        }
    }

    /// The name a Keras instance of the class gets by default.
    pub fn default_name(&self) -> &'static str {
        match self {
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MeanAbsoluteError => "mean_absolute_error",
            Loss::MeanAbsolutePercentageError => "mean_absolute_percentage_error",
            Loss::MeanSquaredLogarithmicError => "mean_squared_logarithmic_error",
            Loss::Huber { .. } => "huber_loss",
            Loss::LogCosh => "log_cosh",
            Loss::Hinge => "hinge",
            Loss::SquaredHinge => "squared_hinge",
            Loss::CategoricalHinge => "categorical_hinge",
            Loss::BinaryCrossentropy { .. } => "binary_crossentropy",
            Loss::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
            Loss::KLDivergence => "kl_divergence",
            Loss::Poisson => "poisson",
            Loss::CosineSimilarity { .. } => "cosine_similarity",
            Loss::Ctc => "ctc",
        }
    }
}

/// Keras's loss classes (`keras/src/losses/losses.py`) and string names, with their config
/// keys and defaults: `delta` (Huber, 1.0); `from_logits` (false), `label_smoothing` (0.0) and
/// `axis` (-1) of the crossentropies (Keras's `SparseCategoricalCrossentropy` writes no axis:
/// it is always the last); `axis` (-1) of `CosineSimilarity`; `reduction` of all.
/// `ignore_class` of the sparse crossentropy is refused when set (the engine does not mask).
impl KerasObject for ReducedLoss {
    const MODULE: &'static str = "keras.losses";

    fn class_name(&self) -> &'static str {
        self.loss.class_name()
    }

    fn to_config(&self) -> Map<String, Value> {
        let mut config = object([
            ("name", json!(self.loss.default_name())),
            ("reduction", json!(self.reduction.name())),
            ("dtype", Value::Null),
        ]);
        let extra = match self.loss {
            Loss::Huber { delta } => object([("delta", json!(delta))]),
            Loss::BinaryCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            }
            | Loss::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            } => object([
                ("from_logits", json!(from_logits)),
                ("label_smoothing", json!(label_smoothing)),
                ("axis", json!(axis)),
            ]),
            Loss::SparseCategoricalCrossentropy { from_logits, .. } => object([
                ("from_logits", json!(from_logits)),
                ("ignore_class", Value::Null),
            ]),
            Loss::CosineSimilarity { axis } => object([("axis", json!(axis))]),
            _ => Map::new(),
        };
        config.extend(extra);
        config
    }

    fn from_config(class_name: &str, c: &Config<'_>) -> Result<ReducedLoss> {
        let mut loss = Loss::from_name(class_name)?;
        match &mut loss {
            Loss::Huber { delta } => *delta = c.f64_or("delta", *delta)?,
            Loss::BinaryCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            }
            | Loss::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            } => {
                *from_logits = c.bool_or("from_logits", *from_logits)?;
                *label_smoothing = c.f64_or("label_smoothing", *label_smoothing)?;
                *axis = c.int_or("axis", *axis)?;
            }
            Loss::SparseCategoricalCrossentropy { from_logits, axis } => {
                *from_logits = c.bool_or("from_logits", *from_logits)?;
                *axis = c.int_or("axis", *axis)?;
                if c.has("ignore_class") {
                    return Err(Error::Format(format!(
                        "{}: ignore_class is not supported natively (the engine does not mask \
                         labels)",
                        c.owner()
                    )));
                }
            }
            Loss::CosineSimilarity { axis } => *axis = c.int_or("axis", *axis)?,
            _ => {}
        }
        if let Loss::BinaryCrossentropy {
            label_smoothing, ..
        }
        | Loss::CategoricalCrossentropy {
            label_smoothing, ..
        } = loss
        {
            check_label_smoothing(loss.class_name(), label_smoothing)?;
        }
        let reduction = if c.is_null("reduction") {
            Reduction::None
        } else {
            Reduction::from_name(Some(c.str_or("reduction", "sum_over_batch_size")?))?
        };
        Ok(ReducedLoss { loss, reduction })
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

    #[test]
    fn keras_configs_round_trip_with_defaults_and_reductions() {
        use crate::config::{deserialize, serialize};
        for &name in Loss::NAMES {
            let loss: ReducedLoss = deserialize(&json!(name)).unwrap();
            assert_eq!(loss.reduction, Reduction::SumOverBatchSize);
            assert_eq!(deserialize::<ReducedLoss>(&serialize(&loss)).unwrap(), loss);
        }
        // As Keras 3 writes `keras.losses.CategoricalCrossentropy(from_logits=True,
        // label_smoothing=0.1, reduction="sum")`.
        let value = json!({"module": "keras.losses", "class_name": "CategoricalCrossentropy",
            "config": {"name": "categorical_crossentropy", "reduction": "sum", "dtype": null,
                       "from_logits": true, "label_smoothing": 0.1, "axis": -1},
            "registered_name": null});
        let loss: ReducedLoss = deserialize(&value).unwrap();
        assert_eq!(
            loss,
            ReducedLoss {
                loss: Loss::CategoricalCrossentropy {
                    from_logits: true,
                    label_smoothing: 0.1,
                    axis: -1
                },
                reduction: Reduction::Sum
            }
        );
        assert_eq!(serialize(&loss), value);
        let none = json!({"class_name": "Huber", "config": {"delta": 2.0, "reduction": null}});
        assert_eq!(
            deserialize::<ReducedLoss>(&none).unwrap(),
            ReducedLoss {
                loss: Loss::Huber { delta: 2.0 },
                reduction: Reduction::None
            }
        );
        let bad = json!({"class_name": "Huber", "config": {"delta": "big"}});
        let message = deserialize::<ReducedLoss>(&bad).unwrap_err().to_string();
        assert!(
            message.contains("Huber") && message.contains("'delta'"),
            "{message}"
        );
        let ignore = json!({"class_name": "SparseCategoricalCrossentropy",
            "config": {"ignore_class": 0}});
        assert!(deserialize::<ReducedLoss>(&ignore).is_err());
        let smoothing = json!({"class_name": "BinaryCrossentropy",
            "config": {"label_smoothing": 2.0}});
        assert!(deserialize::<ReducedLoss>(&smoothing).is_err());
    }
}
