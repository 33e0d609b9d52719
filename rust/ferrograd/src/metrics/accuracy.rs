//! The accuracy functions of `keras/src/metrics/accuracy_metrics.py`: one value per sample, 1 for
//! a hit and 0 for a miss (averaged over the last axis for the elementwise accuracies). The
//! metrics keep the weighted mean of these values.
//!
//! Shapes: `accuracy` and `binary_accuracy` compare elementwise and average the last axis, so
//! `(n, 1)` inputs give `n` values while rank-1 inputs `(n,)` give a single value for the batch,
//! as Keras. The categorical forms reduce the class axis (the last): `y_true` is one-hot with
//! `y_pred`'s shape, or, for the sparse forms, holds class ids with `y_pred`'s shape without the
//! class axis (or with a trailing axis of 1).

use ndarray::{ArrayD, IxDyn, Zip};

use super::{align, argmax, mean_last_axis, squeeze_last, to_tensor, values_as};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// Elementwise `y_true == y_pred` (with `y_true` cast to `y_pred`'s dtype), averaged over the
/// last axis.
pub fn accuracy(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    Ok(to_tensor(accuracy_values(y_true, y_pred)?, y_pred.dtype()))
}

/// Elementwise `y_true == (y_pred > threshold)`, averaged over the last axis.
pub fn binary_accuracy(y_true: &Tensor, y_pred: &Tensor, threshold: f64) -> Result<Tensor> {
    Ok(to_tensor(
        binary_accuracy_values(y_true, y_pred, threshold)?,
        y_pred.dtype(),
    ))
}

/// Per sample, whether the argmax of `y_pred` is the argmax of the one-hot `y_true`.
pub fn categorical_accuracy(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    Ok(to_tensor(
        categorical_accuracy_values(y_true, y_pred)?,
        y_pred.dtype(),
    ))
}

/// Per sample, whether the argmax of `y_pred` equals the class id in `y_true`.
pub fn sparse_categorical_accuracy(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    Ok(to_tensor(
        sparse_categorical_accuracy_values(y_true, y_pred)?,
        y_pred.dtype(),
    ))
}

/// Per sample, whether the one-hot target is among the `k` largest predictions.
pub fn top_k_categorical_accuracy(y_true: &Tensor, y_pred: &Tensor, k: usize) -> Result<Tensor> {
    Ok(to_tensor(
        top_k_categorical_accuracy_values(y_true, y_pred, k)?,
        y_pred.dtype(),
    ))
}

/// Per sample, whether the class id in `y_true` is among the `k` largest predictions.
pub fn sparse_top_k_categorical_accuracy(
    y_true: &Tensor,
    y_pred: &Tensor,
    k: usize,
) -> Result<Tensor> {
    Ok(to_tensor(
        sparse_top_k_categorical_accuracy_values(y_true, y_pred, k)?,
        y_pred.dtype(),
    ))
}

/// 1.0 for true, 0.0 for false.
fn hit(matched: bool) -> f64 {
    f64::from(u8::from(matched))
}

pub(crate) fn accuracy_values(y_true: &Tensor, y_pred: &Tensor) -> Result<ArrayD<f64>> {
    let (t, p) = align(
        "accuracy",
        values_as(y_true, y_pred.dtype()),
        y_pred.to_f64(),
    )?;
    let matches = Zip::from(&t).and(&p).map_collect(|&a, &b| hit(a == b));
    Ok(mean_last_axis(&matches))
}

pub(crate) fn binary_accuracy_values(
    y_true: &Tensor,
    y_pred: &Tensor,
    threshold: f64,
) -> Result<ArrayD<f64>> {
    // Keras casts the threshold to y_pred's dtype before comparing.
    let threshold = match y_pred.dtype() {
        DType::F32 => f64::from(threshold as f32),
        DType::F64 => threshold,
    };
    let (t, p) = align("binary_accuracy", y_true.to_f64(), y_pred.to_f64())?;
    let matches = Zip::from(&t)
        .and(&p)
        .map_collect(|&a, &b| hit(a == hit(b > threshold)));
    Ok(mean_last_axis(&matches))
}

/// The rows of the class (last) axis of `y_pred`, with the shape of the leading axes; an error
/// for 0-d predictions or an empty class axis.
fn class_rows(op: &'static str, y_pred: &ArrayD<f64>) -> Result<(Vec<f64>, usize, Vec<usize>)> {
    let shape = y_pred.shape();
    match shape.last() {
        None => Err(Error::shape(
            op,
            "y_pred must have a class axis (the last), got a 0-d tensor",
        )),
        Some(0) => Err(Error::shape(
            op,
            format!("y_pred has no classes: shape {shape:?}"),
        )),
        Some(&classes) => Ok((
            y_pred.iter().copied().collect(),
            classes,
            shape[..shape.len() - 1].to_vec(),
        )),
    }
}

