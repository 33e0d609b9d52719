//! Cross-entropies, as Keras 3 (`keras/src/losses/losses.py` and the backends' `nn.py`).
//!
//! From probabilities, predictions are clipped to `[epsilon, 1 - epsilon]` (categorical ones
//! first rescaled to sum to 1 along the class axis) before the logarithm. From logits, two fused
//! ops compute the loss without ever forming a probability, so logits of ±100 give exact finite
//! losses: [`sigmoid_cross_entropy_with_logits`] (TensorFlow's formula
//! `max(x, 0) - x z + log1p(exp(-|x|))`) and [`softmax_cross_entropy_with_logits`]
//! (`logsumexp(x) - Σ t x` with the maximum shifted out).

use ndarray::{ArrayD, Axis, Zip};

use super::{align, check_label_smoothing, constant, EPSILON};
use crate::error::{Error, Result};
use crate::ops::{normalize_axis, some_grad, typed_grad};
use crate::tensor::{Array, Element, Storage, Tensor};

#[inline(always)]
fn sigmoid<F: Element>(x: F) -> F {
    // Two branches so that exp never overflows.
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

fn sigmoid_xent_typed<F: Element>(inputs: [&Tensor; 2], z: Array<F>, x: Array<F>) -> Tensor {
    const OP: &str = "sigmoid_cross_entropy_with_logits";
    let loss = Zip::from(&z)
        .and(&x)
        .map_collect(|&z, &x| x.max(F::zero()) - x * z + (-x.abs()).exp().ln_1p());
    let (z_needs, x_needs) = (inputs[0].requires_grad(), inputs[1].requires_grad());
    Tensor::from_op(Storage::from_array(loss), OP, &inputs, move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>(OP, g)?;
            // ∂/∂z = -x, ∂/∂x = sigmoid(x) - z
            let dz = z_needs.then(|| some_grad(Zip::from(g).and(&x).map_collect(|&g, &x| -g * x)));
            let dx = x_needs.then(|| {
                some_grad(
                    Zip::from(g)
                        .and(&z)
                        .and(&x)
                        .map_collect(|&g, &z, &x| g * (sigmoid(x) - z)),
                )
            });
            Ok(vec![dz.flatten(), dx.flatten()])
        })
    })
}

/// Elementwise binary cross-entropy of `labels` against `logits` (same shape), computed as
/// `max(x, 0) - x z + log1p(exp(-|x|))` so that no logit overflows; differentiable in both.
pub fn sigmoid_cross_entropy_with_logits(labels: &Tensor, logits: &Tensor) -> Result<Tensor> {
    const OP: &str = "sigmoid_cross_entropy_with_logits";
    if labels.shape() != logits.shape() {
        return Err(Error::shape(
            OP,
            format!(
                "labels and logits must have the same shape, got {:?} and {:?}",
                labels.shape(),
                logits.shape()
            ),
        ));
    }
    let labels = labels.cast(logits.dtype())?;
    match (labels.storage(), logits.storage()) {
        (Storage::F32(z), Storage::F32(x)) => Ok(sigmoid_xent_typed([&labels, logits], z, x)),
        (Storage::F64(z), Storage::F64(x)) => Ok(sigmoid_xent_typed([&labels, logits], z, x)),
        _ => unreachable!("labels were cast to the logits' dtype"),
    }
}

fn softmax_xent_typed<F: Element>(
    inputs: [&Tensor; 2],
    t: Array<F>,
    x: Array<F>,
    axis: usize,
) -> Tensor {
    const OP: &str = "softmax_cross_entropy_with_logits";
    let shift = x
        .fold_axis(
            Axis(axis),
            F::neg_infinity(),
            |&m, &v| if v > m { v } else { m },
        )
        .insert_axis(Axis(axis))
        // A lane of -inf only: shift by 0 so that exp gives 0s, not NaN.
        .mapv_into(|m| if m.is_finite() { m } else { F::zero() });
    let shifted = &x - &shift;
    let log_sums = shifted
        .mapv(|v| v.exp())
        .sum_axis(Axis(axis))
        .insert_axis(Axis(axis))
        .mapv_into(|s| s.ln());
    let log_probs = (shifted - &log_sums).into_shared();
    let loss: ArrayD<F> = (&t * &log_probs).sum_axis(Axis(axis)).mapv_into(|v| -v);
    let (t_needs, x_needs) = (inputs[0].requires_grad(), inputs[1].requires_grad());
    Tensor::from_op(Storage::from_array(loss), OP, &inputs, move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>(OP, g)?.clone().insert_axis(Axis(axis));
            // ∂/∂x = softmax(x) Σt - t, ∂/∂t = -log_softmax(x)
            let dx = x_needs.then(|| {
                let label_sums = t.sum_axis(Axis(axis)).insert_axis(Axis(axis));
                let dx = Zip::from(&log_probs)
                    .and(&t)
                    .and_broadcast(&label_sums)
                    .and_broadcast(&g)
                    .map_collect(|&lp, &t, &s, &g| g * (lp.exp() * s - t));
                some_grad(dx)
            });
            let dt = t_needs.then(|| {
                some_grad(
                    Zip::from(&log_probs)
                        .and_broadcast(&g)
                        .map_collect(|&lp, &g| -g * lp),
                )
            });
            Ok(vec![dt.flatten(), dx.flatten()])
        })
    })
}

