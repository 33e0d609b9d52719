//! Elementwise unary ops. Each is a small [`UnaryOp`]: the forward formula and its derivative in
//! one place; [`unary`] turns it into a differentiable tensor op.

use super::{map_elements, some_grad, typed_grad, zip3_elements};
use crate::error::{Error, Result};
use crate::tensor::{Array, Element, Storage, Tensor};

/// An elementwise function with its derivative.
pub(crate) trait UnaryOp: Copy + Send + Sync + 'static {
    const NAME: &'static str;
    /// y = f(x)
    fn forward<F: Element>(self, x: F) -> F;
    /// dy/dx, given x and y = f(x) (whichever is cheaper to use).
    fn derivative<F: Element>(self, x: F, y: F) -> F;
}

fn unary_typed<F: Element, K: UnaryOp>(input: &Tensor, x: Array<F>, op: K) -> Tensor {
    let y = map_elements(&x, |v| op.forward(v)).into_shared();
    let out = F::wrap(y.clone());
    Tensor::from_op(out, K::NAME, &[input], move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>(K::NAME, g)?;
            let dx = zip3_elements(g.view(), x.view(), y.view(), |g, x, y| {
                g * op.derivative(x, y)
            });
            Ok(vec![some_grad(dx)])
        })
    })
}

/// Applies a [`UnaryOp`] to a tensor.
pub(crate) fn unary<K: UnaryOp>(input: &Tensor, op: K) -> Result<Tensor> {
    Ok(dispatch!(input.storage(), |a| unary_typed(input, a, op)))
}

