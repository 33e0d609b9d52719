//! Regression and distribution losses. Each returns the per-sample loss: a mean (or, for the
//! KL divergence and cosine similarity, a sum) over the last axis, as Keras 3
//! (`keras/src/losses/losses.py`).

use super::{align, constant, EPSILON};
use crate::error::{Error, Result};
use crate::ops::Comparison;
use crate::tensor::Tensor;

const LAST: &[isize] = &[-1];

/// `mean(square(y_true - y_pred), axis=-1)`.
pub fn mean_squared_error(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("mean_squared_error", y_true, y_pred)?;
    t.sub(&p)?.square()?.mean(Some(LAST), false)
}

/// `mean(abs(y_true - y_pred), axis=-1)`.
pub fn mean_absolute_error(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("mean_absolute_error", y_true, y_pred)?;
    t.sub(&p)?.abs()?.mean(Some(LAST), false)
}

/// `100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon)), axis=-1)`.
pub fn mean_absolute_percentage_error(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("mean_absolute_percentage_error", y_true, y_pred)?;
    let denominator = t.abs()?.maximum(&constant(EPSILON, &t))?;
    t.sub(&p)?
        .div(&denominator)?
        .abs()?
        .mean(Some(LAST), false)?
        .scale(100.0)
}

/// `mean(square(log(maximum(y_pred, eps) + 1) - log(maximum(y_true, eps) + 1)), axis=-1)`.
pub fn mean_squared_logarithmic_error(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("mean_squared_logarithmic_error", y_true, y_pred)?;
    let eps = constant(EPSILON, &p);
    let first_log = p.maximum(&eps)?.log1p()?;
    let second_log = t.maximum(&eps)?.log1p()?;
    first_log
        .sub(&second_log)?
        .square()?
        .mean(Some(LAST), false)
}

/// Huber loss with threshold `delta` (Keras's default 1.0): with `e = y_pred - y_true`,
/// `0.5 e²` where `|e| <= delta`, else `delta |e| - 0.5 delta²`; mean over the last axis.
pub fn huber(y_true: &Tensor, y_pred: &Tensor, delta: f64) -> Result<Tensor> {
    if delta.is_nan() || delta < 0.0 {
        return Err(Error::argument(
            "huber",
            format!("delta must be non-negative, got {delta}"),
        ));
    }
    let (t, p) = align("huber", y_true, y_pred)?;
    let error = p.sub(&t)?;
    let abs_error = error.abs()?;
    let quadratic = error.square()?.scale(0.5)?;
    let linear = abs_error
        .scale(delta)?
        .sub(&constant(0.5 * delta * delta, &p))?;
    let inside = abs_error.compare(&constant(delta, &p), Comparison::LessEqual)?;
    Tensor::where_(&inside, &quadratic, &linear)?.mean(Some(LAST), false)
}

/// `mean(log(cosh(y_pred - y_true)), axis=-1)`, computed as Keras does,
/// `x + softplus(-2x) - log(2)`, which neither overflows nor loses precision for large `|x|`.
pub fn log_cosh(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("log_cosh", y_true, y_pred)?;
    let x = p.sub(&t)?;
    x.add(&x.scale(-2.0)?.softplus()?)?
        .sub(&constant(std::f64::consts::LN_2, &p))?
        .mean(Some(LAST), false)
}

/// `mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)`.
pub fn poisson(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("poisson", y_true, y_pred)?;
    let log_pred = p.add(&constant(EPSILON, &p))?.log()?;
    p.sub(&t.mul(&log_pred)?)?.mean(Some(LAST), false)
}

/// `sum(y_true * log(y_true / y_pred), axis=-1)` with both clipped to `[epsilon, 1]`.
pub fn kl_divergence(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let (t, p) = align("kl_divergence", y_true, y_pred)?;
    let t = t.clip(EPSILON, 1.0)?;
    let p = p.clip(EPSILON, 1.0)?;
    t.mul(&t.div(&p)?.log()?)?.sum(Some(LAST), false)
}

/// Keras's L2 normalisation (`ops.normalize`): `x * minimum(rsqrt(sum(x², axis)), 1/epsilon)`,
/// so a zero vector stays zero.
fn l2_normalize(x: &Tensor, axis: isize) -> Result<Tensor> {
    let inverse_norm = x
        .square()?
        .sum(Some(&[axis]), true)?
        .sqrt()?
        .reciprocal()?
        .minimum(&constant(1.0 / EPSILON, x))?;
    x.mul(&inverse_norm)
}