/// `-Σ labels · log_softmax(logits)` along `axis`, fused: one pass forward, and the backward
/// `softmax(x) Σt - t` needs no softmax graph. Differentiable in both.
pub fn softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
    axis: isize,
) -> Result<Tensor> {
    const OP: &str = "softmax_cross_entropy_with_logits";
    if labels.shape() != logits.shape() {
        return Err(Error::shape(
            OP,
            format!(
                "labels and logits must have the same shape, got {:?} and {:?}",
                labels.shape(),
                logits.shape()
            ),
        ));
    }
    let axis = normalize_axis(OP, axis, logits.ndim())?;
    let labels = labels.cast(logits.dtype())?;
    match (labels.storage(), logits.storage()) {
        (Storage::F32(t), Storage::F32(x)) => Ok(softmax_xent_typed([&labels, logits], t, x, axis)),
        (Storage::F64(t), Storage::F64(x)) => Ok(softmax_xent_typed([&labels, logits], t, x, axis)),
        _ => unreachable!("labels were cast to the logits' dtype"),
    }
}

/// Binary cross-entropy, the mean over `axis` of the elementwise
/// `-(z log p + (1 - z) log(1 - p))`, `p` clipped to `[epsilon, 1 - epsilon]`, or from logits
/// the stable [`sigmoid_cross_entropy_with_logits`]. Label smoothing squeezes the labels towards
/// 0.5: `z (1 - s) + 0.5 s`.
pub fn binary_crossentropy(
    y_true: &Tensor,
    y_pred: &Tensor,
    from_logits: bool,
    label_smoothing: f64,
    axis: isize,
) -> Result<Tensor> {
    const OP: &str = "binary_crossentropy";
    check_label_smoothing(OP, label_smoothing)?;
    let (mut z, p) = align(OP, y_true, y_pred)?;
    if label_smoothing != 0.0 {
        z = z
            .scale(1.0 - label_smoothing)?
            .add(&constant(0.5 * label_smoothing, &z))?;
    }
    let elementwise = if from_logits {
        sigmoid_cross_entropy_with_logits(&z, &p)?
    } else {
        let p = p.clip(EPSILON, 1.0 - EPSILON)?;
        let one = constant(1.0, &p);
        let positive = z.mul(&p.log()?)?;
        let negative = one.sub(&z)?.mul(&one.sub(&p)?.log()?)?;
        positive.add(&negative)?.neg()?
    };
    elementwise.mean(Some(&[axis]), false)
}

/// Categorical cross-entropy along `axis` for one-hot (or soft) labels: from probabilities,
/// `-Σ t log(clip(p / Σp, eps, 1 - eps))`; from logits, the fused
/// [`softmax_cross_entropy_with_logits`]. Label smoothing: `t (1 - s) + s / num_classes`.
pub fn categorical_crossentropy(
    y_true: &Tensor,
    y_pred: &Tensor,
    from_logits: bool,
    label_smoothing: f64,
    axis: isize,
) -> Result<Tensor> {
    const OP: &str = "categorical_crossentropy";
    check_label_smoothing(OP, label_smoothing)?;
    let (mut t, p) = align(OP, y_true, y_pred)?;
    let class_axis = normalize_axis(OP, axis, p.ndim())?;
    if label_smoothing != 0.0 {
        let num_classes = p.shape()[class_axis] as f64;
        t = t
            .scale(1.0 - label_smoothing)?
            .add(&constant(label_smoothing / num_classes, &t))?;
    }
    crossentropy_with_labels(&t, &p, from_logits, axis)
}

