//! [`MetricKind`]: which Keras metric class, with its parameters, plus Keras's string names for
//! them (`keras.metrics.get`'s `ALL_OBJECTS_DICT`) and the validation its constructors do.

use serde_json::{json, Map, Value};

use crate::config::{object, Config, KerasObject};
use crate::error::{Error, Result};
use crate::losses::Loss;

/// The curve whose area [`MetricKind::Auc`] approximates (Keras's `AUCCurve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Curve {
    /// The receiver operating characteristic: recall against the false-positive rate.
    #[default]
    Roc,
    /// Precision against recall.
    Pr,
}

impl Curve {
    /// Keras's `AUCCurve.from_str`: `"ROC"`/`"roc"` or `"PR"`/`"pr"`.
    pub fn parse(name: &str) -> Result<Curve> {
        match name {
            "ROC" | "roc" => Ok(Curve::Roc),
            "PR" | "pr" => Ok(Curve::Pr),
            other => Err(Error::argument(
                "AUC",
                format!("invalid curve '{other}'; expected one of \"ROC\", \"PR\""),
            )),
        }
    }

    /// The name Keras's `get_config` stores.
    pub fn name(self) -> &'static str {
        match self {
            Curve::Roc => "ROC",
            Curve::Pr => "PR",
        }
    }
}

/// How [`MetricKind::Auc`] sums the area between thresholds (Keras's `AUCSummationMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SummationMethod {
    /// Mid-point rule for ROC; for PR, Davis & Goadrich's interpolation of the true and false
    /// positives (not of the precision itself).
    #[default]
    Interpolation,
    /// The lower of the two heights of each interval (a lower bound of the area).
    Minoring,
    /// The higher of the two heights (an upper bound).
    Majoring,
}

impl SummationMethod {
    /// Keras's `AUCSummationMethod.from_str` (lower case or capitalized).
    pub fn parse(name: &str) -> Result<SummationMethod> {
        match name {
            "interpolation" | "Interpolation" => Ok(SummationMethod::Interpolation),
            "minoring" | "Minoring" => Ok(SummationMethod::Minoring),
            "majoring" | "Majoring" => Ok(SummationMethod::Majoring),
            other => Err(Error::argument(
                "AUC",
                format!(
                    "invalid summation_method '{other}'; expected one of \"interpolation\", \
                     \"majoring\", \"minoring\""
                ),
            )),
        }
    }

    /// The name Keras's `get_config` stores.
    pub fn name(self) -> &'static str {
        match self {
            SummationMethod::Interpolation => "interpolation",
            SummationMethod::Minoring => "minoring",
            SummationMethod::Majoring => "majoring",
        }
    }
}

