//! [`Metric`]: a [`MetricKind`] with its logged name and running state.

use ndarray::ArrayD;
use serde_json::{json, Map, Value};

use super::accuracy::{
    accuracy_values, binary_accuracy_values, categorical_accuracy_values,
    sparse_categorical_accuracy_values, sparse_top_k_categorical_accuracy_values,
    top_k_categorical_accuracy_values,
};
use super::confusion::{max_under_constraint, Confusion, Thresholds};
use super::mean::{batch_totals, Reduce};
use super::{align, divide_no_nan, values_as, MetricKind};
use crate::config::{Config, KerasObject};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The running state of a metric.
#[derive(Debug, Clone, PartialEq)]
enum State {
    /// `Mean` and every mean of per-sample values: weighted total and total weight.
    Mean { total: f64, count: f64 },
    /// `Sum`: the weighted total.
    Sum { total: f64 },
    /// The confusion metrics: counts per threshold.
    Confusion {
        thresholds: Thresholds,
        counts: Confusion,
    },
}

impl State {
    fn new(kind: &MetricKind) -> State {
        let confusion = |thresholds: Thresholds| State::Confusion {
            counts: Confusion::new(thresholds.len()),
            thresholds,
        };
        match kind {
            MetricKind::Sum => State::Sum { total: 0.0 },
            MetricKind::Auc { num_thresholds, .. } => confusion(Thresholds::auc(*num_thresholds)),
            MetricKind::Precision {
                thresholds, top_k, ..
            }
            | MetricKind::Recall {
                thresholds, top_k, ..
            } => confusion(Thresholds::given(thresholds, *top_k)),
            MetricKind::TruePositives { thresholds }
            | MetricKind::FalsePositives { thresholds }
            | MetricKind::TrueNegatives { thresholds }
            | MetricKind::FalseNegatives { thresholds } => {
                confusion(Thresholds::given(thresholds, None))
            }
            MetricKind::PrecisionAtRecall { num_thresholds, .. }
            | MetricKind::RecallAtPrecision { num_thresholds, .. }
            | MetricKind::SensitivityAtSpecificity { num_thresholds, .. }
            | MetricKind::SpecificityAtSensitivity { num_thresholds, .. } => {
                confusion(Thresholds::sensitivity_specificity(*num_thresholds))
            }
            _ => State::Mean {
                total: 0.0,
                count: 0.0,
            },
        }
    }
}

/// A stateful Keras metric: [`Metric::update_state`] accumulates a batch, [`Metric::result`]
/// reads the value over everything accumulated since the last [`Metric::reset_state`].
///
/// Metrics are plain data (`Send + Sync + Clone`): a clone is an independent copy of the state.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    kind: MetricKind,
    name: String,
    state: State,
}

impl Metric {
    /// A metric of `kind` logged as `name`, after checking the parameters as Keras's
    /// constructors do.
    pub fn new(kind: MetricKind, name: impl Into<String>) -> Result<Metric> {
        kind.validate()?;
        Ok(Metric {
            state: State::new(&kind),
            kind,
            name: name.into(),
        })
    }

    /// The metric a Keras string name stands for (`"mae"`, `"mean_absolute_error"`,
    /// `"binary_accuracy"`, `"auc"`, `"AUC"`, `"precision"`, ...) with Keras's default
    /// parameters, named by the string itself, which is what Keras 3 logs for a metric given
    /// as a string (`compile_utils.get_metric` renames the metric to its identifier).
    /// `"accuracy"` is the elementwise [`MetricKind::Accuracy`] here, as `keras.metrics.get`;
    /// `compile` resolves it from the shapes instead ([`Metric::resolve`]).
    pub fn from_name(name: &str) -> Result<Metric> {
        Metric::new(MetricKind::from_name(name)?, name)
    }