/// The cross-entropy of aligned labels and predictions along `axis`.
fn crossentropy_with_labels(
    t: &Tensor,
    p: &Tensor,
    from_logits: bool,
    axis: isize,
) -> Result<Tensor> {
    if from_logits {
        return softmax_cross_entropy_with_logits(t, p, axis);
    }
    let normalized = p.div(&p.sum(Some(&[axis]), true)?)?;
    let log_probs = normalized.clip(EPSILON, 1.0 - EPSILON)?.log()?;
    t.mul(&log_probs)?.sum(Some(&[axis]), false)?.neg()
}

/// Categorical cross-entropy for integer labels: `y_true` holds class ids with `y_pred`'s shape
/// minus the class `axis` (or with a trailing axis of size 1, which is squeezed). A label outside
/// `[0, num_classes)` is an error naming it.
pub fn sparse_categorical_crossentropy(
    y_true: &ArrayD<i64>,
    y_pred: &Tensor,
    from_logits: bool,
    axis: isize,
) -> Result<Tensor> {
    const OP: &str = "sparse_categorical_crossentropy";
    let pred_shape = y_pred.shape();
    if pred_shape.is_empty() {
        return Err(Error::shape(
            OP,
            "y_pred must have at least one dimension (the classes), got a 0-d tensor",
        ));
    }
    let class_axis = normalize_axis(OP, axis, pred_shape.len())?;
    let num_classes = pred_shape[class_axis];
    let mut labels = y_true.view();
    if labels.ndim() == pred_shape.len() && labels.shape().last() == Some(&1) {
        let last = labels.ndim() - 1;
        labels = labels.index_axis_move(Axis(last), 0);
    }
    let mut expected = pred_shape.clone();
    expected.remove(class_axis);
    if labels.shape() != expected.as_slice() {
        // Labels of y_pred's own shape are one-hot rows: the categorical loss takes those.
        let hint = if y_true.shape() == pred_shape.as_slice() {
            "; y_true has y_pred's shape, as one-hot labels do: use categorical_crossentropy for \
             one-hot labels, or pass integer class ids (y.argmax(axis=-1))"
        } else {
            ""
        };
        return Err(Error::shape(
            OP,
            format!(
                "y_true must have y_pred's shape without the class axis, got \
                 y_true.shape={:?} and y_pred.shape={:?}{hint}",
                y_true.shape(),
                pred_shape
            ),
        ));
    }
    if let Some(&bad) = labels
        .iter()
        .find(|&&label| label < 0 || label >= num_classes as i64)
    {
        return Err(Error::argument(
            OP,
            format!(
                "label {bad} is out of range for {num_classes} classes (expected 0 to {})",
                num_classes as i64 - 1
            ),
        ));
    }
    let labels = labels.to_owned();
    let mut one_hot = Tensor::one_hot(&labels, num_classes, y_pred.dtype());
    let ndim = pred_shape.len();
    if class_axis != ndim - 1 {
        // one_hot appends the classes last; move them to `axis`.
        let order: Vec<isize> = (0..ndim)
            .map(|i| match i {
                i if i < class_axis => i as isize,
                i if i == class_axis => ndim as isize - 1,
                i => i as isize - 1,
            })
            .collect();
        one_hot = one_hot.permute(&order)?;
    }
    crossentropy_with_labels(&one_hot, y_pred, from_logits, axis)
}

