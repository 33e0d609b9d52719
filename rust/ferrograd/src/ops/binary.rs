//! Elementwise binary ops with numpy broadcasting. The backward of broadcasting is a sum over the
//! broadcast axes ([`unbroadcast`]). Mixed float32/float64 operands are promoted to float64, as
//! numpy does.

use ndarray::{IxDyn, Zip};

use super::{broadcast_shapes, map_elements, some_grad, sum_to_shape, typed_grad, unbroadcast};
use crate::error::Result;
use crate::tensor::{Array, Element, Storage, Tensor};
use crate::threads;

/// An elementwise function of two arguments with its partial derivatives.
pub(crate) trait BinaryOp: Copy + Send + Sync + 'static {
    const NAME: &'static str;
    /// For ops whose partials are constants (add: (1, 1), subtract: (1, -1)): the backward then
    /// needs neither operand.
    const CONSTANT_PARTIALS: Option<(f64, f64)> = None;
    fn forward<F: Element>(self, a: F, b: F) -> F;
    /// (∂f/∂a, ∂f/∂b) at (a, b).
    fn partials<F: Element>(self, a: F, b: F) -> (F, F);
}

macro_rules! binary_op {
    ($ty:ident, $name:literal, $constant:expr, |$a:ident, $b:ident| $fwd:expr, $partials:expr) => {
        #[derive(Clone, Copy)]
        pub(crate) struct $ty;
        impl BinaryOp for $ty {
            const NAME: &'static str = $name;
            const CONSTANT_PARTIALS: Option<(f64, f64)> = $constant;
            #[inline(always)]
            fn forward<F: Element>(self, $a: F, $b: F) -> F {
                $fwd
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn partials<F: Element>(self, $a: F, $b: F) -> (F, F) {
                $partials
            }
        }
    };
}

binary_op!(
    Add,
    "add",
    Some((1.0, 1.0)),
    |a, b| a + b,
    (F::one(), F::one())
);
binary_op!(
    Sub,
    "subtract",
    Some((1.0, -1.0)),
    |a, b| a - b,
    (F::one(), -F::one())
);
binary_op!(Mul, "multiply", None, |a, b| a * b, (b, a));
binary_op!(Div, "divide", None, |a, b| a / b, (b.recip(), -a / (b * b)));
// d(a^b)/db = a^b ln a; taken as 0 where a = 0 (the limit for b > 0), as PyTorch does.
binary_op!(Pow, "power", None, |a, b| a.powf(b), {
    let db = if a == F::zero() {
        F::zero()
    } else {
        a.powf(b) * a.ln()
    };
    (b * a.powf(b - F::one()), db)
});
// Ties send the gradient to the first operand, as TensorFlow's maximum.
binary_op!(
    Maximum,
    "maximum",
    None,
    // NaN propagates from either side, as numpy's maximum.
    |a, b| if a.is_nan() || a >= b { a } else { b },
    if a >= b {
        (F::one(), F::zero())
    } else {
        (F::zero(), F::one())
    }
);
binary_op!(
    Minimum,
    "minimum",
    None,
    |a, b| if a.is_nan() || a <= b { a } else { b },
    if a <= b {
        (F::one(), F::zero())
    } else {
        (F::zero(), F::one())
    }
);

fn binary_typed<F: Element, K: BinaryOp>(
    lhs: &Tensor,
    rhs: &Tensor,
    a: Array<F>,
    b: Array<F>,
    op: K,
) -> Result<Tensor> {
    let out_shape = broadcast_shapes(K::NAME, a.shape(), b.shape())?;
    // One operand a single element (`x * 2.0` from Python): a map over the other, which runs in
    // contiguous chunks; the broadcast `Zip` below steps a stride-0 operand element by element
    // (`x * 2.0` of 2^22 floats ran at half the speed of `x * y`).
    let scalar = |t: &Array<F>| t.iter().next().copied().expect("one element");
    let out = if b.len() == 1 && a.shape() == out_shape.as_slice() {
        let s = scalar(&b);
        map_elements(&a, |x| op.forward(x, s))
    } else if a.len() == 1 && b.shape() == out_shape.as_slice() {
        let s = scalar(&a);
        map_elements(&b, |y| op.forward(s, y))
    } else {
        let av = a.broadcast(IxDyn(&out_shape)).expect("shape checked");
        let bv = b.broadcast(IxDyn(&out_shape)).expect("shape checked");
        let zip = Zip::from(&av).and(&bv);
        if out_shape.iter().product::<usize>() >= threads::PARALLEL_MIN_ELEMENTS {
            threads::install(|| zip.par_map_collect(|&x, &y| op.forward(x, y)))
        } else {
            zip.map_collect(|&x, &y| op.forward(x, y))
        }
    };
    let (a_needs, b_needs) = (lhs.requires_grad(), rhs.requires_grad());
    Ok(Tensor::from_op(
        Storage::from_array(out),
        K::NAME,
        &[lhs, rhs],
        move || {
            Box::new(move |g: &Storage| {
                let g = typed_grad::<F>(K::NAME, g)?;
                if let Some((ca, cb)) = K::CONSTANT_PARTIALS {
                    // c * g summed to the operand's shape: sum first (the smaller array), then
                    // scale.
                    let grad_for = |c: f64, shape: &[usize]| -> Storage {
                        if g.shape() == shape && c == 1.0 {
                            return Storage::from_array(g.to_owned());
                        }
                        let summed = if g.shape() == shape {
                            map_elements(g, |v| v * F::lit(c))
                        } else {
                            sum_to_shape(g.view(), shape)
                        };
                        if c == 1.0 || g.shape() == shape {
                            Storage::from_array(summed)
                        } else {
                            Storage::from_array(summed.mapv_into(|v| v * F::lit(c)))
                        }
                    };
                    let ga = a_needs.then(|| grad_for(ca, a.shape()));
                    let gb = b_needs.then(|| grad_for(cb, b.shape()));
                    return Ok(vec![ga, gb]);
                }
                let av = a.broadcast(g.raw_dim()).expect("shape checked in forward");
                let bv = b.broadcast(g.raw_dim()).expect("shape checked in forward");
                let ga = a_needs.then(|| {
                    let full = Zip::from(g)
                        .and(&av)
                        .and(&bv)
                        .map_collect(|&g, &x, &y| g * op.partials(x, y).0);
                    some_grad(unbroadcast(full, a.shape()))
                });
                let gb = b_needs.then(|| {
                    let full = Zip::from(g)
                        .and(&av)
                        .and(&bv)
                        .map_collect(|&g, &x, &y| g * op.partials(x, y).1);
                    some_grad(unbroadcast(full, b.shape()))
                });
                Ok(vec![ga.flatten(), gb.flatten()])
            })
        },
    ))
}

/// Applies a [`BinaryOp`], promoting mixed dtypes to float64.
pub(crate) fn binary<K: BinaryOp>(lhs: &Tensor, rhs: &Tensor, op: K) -> Result<Tensor> {
    let dtype = lhs.dtype().promote(rhs.dtype());
    let lhs = lhs.cast(dtype)?;
    let rhs = rhs.cast(dtype)?;
    match (lhs.storage(), rhs.storage()) {
        (Storage::F32(a), Storage::F32(b)) => binary_typed(&lhs, &rhs, a, b, op),
        (Storage::F64(a), Storage::F64(b)) => binary_typed(&lhs, &rhs, a, b, op),
        _ => unreachable!("both operands were cast to {dtype}"),
    }
}

impl Tensor {
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Add)
    }
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Sub)
    }
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Mul)
    }
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Div)
    }
    /// `self ** exponent` elementwise, both tensors.
    pub fn pow(&self, exponent: &Tensor) -> Result<Tensor> {
        binary(self, exponent, Pow)
    }
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Maximum)
    }
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, Minimum)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::tensor::{DType, Tensor};

    #[test]
    fn broadcasting_add_sums_gradient_over_broadcast_axes() {
        let a = var64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = var64(&[3], &[10.0, 20.0, 30.0]);
        let y = a.add(&b).unwrap();
        assert_close(&values(&y), &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0], 0.0);
        y.sum(None, false).unwrap().backward().unwrap();
        assert_close(&values(&b.grad().unwrap()), &[2.0, 2.0, 2.0], 0.0);
        assert_close(&values(&a.grad().unwrap()), &[1.0; 6], 0.0);
    }

    #[test]
    fn one_element_operand_maps_the_other_with_gradients() {
        // Either side a single element, as Python's `x * 2.0` and `2.0 - x`.
        let x = var64(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let c = var64(&[], &[3.0]);
        let y = c.sub(&x).unwrap();
        assert_close(&values(&y), &[2.0, 1.0, 0.0, -1.0], 0.0);
        let z = x.div(&c).unwrap();
        assert_close(&values(&z), &[1.0 / 3.0, 2.0 / 3.0, 1.0, 4.0 / 3.0], 1e-15);
        y.add(&z)
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        assert_close(&values(&x.grad().unwrap()), &[-1.0 + 1.0 / 3.0; 4], 1e-15);
        // d/dc: 4 from c - x, minus sum(x) / c^2 from x / c.
        assert_close(&values(&c.grad().unwrap()), &[4.0 - 10.0 / 9.0], 1e-15);
    }

    #[test]
    fn bias_gradient_is_the_column_sum() {
        let a = var64(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let bias = var64(&[1, 2], &[0.5, -0.5]);
        let y = a.add(&bias).unwrap().mul(&a).unwrap();
        y.sum(None, false).unwrap().backward().unwrap();
        // dy/dbias = sum over rows of a.
        assert_close(&values(&bias.grad().unwrap()), &[9.0, 12.0], 0.0);
        let s = a.sub(&bias).unwrap();
        s.sum(None, false).unwrap().backward().unwrap();
        assert_close(
            &values(&bias.grad().unwrap()),
            &[9.0 - 3.0, 12.0 - 3.0],
            0.0,
        );
    }

    #[test]
    fn mul_and_div_gradients() {
        let a = var64(&[2], &[2.0, 3.0]);
        let b = var64(&[2], &[4.0, 5.0]);
        a.div(&b)
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        assert_close(&values(&a.grad().unwrap()), &[0.25, 0.2], 1e-15);
        assert_close(
            &values(&b.grad().unwrap()),
            &[-2.0 / 16.0, -3.0 / 25.0],
            1e-15,
        );
    }

    #[test]
    fn incompatible_shapes_are_an_error_naming_both() {
        let a = t64(&[2, 3], &[0.0; 6]);
        let b = t64(&[4], &[0.0; 4]);
        let message = a.add(&b).unwrap_err().to_string();
        assert!(
            message.contains("[2, 3]") && message.contains("[4]"),
            "{message}"
        );
    }

    #[test]
    fn mixed_dtypes_promote_to_f64() {
        let a = Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap();
        let b = t64(&[2], &[0.5, 0.25]);
        assert_eq!(a.mul(&b).unwrap().dtype(), DType::F64);
    }
}