macro_rules! unary_op {
    ($(#[$doc:meta])* $ty:ident, $name:literal, |$x:ident| $fwd:expr, |$dx:ident, $dy:ident| $der:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub(crate) struct $ty;
        impl UnaryOp for $ty {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn forward<F: Element>(self, $x: F) -> F {
                $fwd
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn derivative<F: Element>(self, $dx: F, $dy: F) -> F {
                $der
            }
        }
    };
}

unary_op!(Neg, "negative", |x| -x, |x, y| -F::one());
unary_op!(Exp, "exp", |x| x.exp(), |x, y| y);
unary_op!(Log, "log", |x| x.ln(), |x, y| x.recip());
unary_op!(Sqrt, "sqrt", |x| x.sqrt(), |x, y| F::lit(0.5) / y);
// d|x|/dx = sign(x); 0 at 0, as numpy's sign and PyTorch's abs backward.
unary_op!(Abs, "abs", |x| x.abs(), |x, y| if x > F::zero() {
    F::one()
} else if x < F::zero() {
    -F::one()
} else {
    F::zero()
});
unary_op!(Square, "square", |x| x * x, |x, y| F::lit(2.0) * x);
unary_op!(Sin, "sin", |x| x.sin(), |x, y| x.cos());
unary_op!(Cos, "cos", |x| x.cos(), |x, y| -x.sin());
unary_op!(Log1p, "log1p", |x| x.ln_1p(), |x, y| (F::one() + x).recip());
unary_op!(Reciprocal, "reciprocal", |x| x.recip(), |x, y| -y * y);

/// x ** p for a constant exponent p.
#[derive(Clone, Copy)]
pub(crate) struct PowScalar(pub f64);
impl UnaryOp for PowScalar {
    const NAME: &'static str = "power";
    #[inline(always)]
    fn forward<F: Element>(self, x: F) -> F {
        if self.0 == 2.0 {
            x * x
        } else {
            x.powf(F::lit(self.0))
        }
    }
    #[inline(always)]
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        if self.0 == 0.0 {
            F::zero()
        } else {
            F::lit(self.0) * x.powf(F::lit(self.0 - 1.0))
        }
    }
}

/// Clip to [lo, hi]; the gradient passes where lo < x < hi... and at the bounds, as Keras
/// (TensorFlow's clip_by_value passes gradient where lo <= x <= hi).
#[derive(Clone, Copy)]
pub(crate) struct Clip(pub f64, pub f64);
impl UnaryOp for Clip {
    const NAME: &'static str = "clip";
    #[inline(always)]
    fn forward<F: Element>(self, x: F) -> F {
        // NaN-propagating, as numpy's clip (f32::max would turn NaN into the bound).
        if x < F::lit(self.0) {
            F::lit(self.0)
        } else if x > F::lit(self.1) {
            F::lit(self.1)
        } else {
            x
        }
    }
    #[inline(always)]
    fn derivative<F: Element>(self, x: F, _y: F) -> F {
        if x >= F::lit(self.0) && x <= F::lit(self.1) {
            F::one()
        } else {
            F::zero()
        }
    }
}

/// x * c for a constant c (scalar multiplication without a broadcast).
#[derive(Clone, Copy)]
pub(crate) struct Scale(pub f64);
impl UnaryOp for Scale {
    const NAME: &'static str = "scale";
    #[inline(always)]
    fn forward<F: Element>(self, x: F) -> F {
        x * F::lit(self.0)
    }
    #[inline(always)]
    fn derivative<F: Element>(self, _x: F, _y: F) -> F {
        F::lit(self.0)
    }
}

impl Tensor {
    pub fn neg(&self) -> Result<Tensor> {
        unary(self, Neg)
    }
    pub fn exp(&self) -> Result<Tensor> {
        unary(self, Exp)
    }
    /// Natural logarithm (NaN below 0 and -inf at 0, as numpy).
    pub fn log(&self) -> Result<Tensor> {
        unary(self, Log)
    }
    pub fn log1p(&self) -> Result<Tensor> {
        unary(self, Log1p)
    }
    pub fn sqrt(&self) -> Result<Tensor> {
        unary(self, Sqrt)
    }
    pub fn abs(&self) -> Result<Tensor> {
        unary(self, Abs)
    }
    pub fn square(&self) -> Result<Tensor> {
        unary(self, Square)
    }
    pub fn sin(&self) -> Result<Tensor> {
        unary(self, Sin)
    }
    pub fn cos(&self) -> Result<Tensor> {
        unary(self, Cos)
    }
    pub fn reciprocal(&self) -> Result<Tensor> {
        unary(self, Reciprocal)
    }
    /// `self ** exponent` for a constant exponent.
    pub fn powf(&self, exponent: f64) -> Result<Tensor> {
        unary(self, PowScalar(exponent))
    }
    /// `self * factor` for a constant factor.
    pub fn scale(&self, factor: f64) -> Result<Tensor> {
        unary(self, Scale(factor))
    }
    /// Limits values to `[min, max]`.
    pub fn clip(&self, min: f64, max: f64) -> Result<Tensor> {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(Error::argument(
                "clip",
                format!("needs min <= max, got min={min}, max={max}"),
            ));
        }
        unary(self, Clip(min, max))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    #[test]
    fn exp_forward_and_backward() {
        let x = var64(&[3], &[0.0, 1.0, -2.0]);
        let y = x.exp().unwrap();
        assert_close(&values(&y), &[1.0, 1f64.exp(), (-2f64).exp()], 1e-12);
        y.sum(None, false).unwrap().backward().unwrap();
        assert_close(
            &values(&x.grad().unwrap()),
            &[1.0, 1f64.exp(), (-2f64).exp()],
            1e-12,
        );
    }

    #[test]
    fn clip_passes_gradient_inside_and_at_bounds() {
        let x = var64(&[4], &[-2.0, -1.0, 0.5, 3.0]);
        x.clip(-1.0, 1.0)
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        assert_close(&values(&x.grad().unwrap()), &[0.0, 1.0, 1.0, 0.0], 0.0);
        assert!(x.clip(1.0, -1.0).is_err());
    }

    #[test]
    fn pow_scalar_matches_formula() {
        let x = var64(&[2], &[2.0, 3.0]);
        let y = x.powf(3.0).unwrap();
        assert_close(&values(&y), &[8.0, 27.0], 1e-12);
        y.sum(None, false).unwrap().backward().unwrap();
        assert_close(&values(&x.grad().unwrap()), &[12.0, 27.0], 1e-12);
    }
}