/// Integer labels from a float tensor (for callers holding labels as tensors, such as
/// [`super::Loss`]): every value must be a whole number.
pub(crate) fn labels_from_tensor(op: &'static str, labels: &Tensor) -> Result<ArrayD<i64>> {
    let values = labels.to_f64();
    if let Some(bad) = values.iter().find(|v| v.fract() != 0.0 || !v.is_finite()) {
        return Err(Error::argument(
            op,
            format!("integer class labels expected, got {bad}"),
        ));
    }
    Ok(values.mapv(|v| v as i64))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use ndarray::{arr1, IxDyn};

    fn ln(x: f64) -> f64 {
        x.ln()
    }

    #[test]
    fn categorical_matches_keras_example() {
        // Keras docs: [[0,1,0],[0,0,1]] vs [[0.05,0.95,0],[0.1,0.8,0.1]] -> [0.0513, 2.303]
        let t = t64(&[2, 3], &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let p = t64(&[2, 3], &[0.05, 0.95, 0.0, 0.1, 0.8, 0.1]);
        let cce = values(&categorical_crossentropy(&t, &p, false, 0.0, -1).unwrap());
        assert_close(&cce, &[-ln(0.95), -ln(0.1)], 1e-12);
        let labels = arr1(&[1i64, 2]).into_dyn();
        let sparse = values(&sparse_categorical_crossentropy(&labels, &p, false, -1).unwrap());
        assert_close(&sparse, &cce, 1e-15);
    }

    #[test]
    fn softmax_xent_from_logits_and_gradient() {
        let x = var64(&[1, 3], &[1.0, 2.0, 3.0]);
        let t = t64(&[1, 3], &[0.0, 0.0, 1.0]);
        let loss = categorical_crossentropy(&t, &x, true, 0.0, -1).unwrap();
        let z: f64 = [1f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        assert_close(&values(&loss), &[z.ln() - 3.0], 1e-12);
        loss.sum(None, false).unwrap().backward().unwrap();
        let s = [1f64.exp() / z, 2f64.exp() / z, 3f64.exp() / z];
        assert_close(
            &values(&x.grad().unwrap()),
            &[s[0], s[1], s[2] - 1.0],
            1e-12,
        );
    }

    #[test]
    fn extreme_logits_give_exact_finite_losses() {
        let x = var64(&[1, 2], &[100.0, -100.0]);
        let t = t64(&[1, 2], &[0.0, 1.0]);
        // each element: 100 + log1p(e^-100)
        let bce = binary_crossentropy(&t, &x, true, 0.0, -1).unwrap();
        assert_close(&values(&bce), &[100.0 + (-100f64).exp().ln_1p()], 1e-14);
        bce.backward().unwrap();
        let g = values(&x.grad().unwrap());
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
        let cce = categorical_crossentropy(&t, &x, true, 0.0, -1).unwrap();
        assert_close(&values(&cce), &[200.0 + (-200f64).exp().ln_1p()], 1e-14);
    }

    #[test]
    fn binary_from_logits_matches_keras_example() {
        // Keras docs: BinaryCrossentropy(from_logits=True) per sample [0.235, 1.496]
        let t = t64(&[2, 2], &[0.0, 1.0, 0.0, 0.0]);
        let x = t64(&[2, 2], &[-18.6, 0.51, 2.94, -12.8]);
        let v = values(&binary_crossentropy(&t, &x, true, 0.0, -1).unwrap());
        let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        let expected = [
            (softplus(-18.6) + softplus(-0.51)) / 2.0,
            (softplus(2.94) + softplus(-12.8)) / 2.0,
        ];
        assert_close(&v, &expected, 1e-12);
        assert!((v[0] - 0.235).abs() < 1e-3 && (v[1] - 1.496).abs() < 1e-3);
    }

    #[test]
    fn binary_from_probabilities_clips_and_smooths() {
        let t = t64(&[1, 2], &[1.0, 0.0]);
        let p = t64(&[1, 2], &[1.0, 0.25]);
        let v = values(&binary_crossentropy(&t, &p, false, 0.0, -1).unwrap());
        assert_close(&v, &[(-ln(1.0 - 1e-7) - ln(0.75)) / 2.0], 1e-12);
        // smoothing 0.2: labels 0.9 and 0.1
        let s = values(&binary_crossentropy(&t, &p, false, 0.2, -1).unwrap());
        let e0 = -(0.9 * ln(1.0 - 1e-7) + 0.1 * ln(1e-7));
        let e1 = -(0.1 * ln(0.25) + 0.9 * ln(0.75));
        assert_close(&s, &[(e0 + e1) / 2.0], 1e-9);
    }

    #[test]
    fn sparse_labels_are_checked() {
        let p = t64(&[2, 3], &[0.2; 6]);
        let bad = arr1(&[0i64, 3]).into_dyn();
        let message = sparse_categorical_crossentropy(&bad, &p, true, -1)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("label 3") && message.contains("3 classes"),
            "{message}"
        );
        let column = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![0i64, 2]).unwrap();
        assert!(sparse_categorical_crossentropy(&column, &p, true, -1).is_ok());
        let wrong = arr1(&[0i64, 1, 2]).into_dyn();
        let message = sparse_categorical_crossentropy(&wrong, &p, true, -1)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("[3]") && message.contains("[2, 3]"),
            "{message}"
        );
    }

    #[test]
    fn sparse_on_a_leading_class_axis() {
        // classes on axis 0: columns are samples
        let x = t64(&[3, 2], &[1.0, 0.0, 2.0, 0.0, 3.0, 5.0]);
        let labels = arr1(&[2i64, 0]).into_dyn();
        let v = values(&sparse_categorical_crossentropy(&labels, &x, true, 0).unwrap());
        let lse0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let lse1 = (1.0 + 1.0 + 5f64.exp()).ln();
        assert_close(&v, &[lse0 - 3.0, lse1 - 0.0], 1e-12);
    }
}
