//! Comparisons and selection. The engine's tensors are float-only, so a comparison yields a mask
//! of 0.0/1.0 in the operands' dtype (usable directly as `x * (x > 0)`); it records no gradient.

use ndarray::{IxDyn, Zip};

use super::{broadcast_shapes, some_grad, typed_grad, unbroadcast};
use crate::error::Result;
use crate::tensor::{Array, Element, Storage, Tensor};

/// The comparison a mask is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
}

impl Comparison {
    fn holds<F: Element>(self, a: F, b: F) -> bool {
        match self {
            Comparison::Equal => a == b,
            Comparison::NotEqual => a != b,
            Comparison::Greater => a > b,
            Comparison::GreaterEqual => a >= b,
            Comparison::Less => a < b,
            Comparison::LessEqual => a <= b,
        }
    }
}

fn compare_typed<F: Element>(a: &Array<F>, b: &Array<F>, cmp: Comparison) -> Result<Tensor> {
    let shape = broadcast_shapes("compare", a.shape(), b.shape())?;
    let av = a.broadcast(IxDyn(&shape)).expect("shape checked");
    let bv = b.broadcast(IxDyn(&shape)).expect("shape checked");
    let mask =
        Zip::from(&av)
            .and(&bv)
            .map_collect(|&x, &y| if cmp.holds(x, y) { F::one() } else { F::zero() });
    Ok(Tensor::from_array(mask))
}

fn where_typed<F: Element>(
    inputs: [&Tensor; 2],
    condition: Array<F>,
    a: Array<F>,
    b: Array<F>,
) -> Result<Tensor> {
    let shape = broadcast_shapes(
        "where",
        &broadcast_shapes("where", condition.shape(), a.shape())?,
        b.shape(),
    )?;
    let dim = IxDyn(&shape);
    let cv = condition.broadcast(dim.clone()).expect("shape checked");
    let av = a.broadcast(dim.clone()).expect("shape checked");
    let bv = b.broadcast(dim.clone()).expect("shape checked");
    let out = Zip::from(&cv)
        .and(&av)
        .and(&bv)
        .map_collect(|&c, &x, &y| if c != F::zero() { x } else { y });
    let (a_shape, b_shape) = (a.shape().to_vec(), b.shape().to_vec());
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "where",
        &inputs,
        move || {
            Box::new(move |g: &Storage| {
                let g = typed_grad::<F>("where", g)?;
                let cv = condition
                    .broadcast(g.raw_dim())
                    .expect("shape checked in forward");
                let ga =
                    Zip::from(g)
                        .and(&cv)
                        .map_collect(|&g, &c| if c != F::zero() { g } else { F::zero() });
                let gb =
                    Zip::from(g)
                        .and(&cv)
                        .map_collect(|&g, &c| if c != F::zero() { F::zero() } else { g });
                Ok(vec![
                    some_grad(unbroadcast(ga, &a_shape)),
                    some_grad(unbroadcast(gb, &b_shape)),
                ])
            })
        },
    ))
}

impl Tensor {
    /// A 0/1 mask of `self <cmp> other` with broadcasting.
    pub fn compare(&self, other: &Tensor, cmp: Comparison) -> Result<Tensor> {
        let dtype = self.dtype().promote(other.dtype());
        match (self.storage().cast(dtype), other.storage().cast(dtype)) {
            (Storage::F32(a), Storage::F32(b)) => compare_typed(&a, &b, cmp),
            (Storage::F64(a), Storage::F64(b)) => compare_typed(&a, &b, cmp),
            _ => unreachable!("both operands were cast to {dtype}"),
        }
    }

    /// `a` where `condition` is nonzero, else `b` (numpy's `where`), all three broadcast.
    /// Differentiable in `a` and `b`.
    pub fn where_(condition: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let dtype = a.dtype().promote(b.dtype());
        let (a, b) = (a.cast(dtype)?, b.cast(dtype)?);
        match (condition.storage().cast(dtype), a.storage(), b.storage()) {
            (Storage::F32(c), Storage::F32(x), Storage::F32(y)) => where_typed([&a, &b], c, x, y),
            (Storage::F64(c), Storage::F64(x), Storage::F64(y)) => where_typed([&a, &b], c, x, y),
            _ => unreachable!("all operands were cast to {dtype}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn where_routes_values_and_gradients() {
        let c = t64(&[3], &[1.0, 0.0, 1.0]);
        let a = var64(&[3], &[1.0, 2.0, 3.0]);
        let b = var64(&[1], &[-1.0]);
        let y = Tensor::where_(&c, &a, &b).unwrap();
        assert_close(&values(&y), &[1.0, -1.0, 3.0], 0.0);
        y.sum(None, false).unwrap().backward().unwrap();
        assert_close(&values(&a.grad().unwrap()), &[1.0, 0.0, 1.0], 0.0);
        assert_close(&values(&b.grad().unwrap()), &[1.0], 0.0);
    }

    #[test]
    fn comparisons_make_masks() {
        let a = t64(&[3], &[1.0, 2.0, 3.0]);
        let b = t64(&[], &[2.0]);
        assert_close(
            &values(&a.compare(&b, Comparison::Greater).unwrap()),
            &[0.0, 0.0, 1.0],
            0.0,
        );
        assert_close(
            &values(&a.compare(&b, Comparison::LessEqual).unwrap()),
            &[1.0, 1.0, 0.0],
            0.0,
        );
    }
}
