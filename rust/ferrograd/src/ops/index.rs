//! Ops that select, combine or surround elements: slicing, take (gather along an axis),
//! concatenate, stack, pad, one_hot. Backward scatters the gradient back to where each element
//! came from.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use super::{normalize_axis, some_grad, typed_grad};
use crate::error::{Error, Result};
use crate::tensor::{Array, DType, Element, Storage, Tensor};

/// A numpy-style slice of one axis: `start:stop:step`, each bound optional and possibly negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceSpec {
    pub start: Option<isize>,
    pub stop: Option<isize>,
    pub step: isize,
}

impl SliceSpec {
    /// The whole axis (`:`).
    pub fn full() -> SliceSpec {
        SliceSpec {
            start: None,
            stop: None,
            step: 1,
        }
    }

    /// `start:stop`.
    pub fn range(start: isize, stop: isize) -> SliceSpec {
        SliceSpec {
            start: Some(start),
            stop: Some(stop),
            step: 1,
        }
    }

    /// The ndarray slice selecting the same elements as numpy would on an axis of `len`
    /// (Python's `slice.indices` rules, clamped, never out of bounds).
    fn resolve(self, len: usize) -> Result<Slice> {
        let n = len as isize;
        let step = self.step;
        if step == 0 {
            return Err(Error::argument("slice", "slice step cannot be zero"));
        }
        let clamp = |v: isize, lo: isize, hi: isize| v.max(lo).min(hi);
        let fix = |v: isize| if v < 0 { v + n } else { v };
        if step > 0 {
            let start = self.start.map(|v| clamp(fix(v), 0, n)).unwrap_or(0);
            let stop = self.stop.map(|v| clamp(fix(v), 0, n)).unwrap_or(n);
            Ok(Slice::new(start, Some(stop.max(start)), step))
        } else {
            let start = self
                .start
                .map(|v| clamp(fix(v), -1, n - 1))
                .unwrap_or(n - 1);
            let stop = self.stop.map(|v| clamp(fix(v), -1, n - 1)).unwrap_or(-1);
            if start <= stop {
                return Ok(Slice::new(0, Some(0), 1));
            }
            // ndarray takes a negative step from the end of [stop + 1, start + 1): start, start - |step|, ...
            Ok(Slice::new(stop + 1, Some(start + 1), step))
        }
    }
}

fn slice_typed<F: Element>(input: &Tensor, a: Array<F>, slices: Vec<Slice>) -> Tensor {
    let mut view = a.view();
    for (axis, s) in slices.iter().enumerate() {
        view.slice_axis_inplace(Axis(axis), *s);
    }
    let out = view.to_owned();
    let shape = a.shape().to_vec();
    Tensor::from_op(Storage::from_array(out), "slice", &[input], move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>("slice", g)?;
            // Zeroed on the pool: an RNN's last-step slice scatters into its whole output.
            let size = shape.iter().product();
            let mut dx =
                ArrayD::from_shape_vec(IxDyn(&shape), super::buffers::filled(size, F::zero()))
                    .expect("sized for the shape");
            let mut target = dx.view_mut();
            for (axis, s) in slices.iter().enumerate() {
                target.slice_axis_inplace(Axis(axis), *s);
            }
            target.assign(g);
            Ok(vec![some_grad(dx)])
        })
    })
}

/// Indices checked against `len` with negative ones wrapped, as numpy's take.
fn resolve_indices(op: &'static str, indices: &[i64], len: usize) -> Result<Vec<usize>> {
    indices
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + len as i64 } else { i };
            if j < 0 || j >= len as i64 {
                Err(Error::argument(
                    op,
                    format!("index {i} is out of bounds for an axis of size {len}"),
                ))
            } else {
                Ok(j as usize)
            }
        })
        .collect()
}

