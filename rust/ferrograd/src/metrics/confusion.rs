//! Confusion-matrix statistics per threshold, as Keras's
//! `metrics_utils.update_confusion_matrix_variables`, and what is read off them: precision,
//! recall, AUC (`confusion_metrics.AUC.result` and `interpolate_pr_auc`) and the "at" metrics.
//!
//! A prediction is a positive at threshold `t` when `y_pred > t` (strictly); a label is a
//! positive when it is nonzero. Each pair adds its sample weight (1 by default) to one of the
//! four counts at every threshold.
//!
//! Two algorithms, as Keras chooses them:
//! - **Evenly spaced thresholds** (AUC, the "at" metrics, and any threshold list equal to
//!   `linspace(0, 1, n)` with n >= 3): predictions are clipped to [0, 1] and dropped into the
//!   bucket `ceil(p * (n - 1)) - 1` (the last threshold below them), then a reversed cumulative
//!   sum gives the counts at every threshold: O(n + N) instead of O(n N). When the end
//!   thresholds carry AUC's epsilon (`-1e-7`, `1 + 1e-7`), bucket -1 (p = 0) joins bucket 0, so
//!   0 is above the first threshold.
//! - **Other thresholds** (precision/recall's single 0.5 by default): each threshold compared
//!   directly, O(n N).

use ndarray::{ArrayD, IxDyn};

use super::{append_axis, divide_no_nan, squeeze_last, squeeze_or_expand, EPSILON, NEG_INF};
use super::{Curve, SummationMethod};
use crate::error::{Error, Result};

/// The thresholds of a confusion metric and how they are evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Thresholds {
    values: Vec<f64>,
    /// `linspace(0, 1, n)`, possibly with epsilon end points: the bucket algorithm applies.
    evenly: bool,
    /// The end points are `-epsilon` and `1 + epsilon` (AUC).
    with_epsilon: bool,
}

impl Thresholds {
    /// Precision, recall and the counts: the given thresholds, or Keras's default for
    /// `thresholds=None` (0.5, or [`NEG_INF`] when `top_k` is set, so that every top-k
    /// prediction is a positive).
    pub(crate) fn given(thresholds: &[f64], top_k: Option<usize>) -> Thresholds {
        let values = if thresholds.is_empty() {
            vec![if top_k.is_some() { NEG_INF } else { 0.5 }]
        } else {
            thresholds.to_vec()
        };
        let evenly = is_evenly_distributed(&values);
        let with_epsilon = evenly && (values[0] < 0.0 || values[values.len() - 1] > 1.0);
        Thresholds {
            values,
            evenly,
            with_epsilon,
        }
    }

    /// AUC's `num_thresholds` thresholds: `(i + 1) / (n - 1)` inside (0, 1) and the end points
    /// `-epsilon` and `1 + epsilon`, so that predictions of exactly 0 and 1 fall inside.
    pub(crate) fn auc(num_thresholds: usize) -> Thresholds {
        let mut values = vec![0.0 - EPSILON];
        values.extend(interior(num_thresholds));
        values.push(1.0 + EPSILON);
        Thresholds {
            values,
            evenly: true,
            with_epsilon: true,
        }
    }