/// One-hot `y_true` must have `y_pred`'s shape.
fn check_one_hot(op: &'static str, t: &ArrayD<f64>, p: &ArrayD<f64>) -> Result<()> {
    if t.shape() != p.shape() {
        return Err(Error::shape(
            op,
            format!(
                "y_true (one-hot) and y_pred must have the same shape, got y_true.shape={:?} \
                 and y_pred.shape={:?}",
                t.shape(),
                p.shape()
            ),
        ));
    }
    Ok(())
}

/// Class-id `y_true` without a trailing axis of 1; it must have `y_pred`'s shape without the
/// class axis.
fn sparse_labels(op: &'static str, t: ArrayD<f64>, p: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let original = t.shape().to_vec();
    let labels = if t.ndim() == p.ndim() && t.shape().last() == Some(&1) {
        squeeze_last(t)
    } else {
        t
    };
    if p.ndim() == 0 || labels.shape() != &p.shape()[..p.ndim() - 1] {
        return Err(Error::shape(
            op,
            format!(
                "y_true must have y_pred's shape without the class axis (or with a trailing \
                 axis of 1), got y_true.shape={original:?} and y_pred.shape={:?}",
                p.shape()
            ),
        ));
    }
    Ok(labels)
}

/// Keras's `ops.in_top_k` (the JAX/numpy form): the target is in the top `k` when fewer than
/// `k` predictions are strictly greater than its own, so ties at the boundary all count. A
/// NaN prediction for the target never counts as large.
fn in_top_k(row: &[f64], target: usize, k: usize) -> bool {
    let own = if row[target].is_nan() {
        f64::NEG_INFINITY
    } else {
        row[target]
    };
    row.iter().filter(|&&v| v > own).count() < k
}

fn per_row(
    rows: &[f64],
    classes: usize,
    shape: &[usize],
    value: impl FnMut((usize, &[f64])) -> f64,
) -> ArrayD<f64> {
    let values: Vec<f64> = rows.chunks(classes).enumerate().map(value).collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).expect("one value per row")
}

pub(crate) fn categorical_accuracy_values(y_true: &Tensor, y_pred: &Tensor) -> Result<ArrayD<f64>> {
    const OP: &str = "categorical_accuracy";
    let (t, p) = (y_true.to_f64(), y_pred.to_f64());
    check_one_hot(OP, &t, &p)?;
    let (rows, classes, shape) = class_rows(OP, &p)?;
    let targets: Vec<f64> = t.iter().copied().collect();
    Ok(per_row(&rows, classes, &shape, |(i, row)| {
        hit(argmax(row) == argmax(&targets[i * classes..(i + 1) * classes]))
    }))
}

pub(crate) fn sparse_categorical_accuracy_values(
    y_true: &Tensor,
    y_pred: &Tensor,
) -> Result<ArrayD<f64>> {
    const OP: &str = "sparse_categorical_accuracy";
    let p = y_pred.to_f64();
    let (rows, classes, shape) = class_rows(OP, &p)?;
    let labels: Vec<f64> = sparse_labels(OP, y_true.to_f64(), &p)?
        .iter()
        .copied()
        .collect();
    // The label is compared as a number: a non-integer label never matches.
    Ok(per_row(&rows, classes, &shape, |(i, row)| {
        hit(labels[i] == argmax(row) as f64)
    }))
}

pub(crate) fn top_k_categorical_accuracy_values(
    y_true: &Tensor,
    y_pred: &Tensor,
    k: usize,
) -> Result<ArrayD<f64>> {
    const OP: &str = "top_k_categorical_accuracy";
    let (t, p) = (y_true.to_f64(), y_pred.to_f64());
    check_one_hot(OP, &t, &p)?;
    let (rows, classes, shape) = class_rows(OP, &p)?;
    let targets: Vec<f64> = t.iter().copied().collect();
    Ok(per_row(&rows, classes, &shape, |(i, row)| {
        let target = argmax(&targets[i * classes..(i + 1) * classes]);
        hit(in_top_k(row, target, k))
    }))
}