/// A Keras metric class with its parameters. Defaults (through [`MetricKind::from_name`]) are
/// Keras's: `threshold` 0.5, `k` 5, 200 AUC thresholds on the ROC curve with interpolation,
/// precision/recall at 0.5.
///
/// `thresholds` of the confusion metrics: an empty list stands for Keras's `thresholds=None`,
/// which means 0.5, or, for precision and recall with `top_k`, "every top-k prediction is a
/// positive" ([`super::NEG_INF`]). With several thresholds the metric has one value per
/// threshold ([`super::Metric::results`]).
#[derive(Debug, Clone, PartialEq)]
pub enum MetricKind {
    /// How often `y_pred` equals `y_true`, elementwise.
    Accuracy,
    /// How often `y_pred > threshold` equals the 0/1 label.
    BinaryAccuracy { threshold: f64 },
    /// How often the argmax of `y_pred` is the argmax of the one-hot `y_true`.
    CategoricalAccuracy,
    /// How often the argmax of `y_pred` equals the class id in `y_true`.
    SparseCategoricalAccuracy,
    /// How often the one-hot target is among the `k` largest predictions.
    TopKCategoricalAccuracy { k: usize },
    /// How often the class id is among the `k` largest predictions.
    SparseTopKCategoricalAccuracy { k: usize },
    /// The area under the ROC or PR curve over `num_thresholds` evenly spaced thresholds;
    /// `from_logits` applies a sigmoid to the predictions first.
    Auc {
        num_thresholds: usize,
        curve: Curve,
        summation_method: SummationMethod,
        from_logits: bool,
    },
    /// `tp / (tp + fp)` per threshold; `top_k` keeps only the k largest predictions of each row
    /// as candidates, `class_id` restricts to one class (the last axis is the class axis).
    Precision {
        thresholds: Vec<f64>,
        top_k: Option<usize>,
        class_id: Option<usize>,
    },
    /// `tp / (tp + fn)` per threshold, with `top_k` and `class_id` as for `Precision`.
    Recall {
        thresholds: Vec<f64>,
        top_k: Option<usize>,
        class_id: Option<usize>,
    },
    /// The (weighted) number of true positives per threshold.
    TruePositives { thresholds: Vec<f64> },
    /// The (weighted) number of false positives per threshold.
    FalsePositives { thresholds: Vec<f64> },
    /// The (weighted) number of true negatives per threshold.
    TrueNegatives { thresholds: Vec<f64> },
    /// The (weighted) number of false negatives per threshold.
    FalseNegatives { thresholds: Vec<f64> },
    /// The best precision among the thresholds whose recall is at least `recall`.
    PrecisionAtRecall {
        recall: f64,
        num_thresholds: usize,
        class_id: Option<usize>,
    },
    /// The best recall among the thresholds whose precision is at least `precision`.
    RecallAtPrecision {
        precision: f64,
        num_thresholds: usize,
        class_id: Option<usize>,
    },
    /// The best sensitivity (recall) among the thresholds whose specificity is at least
    /// `specificity`.
    SensitivityAtSpecificity {
        specificity: f64,
        num_thresholds: usize,
        class_id: Option<usize>,
    },
    /// The best specificity among the thresholds whose sensitivity is at least `sensitivity`.
    SpecificityAtSensitivity {
        sensitivity: f64,
        num_thresholds: usize,
        class_id: Option<usize>,
    },
    /// Mean of the per-sample `mean(square(y_true - y_pred), axis=-1)`.
    MeanSquaredError,
    /// Mean of the per-sample `mean(abs(y_true - y_pred), axis=-1)`.
    MeanAbsoluteError,
    /// `sqrt` of the weighted mean of the squared errors.
    RootMeanSquaredError,
    /// Mean of the per-sample mean absolute percentage errors.
    MeanAbsolutePercentageError,
    /// Mean of the per-sample mean squared logarithmic errors.
    MeanSquaredLogarithmicError,
    /// Mean of the per-sample `mean(log(cosh(y_pred - y_true)), axis=-1)`.
    LogCoshError,
    /// Mean of the cosine similarity along `axis` (+1 for parallel vectors; the loss of the
    /// same name is its negative).
    CosineSimilarity { axis: isize },
    /// Mean of the per-sample hinge losses.
    Hinge,
    /// Mean of the per-sample squared hinge losses.
    SquaredHinge,
    /// Mean of the per-sample categorical hinge losses.
    CategoricalHinge,
    /// Mean of the per-sample `sum(y_true * log(y_true / y_pred), axis=-1)`.
    KLDivergence,
    /// Mean of the per-sample `mean(y_pred - y_true * log(y_pred + eps), axis=-1)`.
    Poisson,
    /// Mean of the per-sample binary cross-entropies (over the last axis).
    BinaryCrossentropy {
        from_logits: bool,
        label_smoothing: f64,
    },
    /// Mean of the per-sample categorical cross-entropies along `axis`.
    CategoricalCrossentropy {
        from_logits: bool,
        label_smoothing: f64,
        axis: isize,
    },
    /// Mean of the per-sample sparse categorical cross-entropies (float class ids).
    SparseCategoricalCrossentropy { from_logits: bool, axis: isize },
    /// The weighted mean of the values given to [`super::Metric::update_values`].
    Mean,
    /// The weighted sum of the values given to [`super::Metric::update_values`].
    Sum,
}

