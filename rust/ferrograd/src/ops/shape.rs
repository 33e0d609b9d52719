//! Ops that change only the shape or the order of axes: reshape, transpose, expand_dims,
//! squeeze, broadcast_to. Their backward undoes the rearrangement.

use ndarray::{ArrayD, IxDyn};

use super::{normalize_axes, normalize_axis, some_grad, typed_grad, unbroadcast};
use crate::error::{Error, Result};
use crate::tensor::{Array, Element, Storage, Tensor};

/// Resolves a numpy-style target shape (one `-1` is inferred) against `size` elements.
fn resolve_shape(op: &'static str, from: &[usize], target: &[isize]) -> Result<Vec<usize>> {
    let size: usize = from.iter().product();
    let mut inferred = None;
    let mut known = 1usize;
    for (i, &d) in target.iter().enumerate() {
        if d == -1 {
            if inferred.replace(i).is_some() {
                return Err(Error::shape(
                    op,
                    format!("can only specify one unknown dimension, got {target:?}"),
                ));
            }
        } else if d < 0 {
            return Err(Error::shape(
                op,
                format!("negative dimension {d} in {target:?}"),
            ));
        } else {
            known = known.checked_mul(d as usize).ok_or_else(|| {
                Error::shape(
                    op,
                    format!("the shape {target:?} has more elements than memory can address"),
                )
            })?;
        }
    }
    let mut shape: Vec<usize> = target.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = inferred {
        if known == 0 || size % known != 0 {
            return Err(Error::shape(
                op,
                format!("cannot reshape a tensor of shape {from:?} into {target:?}"),
            ));
        }
        shape[i] = size / known;
    } else if known != size {
        return Err(Error::shape(
            op,
            format!("cannot reshape a tensor of shape {from:?} ({size} elements) into {target:?} ({known} elements)"),
        ));
    }
    Ok(shape)
}

/// `a` in row-major order with a new shape (no copy when `a` is already row-major).
pub(crate) fn reshaped<F: Element>(a: &Array<F>, shape: &[usize]) -> Array<F> {
    if a.is_standard_layout() {
        a.clone()
            .into_shape_with_order(IxDyn(shape))
            .expect("sizes checked")
    } else {
        a.as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(shape))
            .expect("sizes checked")
            .into_shared()
    }
}

fn reshape_typed<F: Element>(input: &Tensor, a: Array<F>, shape: Vec<usize>) -> Tensor {
    let from = a.shape().to_vec();
    let out = reshaped(&a, &shape);
    Tensor::from_op(F::wrap(out), "reshape", &[input], move || {
        Box::new(move |g: &Storage| {
            Ok(vec![Some(F::wrap(reshaped(
                typed_grad::<F>("reshape", g)?,
                &from,
            )))])
        })
    })
}

fn permute_typed<F: Element>(input: &Tensor, a: Array<F>, axes: Vec<usize>) -> Tensor {
    let out = a.permuted_axes(IxDyn(&axes));
    let mut inverse = vec![0; axes.len()];
    for (i, &axis) in axes.iter().enumerate() {
        inverse[axis] = i;
    }
    Tensor::from_op(F::wrap(out), "transpose", &[input], move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>("transpose", g)?;
            Ok(vec![Some(F::wrap(
                g.clone().permuted_axes(IxDyn(&inverse)),
            ))])
        })
    })
}

fn broadcast_typed<F: Element>(input: &Tensor, a: Array<F>, shape: Vec<usize>) -> Result<Tensor> {
    let from = a.shape().to_vec();
    let out: ArrayD<F> = a
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| {
            Error::shape(
                "broadcast_to",
                format!("cannot broadcast shape {from:?} to {shape:?}"),
            )
        })?
        .to_owned();
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "broadcast_to",
        &[input],
        move || {
            Box::new(move |g: &Storage| {
                Ok(vec![some_grad(unbroadcast(
                    typed_grad::<F>("broadcast_to", g)?.to_owned(),
                    &from,
                ))])
            })
        },
    ))
}