    /// The "at" metrics' thresholds: `[0, 1/(n-1), ..., 1]`, or `[0.5]` for n = 1.
    pub(crate) fn sensitivity_specificity(num_thresholds: usize) -> Thresholds {
        if num_thresholds == 1 {
            return Thresholds {
                values: vec![0.5],
                evenly: false,
                with_epsilon: false,
            };
        }
        let mut values = vec![0.0];
        values.extend(interior(num_thresholds));
        values.push(1.0);
        Thresholds {
            values,
            evenly: true,
            with_epsilon: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

/// The `n - 2` thresholds strictly inside (0, 1): `(i + 1) / (n - 1)`.
fn interior(num_thresholds: usize) -> impl Iterator<Item = f64> {
    let n = num_thresholds;
    (0..n.saturating_sub(2)).map(move |i| (i + 1) as f64 / (n - 1) as f64)
}

/// Keras's `is_evenly_distributed_thresholds`: at least 3 thresholds, all `np.allclose` to
/// `linspace(0, 1, n)` with `atol = epsilon` (and numpy's default `rtol = 1e-5`).
fn is_evenly_distributed(thresholds: &[f64]) -> bool {
    let n = thresholds.len();
    n >= 3
        && thresholds.iter().enumerate().all(|(i, &t)| {
            let even = i as f64 / (n - 1) as f64;
            (t - even).abs() <= EPSILON + 1e-5 * even.abs()
        })
}

/// True/false positives/negatives, one entry per threshold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Confusion {
    pub(crate) true_positives: Vec<f64>,
    pub(crate) false_positives: Vec<f64>,
    pub(crate) true_negatives: Vec<f64>,
    pub(crate) false_negatives: Vec<f64>,
}

impl Confusion {
    pub(crate) fn new(num_thresholds: usize) -> Confusion {
        Confusion {
            true_positives: vec![0.0; num_thresholds],
            false_positives: vec![0.0; num_thresholds],
            true_negatives: vec![0.0; num_thresholds],
            false_negatives: vec![0.0; num_thresholds],
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = Confusion::new(self.true_positives.len());
    }

    /// Adds one batch. `y_true` and `y_pred` must have one shape after squeezing or expanding
    /// a trailing size-1 axis; `sample_weight` broadcasts to it (a rank-1 weight is per sample).
    /// `top_k` keeps the k largest predictions of each row of the last axis (the others become
    /// [`NEG_INF`]); `class_id` then keeps only that class (the last axis is the class axis).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update(
        &mut self,
        op: &'static str,
        y_true: ArrayD<f64>,
        y_pred: ArrayD<f64>,
        sample_weight: Option<ArrayD<f64>>,
        thresholds: &Thresholds,
        top_k: Option<usize>,
        class_id: Option<usize>,
    ) -> Result<()> {
        let (true_shape, pred_shape) = (y_true.shape().to_vec(), y_pred.shape().to_vec());
        let (p, t) = squeeze_or_expand(y_pred, y_true, true);
        if t.shape() != p.shape() {
            return Err(Error::shape(
                op,
                format!(
                    "y_true and y_pred must have the same shape, got y_true.shape={true_shape:?} \
                     and y_pred.shape={pred_shape:?}"
                ),
            ));
        }
        let shape = p.shape().to_vec();
        let weights = match sample_weight {
            None => None,
            Some(w) => Some(per_element_weights(op, w, &t, &shape)?),
        };
        let mut preds: Vec<f64> = p.iter().copied().collect();
        let mut labels: Vec<bool> = t.iter().map(|&v| v != 0.0).collect();
        let mut weights = weights;
        if let Some(k) = top_k {
            let classes = last_axis(op, &shape, "top_k")?;
            filter_top_k(&mut preds, classes, k);
        }
        if let Some(class) = class_id {
            if shape.len() < 2 {
                return Err(Error::shape(
                    op,
                    format!(
                        "when class_id is provided, y_pred must have a class axis, as \
                         (num_samples, num_classes); got shape {shape:?}"
                    ),
                ));
            }
            let classes = shape[shape.len() - 1];
            if class >= classes {
                return Err(Error::argument(
                    op,
                    format!("class_id {class} is out of range for {classes} classes"),
                ));
            }
            let pick = |i: &usize| i % classes == class;
            preds = keep(&preds, pick);
            labels = keep(&labels, pick);
            weights = weights.map(|w| keep(&w, pick));
        }
        self.accumulate(&labels, &preds, weights.as_deref(), thresholds);
        Ok(())
    }

    fn accumulate(
        &mut self,
        labels: &[bool],
        preds: &[f64],
        weights: Option<&[f64]>,
        thresholds: &Thresholds,
    ) {
        let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
        let n = thresholds.len();
        if thresholds.evenly {
            let (mut positive_buckets, mut negative_buckets) = (vec![0.0; n], vec![0.0; n]);
            let (mut total_positive, mut total_negative) = (0.0, 0.0);
            for (i, (&label, &pred)) in labels.iter().zip(preds).enumerate() {
                let w = weight(i);
                let (positive, negative) = if label { (w, 0.0) } else { (0.0, w) };
                total_positive += positive;
                total_negative += negative;
                let clipped = pred.clamp(0.0, 1.0);
                if clipped.is_nan() {
                    continue; // never above a threshold
                }
                let mut bucket = (clipped * (n - 1) as f64).ceil() as i64 - 1;
                if thresholds.with_epsilon {
                    bucket = bucket.max(0);
                }
                if bucket >= 0 {
                    positive_buckets[bucket as usize] += positive;
                    negative_buckets[bucket as usize] += negative;
                }
            }
            let (mut above_positive, mut above_negative) = (0.0, 0.0);
            for j in (0..n).rev() {
                above_positive += positive_buckets[j];
                above_negative += negative_buckets[j];
                self.true_positives[j] += above_positive;
                self.false_positives[j] += above_negative;
                self.false_negatives[j] += total_positive - above_positive;
                self.true_negatives[j] += total_negative - above_negative;
            }
        } else {
            for (j, &threshold) in thresholds.values.iter().enumerate() {
                for (i, (&label, &pred)) in labels.iter().zip(preds).enumerate() {
                    let w = weight(i);
                    match (label, pred > threshold) {
                        (true, true) => self.true_positives[j] += w,
                        (false, true) => self.false_positives[j] += w,
                        (true, false) => self.false_negatives[j] += w,
                        (false, false) => self.true_negatives[j] += w,
                    }
                }
            }
        }
    }

    /// `tp / (tp + fp)` per threshold (0 where nothing was predicted positive).
    pub(crate) fn precision(&self) -> Vec<f64> {
        ratio(&self.true_positives, &self.false_positives)
    }

    /// `tp / (tp + fn)` per threshold (0 where there was no positive label).
    pub(crate) fn recall(&self) -> Vec<f64> {
        ratio(&self.true_positives, &self.false_negatives)
    }

    /// `tn / (tn + fp)` per threshold.
    pub(crate) fn specificity(&self) -> Vec<f64> {
        ratio(&self.true_negatives, &self.false_positives)
    }

    /// Keras's `AUC.result`: a Riemann sum over the thresholds of the curve's height times the
    /// step in its x coordinate (the thresholds run from low to high, so x decreases).
    pub(crate) fn auc(&self, curve: Curve, summation_method: SummationMethod) -> f64 {
        if curve == Curve::Pr && summation_method == SummationMethod::Interpolation {
            return self.interpolate_pr_auc();
        }
        let recall = self.recall();
        let (x, y) = match curve {
            Curve::Roc => (ratio(&self.false_positives, &self.true_negatives), recall),
            Curve::Pr => (recall, self.precision()),
        };
        (0..x.len().saturating_sub(1))
            .map(|i| {
                let height = match summation_method {
                    SummationMethod::Interpolation => (y[i] + y[i + 1]) / 2.0,
                    SummationMethod::Minoring => y[i].min(y[i + 1]),
                    SummationMethod::Majoring => y[i].max(y[i + 1]),
                };
                (x[i] - x[i + 1]) * height
            })
            .sum()
    }

    /// Keras's `interpolate_pr_auc` (Davis & Goadrich 2006, section 4, in closed form): within
    /// each interval the true positives and the predicted positives `P = tp + fp` vary
    /// linearly, so precision is `(tp_a + slope (P - P_a)) / P` and its integral over recall is
    /// `slope * (dtp + intercept * log(P_a / P_b)) / (tp_b + fn_b)`.
    fn interpolate_pr_auc(&self) -> f64 {
        let (tp, fp, fn_) = (
            &self.true_positives,
            &self.false_positives,
            &self.false_negatives,
        );
        (0..tp.len().saturating_sub(1))
            .map(|i| {
                let dtp = tp[i] - tp[i + 1];
                let (p_here, p_next) = (tp[i] + fp[i], tp[i + 1] + fp[i + 1]);
                let slope = divide_no_nan(dtp, (p_here - p_next).max(0.0));
                let intercept = tp[i + 1] - slope * p_next;
                let safe_ratio = if p_here > 0.0 && p_next > 0.0 {
                    divide_no_nan(p_here, p_next.max(0.0))
                } else {
                    1.0
                };
                divide_no_nan(
                    slope * (dtp + intercept * safe_ratio.ln()),
                    (tp[i + 1] + fn_[i + 1]).max(0.0),
                )
            })
            .sum()
    }
}

/// Keras's `_find_max_under_constraint`: the largest `dependent` value among the thresholds
/// whose `constrained` value is at least `target` (0 when there is none).
pub(crate) fn max_under_constraint(constrained: &[f64], dependent: &[f64], target: f64) -> f64 {
    constrained
        .iter()
        .zip(dependent)
        .filter(|(&c, _)| c >= target)
        .map(|(_, &d)| d)
        .fold(None, |best: Option<f64>, d| {
            Some(best.map_or(d, |b| b.max(d)))
        })
        .map_or(0.0, |best| best.max(0.0))
}

/// `a / (a + b)` elementwise, 0 where the sum is 0.
fn ratio(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| divide_no_nan(x, x + y))
        .collect()
}

/// The elements whose flat index passes `pick`.
fn keep<T: Copy>(values: &[T], pick: impl Fn(&usize) -> bool) -> Vec<T> {
    values
        .iter()
        .enumerate()
        .filter(|(i, _)| pick(i))
        .map(|(_, &v)| v)
        .collect()
}

/// The size of the last axis, which `what` needs.
fn last_axis(op: &'static str, shape: &[usize], what: &str) -> Result<usize> {
    match shape.last() {
        Some(&n) if n > 0 => Ok(n),
        _ => Err(Error::shape(
            op,
            format!("{what} needs predictions with a nonempty last axis, got shape {shape:?}"),
        )),
    }
}

/// One weight per prediction. As Keras, the weight gains a trailing axis, which is dropped
/// again if that leaves it one rank above `y_true`; the result broadcasts to the predictions'
/// shape, so a `(n,)` weight weighs every entry of a row.
fn per_element_weights(
    op: &'static str,
    sample_weight: ArrayD<f64>,
    y_true: &ArrayD<f64>,
    shape: &[usize],
) -> Result<Vec<f64>> {
    let weight_shape = sample_weight.shape().to_vec();
    let mut weights = append_axis(sample_weight);
    if weights.ndim() == y_true.ndim() + 1 {
        weights = squeeze_last(weights);
    }
    let broadcast = weights.broadcast(IxDyn(shape)).ok_or_else(|| {
        Error::shape(
            op,
            format!(
                "sample_weight of shape {weight_shape:?} does not broadcast to y_pred's shape \
                 {shape:?}"
            ),
        )
    })?;
    Ok(broadcast.iter().copied().collect())
}

/// Keras's `_filter_top_k`: in each row of `classes` values, the `k` largest keep their value
/// and the others become [`NEG_INF`]. Ties go to the lower index, as `top_k`.
fn filter_top_k(preds: &mut [f64], classes: usize, k: usize) {
    for row in preds.chunks_mut(classes) {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        for &dropped in order.iter().skip(k) {
            row[dropped] = NEG_INF;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(shape: &[usize], values: &[f64]) -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
    }

    fn counts(
        thresholds: &Thresholds,
        y_true: &[f64],
        y_pred: &[f64],
        weights: Option<&[f64]>,
    ) -> Confusion {
        let n = y_true.len();
        let mut confusion = Confusion::new(thresholds.len());
        confusion
            .update(
                "test",
                array(&[n], y_true),
                array(&[n], y_pred),
                weights.map(|w| array(&[n], w)),
                thresholds,
                None,
                None,
            )
            .unwrap();
        confusion
    }

    #[test]
    fn keras_auc_docstring_counts() {
        // keras.metrics.AUC(num_thresholds=3): tp = [2, 1, 0], fp = [2, 0, 0],
        // fn = [0, 1, 2], tn = [0, 2, 2]; auc = 0.75.
        let thresholds = Thresholds::auc(3);
        let c = counts(&thresholds, &[0., 0., 1., 1.], &[0., 0.5, 0.3, 0.9], None);
        assert_eq!(c.true_positives, vec![2., 1., 0.]);
        assert_eq!(c.false_positives, vec![2., 0., 0.]);
        assert_eq!(c.false_negatives, vec![0., 1., 2.]);
        assert_eq!(c.true_negatives, vec![0., 2., 2.]);
        assert_eq!(c.auc(Curve::Roc, SummationMethod::Interpolation), 0.75);
        // With sample_weight [1, 0, 0, 1]: 1.0.
        let c = counts(
            &thresholds,
            &[0., 0., 1., 1.],
            &[0., 0.5, 0.3, 0.9],
            Some(&[1., 0., 0., 1.]),
        );
        assert_eq!(c.auc(Curve::Roc, SummationMethod::Interpolation), 1.0);
    }

    #[test]
    fn bucket_and_direct_algorithms_agree_off_the_thresholds() {
        let y_true = [0., 1., 1., 0., 1., 0., 0., 1.];
        let y_pred = [0.05, 0.93, 0.41, 0.62, 0.77, 0.18, 0.33, 0.58];
        let weights = [1., 2., 0.5, 1., 1., 3., 1., 0.25];
        let even = Thresholds::given(&[0.0, 0.25, 0.5, 0.75, 1.0], None);
        assert!(even.evenly && !even.with_epsilon);
        let direct = Thresholds {
            evenly: false,
            ..even.clone()
        };
        assert_eq!(
            counts(&even, &y_true, &y_pred, Some(&weights)),
            counts(&direct, &y_true, &y_pred, Some(&weights))
        );
        assert!(!Thresholds::given(&[0.0, 0.3, 1.0], None).evenly);
    }

    #[test]
    fn pr_interpolation_matches_the_closed_form_by_hand() {
        // Two thresholds, tp 2 -> 1, fp 2 -> 0, fn 0 -> 1: P 4 -> 1.
        let c = Confusion {
            true_positives: vec![2., 1.],
            false_positives: vec![2., 0.],
            true_negatives: vec![0., 2.],
            false_negatives: vec![0., 1.],
        };
        // slope = 1/3, intercept = 1 - 1/3 = 2/3, area = slope (1 + 2/3 ln 4) / 2.
        let expected = (1.0 / 3.0) * (1.0 + (2.0 / 3.0) * 4f64.ln()) / 2.0;
        let got = c.auc(Curve::Pr, SummationMethod::Interpolation);
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn top_k_and_class_id_select_predictions() {
        // Keras Precision(top_k=2) docstring: [0, 0, 1, 1] vs [1, 1, 1, 1] -> 0.0.
        let thresholds = Thresholds::given(&[], Some(2));
        let mut c = Confusion::new(1);
        c.update(
            "p",
            array(&[4], &[0., 0., 1., 1.]),
            array(&[4], &[1., 1., 1., 1.]),
            None,
            &thresholds,
            Some(2),
            None,
        )
        .unwrap();
        assert_eq!(c.precision(), vec![0.0]);
        // class_id on rank-1 predictions is an error naming the shape.
        let message = Confusion::new(1)
            .update(
                "p",
                array(&[4], &[0.; 4]),
                array(&[4], &[0.; 4]),
                None,
                &Thresholds::given(&[], None),
                None,
                Some(1),
            )
            .unwrap_err()
            .to_string();
        assert!(message.contains("[4]"), "{message}");
    }

    #[test]
    fn max_under_constraint_defaults_to_zero() {
        assert_eq!(max_under_constraint(&[0.2, 0.9], &[0.7, 0.4], 0.5), 0.4);
        assert_eq!(max_under_constraint(&[0.2, 0.3], &[0.7, 0.4], 0.5), 0.0);
    }
}