impl MetricKind {
    /// Every string [`MetricKind::from_name`] accepts: the keys of Keras 3's
    /// `keras.metrics.ALL_OBJECTS_DICT` for these classes (class names, their snake_case and
    /// the short aliases), in the order of `keras/src/metrics/__init__.py`.
    pub const NAMES: &'static [&'static str] = &[
        "Mean",
        "mean",
        "Sum",
        "sum",
        "MeanSquaredError",
        "mean_squared_error",
        "mse",
        "MSE",
        "RootMeanSquaredError",
        "root_mean_squared_error",
        "MeanAbsoluteError",
        "mean_absolute_error",
        "mae",
        "MAE",
        "MeanAbsolutePercentageError",
        "mean_absolute_percentage_error",
        "mape",
        "MAPE",
        "MeanSquaredLogarithmicError",
        "mean_squared_logarithmic_error",
        "msle",
        "MSLE",
        "CosineSimilarity",
        "cosine_similarity",
        "LogCoshError",
        "log_cosh_error",
        "AUC",
        "auc",
        "FalseNegatives",
        "false_negatives",
        "FalsePositives",
        "false_positives",
        "Precision",
        "precision",
        "Recall",
        "recall",
        "TrueNegatives",
        "true_negatives",
        "TruePositives",
        "true_positives",
        "Hinge",
        "hinge",
        "SquaredHinge",
        "squared_hinge",
        "CategoricalHinge",
        "categorical_hinge",
        "KLDivergence",
        "kl_divergence",
        "Poisson",
        "poisson",
        "BinaryCrossentropy",
        "binary_crossentropy",
        "bce",
        "BCE",
        "CategoricalCrossentropy",
        "categorical_crossentropy",
        "SparseCategoricalCrossentropy",
        "sparse_categorical_crossentropy",
        "Accuracy",
        "accuracy",
        "BinaryAccuracy",
        "binary_accuracy",
        "CategoricalAccuracy",
        "categorical_accuracy",
        "SparseCategoricalAccuracy",
        "sparse_categorical_accuracy",
        "TopKCategoricalAccuracy",
        "top_k_categorical_accuracy",
        "SparseTopKCategoricalAccuracy",
        "sparse_top_k_categorical_accuracy",
    ];

    /// The Keras class names of every kind, for [`MetricKind::default_for_class`].
    pub const CLASS_NAMES: &'static [&'static str] = &[
        "Accuracy",
        "BinaryAccuracy",
        "CategoricalAccuracy",
        "SparseCategoricalAccuracy",
        "TopKCategoricalAccuracy",
        "SparseTopKCategoricalAccuracy",
        "AUC",
        "Precision",
        "Recall",
        "TruePositives",
        "FalsePositives",
        "TrueNegatives",
        "FalseNegatives",
        "PrecisionAtRecall",
        "RecallAtPrecision",
        "SensitivityAtSpecificity",
        "SpecificityAtSensitivity",
        "MeanSquaredError",
        "MeanAbsoluteError",
        "RootMeanSquaredError",
        "MeanAbsolutePercentageError",
        "MeanSquaredLogarithmicError",
        "LogCoshError",
        "CosineSimilarity",
        "Hinge",
        "SquaredHinge",
        "CategoricalHinge",
        "KLDivergence",
        "Poisson",
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
        "Mean",
        "Sum",
    ];

    /// The kind a Keras string name stands for, with the class's default parameters, as
    /// `keras.metrics.get(name)` builds it. `"acc"` and the shape-dependent meaning of
    /// `"accuracy"` belong to `compile`: see [`super::Metric::resolve`].
    pub fn from_name(name: &str) -> Result<MetricKind> {
        let class = match name {
            "mse" | "MSE" | "mean_squared_error" => "MeanSquaredError",
            "mae" | "MAE" | "mean_absolute_error" => "MeanAbsoluteError",
            "mape" | "MAPE" | "mean_absolute_percentage_error" => "MeanAbsolutePercentageError",
            "msle" | "MSLE" | "mean_squared_logarithmic_error" => "MeanSquaredLogarithmicError",
            "bce" | "BCE" | "binary_crossentropy" => "BinaryCrossentropy",
            "root_mean_squared_error" => "RootMeanSquaredError",
            "cosine_similarity" => "CosineSimilarity",
            "log_cosh_error" => "LogCoshError",
            "auc" => "AUC",
            "false_negatives" => "FalseNegatives",
            "false_positives" => "FalsePositives",
            "true_negatives" => "TrueNegatives",
            "true_positives" => "TruePositives",
            "precision" => "Precision",
            "recall" => "Recall",
            "hinge" => "Hinge",
            "squared_hinge" => "SquaredHinge",
            "categorical_hinge" => "CategoricalHinge",
            "kl_divergence" => "KLDivergence",
            "poisson" => "Poisson",
            "categorical_crossentropy" => "CategoricalCrossentropy",
            "sparse_categorical_crossentropy" => "SparseCategoricalCrossentropy",
            "accuracy" => "Accuracy",
            "binary_accuracy" => "BinaryAccuracy",
            "categorical_accuracy" => "CategoricalAccuracy",
            "sparse_categorical_accuracy" => "SparseCategoricalAccuracy",
            "top_k_categorical_accuracy" => "TopKCategoricalAccuracy",
            "sparse_top_k_categorical_accuracy" => "SparseTopKCategoricalAccuracy",
            "mean" => "Mean",
            "sum" => "Sum",
            other => other,
        };
        // The "at" metrics need their target value: Keras cannot build them from a string.
        if !Self::NAMES.contains(&name) {
            let hint = if name.eq_ignore_ascii_case("acc") {
                " ('acc' means binary, categorical or sparse categorical accuracy depending \
                 on the shapes: use Metric::resolve)"
            } else {
                ""
            };
            return Err(Error::argument(
                "metric",
                format!(
                    "unknown metric '{name}'{hint}; valid names are {:?}",
                    Self::NAMES
                ),
            ));
        }
        Self::default_for_class(class)
    }

    /// The kind of a Keras class name with that class's default parameters. The "at" metrics
    /// (`PrecisionAtRecall`, ...) have no default target and are an error here.
    pub fn default_for_class(class_name: &str) -> Result<MetricKind> {
        let thresholds = Vec::new();
        Ok(match class_name {
            "Accuracy" => MetricKind::Accuracy,
            "BinaryAccuracy" => MetricKind::BinaryAccuracy { threshold: 0.5 },
            "CategoricalAccuracy" => MetricKind::CategoricalAccuracy,
            "SparseCategoricalAccuracy" => MetricKind::SparseCategoricalAccuracy,
            "TopKCategoricalAccuracy" => MetricKind::TopKCategoricalAccuracy { k: 5 },
            "SparseTopKCategoricalAccuracy" => MetricKind::SparseTopKCategoricalAccuracy { k: 5 },
            "AUC" => MetricKind::Auc {
                num_thresholds: 200,
                curve: Curve::Roc,
                summation_method: SummationMethod::Interpolation,
                from_logits: false,
            },
            "Precision" => MetricKind::Precision {
                thresholds,
                top_k: None,
                class_id: None,
            },
            "Recall" => MetricKind::Recall {
                thresholds,
                top_k: None,
                class_id: None,
            },
            "TruePositives" => MetricKind::TruePositives { thresholds },
            "FalsePositives" => MetricKind::FalsePositives { thresholds },
            "TrueNegatives" => MetricKind::TrueNegatives { thresholds },
            "FalseNegatives" => MetricKind::FalseNegatives { thresholds },
            "MeanSquaredError" => MetricKind::MeanSquaredError,
            "MeanAbsoluteError" => MetricKind::MeanAbsoluteError,
            "RootMeanSquaredError" => MetricKind::RootMeanSquaredError,
            "MeanAbsolutePercentageError" => MetricKind::MeanAbsolutePercentageError,
            "MeanSquaredLogarithmicError" => MetricKind::MeanSquaredLogarithmicError,
            "LogCoshError" => MetricKind::LogCoshError,
            "CosineSimilarity" => MetricKind::CosineSimilarity { axis: -1 },
            "Hinge" => MetricKind::Hinge,
            "SquaredHinge" => MetricKind::SquaredHinge,
            "CategoricalHinge" => MetricKind::CategoricalHinge,
            "KLDivergence" => MetricKind::KLDivergence,
            "Poisson" => MetricKind::Poisson,
            "BinaryCrossentropy" => MetricKind::BinaryCrossentropy {
                from_logits: false,
                label_smoothing: 0.0,
            },
            "CategoricalCrossentropy" => MetricKind::CategoricalCrossentropy {
                from_logits: false,
                label_smoothing: 0.0,
                axis: -1,
            },
            "SparseCategoricalCrossentropy" => MetricKind::SparseCategoricalCrossentropy {
                from_logits: false,
                axis: -1,
            },
            "Mean" => MetricKind::Mean,
            "Sum" => MetricKind::Sum,
            "PrecisionAtRecall"
            | "RecallAtPrecision"
            | "SensitivityAtSpecificity"
            | "SpecificityAtSensitivity" => {
                return Err(Error::argument(
                    "metric",
                    format!("{class_name} needs its target value; it has no default"),
                ))
            }
            other => {
                return Err(Error::argument(
                    "metric",
                    format!(
                        "unknown metric class '{other}'; valid classes are {:?}",
                        Self::CLASS_NAMES
                    ),
                ))
            }
        })
    }

    /// The Keras class this kind is.
    pub fn class_name(&self) -> &'static str {
        match self {
            MetricKind::Accuracy => "Accuracy",
            MetricKind::BinaryAccuracy { .. } => "BinaryAccuracy",
            MetricKind::CategoricalAccuracy => "CategoricalAccuracy",
            MetricKind::SparseCategoricalAccuracy => "SparseCategoricalAccuracy",
            MetricKind::TopKCategoricalAccuracy { .. } => "TopKCategoricalAccuracy",
            MetricKind::SparseTopKCategoricalAccuracy { .. } => "SparseTopKCategoricalAccuracy",
            MetricKind::Auc { .. } => "AUC",
            MetricKind::Precision { .. } => "Precision",
            MetricKind::Recall { .. } => "Recall",
            MetricKind::TruePositives { .. } => "TruePositives",
            MetricKind::FalsePositives { .. } => "FalsePositives",
            MetricKind::TrueNegatives { .. } => "TrueNegatives",
            MetricKind::FalseNegatives { .. } => "FalseNegatives",
            MetricKind::PrecisionAtRecall { .. } => "PrecisionAtRecall",
            MetricKind::RecallAtPrecision { .. } => "RecallAtPrecision",
            MetricKind::SensitivityAtSpecificity { .. } => "SensitivityAtSpecificity",
            MetricKind::SpecificityAtSensitivity { .. } => "SpecificityAtSensitivity",
            MetricKind::MeanSquaredError => "MeanSquaredError",
            MetricKind::MeanAbsoluteError => "MeanAbsoluteError",
            MetricKind::RootMeanSquaredError => "RootMeanSquaredError",
            MetricKind::MeanAbsolutePercentageError => "MeanAbsolutePercentageError",
            MetricKind::MeanSquaredLogarithmicError => "MeanSquaredLogarithmicError",
            MetricKind::LogCoshError => "LogCoshError",
            MetricKind::CosineSimilarity { .. } => "CosineSimilarity",
            MetricKind::Hinge => "Hinge",
            MetricKind::SquaredHinge => "SquaredHinge",
            MetricKind::CategoricalHinge => "CategoricalHinge",
            MetricKind::KLDivergence => "KLDivergence",
            MetricKind::Poisson => "Poisson",
            MetricKind::BinaryCrossentropy { .. } => "BinaryCrossentropy",
            MetricKind::CategoricalCrossentropy { .. } => "CategoricalCrossentropy",
            MetricKind::SparseCategoricalCrossentropy { .. } => "SparseCategoricalCrossentropy",
            MetricKind::Mean => "Mean",
            MetricKind::Sum => "Sum",
        }
    }

    /// The name a Keras instance of this class gets when none is given (the constructor's
    /// default, or the snake_case class name for classes whose default is `None`). Keras adds
    /// `_1`, `_2`, ... to repeated `None` names; that numbering is the caller's.
    pub fn default_name(&self) -> &'static str {
        match self {
            MetricKind::Accuracy => "accuracy",
            MetricKind::BinaryAccuracy { .. } => "binary_accuracy",
            MetricKind::CategoricalAccuracy => "categorical_accuracy",
            MetricKind::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            MetricKind::TopKCategoricalAccuracy { .. } => "top_k_categorical_accuracy",
            MetricKind::SparseTopKCategoricalAccuracy { .. } => "sparse_top_k_categorical_accuracy",
            MetricKind::Auc { .. } => "auc",
            MetricKind::Precision { .. } => "precision",
            MetricKind::Recall { .. } => "recall",
            MetricKind::TruePositives { .. } => "true_positives",
            MetricKind::FalsePositives { .. } => "false_positives",
            MetricKind::TrueNegatives { .. } => "true_negatives",
            MetricKind::FalseNegatives { .. } => "false_negatives",
            MetricKind::PrecisionAtRecall { .. } => "precision_at_recall",
            MetricKind::RecallAtPrecision { .. } => "recall_at_precision",
            MetricKind::SensitivityAtSpecificity { .. } => "sensitivity_at_specificity",
            MetricKind::SpecificityAtSensitivity { .. } => "specificity_at_sensitivity",
            MetricKind::MeanSquaredError => "mean_squared_error",
            MetricKind::MeanAbsoluteError => "mean_absolute_error",
            MetricKind::RootMeanSquaredError => "root_mean_squared_error",
            MetricKind::MeanAbsolutePercentageError => "mean_absolute_percentage_error",
            MetricKind::MeanSquaredLogarithmicError => "mean_squared_logarithmic_error",
            // Keras's LogCoshError defaults to "logcosh", not its snake_case class name.
            MetricKind::LogCoshError => "logcosh",
            MetricKind::CosineSimilarity { .. } => "cosine_similarity",
            MetricKind::Hinge => "hinge",
            MetricKind::SquaredHinge => "squared_hinge",
            MetricKind::CategoricalHinge => "categorical_hinge",
            MetricKind::KLDivergence => "kl_divergence",
            MetricKind::Poisson => "poisson",
            MetricKind::BinaryCrossentropy { .. } => "binary_crossentropy",
            MetricKind::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            MetricKind::SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
            MetricKind::Mean => "mean",
            MetricKind::Sum => "sum",
        }
    }

    /// Whether the metric is better when higher (Keras's `_direction == "up"`); the losses
    /// and errors are better lower. `Mean`, `Sum` and the counts have no direction (`None`).
    pub fn higher_is_better(&self) -> Option<bool> {
        match self {
            MetricKind::Accuracy
            | MetricKind::BinaryAccuracy { .. }
            | MetricKind::CategoricalAccuracy
            | MetricKind::SparseCategoricalAccuracy
            | MetricKind::TopKCategoricalAccuracy { .. }
            | MetricKind::SparseTopKCategoricalAccuracy { .. }
            | MetricKind::Auc { .. }
            | MetricKind::Precision { .. }
            | MetricKind::Recall { .. }
            | MetricKind::PrecisionAtRecall { .. }
            | MetricKind::RecallAtPrecision { .. }
            | MetricKind::SensitivityAtSpecificity { .. }
            | MetricKind::SpecificityAtSensitivity { .. }
            | MetricKind::CosineSimilarity { .. } => Some(true),
            MetricKind::Mean
            | MetricKind::Sum
            | MetricKind::TruePositives { .. }
            | MetricKind::FalsePositives { .. }
            | MetricKind::TrueNegatives { .. }
            | MetricKind::FalseNegatives { .. } => None,
            _ => Some(false),
        }
    }

    /// The loss whose per-sample values this metric averages (Keras's `MeanMetricWrapper`
    /// around a function of `keras.losses`), if it is one.
    pub(crate) fn wrapped_loss(&self) -> Option<Loss> {
        Some(match *self {
            MetricKind::MeanSquaredError => Loss::MeanSquaredError,
            MetricKind::MeanAbsoluteError => Loss::MeanAbsoluteError,
            MetricKind::MeanAbsolutePercentageError => Loss::MeanAbsolutePercentageError,
            MetricKind::MeanSquaredLogarithmicError => Loss::MeanSquaredLogarithmicError,
            MetricKind::LogCoshError => Loss::LogCosh,
            MetricKind::CosineSimilarity { axis } => Loss::CosineSimilarity { axis },
            MetricKind::Hinge => Loss::Hinge,
            MetricKind::SquaredHinge => Loss::SquaredHinge,
            MetricKind::CategoricalHinge => Loss::CategoricalHinge,
            MetricKind::KLDivergence => Loss::KLDivergence,
            MetricKind::Poisson => Loss::Poisson,
            MetricKind::BinaryCrossentropy {
                from_logits,
                label_smoothing,
            } => Loss::BinaryCrossentropy {
                from_logits,
                label_smoothing,
                axis: -1,
            },
            MetricKind::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            } => Loss::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            },
            MetricKind::SparseCategoricalCrossentropy { from_logits, axis } => {
                Loss::SparseCategoricalCrossentropy { from_logits, axis }
            }
            _ => return None,
        })
    }

    /// Checks the parameters as Keras's constructors do.
    pub fn validate(&self) -> Result<()> {
        let op = self.class_name();
        let problem = match self {
            MetricKind::BinaryAccuracy { threshold } if !(*threshold > 0.0 && *threshold < 1.0) => {
                Some(format!(
                    "threshold must be in the open interval (0, 1), got {threshold}"
                ))
            }
            MetricKind::TopKCategoricalAccuracy { k: 0 }
            | MetricKind::SparseTopKCategoricalAccuracy { k: 0 } => {
                Some("k must be at least 1, got 0".to_owned())
            }
            MetricKind::Auc { num_thresholds, .. } if *num_thresholds <= 1 => Some(format!(
                "num_thresholds must be an integer > 1, got {num_thresholds}"
            )),
            MetricKind::Precision {
                thresholds, top_k, ..
            }
            | MetricKind::Recall {
                thresholds, top_k, ..
            } => {
                check_thresholds(op, thresholds)?;
                (*top_k == Some(0)).then(|| "top_k must be at least 1, got 0".to_owned())
            }
            MetricKind::TruePositives { thresholds }
            | MetricKind::FalsePositives { thresholds }
            | MetricKind::TrueNegatives { thresholds }
            | MetricKind::FalseNegatives { thresholds } => {
                check_thresholds(op, thresholds)?;
                None
            }
            MetricKind::PrecisionAtRecall {
                recall: value,
                num_thresholds,
                ..
            }
            | MetricKind::RecallAtPrecision {
                precision: value,
                num_thresholds,
                ..
            }
            | MetricKind::SensitivityAtSpecificity {
                specificity: value,
                num_thresholds,
                ..
            }
            | MetricKind::SpecificityAtSensitivity {
                sensitivity: value,
                num_thresholds,
                ..
            } => {
                if !(0.0..=1.0).contains(value) {
                    Some(format!(
                        "the target value must be in the range [0, 1], got {value}"
                    ))
                } else if *num_thresholds == 0 {
                    Some("num_thresholds must be an integer > 0, got 0".to_owned())
                } else {
                    None
                }
            }
            MetricKind::BinaryCrossentropy {
                label_smoothing, ..
            }
            | MetricKind::CategoricalCrossentropy {
                label_smoothing, ..
            } if !(0.0..=1.0).contains(label_smoothing) => Some(format!(
                "label_smoothing must be in [0, 1], got {label_smoothing}"
            )),
            _ => None,
        };
        match problem {
            Some(message) => Err(Error::argument(op, message)),
            None => Ok(()),
        }
    }
}