impl Tensor {
    /// The same elements in row-major order with a new shape; one dimension may be `-1`.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let target = resolve_shape("reshape", &self.shape(), shape)?;
        if target == self.shape() {
            return Ok(self.clone());
        }
        Ok(dispatch!(self.storage(), |a| reshape_typed(
            self, a, target
        )))
    }

    /// Permutes the axes (`None` reverses them, as numpy). No data moves: only strides change.
    pub fn transpose(&self, axes: Option<&[usize]>) -> Result<Tensor> {
        let ndim = self.ndim();
        let axes: Vec<usize> = match axes {
            None => (0..ndim).rev().collect(),
            Some(list) => {
                let mut sorted = list.to_vec();
                sorted.sort_unstable();
                if sorted != (0..ndim).collect::<Vec<_>>() {
                    return Err(Error::argument(
                        "transpose",
                        format!(
                            "axes {list:?} are not a permutation of the {ndim} axes of shape {:?}",
                            self.shape()
                        ),
                    ));
                }
                list.to_vec()
            }
        };
        Ok(dispatch!(self.storage(), |a| permute_typed(self, a, axes)))
    }

    /// Like [`Tensor::transpose`] with possibly negative axes.
    pub fn permute(&self, axes: &[isize]) -> Result<Tensor> {
        let ndim = self.ndim();
        if axes.len() != ndim {
            return Err(Error::argument(
                "transpose",
                format!(
                    "axes {axes:?} do not match the {ndim} axes of shape {:?}",
                    self.shape()
                ),
            ));
        }
        let resolved = axes
            .iter()
            .map(|&a| normalize_axis("transpose", a, ndim))
            .collect::<Result<Vec<_>>>()?;
        self.transpose(Some(&resolved))
    }

    /// Inserts a size-1 axis at `axis` (negative counts from the end of the result).
    pub fn expand_dims(&self, axis: isize) -> Result<Tensor> {
        let mut shape = self.shape();
        let axis = normalize_axis("expand_dims", axis, shape.len() + 1)?;
        shape.insert(axis, 1);
        Ok(dispatch!(self.storage(), |a| reshape_typed(self, a, shape)))
    }

    /// Removes size-1 axes: the given ones (an error if one is not size 1), or all.
    pub fn squeeze(&self, axes: Option<&[isize]>) -> Result<Tensor> {
        let shape = self.shape();
        let remove: Vec<usize> = match axes {
            None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
            Some(list) => {
                let resolved = normalize_axes("squeeze", Some(list), shape.len())?;
                if let Some(&bad) = resolved.iter().find(|&&i| shape[i] != 1) {
                    return Err(Error::shape(
                        "squeeze",
                        format!(
                            "cannot squeeze axis {bad} of shape {shape:?}: its size is {}, not 1",
                            shape[bad]
                        ),
                    ));
                }
                resolved
            }
        };
        let target: Vec<usize> = (0..shape.len())
            .filter(|i| !remove.contains(i))
            .map(|i| shape[i])
            .collect();
        if target == shape {
            return Ok(self.clone());
        }
        Ok(dispatch!(self.storage(), |a| reshape_typed(
            self, a, target
        )))
    }

    /// Broadcasts to `shape` with numpy's rules (materialized).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape().as_slice() {
            return Ok(self.clone());
        }
        dispatch!(self.storage(), |a| broadcast_typed(self, a, shape.to_vec()))
    }

    /// All elements as a 1-D tensor.
    pub fn flatten(&self) -> Result<Tensor> {
        self.reshape(&[-1])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    #[test]
    fn reshape_infers_and_checks() {
        let x = var64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = x.reshape(&[3, -1]).unwrap();
        assert_eq!(y.shape(), vec![3, 2]);
        assert!(x.reshape(&[4, -1]).is_err());
        assert!(x.reshape(&[-1, -1]).is_err());
        y.mul(&t64(&[2], &[1.0, 2.0]))
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        assert_close(
            &values(&x.grad().unwrap()),
            &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
            0.0,
        );
    }

    #[test]
    fn transpose_then_reshape_reads_in_logical_order() {
        let x = t64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = x.transpose(None).unwrap().reshape(&[-1]).unwrap();
        assert_close(&values(&y), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], 0.0);
        assert!(x.transpose(Some(&[0, 0])).is_err());
    }

    #[test]
    fn squeeze_and_expand_dims() {
        let x = t64(&[1, 3, 1], &[1.0, 2.0, 3.0]);
        assert_eq!(x.squeeze(None).unwrap().shape(), vec![3]);
        assert_eq!(x.squeeze(Some(&[-1])).unwrap().shape(), vec![1, 3]);
        assert!(x.squeeze(Some(&[1])).is_err());
        assert_eq!(x.expand_dims(-1).unwrap().shape(), vec![1, 3, 1, 1]);
    }
}