pub(crate) fn sparse_top_k_categorical_accuracy_values(
    y_true: &Tensor,
    y_pred: &Tensor,
    k: usize,
) -> Result<ArrayD<f64>> {
    const OP: &str = "sparse_top_k_categorical_accuracy";
    let p = y_pred.to_f64();
    let t = y_true.to_f64();
    // Keras returns the matches in y_true's own shape ((n, 1) stays (n, 1)).
    let true_shape = t.shape().to_vec();
    let (rows, classes, _) = class_rows(OP, &p)?;
    let labels = sparse_labels(OP, t, &p)?;
    let mut targets = Vec::with_capacity(labels.len());
    for &label in labels.iter() {
        if label.fract() != 0.0 || !(0.0..classes as f64).contains(&label) {
            return Err(Error::argument(
                OP,
                format!(
                    "class id {label} is not an integer in [0, {classes}) for y_pred of \
                     shape {:?}",
                    p.shape()
                ),
            ));
        }
        targets.push(label as usize);
    }
    Ok(per_row(&rows, classes, &true_shape, |(i, row)| {
        hit(in_top_k(row, targets[i], k))
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn keras_docstring_examples() {
        // keras.metrics.Accuracy: [[1], [2], [3], [4]] vs [[0], [2], [3], [4]].
        let v = accuracy(
            &t64(&[4, 1], &[1., 2., 3., 4.]),
            &t64(&[4, 1], &[0., 2., 3., 4.]),
        )
        .unwrap();
        assert_eq!(values(&v), vec![0., 1., 1., 1.]);
        // keras.metrics.BinaryAccuracy: 0.75.
        let v = binary_accuracy(
            &t64(&[4, 1], &[1., 1., 0., 0.]),
            &t64(&[4, 1], &[0.98, 1., 0., 0.6]),
            0.5,
        )
        .unwrap();
        assert_eq!(values(&v), vec![1., 1., 1., 0.]);
        // keras.metrics.CategoricalAccuracy: 0.5.
        let y_pred = t64(&[2, 3], &[0.1, 0.9, 0.8, 0.05, 0.95, 0.]);
        let v = categorical_accuracy(&t64(&[2, 3], &[0., 0., 1., 0., 1., 0.]), &y_pred).unwrap();
        assert_eq!(values(&v), vec![0., 1.]);
        // keras.metrics.SparseCategoricalAccuracy with (n, 1) labels.
        let v = sparse_categorical_accuracy(
            &t64(&[2, 1], &[2., 1.]),
            &t64(&[2, 3], &[0.1, 0.6, 0.3, 0.05, 0.95, 0.]),
        )
        .unwrap();
        assert_eq!((v.shape(), values(&v)), (vec![2], vec![0., 1.]));
        // TopK / SparseTopK with k=1: 0.5.
        let v = top_k_categorical_accuracy(&t64(&[2, 3], &[0., 0., 1., 0., 1., 0.]), &y_pred, 1)
            .unwrap();
        assert_eq!(values(&v), vec![0., 1.]);
        let v = sparse_top_k_categorical_accuracy(&t64(&[2], &[2., 1.]), &y_pred, 1).unwrap();
        assert_eq!(values(&v), vec![0., 1.]);
        let v = sparse_top_k_categorical_accuracy(&t64(&[2], &[2., 1.]), &y_pred, 2).unwrap();
        assert_eq!(values(&v), vec![1., 1.]);
    }

    #[test]
    fn rank_one_inputs_give_one_value_per_batch() {
        let v = accuracy(&t64(&[4], &[1., 2., 3., 4.]), &t64(&[4], &[0., 2., 3., 4.])).unwrap();
        assert_eq!((v.shape(), values(&v)), (vec![], vec![0.75]));
        // (n,) labels meet (n, 1) predictions: one value per sample.
        let v = binary_accuracy(&t64(&[2], &[1., 0.]), &t64(&[2, 1], &[0.7, 0.2]), 0.5).unwrap();
        assert_eq!((v.shape(), values(&v)), (vec![2], vec![1., 1.]));
    }

    #[test]
    fn ties_at_the_top_k_boundary_count_as_hits() {
        let p = t64(&[1, 4], &[0.5, 0.5, 0.5, 0.1]);
        let v = sparse_top_k_categorical_accuracy(&t64(&[1], &[2.]), &p, 1).unwrap();
        assert_eq!(values(&v), vec![1.]);
        let v = sparse_top_k_categorical_accuracy(&t64(&[1], &[3.]), &p, 3).unwrap();
        assert_eq!(values(&v), vec![0.]);
    }

    #[test]
    fn bad_shapes_and_labels_are_named() {
        let message = categorical_accuracy(&t64(&[2, 1], &[0., 1.]), &t64(&[2, 3], &[0.; 6]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("[2, 1]") && message.contains("[2, 3]"),
            "{message}"
        );
        let message =
            sparse_categorical_accuracy(&t64(&[3], &[0., 1., 2.]), &t64(&[2, 3], &[0.; 6]))
                .unwrap_err()
                .to_string();
        assert!(
            message.contains("[3]") && message.contains("[2, 3]"),
            "{message}"
        );
        let message =
            sparse_top_k_categorical_accuracy(&t64(&[2], &[0., 3.]), &t64(&[2, 3], &[0.; 6]), 1)
                .unwrap_err()
                .to_string();
        assert!(message.contains("class id 3"), "{message}");
        assert!(accuracy(&t64(&[2, 3], &[0.; 6]), &t64(&[3, 2], &[0.; 6])).is_err());
    }
}