/// Keras's `assert_thresholds_range`: every threshold in [0, 1].
fn check_thresholds(op: &'static str, thresholds: &[f64]) -> Result<()> {
    let invalid: Vec<f64> = thresholds
        .iter()
        .copied()
        .filter(|t| !(0.0..=1.0).contains(t))
        .collect();
    if !invalid.is_empty() {
        return Err(Error::argument(
            op,
            format!("threshold values must be in [0, 1], got {invalid:?}"),
        ));
    }
    Ok(())
}

/// `thresholds`: missing or null (Keras's default, stored as an empty list), a number, or a
/// list of numbers.
fn thresholds(c: &Config<'_>) -> Result<Vec<f64>> {
    match c.get("thresholds") {
        None => Ok(Vec::new()),
        Some(Value::Array(_)) => c.f64s("thresholds"),
        Some(_) => Ok(vec![c.f64("thresholds")?]),
    }
}

/// Keras's `thresholds=None` for an empty list.
fn thresholds_value(thresholds: &[f64]) -> Value {
    if thresholds.is_empty() {
        Value::Null
    } else {
        json!(thresholds)
    }
}

/// Keras's metric classes (`keras/src/metrics/*.py`) with their config keys and defaults;
/// string names (`"mse"`, `"auc"`, ...) give the class with its defaults, as
/// `keras.metrics.get`. `name` and `dtype` belong to the [`super::Metric`], not the kind.
/// AUC's `multi_label`, `num_labels`, `label_weights` and explicit `thresholds` are refused
/// when set: the engine computes the single-label AUC over evenly spaced thresholds.
impl KerasObject for MetricKind {
    const MODULE: &'static str = "keras.metrics";

