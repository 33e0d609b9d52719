//! Reductions over axes with numpy's `axis`/`keepdims` semantics. The backward of a reduction
//! broadcasts the output gradient back over the reduced axes.

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use super::reduce_kernel::{fold_axes_kept, MaxFold, MinFold, SumFold};
use super::{normalize_axes, normalize_axis, some_grad, typed_grad};
use crate::error::{Error, Result};
use crate::tensor::{Array, Element, Storage, Tensor};

/// The input shape with every reduced axis set to 1.
fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

/// The output shape of a reduction.
fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    if keepdims {
        return kept_shape(shape, axes);
    }
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect()
}

fn sum_kept<F: Element>(a: &Array<F>, axes: &[usize]) -> ArrayD<F> {
    fold_axes_kept(a.view(), axes, SumFold)
}

fn count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

/// The gradient `g` of a reduction's output, reshaped to the kept shape and broadcast to `shape`.
fn spread<F: Element>(g: &Array<F>, kept: &[usize], shape: &[usize]) -> ArrayD<F> {
    let g = g
        .to_shape(IxDyn(kept))
        .expect("gradient has the reduced shape");
    g.broadcast(IxDyn(shape))
        .expect("kept shape broadcasts")
        .to_owned()
}

#[derive(Clone, Copy, PartialEq)]
enum Extreme {
    Max,
    Min,
}

fn sum_typed<F: Element>(input: &Tensor, a: Array<F>, axes: Vec<usize>, keepdims: bool) -> Tensor {
    let shape = a.shape().to_vec();
    let out_shape = reduced_shape(&shape, &axes, keepdims);
    let kept = kept_shape(&shape, &axes);
    let out = sum_kept(&a, &axes)
        .into_shape_with_order(IxDyn(&out_shape))
        .expect("same size");
    Tensor::from_op(Storage::from_array(out), "sum", &[input], move || {
        Box::new(move |g: &Storage| {
            Ok(vec![some_grad(spread(
                typed_grad::<F>("sum", g)?,
                &kept,
                &shape,
            ))])
        })
    })
}

fn extreme_typed<F: Element>(
    input: &Tensor,
    a: Array<F>,
    axes: Vec<usize>,
    keepdims: bool,
    which: Extreme,
) -> Tensor {
    let op = which.name();
    let shape = a.shape().to_vec();
    let out_shape = reduced_shape(&shape, &axes, keepdims);
    let kept = kept_shape(&shape, &axes);
    // NaN propagates, as numpy's max/min.
    let extreme = match which {
        Extreme::Max => fold_axes_kept(a.view(), &axes, MaxFold),
        Extreme::Min => fold_axes_kept(a.view(), &axes, MinFold),
    };
    let out = extreme
        .clone()
        .into_shape_with_order(IxDyn(&out_shape))
        .expect("same size");
    Tensor::from_op(Storage::from_array(out), op, &[input], move || {
        Box::new(move |g: &Storage| {
            // Ties share the gradient evenly, as PyTorch's amax/amin.
            let dim = IxDyn(&shape);
            let ext = extreme
                .broadcast(dim.clone())
                .expect("kept shape broadcasts");
            let mask = Zip::from(&a)
                .and(&ext)
                .map_collect(|&x, &m| if x == m { F::one() } else { F::zero() })
                .into_shared();
            let ties = sum_kept(&mask, &axes);
            let ties = ties.broadcast(dim).expect("kept shape broadcasts");
            let g = spread(typed_grad::<F>(op, g)?, &kept, &shape);
            let dx = Zip::from(&g)
                .and(&mask)
                .and(&ties)
                .map_collect(|&g, &m, &t| g * m / t);
            Ok(vec![some_grad(dx)])
        })
    })
}

impl Extreme {
    fn name(self) -> &'static str {
        match self {
            Extreme::Max => "max",
            Extreme::Min => "min",
        }
    }
}

impl Tensor {
    /// Sum over `axes` (all when `None`).
    pub fn sum(&self, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
        let axes = normalize_axes("sum", axes, self.ndim())?;
        Ok(dispatch!(self.storage(), |a| sum_typed(
            self, a, axes, keepdims
        )))
    }

    /// Mean over `axes` (all when `None`). The mean of no elements is NaN, as numpy.
    pub fn mean(&self, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
        let resolved = normalize_axes("mean", axes, self.ndim())?;
        let n = count(&self.shape(), &resolved);
        self.sum(axes, keepdims)?.scale(1.0 / n as f64)
    }

    /// Variance over `axes` with divisor N (numpy's and Keras's default, ddof = 0).
    pub fn var(&self, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
        let centered = self.sub(&self.mean(axes, true)?)?;
        centered.square()?.mean(axes, keepdims)
    }

    /// Standard deviation over `axes` (ddof = 0).
    pub fn std(&self, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
        self.var(axes, keepdims)?.sqrt()
    }

