//! Elementwise unary ops. Each is a small [`UnaryOp`]: the forward formula and its derivative in
//! one place; [`unary`] turns it into a differentiable tensor op.

use ndarray::ArrayD;

use super::fast_math;
use super::{map_chunks, map_elements, some_grad, typed_grad, zip3_elements};
use crate::error::{Error, Result};
use crate::tensor::{Array, DType, Element, Storage, Tensor};

/// An elementwise function with its derivative.
pub(crate) trait UnaryOp: Copy + Send + Sync + 'static {
    const NAME: &'static str;
    /// y = f(x)
    fn forward<F: Element>(self, x: F) -> F;
    /// dy/dx, given x and y = f(x) (whichever is cheaper to use).
    fn derivative<F: Element>(self, x: F, y: F) -> F;
    /// For float32: the input range in which [`UnaryOp::fast_forward_f32`] is within a few ulp of
    /// `forward`. Ops that set it (exp, sigmoid, tanh, silu) are compute-bound through libm's
    /// scalar functions (`exp` of 2^22 floats ran at 3-7 GB/s, a quarter of memory bandwidth).
    /// A chunk with any input outside the range, or NaN, is recomputed with `forward`, so
    /// overflow, underflow and NaN stay exactly numpy's.
    const FAST_F32_RANGE: Option<(f32, f32)> = None;
    /// A branch-free, vectorizable float32 `forward` (see `fast_math`), valid in `FAST_F32_RANGE`;
    /// `FMA` when it runs in a kernel compiled for AVX2 + FMA (see `fast_math::madd`).
    #[inline(always)]
    fn fast_forward_f32<const FMA: bool>(self, x: f32) -> f32 {
        self.forward(x)
    }
}

/// `op.forward` of every element: the fast float32 form where the op has one (see
/// [`UnaryOp::FAST_F32_RANGE`]), in chunks on the pool for large arrays.
pub(crate) fn unary_forward<F: Element, K: UnaryOp>(x: &Array<F>, op: K) -> ArrayD<F> {
    match K::FAST_F32_RANGE {
        Some((lo, hi)) if F::DTYPE == DType::F32 => map_chunks(x, |xs, ys, fma| {
            let mut in_range = true;
            for (y, &v) in ys.iter_mut().zip(xs) {
                // Identity conversions: F is f32 here.
                let v = v.to_f32().expect("f32");
                in_range &= (v >= lo) & (v <= hi);
                // `fma` is a constant in each compiled copy of this kernel (see `map_chunks`).
                let fast = if fma {
                    op.fast_forward_f32::<true>(v)
                } else {
                    op.fast_forward_f32::<false>(v)
                };
                y.write(F::from_f32(fast).expect("f32"));
            }
            if !in_range {
                for (y, &v) in ys.iter_mut().zip(xs) {
                    y.write(op.forward(v));
                }
            }
        }),
        _ => map_elements(x, |v| op.forward(v)),
    }
}

fn unary_typed<F: Element, K: UnaryOp>(input: &Tensor, x: Array<F>, op: K) -> Tensor {
    let y = unary_forward(&x, op).into_shared();
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
/// e^x; float32 through `fast_math::exp_f32_with` where it needs no clamp.
#[derive(Clone, Copy)]
pub(crate) struct Exp;
impl UnaryOp for Exp {
    const NAME: &'static str = "exp";
    const FAST_F32_RANGE: Option<(f32, f32)> = Some((-87.0, 88.0));
    #[inline(always)]
    fn forward<F: Element>(self, x: F) -> F {
        x.exp()
    }
    #[inline(always)]
    fn derivative<F: Element>(self, _x: F, y: F) -> F {
        y
    }
    #[inline(always)]
    fn fast_forward_f32<const FMA: bool>(self, x: f32) -> f32 {
        fast_math::exp_f32_with::<FMA>(x)
    }
}
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
    fn fast_f32_exp_is_close_in_range_and_exact_outside() {
        use crate::tensor::Tensor;
        // Large enough for the parallel chunks; one chunk holds out-of-range values and NaN.
        let n = 3 * super::super::MAP_CHUNK * 4;
        let mut v: Vec<f32> = (0..n).map(|i| (i % 2000) as f32 * 0.08 - 80.0).collect();
        v[5] = 100.0;
        v[6] = -100.0;
        v[7] = f32::NAN;
        let x = Tensor::from_vec(&[n], v.clone()).unwrap();
        let y = x.exp().unwrap().to_f64();
        for (&xi, &yi) in v.iter().zip(y.iter()) {
            let want = xi.exp() as f64;
            if xi.is_nan() {
                assert!(yi.is_nan());
            } else if (-87.0..=88.0).contains(&xi) {
                assert!(
                    ((yi - want) / want).abs() < 4e-7,
                    "exp({xi}) = {yi}, want {want}"
                );
            }
        }
        // The chunk with out-of-range inputs is libm's exactly: overflow and denormals.
        assert_eq!(y[5], f64::INFINITY);
        assert_eq!(y[6] as f32, (-100f32).exp());
        assert!(y[6] > 0.0);
    }

    #[test]
    fn fast_f32_sigmoid_and_tanh_saturate_exactly() {
        use crate::tensor::Tensor;
        let x = Tensor::from_vec(&[4], vec![-800.0f32, -0.5, 0.5, 800.0]).unwrap();
        let s = x.sigmoid().unwrap().to_f64();
        assert_eq!((s[0], s[3]), (0.0, 1.0));
        assert!((s[1] - 1.0 / (1.0 + 0.5f64.exp())).abs() < 1e-7);
        let t = x.tanh().unwrap().to_f64();
        assert_eq!((t[0], t[3]), (-1.0, 1.0));
        assert!((t[2] - 0.5f64.tanh()).abs() < 1e-7);
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