    fn class_name(&self) -> &'static str {
        MetricKind::class_name(self)
    }

    fn to_config(&self) -> Map<String, Value> {
        match self {
            MetricKind::BinaryAccuracy { threshold } => object([("threshold", json!(threshold))]),
            MetricKind::TopKCategoricalAccuracy { k }
            | MetricKind::SparseTopKCategoricalAccuracy { k } => object([("k", json!(k))]),
            MetricKind::Auc {
                num_thresholds,
                curve,
                summation_method,
                from_logits,
            } => object([
                ("num_thresholds", json!(num_thresholds)),
                ("curve", json!(curve.name())),
                ("summation_method", json!(summation_method.name())),
                ("multi_label", json!(false)),
                ("num_labels", Value::Null),
                ("label_weights", Value::Null),
                ("from_logits", json!(from_logits)),
            ]),
            MetricKind::Precision {
                thresholds,
                top_k,
                class_id,
            }
            | MetricKind::Recall {
                thresholds,
                top_k,
                class_id,
            } => object([
                ("thresholds", thresholds_value(thresholds)),
                ("top_k", json!(top_k)),
                ("class_id", json!(class_id)),
            ]),
            MetricKind::TruePositives { thresholds }
            | MetricKind::FalsePositives { thresholds }
            | MetricKind::TrueNegatives { thresholds }
            | MetricKind::FalseNegatives { thresholds } => {
                object([("thresholds", thresholds_value(thresholds))])
            }
            MetricKind::PrecisionAtRecall {
                recall: value,
                num_thresholds,
                class_id,
            }
            | MetricKind::RecallAtPrecision {
                precision: value,
                num_thresholds,
                class_id,
            }
            | MetricKind::SensitivityAtSpecificity {
                specificity: value,
                num_thresholds,
                class_id,
            }
            | MetricKind::SpecificityAtSensitivity {
                sensitivity: value,
                num_thresholds,
                class_id,
            } => object([
                (self.target_key().unwrap_or("value"), json!(value)),
                ("num_thresholds", json!(num_thresholds)),
                ("class_id", json!(class_id)),
            ]),
            MetricKind::CosineSimilarity { axis } => object([("axis", json!(axis))]),
            MetricKind::BinaryCrossentropy {
                from_logits,
                label_smoothing,
            } => object([
                ("from_logits", json!(from_logits)),
                ("label_smoothing", json!(label_smoothing)),
            ]),
            MetricKind::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
                axis,
            } => object([
                ("from_logits", json!(from_logits)),
                ("label_smoothing", json!(label_smoothing)),
                ("axis", json!(axis)),
            ]),
            MetricKind::SparseCategoricalCrossentropy { from_logits, axis } => {
                object([("from_logits", json!(from_logits)), ("axis", json!(axis))])
            }
            _ => Map::new(),
        }
    }

    fn from_config(class_name: &str, c: &Config<'_>) -> Result<MetricKind> {
        let class = if MetricKind::CLASS_NAMES.contains(&class_name) {
            class_name
        } else if MetricKind::NAMES.contains(&class_name) {
            MetricKind::from_name(class_name)?.class_name()
        } else {
            // An unknown class: the error lists the valid classes.
            return MetricKind::default_for_class(class_name);
        };
        let num_thresholds = || c.usize_or("num_thresholds", 200);
        let kind = match class {
            "BinaryAccuracy" => MetricKind::BinaryAccuracy {
                threshold: c.f64_or("threshold", 0.5)?,
            },
            "TopKCategoricalAccuracy" => MetricKind::TopKCategoricalAccuracy {
                k: c.usize_or("k", 5)?,
            },
            "SparseTopKCategoricalAccuracy" => MetricKind::SparseTopKCategoricalAccuracy {
                k: c.usize_or("k", 5)?,
            },
            "AUC" => {
                for key in ["num_labels", "label_weights", "thresholds"] {
                    if c.has(key) {
                        return Err(Error::argument(
                            "AUC",
                            format!("`{key}` is not supported; use num_thresholds"),
                        ));
                    }
                }
                if c.bool_or("multi_label", false)? {
                    return Err(Error::argument(
                        "AUC",
                        "multi_label=True is not supported".to_string(),
                    ));
                }
                MetricKind::Auc {
                    num_thresholds: num_thresholds()?,
                    curve: Curve::parse(c.str_or("curve", "ROC")?)?,
                    summation_method: SummationMethod::parse(
                        c.str_or("summation_method", "interpolation")?,
                    )?,
                    from_logits: c.bool_or("from_logits", false)?,
                }
            }
            "Precision" => MetricKind::Precision {
                thresholds: thresholds(c)?,
                top_k: c.opt_usize("top_k")?,
                class_id: c.opt_usize("class_id")?,
            },
            "Recall" => MetricKind::Recall {
                thresholds: thresholds(c)?,
                top_k: c.opt_usize("top_k")?,
                class_id: c.opt_usize("class_id")?,
            },
            "TruePositives" => MetricKind::TruePositives {
                thresholds: thresholds(c)?,
            },
            "FalsePositives" => MetricKind::FalsePositives {
                thresholds: thresholds(c)?,
            },
            "TrueNegatives" => MetricKind::TrueNegatives {
                thresholds: thresholds(c)?,
            },
            "FalseNegatives" => MetricKind::FalseNegatives {
                thresholds: thresholds(c)?,
            },
            "PrecisionAtRecall" => MetricKind::PrecisionAtRecall {
                recall: c.f64("recall")?,
                num_thresholds: num_thresholds()?,
                class_id: c.opt_usize("class_id")?,
            },
            "RecallAtPrecision" => MetricKind::RecallAtPrecision {
                precision: c.f64("precision")?,
                num_thresholds: num_thresholds()?,
                class_id: c.opt_usize("class_id")?,
            },
            "SensitivityAtSpecificity" => MetricKind::SensitivityAtSpecificity {
                specificity: c.f64("specificity")?,
                num_thresholds: num_thresholds()?,
                class_id: c.opt_usize("class_id")?,
            },
            "SpecificityAtSensitivity" => MetricKind::SpecificityAtSensitivity {
                sensitivity: c.f64("sensitivity")?,
                num_thresholds: num_thresholds()?,
                class_id: c.opt_usize("class_id")?,
            },
            "CosineSimilarity" => MetricKind::CosineSimilarity {
                axis: c.int_or("axis", -1)?,
            },
            "BinaryCrossentropy" => MetricKind::BinaryCrossentropy {
                from_logits: c.bool_or("from_logits", false)?,
                label_smoothing: c.f64_or("label_smoothing", 0.0)?,
            },
            "CategoricalCrossentropy" => MetricKind::CategoricalCrossentropy {
                from_logits: c.bool_or("from_logits", false)?,
                label_smoothing: c.f64_or("label_smoothing", 0.0)?,
                axis: c.int_or("axis", -1)?,
            },
            "SparseCategoricalCrossentropy" => MetricKind::SparseCategoricalCrossentropy {
                from_logits: c.bool_or("from_logits", false)?,
                axis: c.int_or("axis", -1)?,
            },
            // The classes without parameters.
            other => MetricKind::default_for_class(other)?,
        };
        kind.validate()?;
        Ok(kind)
    }
}

