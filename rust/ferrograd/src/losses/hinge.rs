//! Hinge losses for maximum-margin classifiers, as Keras 3. Labels are expected in {-1, 1};
//! binary {0, 1} labels are converted to {-1, 1} (Keras's `convert_binary_labels_to_hinge`).

use super::{align, constant};
use crate::error::Result;
use crate::tensor::Tensor;

/// `2 y - 1` when every label is 0 or 1, else the labels unchanged.
fn convert_binary_labels(y_true: &Tensor) -> Result<Tensor> {
    let is_binary = y_true.to_f64().iter().all(|&v| v == 0.0 || v == 1.0);
    if is_binary {
        y_true.scale(2.0)?.sub(&constant(1.0, y_true))
    } else {
        Ok(y_true.clone())
    }
}

/// `maximum(1 - y_true * y_pred, 0)`, elementwise.
fn margins(op: &'static str, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align(op, y_true, y_pred)?;
    let t = convert_binary_labels(&t)?;
    constant(1.0, &p).sub(&t.mul(&p)?)?.relu()
}

/// `mean(maximum(1 - y_true * y_pred, 0), axis=-1)`.
pub fn hinge(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    margins("hinge", y_true, y_pred)?.mean(Some(&[-1]), false)
}

/// `mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)`.
pub fn squared_hinge(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    margins("squared_hinge", y_true, y_pred)?
        .square()?
        .mean(Some(&[-1]), false)
}

/// `maximum(neg - pos + 1, 0)` with `pos = sum(y_true * y_pred, -1)` and
/// `neg = max((1 - y_true) * y_pred, -1)`; `y_true` one-hot.
pub fn categorical_hinge(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("categorical_hinge", y_true, y_pred)?;
    let pos = t.mul(&p)?.sum(Some(&[-1]), false)?;
    let neg = constant(1.0, &t)
        .sub(&t)?
        .mul(&p)?
        .max(Some(&[-1]), false)?;
    neg.sub(&pos)?.add(&constant(1.0, &p))?.relu()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn binary_labels_are_converted() {
        // labels {0, 1} -> {-1, 1}: margins 1 - (-1)(0.3) = 1.3 and 1 - 0.8 = 0.2
        let h = hinge(&t64(&[1, 2], &[0.0, 1.0]), &t64(&[1, 2], &[0.3, 0.8])).unwrap();
        assert_close(&values(&h), &[(1.3 + 0.2) / 2.0], 1e-15);
        let s = squared_hinge(&t64(&[1, 2], &[-1.0, 1.0]), &t64(&[1, 2], &[0.3, 2.0])).unwrap();
        assert_close(&values(&s), &[(1.69 + 0.0) / 2.0], 1e-15);
    }

    #[test]
    fn categorical_hinge_by_hand() {
        // pos = 0.5, neg = max(0.2, 0.3) = 0.3 -> 0.3 - 0.5 + 1 = 0.8
        let t = t64(&[1, 3], &[0.0, 1.0, 0.0]);
        let p = var64(&[1, 3], &[0.2, 0.5, 0.3]);
        let c = categorical_hinge(&t, &p).unwrap();
        assert_close(&values(&c), &[0.8], 1e-15);
        c.sum(None, false).unwrap().backward().unwrap();
        assert_close(&values(&p.grad().unwrap()), &[0.0, -1.0, 1.0], 1e-15);
    }
}