/// `-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)`: -1 for parallel vectors, 0 when
/// either is zero.
pub fn cosine_similarity(y_true: &Tensor, y_pred: &Tensor, axis: isize) -> Result<Tensor> {
    let (t, p) = align("cosine_similarity", y_true, y_pred)?;
    l2_normalize(&t, axis)?
        .mul(&l2_normalize(&p, axis)?)?
        .sum(Some(&[axis]), false)?
        .neg()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    // Reference numbers are worked by hand from Keras's documented formulas.

    #[test]
    fn mse_mae_per_sample() {
        let t = t64(&[2, 2], &[0.0, 1.0, 0.0, 0.0]);
        let p = var64(&[2, 2], &[0.6, 0.4, 0.4, 0.6]);
        let mse = mean_squared_error(&t, &p).unwrap();
        assert_close(
            &values(&mse),
            &[(0.36 + 0.36) / 2.0, (0.16 + 0.36) / 2.0],
            1e-15,
        );
        let mae = mean_absolute_error(&t, &p).unwrap();
        assert_close(&values(&mae), &[0.6, 0.5], 1e-15);
        mse.sum(None, false).unwrap().backward().unwrap();
        // d/dp mean((p - t)²) = (p - t) for two elements
        assert_close(&values(&p.grad().unwrap()), &[0.6, -0.6, 0.4, 0.6], 1e-15);
    }

    #[test]
    fn huber_matches_keras_example() {
        // keras.losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) = 0.155 (mean)
        let t = t64(&[2, 2], &[0.0, 1.0, 0.0, 0.0]);
        let p = t64(&[2, 2], &[0.6, 0.4, 0.4, 0.6]);
        let h = values(&huber(&t, &p, 1.0).unwrap());
        assert_close(&h, &[0.18, 0.13], 1e-15);
        // outside delta: e = 3, delta = 1 -> 3 - 0.5
        let far = huber(&t64(&[1, 1], &[0.0]), &t64(&[1, 1], &[3.0]), 1.0).unwrap();
        assert_close(&values(&far), &[2.5], 1e-15);
    }

    #[test]
    fn log_cosh_is_stable_for_large_errors() {
        let t = t64(&[1, 3], &[0.0, 0.0, 0.0]);
        let p = t64(&[1, 3], &[1.0, 1000.0, -1000.0]);
        let v = values(&log_cosh(&t, &p).unwrap());
        let expected = (1f64.cosh().ln() + 2.0 * (1000.0 - std::f64::consts::LN_2)) / 3.0;
        assert_close(&v, &[expected], 1e-12);
    }

    #[test]
    fn mape_msle_poisson_kld_cosine() {
        let t = t64(&[1, 2], &[2.0, 0.0]);
        let p = t64(&[1, 2], &[1.0, 0.5]);
        // |(2-1)/2| = 0.5, |(0-0.5)/1e-7| = 5e6
        let mape = values(&mean_absolute_percentage_error(&t, &p).unwrap());
        assert_close(&mape, &[100.0 * (0.5 + 5e6) / 2.0], 1e-12);
        let msle = values(&mean_squared_logarithmic_error(&t, &p).unwrap());
        let a = (2f64.ln() - 3f64.ln()).powi(2);
        let b = (1.5f64.ln() - (1.0 + 1e-7f64).ln()).powi(2);
        assert_close(&msle, &[(a + b) / 2.0], 1e-12);
        let pois = values(&poisson(&t, &p).unwrap());
        assert_close(
            &pois,
            &[(1.0 - 2.0 * (1.0 + 1e-7f64).ln() + 0.5) / 2.0],
            1e-12,
        );
        let q = t64(&[1, 2], &[0.25, 0.75]);
        let r = t64(&[1, 2], &[0.5, 0.5]);
        let kld = values(&kl_divergence(&q, &r).unwrap());
        assert_close(&kld, &[0.25 * 0.5f64.ln() + 0.75 * 1.5f64.ln()], 1e-12);
        let cos = values(
            &cosine_similarity(
                &t64(&[3, 2], &[0.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
                &t64(&[3, 2], &[1.0, 0.0, 1.0, 1.0, -1.0, -1.0]),
                -1,
            )
            .unwrap(),
        );
        assert_close(&cos, &[0.0, -1.0, 1.0], 1e-12);
    }

    #[test]
    fn shape_mismatch_names_both_shapes() {
        let message = mean_squared_error(&t64(&[2, 3], &[0.0; 6]), &t64(&[3, 2], &[0.0; 6]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("[2, 3]") && message.contains("[3, 2]"),
            "{message}"
        );
    }

    #[test]
    fn rank_one_labels_meet_column_predictions() {
        let t = t64(&[3], &[1.0, 2.0, 3.0]);
        let p = t64(&[3, 1], &[1.0, 2.0, 5.0]);
        assert_close(
            &values(&mean_squared_error(&t, &p).unwrap()),
            &[0.0, 0.0, 4.0],
            0.0,
        );
    }
}