    /// A metric named in `compile`, resolved as Keras 3's `compile_utils.get_metric`:
    /// `"accuracy"` and `"acc"` (any case) become binary accuracy when `y_pred`'s last dimension
    /// is 1, sparse categorical accuracy when `y_true` has fewer dimensions than `y_pred` or a
    /// last dimension of 1 while `y_pred`'s is larger, and categorical accuracy otherwise. The
    /// same rule maps `"crossentropy"` and `"ce"` to the binary, sparse categorical or
    /// categorical cross-entropy (Keras applies it to losses, `get_loss`). Any other name is
    /// [`Metric::from_name`]. The metric is named by the string given.
    pub fn resolve(name: &str, y_true_shape: &[usize], y_pred_shape: &[usize]) -> Result<Metric> {
        let lower = name.to_ascii_lowercase();
        let accuracy = matches!(lower.as_str(), "accuracy" | "acc");
        let crossentropy = matches!(lower.as_str(), "crossentropy" | "ce");
        if !accuracy && !crossentropy {
            return Metric::from_name(name);
        }
        let (Some(&true_last), Some(&pred_last)) = (y_true_shape.last(), y_pred_shape.last())
        else {
            return Err(Error::shape(
                "metric",
                format!(
                    "cannot resolve '{name}' for 0-d targets or predictions, got \
                     y_true.shape={y_true_shape:?} and y_pred.shape={y_pred_shape:?}"
                ),
            ));
        };
        // keras/src/trainers/compile_utils.py, is_binary_or_sparse_categorical.
        let is_binary = pred_last == 1;
        let is_sparse =
            y_true_shape.len() < y_pred_shape.len() || (true_last == 1 && pred_last > 1);
        let class = match (accuracy, is_binary, is_sparse) {
            (true, true, _) => "BinaryAccuracy",
            (true, false, true) => "SparseCategoricalAccuracy",
            (true, false, false) => "CategoricalAccuracy",
            (false, true, _) => "BinaryCrossentropy",
            (false, false, true) => "SparseCategoricalCrossentropy",
            (false, false, false) => "CategoricalCrossentropy",
        };
        Metric::new(MetricKind::default_for_class(class)?, name)
    }

