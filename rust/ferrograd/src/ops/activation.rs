//! Activation functions as elementwise ops, with Keras 3's definitions and defaults.

use super::elementwise::{unary, UnaryOp};
use super::fast_math;
use crate::error::Result;
use crate::tensor::{Element, Tensor};

/// SELU's constants (Klambauer et al. 2017), as Keras.
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

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

#[inline(always)]
fn softplus<F: Element>(x: F) -> F {
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|), exact and overflow-free.
    x.max(F::zero()) + (-x.abs()).exp().ln_1p()
}

#[derive(Clone, Copy)]
pub(crate) struct Relu;
impl UnaryOp for Relu {
    const NAME: &'static str = "relu";
    fn forward<F: Element>(self, x: F) -> F {
        // Written so that NaN propagates (relu(NaN) = NaN, as numpy and PyTorch).
        if x <= F::zero() {
            F::zero()
        } else {
            x
        }
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        if x > F::zero() {
            F::one()
        } else {
            F::zero()
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Relu6;
impl UnaryOp for Relu6 {
    const NAME: &'static str = "relu6";
    fn forward<F: Element>(self, x: F) -> F {
        // NaN-propagating clamp: f32::max would turn NaN into 0.
        if x <= F::zero() {
            F::zero()
        } else if x >= F::lit(6.0) {
            F::lit(6.0)
        } else {
            x
        }
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        if x > F::zero() && x < F::lit(6.0) {
            F::one()
        } else {
            F::zero()
        }
    }
}

/// x for x > 0, negative_slope * x otherwise.
#[derive(Clone, Copy)]
pub(crate) struct LeakyRelu(pub f64);
impl UnaryOp for LeakyRelu {
    const NAME: &'static str = "leaky_relu";
    fn forward<F: Element>(self, x: F) -> F {
        if x > F::zero() {
            x
        } else {
            F::lit(self.0) * x
        }
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        if x > F::zero() {
            F::one()
        } else {
            F::lit(self.0)
        }
    }
}

/// x for x > 0, alpha * (e^x - 1) otherwise.
#[derive(Clone, Copy)]
pub(crate) struct Elu(pub f64);
impl UnaryOp for Elu {
    const NAME: &'static str = "elu";
    fn forward<F: Element>(self, x: F) -> F {
        if x > F::zero() {
            x
        } else {
            F::lit(self.0) * x.exp_m1()
        }
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        if x > F::zero() {
            F::one()
        } else {
            F::lit(self.0) * x.exp()
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Selu;
impl UnaryOp for Selu {
    const NAME: &'static str = "selu";
    fn forward<F: Element>(self, x: F) -> F {
        let scale = F::lit(SELU_SCALE);
        if x > F::zero() {
            scale * x
        } else {
            scale * F::lit(SELU_ALPHA) * x.exp_m1()
        }
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        let scale = F::lit(SELU_SCALE);
        if x > F::zero() {
            scale
        } else {
            scale * F::lit(SELU_ALPHA) * x.exp()
        }
    }
}

/// GELU: exact x·Φ(x), or the tanh approximation (Hendrycks & Gimpel 2016).
#[derive(Clone, Copy)]
pub(crate) struct Gelu {
    pub approximate: bool,
}
impl UnaryOp for Gelu {
    const NAME: &'static str = "gelu";
    fn forward<F: Element>(self, x: F) -> F {
        let half = F::lit(0.5);
        if self.approximate {
            let inner = F::lit(SQRT_2_OVER_PI) * (x + F::lit(0.044715) * x * x * x);
            half * x * (F::one() + inner.tanh())
        } else {
            half * x * (F::one() + (x * F::lit(FRAC_1_SQRT_2)).erf())
        }
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        let half = F::lit(0.5);
        if self.approximate {
            let inner = F::lit(SQRT_2_OVER_PI) * (x + F::lit(0.044715) * x * x * x);
            let t = inner.tanh();
            let d_inner = F::lit(SQRT_2_OVER_PI) * (F::one() + F::lit(3.0 * 0.044715) * x * x);
            half * (F::one() + t) + half * x * (F::one() - t * t) * d_inner
        } else {
            let cdf = half * (F::one() + (x * F::lit(FRAC_1_SQRT_2)).erf());
            let pdf = F::lit(INV_SQRT_2PI) * (-half * x * x).exp();
            cdf + x * pdf
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Sigmoid;
impl UnaryOp for Sigmoid {
    const NAME: &'static str = "sigmoid";
    // exp_f32_with(-x) is unclamped there.
    const FAST_F32_RANGE: Option<(f32, f32)> = Some((-87.0, 87.0));
    #[inline(always)]
    fn fast_forward_f32<const FMA: bool>(self, x: f32) -> f32 {
        fast_math::sigmoid_f32_with::<FMA>(x)
    }
    fn forward<F: Element>(self, x: F) -> F {
        sigmoid(x)
    }
    fn derivative<F: Element>(self, _x: F, y: F) -> F {
        y * (F::one() - y)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Tanh;
impl UnaryOp for Tanh {
    const NAME: &'static str = "tanh";
    // Exact to float precision everywhere (±1 beyond ±7.9); only NaN takes the libm path.
    const FAST_F32_RANGE: Option<(f32, f32)> = Some((f32::NEG_INFINITY, f32::INFINITY));
    #[inline(always)]
    fn fast_forward_f32<const FMA: bool>(self, x: f32) -> f32 {
        fast_math::tanh_f32_with::<FMA>(x)
    }
    fn forward<F: Element>(self, x: F) -> F {
        x.tanh()
    }
    fn derivative<F: Element>(self, _x: F, y: F) -> F {
        F::one() - y * y
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Softplus;
impl UnaryOp for Softplus {
    const NAME: &'static str = "softplus";
    fn forward<F: Element>(self, x: F) -> F {
        softplus(x)
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        sigmoid(x)
    }
}

/// x / (1 + |x|)
#[derive(Clone, Copy)]
pub(crate) struct Softsign;
impl UnaryOp for Softsign {
    const NAME: &'static str = "softsign";
    fn forward<F: Element>(self, x: F) -> F {
        x / (F::one() + x.abs())
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        let d = F::one() + x.abs();
        (d * d).recip()
    }
}

/// Swish / SiLU: x · sigmoid(x).
#[derive(Clone, Copy)]
pub(crate) struct Silu;
impl UnaryOp for Silu {
    const NAME: &'static str = "silu";
    const FAST_F32_RANGE: Option<(f32, f32)> = Some((-87.0, 87.0));
    #[inline(always)]
    fn fast_forward_f32<const FMA: bool>(self, x: f32) -> f32 {
        x * fast_math::sigmoid_f32_with::<FMA>(x)
    }
    fn forward<F: Element>(self, x: F) -> F {
        x * sigmoid(x)
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        let s = sigmoid(x);
        s * (F::one() + x * (F::one() - s))
    }
}

/// Keras 3's hard sigmoid: relu6(x + 3) / 6, i.e. 0 below -3, 1 above 3, x/6 + 1/2 between.
#[derive(Clone, Copy)]
pub(crate) struct HardSigmoid;
impl UnaryOp for HardSigmoid {
    const NAME: &'static str = "hard_sigmoid";
    fn forward<F: Element>(self, x: F) -> F {
        if x <= F::lit(-3.0) {
            F::zero()
        } else if x >= F::lit(3.0) {
            F::one()
        } else {
            x / F::lit(6.0) + F::lit(0.5)
        }
    }
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        if x > F::lit(-3.0) && x < F::lit(3.0) {
            F::lit(1.0 / 6.0)
        } else {
            F::zero()
        }
    }
}

impl Tensor {
    pub fn relu(&self) -> Result<Tensor> {
        unary(self, Relu)
    }
    pub fn relu6(&self) -> Result<Tensor> {
        unary(self, Relu6)
    }
    /// Leaky ReLU with the given slope for negative inputs (Keras's function default: 0.2).
    pub fn leaky_relu(&self, negative_slope: f64) -> Result<Tensor> {
        unary(self, LeakyRelu(negative_slope))
    }
    /// ELU with the given alpha (Keras's default: 1.0).
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        unary(self, Elu(alpha))
    }
    pub fn selu(&self) -> Result<Tensor> {
        unary(self, Selu)
    }
    /// GELU, exact (erf) or with the tanh approximation.
    pub fn gelu(&self, approximate: bool) -> Result<Tensor> {
        unary(self, Gelu { approximate })
    }
    pub fn sigmoid(&self) -> Result<Tensor> {
        unary(self, Sigmoid)
    }
    pub fn tanh(&self) -> Result<Tensor> {
        unary(self, Tanh)
    }
    pub fn softplus(&self) -> Result<Tensor> {
        unary(self, Softplus)
    }
    pub fn softsign(&self) -> Result<Tensor> {
        unary(self, Softsign)
    }
    /// Swish / SiLU.
    pub fn silu(&self) -> Result<Tensor> {
        unary(self, Silu)
    }
    pub fn hard_sigmoid(&self) -> Result<Tensor> {
        unary(self, HardSigmoid)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        let x = t64(&[3], &[-800.0, 0.0, 800.0]);
        assert_close(&values(&x.sigmoid().unwrap()), &[0.0, 0.5, 1.0], 1e-12);
        let sp = x.softplus().unwrap();
        assert_close(&values(&sp), &[0.0, 2f64.ln(), 800.0], 1e-12);
    }

    #[test]
    fn gelu_exact_reference_values() {
        // x·Φ(x) with Φ(1) = 0.8413447460685429, Φ(-1) = 0.15865525393145707.
        let x = t64(&[2], &[1.0, -1.0]);
        assert_close(
            &values(&x.gelu(false).unwrap()),
            &[0.841_344_746_068_542_9, -0.158_655_253_931_457_07],
            1e-12,
        );
    }

    #[test]
    fn relu_gradient_is_step() {
        let x = var64(&[3], &[-1.0, 0.5, 2.0]);
        x.relu()
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        assert_close(&values(&x.grad().unwrap()), &[0.0, 1.0, 1.0], 0.0);
    }
}