fn take_typed<F: Element>(
    input: &Tensor,
    a: Array<F>,
    indices: Vec<usize>,
    index_shape: Vec<usize>,
    axis: usize,
) -> Tensor {
    let shape = a.shape().to_vec();
    let gathered = a.select(Axis(axis), &indices);
    let mut out_shape = shape[..axis].to_vec();
    out_shape.extend(&index_shape);
    out_shape.extend(&shape[axis + 1..]);
    // `select` along a non-leading axis returns a non-row-major array, which
    // `into_shape_with_order` rejects (it panicked): make it row-major first.
    let out = gathered
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&out_shape))
        .expect("same size");
    Tensor::from_op(Storage::from_array(out), "take", &[input], move || {
        Box::new(move |g: &Storage| {
            let g = typed_grad::<F>("take", g)?;
            let mut flat_shape = shape[..axis].to_vec();
            flat_shape.push(indices.len());
            flat_shape.extend(&shape[axis + 1..]);
            let g = g
                .to_shape(IxDyn(&flat_shape))
                .expect("gradient has the output's size");
            // Repeated indices accumulate, as a scatter-add.
            let mut dx = ArrayD::<F>::zeros(IxDyn(&shape));
            for (position, &index) in indices.iter().enumerate() {
                let mut lane = dx.index_axis_mut(Axis(axis), index);
                lane += &g.index_axis(Axis(axis), position);
            }
            Ok(vec![some_grad(dx)])
        })
    })
}

fn concatenate_typed<F: Element>(
    inputs: &[Tensor],
    arrays: Vec<Array<F>>,
    axis: usize,
) -> Result<Tensor> {
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    let out = ndarray::concatenate(Axis(axis), &views)
        .map_err(|e| Error::shape("concatenate", e.to_string()))?;
    let sizes: Vec<usize> = arrays.iter().map(|a| a.shape()[axis]).collect();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    Ok(Tensor::from_op(
        Storage::from_array(out),
        "concatenate",
        &refs,
        move || {
            Box::new(move |g: &Storage| {
                let g = typed_grad::<F>("concatenate", g)?;
                let mut start = 0;
                Ok(sizes
                    .iter()
                    .map(|&size| {
                        let part = g
                            .slice_axis(Axis(axis), Slice::from(start..start + size))
                            .to_owned();
                        start += size;
                        some_grad(part)
                    })
                    .collect())
            })
        },
    ))
}

fn pad_typed<F: Element>(
    input: &Tensor,
    a: Array<F>,
    widths: Vec<(usize, usize)>,
    value: f64,
) -> Tensor {
    let out_shape: Vec<usize> = a
        .shape()
        .iter()
        .zip(&widths)
        .map(|(&d, &(lo, hi))| d + lo + hi)
        .collect();
    let mut out = ArrayD::<F>::from_elem(IxDyn(&out_shape), F::lit(value));
    let inner: Vec<Slice> = a
        .shape()
        .iter()
        .zip(&widths)
        .map(|(&d, &(lo, _))| Slice::from(lo..lo + d))
        .collect();
    {
        let mut target = out.view_mut();
        for (axis, s) in inner.iter().enumerate() {
            target.slice_axis_inplace(Axis(axis), *s);
        }
        target.assign(&a);
    }
    Tensor::from_op(Storage::from_array(out), "pad", &[input], move || {
        Box::new(move |g: &Storage| {
            let mut view = typed_grad::<F>("pad", g)?.view();
            for (axis, s) in inner.iter().enumerate() {
                view.slice_axis_inplace(Axis(axis), *s);
            }
            Ok(vec![some_grad(view.to_owned())])
        })
    })
}

fn one_hot_typed<F: Element>(indices: &ArrayD<i64>, num_classes: usize) -> ArrayD<F> {
    let mut shape = indices.shape().to_vec();
    shape.push(num_classes);
    let mut out = ArrayD::<F>::zeros(IxDyn(&shape));
    if let Some(flat) = out.as_slice_mut() {
        for (row, &index) in indices.iter().enumerate() {
            if index >= 0 && (index as usize) < num_classes {
                flat[row * num_classes + index as usize] = F::one();
            }
        }
    }
    out
}