    fn extreme(&self, axes: Option<&[isize]>, keepdims: bool, which: Extreme) -> Result<Tensor> {
        let op = which.name();
        let axes = normalize_axes(op, axes, self.ndim())?;
        let shape = self.shape();
        if axes.iter().any(|&a| shape[a] == 0) || (axes.is_empty() && shape.contains(&0)) {
            return Err(Error::shape(
                op,
                format!("zero-size reduction over an empty axis of shape {shape:?}"),
            ));
        }
        Ok(dispatch!(self.storage(), |a| extreme_typed(
            self, a, axes, keepdims, which
        )))
    }

    pub fn max(&self, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
        self.extreme(axes, keepdims, Extreme::Max)
    }

    pub fn min(&self, axes: Option<&[isize]>, keepdims: bool) -> Result<Tensor> {
        self.extreme(axes, keepdims, Extreme::Min)
    }

    /// Indices of the maxima along `axis` (over the flattened tensor when `None`); the first
    /// index wins ties, as numpy. Not differentiable.
    pub fn argmax(&self, axis: Option<isize>, keepdims: bool) -> Result<ArrayD<i64>> {
        self.arg_extreme("argmax", axis, keepdims, Extreme::Max)
    }

    /// Indices of the minima along `axis`.
    pub fn argmin(&self, axis: Option<isize>, keepdims: bool) -> Result<ArrayD<i64>> {
        self.arg_extreme("argmin", axis, keepdims, Extreme::Min)
    }

    fn arg_extreme(
        &self,
        op: &'static str,
        axis: Option<isize>,
        keepdims: bool,
        which: Extreme,
    ) -> Result<ArrayD<i64>> {
        let storage = self.storage();
        let data = storage.to_f64();
        let (data, axis) = match axis {
            None => {
                let flat = data.iter().copied().collect::<Vec<_>>();
                (
                    ArrayD::from_shape_vec(IxDyn(&[flat.len()]), flat).expect("1-d"),
                    0,
                )
            }
            Some(axis) => {
                let axis = normalize_axis(op, axis, data.ndim())?;
                (data, axis)
            }
        };
        if data.shape()[axis] == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "attempt to get {op} of an empty sequence (shape {:?})",
                    data.shape()
                ),
            ));
        }
        let better = |x: f64, best: f64| match which {
            Extreme::Max => x > best || (x.is_nan() && !best.is_nan()),
            Extreme::Min => x < best || (x.is_nan() && !best.is_nan()),
        };
        let mut out = data.map_axis(Axis(axis), |lane| {
            let mut best_index = 0;
            let mut best = lane[0];
            for (i, &x) in lane.iter().enumerate().skip(1) {
                if better(x, best) {
                    best = x;
                    best_index = i;
                }
            }
            best_index as i64
        });
        if keepdims {
            out = out.insert_axis(Axis(axis));
            // Was `self.ndim() > 1 &&`, which gave shape [1] for a 0-d input; numpy gives [].
            if out.ndim() != self.ndim() {
                // argmax over the flattened tensor with keepdims: all axes become 1, as numpy.
                out = out
                    .into_shape_with_order(IxDyn(&vec![1; self.ndim()]))
                    .expect("one element");
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    #[test]
    fn sum_over_axes_with_keepdims() {
        let x = var64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let s = x.sum(Some(&[1]), true).unwrap();
        assert_eq!(s.shape(), vec![2, 1]);
        assert_close(&values(&s), &[6.0, 15.0], 0.0);
        s.sum(None, false).unwrap().backward().unwrap();
        assert_close(&values(&x.grad().unwrap()), &[1.0; 6], 0.0);
    }

    #[test]
    fn max_shares_gradient_between_ties() {
        let x = var64(&[4], &[1.0, 3.0, 3.0, 2.0]);
        x.max(None, false).unwrap().backward().unwrap();
        assert_close(&values(&x.grad().unwrap()), &[0.0, 0.5, 0.5, 0.0], 0.0);
    }

    #[test]
    fn var_and_std_use_ddof_zero() {
        let x = t64(&[4], &[1.0, 2.0, 3.0, 4.0]);
        assert_close(&values(&x.var(None, false).unwrap()), &[1.25], 1e-15);
        assert_close(
            &values(&x.std(None, false).unwrap()),
            &[1.25f64.sqrt()],
            1e-15,
        );
    }

    #[test]
    fn argmax_picks_first_of_ties() {
        let x = t64(&[2, 3], &[1.0, 5.0, 5.0, 7.0, 0.0, 7.0]);
        assert_eq!(
            x.argmax(Some(1), false)
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![1, 0]
        );
        assert_eq!(
            x.argmax(None, false)
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[test]
    fn bad_axis_is_an_error() {
        let x = t64(&[2, 3], &[0.0; 6]);
        assert!(x.sum(Some(&[2]), false).is_err());
        assert!(x.sum(Some(&[0, -2]), false).is_err());
    }
}