impl MetricKind {
    /// The config key of an "at" metric's target value (`"recall"` for `PrecisionAtRecall`).
    pub fn target_key(&self) -> Option<&'static str> {
        match self {
            MetricKind::PrecisionAtRecall { .. } => Some("recall"),
            MetricKind::RecallAtPrecision { .. } => Some("precision"),
            MetricKind::SensitivityAtSpecificity { .. } => Some("specificity"),
            MetricKind::SpecificityAtSensitivity { .. } => Some("sensitivity"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_and_class_names_round_trip() {
        for &name in MetricKind::NAMES {
            let kind = MetricKind::from_name(name).unwrap();
            assert!(kind.validate().is_ok(), "{name}");
            assert_eq!(
                MetricKind::default_for_class(kind.class_name()).unwrap(),
                kind
            );
        }
        for &class in MetricKind::CLASS_NAMES {
            if let Ok(kind) = MetricKind::default_for_class(class) {
                assert_eq!(kind.class_name(), class);
            }
        }
        assert_eq!(
            MetricKind::from_name("mae").unwrap(),
            MetricKind::MeanAbsoluteError
        );
        assert_eq!(
            MetricKind::from_name("auc").unwrap(),
            MetricKind::from_name("AUC").unwrap()
        );
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let message = MetricKind::from_name("accuracy_score")
            .unwrap_err()
            .to_string();
        assert!(message.contains("binary_accuracy"), "{message}");
        let message = MetricKind::from_name("acc").unwrap_err().to_string();
        assert!(message.contains("resolve"), "{message}");
        // The "at" metrics need a target: not constructible from a name, as in Keras.
        assert!(MetricKind::from_name("PrecisionAtRecall").is_err());
        assert!(MetricKind::from_name("kld").is_err());
    }

    #[test]
    fn validation_follows_keras_constructors() {
        assert!(MetricKind::BinaryAccuracy { threshold: 1.0 }
            .validate()
            .is_err());
        assert!(MetricKind::TopKCategoricalAccuracy { k: 0 }
            .validate()
            .is_err());
        let auc = MetricKind::Auc {
            num_thresholds: 1,
            curve: Curve::Roc,
            summation_method: SummationMethod::Interpolation,
            from_logits: false,
        };
        let message = auc.validate().unwrap_err().to_string();
        assert!(message.contains("num_thresholds"), "{message}");
        let precision = MetricKind::Precision {
            thresholds: vec![0.2, 1.5],
            top_k: None,
            class_id: None,
        };
        let message = precision.validate().unwrap_err().to_string();
        assert!(message.contains("1.5"), "{message}");
        assert!(Curve::parse("pr").unwrap() == Curve::Pr);
        assert!(SummationMethod::parse("trapezoid").is_err());
    }

    #[test]
    fn keras_configs_round_trip() {
        use crate::config::{deserialize, serialize};
        for &class in MetricKind::CLASS_NAMES {
            let kind = match MetricKind::default_for_class(class) {
                Ok(kind) => kind,
                Err(_) => deserialize(&json!({"class_name": class, "config": {
                    "recall": 0.5, "precision": 0.5, "specificity": 0.5, "sensitivity": 0.5}}))
                .unwrap(),
            };
            assert_eq!(
                deserialize::<MetricKind>(&serialize(&kind)).unwrap(),
                kind,
                "{class}"
            );
        }
        // As Keras 3 writes `keras.metrics.Precision(thresholds=[0.3, 0.7], class_id=1)`.
        let precision = json!({"class_name": "Precision", "config": {"name": "precision",
            "dtype": "float32", "thresholds": [0.3, 0.7], "top_k": null, "class_id": 1}});
        assert_eq!(
            deserialize::<MetricKind>(&precision).unwrap(),
            MetricKind::Precision {
                thresholds: vec![0.3, 0.7],
                top_k: None,
                class_id: Some(1)
            }
        );
        let single = json!({"class_name": "TruePositives", "config": {"thresholds": 0.25}});
        assert_eq!(
            deserialize::<MetricKind>(&single).unwrap(),
            MetricKind::TruePositives {
                thresholds: vec![0.25]
            }
        );
        assert_eq!(
            deserialize::<MetricKind>(&json!("mae")).unwrap(),
            MetricKind::MeanAbsoluteError
        );
        let multi = json!({"class_name": "AUC", "config": {"multi_label": true}});
        assert!(deserialize::<MetricKind>(&multi).is_err());
        let missing = json!({"class_name": "PrecisionAtRecall", "config": {}});
        let message = deserialize::<MetricKind>(&missing).unwrap_err().to_string();
        assert!(message.contains("'recall'"), "{message}");
        let bad = json!({"class_name": "BinaryAccuracy", "config": {"threshold": 1.5}});
        assert!(deserialize::<MetricKind>(&bad).is_err());
    }
}