impl Tensor {
    /// Basic slicing, one [`SliceSpec`] per leading axis (missing trailing axes are taken whole).
    pub fn slice(&self, specs: &[SliceSpec]) -> Result<Tensor> {
        let shape = self.shape();
        if specs.len() > shape.len() {
            return Err(Error::argument(
                "slice",
                format!(
                    "too many indices: {} for a tensor of shape {shape:?}",
                    specs.len()
                ),
            ));
        }
        let slices = shape
            .iter()
            .enumerate()
            .map(|(axis, &len)| {
                specs
                    .get(axis)
                    .copied()
                    .unwrap_or_else(SliceSpec::full)
                    .resolve(len)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(dispatch!(self.storage(), |a| slice_typed(self, a, slices)))
    }

    /// Gathers along `axis` (numpy's `take`; `None` takes from the flattened tensor). The result's
    /// shape replaces `axis` with the shape of `indices`. Negative indices count from the end;
    /// out-of-range ones are an error.
    pub fn take(&self, indices: &ArrayD<i64>, axis: Option<isize>) -> Result<Tensor> {
        let source = if axis.is_none() {
            self.flatten()?
        } else {
            self.clone()
        };
        let axis = normalize_axis("take", axis.unwrap_or(0), source.ndim().max(1))?;
        if source.ndim() == 0 {
            return Err(Error::argument(
                "take",
                "cannot take from a 0-d tensor along an axis",
            ));
        }
        let len = source.shape()[axis];
        let flat: Vec<i64> = indices.iter().copied().collect();
        let resolved = resolve_indices("take", &flat, len)?;
        let index_shape = indices.shape().to_vec();
        Ok(dispatch!(source.storage(), |a| take_typed(
            &source,
            a,
            resolved,
            index_shape,
            axis
        )))
    }

    /// Joins tensors along an existing axis. Dtypes are promoted to the widest.
    pub fn concatenate(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::argument("concatenate", "needs at least one tensor"))?;
        let ndim = first.ndim();
        if ndim == 0 {
            return Err(Error::shape(
                "concatenate",
                "zero-dimensional tensors cannot be concatenated",
            ));
        }
        let axis = normalize_axis("concatenate", axis, ndim)?;
        let shapes: Vec<Vec<usize>> = tensors.iter().map(|t| t.shape()).collect();
        for (i, shape) in shapes.iter().enumerate() {
            let fits = shape.len() == ndim
                && shape
                    .iter()
                    .zip(&shapes[0])
                    .enumerate()
                    .all(|(d, (x, y))| d == axis || x == y);
            if !fits {
                return Err(Error::shape(
                    "concatenate",
                    format!(
                        "all input shapes must match except on axis {axis}; tensor 0 has shape {:?}, tensor {i} has {shape:?}",
                        shapes[0]
                    ),
                ));
            }
        }
        let dtype = tensors
            .iter()
            .fold(first.dtype(), |d, t| d.promote(t.dtype()));
        let cast = tensors
            .iter()
            .map(|t| t.cast(dtype))
            .collect::<Result<Vec<_>>>()?;
        match dtype {
            DType::F32 => concatenate_typed(
                &cast,
                cast.iter()
                    .map(|t| t.array::<f32>())
                    .collect::<Result<_>>()?,
                axis,
            ),
            DType::F64 => concatenate_typed(
                &cast,
                cast.iter()
                    .map(|t| t.array::<f64>())
                    .collect::<Result<_>>()?,
                axis,
            ),
        }
    }

    /// Joins tensors of one shape along a new axis.
    pub fn stack(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::argument("stack", "needs at least one tensor"))?;
        let shape = first.shape();
        if let Some((i, t)) = tensors.iter().enumerate().find(|(_, t)| t.shape() != shape) {
            return Err(Error::shape(
                "stack",
                format!("all tensors must have the same shape; tensor 0 has {shape:?}, tensor {i} has {:?}", t.shape()),
            ));
        }
        let axis = normalize_axis("stack", axis, shape.len() + 1)? as isize;
        let expanded = tensors
            .iter()
            .map(|t| t.expand_dims(axis))
            .collect::<Result<Vec<_>>>()?;
        Tensor::concatenate(&expanded, axis)
    }

    /// Pads with a constant: `widths[i] = (before, after)` for every axis.
    pub fn pad(&self, widths: &[(usize, usize)], value: f64) -> Result<Tensor> {
        if widths.len() != self.ndim() {
            return Err(Error::argument(
                "pad",
                format!(
                    "needs one (before, after) pair per axis: {} pairs for shape {:?}",
                    widths.len(),
                    self.shape()
                ),
            ));
        }
        Ok(dispatch!(self.storage(), |a| pad_typed(
            self,
            a,
            widths.to_vec(),
            value
        )))
    }