    /// The name the metric is logged under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the metric (as `compile` renames a metric to the string that named it).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    pub fn kind(&self) -> &MetricKind {
        &self.kind
    }

    /// Accumulates one batch. `y_true` and `y_pred` are read, never differentiated; either may
    /// be `f32` or `f64`. `sample_weight` weighs the samples as Keras does (see the module docs
    /// of each family). Shape mismatches are [`Error::Shape`] naming the metric and the shapes.
    pub fn update_state(
        &mut self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<()> {
        self.update(y_true, y_pred, sample_weight)
            .map_err(|e| self.in_context(e))
    }

    /// For `Mean` and `Sum`: accumulates `values`, weighted by `sample_weight`, as Keras's
    /// `Mean.update_state(values, sample_weight)` (each sample, along the first axis, counts
    /// with its weight; a 0-d value is one sample).
    pub fn update_values(&mut self, values: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        let op = self.kind.class_name();
        let reduce = match self.kind {
            MetricKind::Mean => Reduce::Mean,
            MetricKind::Sum => Reduce::Sum,
            _ => {
                return Err(Error::argument(
                    op,
                    format!(
                        "metric '{}' compares targets with predictions: call \
                         update_state(y_true, y_pred, sample_weight), not update_values",
                        self.name
                    ),
                ))
            }
        };
        let weights = sample_weight.map(Tensor::to_f64);
        let added = batch_totals(op, values.to_f64(), weights, reduce);
        self.add(added.map_err(|e| self.in_context(e))?);
        Ok(())
    }

    fn update(
        &mut self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<()> {
        let op = self.kind.class_name();
        let weights = sample_weight.map(Tensor::to_f64);
        let per_sample = match &self.kind {
            MetricKind::Mean | MetricKind::Sum => {
                return Err(Error::argument(
                    op,
                    "this metric reduces values: call update_values(values, sample_weight), \
                     not update_state(y_true, y_pred)",
                ))
            }
            MetricKind::Accuracy => accuracy_values(y_true, y_pred)?,
            MetricKind::BinaryAccuracy { threshold } => {
                binary_accuracy_values(y_true, y_pred, *threshold)?
            }
            MetricKind::CategoricalAccuracy => categorical_accuracy_values(y_true, y_pred)?,
            MetricKind::SparseCategoricalAccuracy => {
                sparse_categorical_accuracy_values(y_true, y_pred)?
            }
            MetricKind::TopKCategoricalAccuracy { k } => {
                top_k_categorical_accuracy_values(y_true, y_pred, *k)?
            }
            MetricKind::SparseTopKCategoricalAccuracy { k } => {
                sparse_top_k_categorical_accuracy_values(y_true, y_pred, *k)?
            }
            MetricKind::RootMeanSquaredError => {
                // Keras's RootMeanSquaredError is a Mean of the elementwise squared errors.
                let (t, p) = align(op, values_as(y_true, y_pred.dtype()), y_pred.to_f64())?;
                (&p - &t).mapv(|e| e * e)
            }
            kind => {
                if let Some(loss) = kind.wrapped_loss() {
                    // Detached: the loss ops must not record a graph for the metric.
                    let values = loss
                        .per_sample(&y_true.detach(), &y_pred.detach())?
                        .to_f64();
                    if matches!(kind, MetricKind::CosineSimilarity { .. }) {
                        // The metric is the similarity; the loss is its negative.
                        values.mapv(|v| -v)
                    } else {
                        values
                    }
                } else {
                    return self.update_confusion(y_true, y_pred, weights);
                }
            }
        };
        let added = batch_totals(op, per_sample, weights, Reduce::Mean)?;
        self.add(added);
        Ok(())
    }

    fn update_confusion(
        &mut self,
        y_true: &Tensor,
        y_pred: &Tensor,
        weights: Option<ArrayD<f64>>,
    ) -> Result<()> {
        let op = self.kind.class_name();
        let mut predictions = y_pred.to_f64();
        let (top_k, class_id) = match &self.kind {
            MetricKind::Auc { from_logits, .. } => {
                if *from_logits {
                    predictions.mapv_inplace(|x| 1.0 / (1.0 + (-x).exp()));
                }
                (None, None)
            }
            MetricKind::Precision {
                top_k, class_id, ..
            }
            | MetricKind::Recall {
                top_k, class_id, ..
            } => (*top_k, *class_id),
            MetricKind::PrecisionAtRecall { class_id, .. }
            | MetricKind::RecallAtPrecision { class_id, .. }
            | MetricKind::SensitivityAtSpecificity { class_id, .. }
            | MetricKind::SpecificityAtSensitivity { class_id, .. } => (None, *class_id),
            _ => (None, None),
        };
        let State::Confusion { thresholds, counts } = &mut self.state else {
            unreachable!("confusion kinds hold confusion state");
        };
        counts.update(
            op,
            y_true.to_f64(),
            predictions,
            weights,
            thresholds,
            top_k,
            class_id,
        )
    }

    fn add(&mut self, (batch_total, batch_count): (f64, f64)) {
        match &mut self.state {
            State::Mean { total, count } => {
                *total += batch_total;
                *count += batch_count;
            }
            State::Sum { total } => *total += batch_total,
            State::Confusion { .. } => unreachable!("confusion metrics accumulate counts"),
        }
    }

    /// The metric's value: the weighted mean (0 before any update, as Keras's
    /// `divide_no_nan`), its square root for `RootMeanSquaredError`, the sum, or the value read
    /// off the confusion counts. A confusion metric with several thresholds has one value per
    /// threshold: this is the first, [`Metric::results`] has them all.
    pub fn result(&self) -> f64 {
        match &self.state {
            State::Mean { total, count } => {
                let mean = divide_no_nan(*total, *count);
                if self.kind == MetricKind::RootMeanSquaredError {
                    mean.sqrt()
                } else {
                    mean
                }
            }
            State::Sum { total } => *total,
            State::Confusion { .. } => self.results()[0],
        }
    }

    /// Every value of the metric: one per threshold for precision, recall and the counts (as
    /// Keras returns a vector when given several thresholds), else the single [`Metric::result`].
    pub fn results(&self) -> Vec<f64> {
        let State::Confusion { counts, .. } = &self.state else {
            return vec![self.result()];
        };
        match &self.kind {
            MetricKind::Precision { .. } => counts.precision(),
            MetricKind::Recall { .. } => counts.recall(),
            MetricKind::TruePositives { .. } => counts.true_positives.clone(),
            MetricKind::FalsePositives { .. } => counts.false_positives.clone(),
            MetricKind::TrueNegatives { .. } => counts.true_negatives.clone(),
            MetricKind::FalseNegatives { .. } => counts.false_negatives.clone(),
            MetricKind::Auc {
                curve,
                summation_method,
                ..
            } => vec![counts.auc(*curve, *summation_method)],
            MetricKind::PrecisionAtRecall { recall, .. } => vec![max_under_constraint(
                &counts.recall(),
                &counts.precision(),
                *recall,
            )],
            MetricKind::RecallAtPrecision { precision, .. } => vec![max_under_constraint(
                &counts.precision(),
                &counts.recall(),
                *precision,
            )],
            MetricKind::SensitivityAtSpecificity { specificity, .. } => {
                vec![max_under_constraint(
                    &counts.specificity(),
                    &counts.recall(),
                    *specificity,
                )]
            }
            MetricKind::SpecificityAtSensitivity { sensitivity, .. } => {
                vec![max_under_constraint(
                    &counts.recall(),
                    &counts.specificity(),
                    *sensitivity,
                )]
            }
            _ => unreachable!("only confusion kinds hold confusion state"),
        }
    }

    /// Forgets everything accumulated (Keras calls this at the start of every epoch).
    pub fn reset_state(&mut self) {
        match &mut self.state {
            State::Mean { total, count } => {
                *total = 0.0;
                *count = 0.0;
            }
            State::Sum { total } => *total = 0.0,
            State::Confusion { counts, .. } => counts.reset(),
        }
    }

    /// `error` restated for this metric: the op becomes the Keras class and the message starts
    /// with the metric's name.
    fn in_context(&self, error: Error) -> Error {
        let op = self.kind.class_name();
        let message = |m: String| format!("metric '{}': {m}", self.name);
        match error {
            Error::Shape { message: m, .. } => Error::Shape {
                op,
                message: message(m),
            },
            Error::Argument { message: m, .. } => Error::Argument {
                op,
                message: message(m),
            },
            Error::DType { message: m, .. } => Error::DType {
                op,
                message: message(m),
            },
            other => other,
        }
    }
}

/// A metric as Keras serializes it: its kind's config with the metric's `name`. Reading gives
/// a fresh metric (empty state); a missing name is the class's default name.
impl KerasObject for Metric {
    const MODULE: &'static str = "keras.metrics";

    fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }

    fn to_config(&self) -> Map<String, Value> {
        let mut config = Map::new();
        config.insert("name".to_string(), json!(self.name));
        config.extend(self.kind.to_config());
        config
    }

    fn from_config(class_name: &str, c: &Config<'_>) -> Result<Metric> {
        let kind = MetricKind::from_config(class_name, c)?;
        let name = c.str_or("name", kind.default_name())?.to_string();
        Metric::new(kind, name)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Curve, SummationMethod};
    use super::*;

    fn updated(name: &str, y_true: &Tensor, y_pred: &Tensor, w: Option<&Tensor>) -> f64 {
        let mut m = Metric::from_name(name).unwrap();
        m.update_state(y_true, y_pred, w).unwrap();
        m.result()
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn metrics_are_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone>() {}
        assert_traits::<Metric>();
    }

    #[test]
    fn keras_docstring_examples_of_the_means() {
        let t = t64(&[2, 2], &[0., 1., 0., 0.]);
        let p = t64(&[2, 2], &[1., 1., 0., 0.]);
        let w = t64(&[2], &[1., 0.]);
        close(updated("mse", &t, &p, None), 0.25, 1e-12);
        close(updated("mae", &t, &p, None), 0.25, 1e-12);
        close(updated("mae", &t, &p, Some(&w)), 0.5, 1e-12);
        close(updated("root_mean_squared_error", &t, &p, None), 0.5, 1e-12);
        close(
            updated("root_mean_squared_error", &t, &p, Some(&w)),
            0.5f64.sqrt(),
            1e-12,
        );
        // Keras: MeanSquaredLogarithmicError 0.12011322, LogCoshError 0.10844523.
        close(updated("msle", &t, &p, None), 0.12011322, 1e-7);
        close(updated("log_cosh_error", &t, &p, None), 0.10844523, 1e-7);
        // CategoricalCrossentropy: 1.1769392; weighted [0.3, 0.7]: 1.6271976.
        let t = t64(&[2, 3], &[0., 1., 0., 0., 0., 1.]);
        let p = t64(&[2, 3], &[0.05, 0.95, 0., 0.1, 0.8, 0.1]);
        close(
            updated("categorical_crossentropy", &t, &p, None),
            1.1769392,
            1e-6,
        );
        let w = t64(&[2], &[0.3, 0.7]);
        close(
            updated("categorical_crossentropy", &t, &p, Some(&w)),
            1.6271976,
            1e-6,
        );
        // Keras CosineSimilarity(axis=1): 0.5.
        let mut m = Metric::new(MetricKind::CosineSimilarity { axis: 1 }, "cos").unwrap();
        m.update_state(
            &t64(&[2, 2], &[0., 1., 1., 1.]),
            &t64(&[2, 2], &[1., 0., 1., 1.]),
            None,
        )
        .unwrap();
        close(m.result(), 0.5, 1e-7);
    }

    #[test]
    fn updates_accumulate_and_reset_clears() {
        let mut m = Metric::from_name("binary_accuracy").unwrap();
        m.update_state(&t64(&[2, 1], &[1., 0.]), &t64(&[2, 1], &[0.9, 0.8]), None)
            .unwrap();
        m.update_state(&t64(&[2, 1], &[1., 1.]), &t64(&[2, 1], &[0.9, 0.8]), None)
            .unwrap();
        close(m.result(), 0.75, 1e-15);
        let copy = m.clone();
        m.reset_state();
        assert_eq!(m.result(), 0.0);
        close(copy.result(), 0.75, 1e-15);
    }

    #[test]
    fn keras_confusion_docstring_examples() {
        let t = t64(&[4], &[0., 1., 1., 1.]);
        let p = t64(&[4], &[1., 0., 1., 1.]);
        let w = t64(&[4], &[0., 0., 1., 0.]);
        close(updated("precision", &t, &p, None), 2.0 / 3.0, 1e-12);
        close(updated("precision", &t, &p, Some(&w)), 1.0, 1e-12);
        close(updated("recall", &t, &p, None), 2.0 / 3.0, 1e-12);
        close(updated("true_positives", &t, &p, None), 2.0, 1e-12);
        let mut top4 = Metric::new(
            MetricKind::Precision {
                thresholds: vec![],
                top_k: Some(4),
                class_id: None,
            },
            "p",
        )
        .unwrap();
        top4.update_state(&t64(&[4], &[0., 0., 1., 1.]), &t64(&[4], &[1.; 4]), None)
            .unwrap();
        close(top4.result(), 0.5, 1e-12);
        // PrecisionAtRecall(0.5): 0.5; RecallAtPrecision(0.8): 0.5.
        let mut m = Metric::new(
            MetricKind::PrecisionAtRecall {
                recall: 0.5,
                num_thresholds: 200,
                class_id: None,
            },
            "par",
        )
        .unwrap();
        m.update_state(
            &t64(&[5], &[0., 0., 0., 1., 1.]),
            &t64(&[5], &[0., 0.3, 0.8, 0.3, 0.8]),
            None,
        )
        .unwrap();
        close(m.result(), 0.5, 1e-12);
        let mut m = Metric::new(
            MetricKind::RecallAtPrecision {
                precision: 0.8,
                num_thresholds: 200,
                class_id: None,
            },
            "rap",
        )
        .unwrap();
        m.update_state(
            &t64(&[4], &[0., 0., 1., 1.]),
            &t64(&[4], &[0., 0.5, 0.3, 0.9]),
            None,
        )
        .unwrap();
        close(m.result(), 0.5, 1e-12);
    }

    #[test]
    fn auc_from_logits_and_multiple_thresholds() {
        let t = t64(&[4], &[0., 0., 1., 1.]);
        let probabilities = [0.1, 0.5, 0.3, 0.9];
        let logits: Vec<f64> = probabilities
            .iter()
            .map(|p: &f64| (p / (1.0 - p)).ln())
            .collect();
        let kind = |from_logits| MetricKind::Auc {
            num_thresholds: 3,
            curve: Curve::Roc,
            summation_method: SummationMethod::Interpolation,
            from_logits,
        };
        let mut a = Metric::new(kind(false), "a").unwrap();
        a.update_state(&t, &t64(&[4], &probabilities), None)
            .unwrap();
        let mut b = Metric::new(kind(true), "b").unwrap();
        b.update_state(&t, &t64(&[4], &logits), None).unwrap();
        close(a.result(), 0.75, 1e-12);
        close(b.result(), a.result(), 1e-12);
        let mut m = Metric::new(
            MetricKind::Recall {
                thresholds: vec![0.2, 0.6],
                top_k: None,
                class_id: None,
            },
            "r",
        )
        .unwrap();
        m.update_state(&t, &t64(&[4], &probabilities), None)
            .unwrap();
        assert_eq!(m.results(), vec![1.0, 0.5]);
        assert_eq!(m.result(), 1.0);
    }

    #[test]
    fn resolve_follows_compile_utils() {
        let kind = |t: &[usize], p: &[usize]| Metric::resolve("accuracy", t, p).unwrap().kind;
        assert_eq!(
            kind(&[8, 1], &[8, 1]),
            MetricKind::BinaryAccuracy { threshold: 0.5 }
        );
        assert_eq!(
            kind(&[8], &[8, 1]),
            MetricKind::BinaryAccuracy { threshold: 0.5 }
        );
        assert_eq!(kind(&[8], &[8, 10]), MetricKind::SparseCategoricalAccuracy);
        assert_eq!(
            kind(&[8, 1], &[8, 10]),
            MetricKind::SparseCategoricalAccuracy
        );
        assert_eq!(kind(&[8, 10], &[8, 10]), MetricKind::CategoricalAccuracy);
        let acc = Metric::resolve("acc", &[8], &[8, 3]).unwrap();
        assert_eq!(acc.name(), "acc");
        let ce = Metric::resolve("crossentropy", &[8], &[8, 3]).unwrap();
        assert_eq!(ce.kind().class_name(), "SparseCategoricalCrossentropy");
        let mae = Metric::resolve("mae", &[8, 1], &[8, 1]).unwrap();
        assert_eq!(
            (mae.name(), mae.kind()),
            ("mae", &MetricKind::MeanAbsoluteError)
        );
    }

    #[test]
    fn errors_name_the_metric_and_shapes() {
        let mut m = Metric::resolve("acc", &[4, 3], &[4, 3]).unwrap();
        let message = m
            .update_state(&t64(&[4, 3], &[0.; 12]), &t64(&[4, 2], &[0.; 8]), None)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("acc") && message.contains("[4, 3]") && message.contains("[4, 2]"),
            "{message}"
        );
        let mut mse = Metric::from_name("mse").unwrap();
        let message = mse
            .update_state(&t64(&[2, 3], &[0.; 6]), &t64(&[2, 4], &[0.; 8]), None)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("MeanSquaredError: metric 'mse'"),
            "{message}"
        );
        let mut mean = Metric::from_name("mean").unwrap();
        let message = mean
            .update_state(&t64(&[1], &[0.]), &t64(&[1], &[0.]), None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("update_values"), "{message}");
        mean.update_values(
            &t64(&[4], &[1., 3., 5., 7.]),
            Some(&t64(&[4], &[1., 1., 0., 0.])),
        )
        .unwrap();
        assert_eq!(mean.result(), 2.0);
        assert!(mse.update_values(&t64(&[1], &[0.]), None).is_err());
    }

    #[test]
    fn metrics_read_graph_tensors_without_recording() {
        let y_pred = var64(&[2, 1], &[0.2, 0.4]);
        let mut m = Metric::from_name("mse").unwrap();
        m.update_state(&t64(&[2, 1], &[0., 0.]), &y_pred, None)
            .unwrap();
        close(m.result(), 0.1, 1e-12);
        assert!(y_pred.grad().is_none());
    }
}