    /// One-hot encodes integer `indices` into a new last axis of `num_classes`. Indices outside
    /// `[0, num_classes)` give an all-zero row, as TensorFlow's (and so Keras's) `one_hot`.
    pub fn one_hot(indices: &ArrayD<i64>, num_classes: usize, dtype: DType) -> Tensor {
        let indices = indices.as_standard_layout().into_owned();
        match dtype {
            DType::F32 => Tensor::from_array(one_hot_typed::<f32>(&indices, num_classes)),
            DType::F64 => Tensor::from_array(one_hot_typed::<f64>(&indices, num_classes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn slice_follows_numpy_including_negative_steps() {
        let x = var64(&[5], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        let spec = |start, stop, step| SliceSpec { start, stop, step };
        assert_close(
            &values(&x.slice(&[spec(Some(1), Some(4), 2)]).unwrap()),
            &[1.0, 3.0],
            0.0,
        );
        assert_close(
            &values(&x.slice(&[spec(None, None, -1)]).unwrap()),
            &[4.0, 3.0, 2.0, 1.0, 0.0],
            0.0,
        );
        assert_close(
            &values(&x.slice(&[spec(Some(-2), None, -2)]).unwrap()),
            &[3.0, 1.0],
            0.0,
        );
        assert_eq!(
            x.slice(&[spec(Some(3), Some(1), 1)]).unwrap().shape(),
            vec![0]
        );
        let y = x.slice(&[spec(Some(-2), None, -2)]).unwrap();
        y.sum(None, false).unwrap().backward().unwrap();
        assert_close(&values(&x.grad().unwrap()), &[0.0, 1.0, 0.0, 1.0, 0.0], 0.0);
    }

    #[test]
    fn take_scatters_repeated_indices() {
        let x = var64(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let idx = ArrayD::from_shape_vec(IxDyn(&[3]), vec![2i64, 0, 2]).unwrap();
        let y = x.take(&idx, Some(0)).unwrap();
        assert_close(&values(&y), &[5.0, 6.0, 1.0, 2.0, 5.0, 6.0], 0.0);
        y.sum(None, false).unwrap().backward().unwrap();
        assert_close(
            &values(&x.grad().unwrap()),
            &[1.0, 1.0, 0.0, 0.0, 2.0, 2.0],
            0.0,
        );
        let bad = ArrayD::from_shape_vec(IxDyn(&[1]), vec![3i64]).unwrap();
        assert!(x.take(&bad, Some(0)).is_err());
    }

    #[test]
    fn concatenate_stack_pad() {
        let a = var64(&[1, 2], &[1.0, 2.0]);
        let b = var64(&[2, 2], &[3.0, 4.0, 5.0, 6.0]);
        let c = Tensor::concatenate(&[a.clone(), b.clone()], 0).unwrap();
        assert_eq!(c.shape(), vec![3, 2]);
        c.mul(&t64(&[3, 1], &[1.0, 2.0, 3.0]))
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        assert_close(&values(&b.grad().unwrap()), &[2.0, 2.0, 3.0, 3.0], 0.0);
        assert!(Tensor::concatenate(&[a.clone(), b.clone()], 1).is_err());
        assert_eq!(
            Tensor::stack(&[a.clone(), a.clone()], -1).unwrap().shape(),
            vec![1, 2, 2]
        );
        let p = a.pad(&[(1, 0), (0, 2)], -1.0).unwrap();
        assert_close(
            &values(&p),
            &[-1.0, -1.0, -1.0, -1.0, 1.0, 2.0, -1.0, -1.0],
            0.0,
        );
    }

    #[test]
    fn one_hot_zeroes_out_of_range() {
        let idx = ArrayD::from_shape_vec(IxDyn(&[3]), vec![0i64, 2, -1]).unwrap();
        let y = Tensor::one_hot(&idx, 3, DType::F64);
        assert_close(
            &values(&y),
            &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            0.0,
        );
    }
}
