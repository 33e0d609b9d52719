//! `tensor[key]` with numpy's indexing rules, for any front end: a key is a list of
//! [`IndexSpec`]s (ints, slices, `None`, `...`, integer arrays, boolean masks) and
//! [`Tensor::index`] resolves it the way numpy does — basic indexing (ints, slices, `...`, `None`)
//! and advanced indexing, with several index arrays broadcast together and picking elements
//! pointwise. Every step is a differentiable op (slice, expand_dims, squeeze, permute, reshape,
//! take), so the gradient flows back to the indexed elements (repeated indices accumulate).
//!
//! Rules, from numpy's "Indexing on ndarrays" guide:
//! - ints, slices, index arrays and masks consume axes from the left (a mask of `k` dimensions
//!   consumes `k`); missing trailing axes are taken whole; `...` stands for the axes no other item
//!   consumes, and at most one may appear; `None` inserts an axis of length 1.
//! - without any index array or mask, an int selects and removes its axis; with one, every int is
//!   an index array of shape `()` (advanced indexing).
//! - a boolean mask is the integer arrays of its `True` coordinates (`mask.nonzero()`); its shape
//!   must equal the axes it covers.
//! - the index arrays broadcast to one shape `B`; the result has `B` where the arrays stood when
//!   they are adjacent in the key, and first when something (a slice, `None`, `...`) separates them.
//! - an index out of `[-len, len)`, too many indices, arrays that do not broadcast and a mask of the
//!   wrong shape are [`Error::Index`] (numpy's `IndexError`).

use ndarray::{ArrayD, IxDyn};

use super::SliceSpec;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

const OP: &str = "indexing";

/// One item of an indexing key, as numpy reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexSpec {
    /// `...`: as many whole axes as the other items leave.
    Ellipsis,
    /// `None` (`np.newaxis`): a new axis of length 1.
    NewAxis,
    /// `start:stop:step` on one axis.
    Slice(SliceSpec),
    /// One position on one axis (negative counts from the end).
    Int(isize),
    /// An integer index array of at least one dimension (a 0-d array is an [`IndexSpec::Int`]).
    Array(ArrayD<i64>),
    /// A boolean mask over as many axes as it has dimensions (at least one).
    Mask(ArrayD<bool>),
}

impl IndexSpec {
    /// How many axes of the indexed tensor this item consumes.
    fn axes_consumed(&self) -> usize {
        match self {
            IndexSpec::Ellipsis | IndexSpec::NewAxis => 0,
            IndexSpec::Slice(_) | IndexSpec::Int(_) | IndexSpec::Array(_) => 1,
            IndexSpec::Mask(mask) => mask.ndim(),
        }
    }
}

/// `index` wrapped into `[0, len)`, or numpy's out-of-bounds error.
fn wrap_index(index: i64, axis: usize, len: usize) -> Result<i64> {
    let wrapped = if index < 0 { index + len as i64 } else { index };
    if wrapped < 0 || wrapped >= len as i64 {
        return Err(Error::index(
            OP,
            format!("index {index} is out of bounds for axis {axis} with size {len}"),
        ));
    }
    Ok(wrapped)
}

/// The numpy broadcast of the index arrays' shapes, or an error listing them.
pub fn broadcast_index_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let ndim = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; ndim];
    for shape in shapes {
        let lead = ndim - shape.len();
        for (i, &d) in shape.iter().enumerate() {
            let o = &mut out[lead + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                let listed: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
                return Err(Error::index(
                    OP,
                    format!(
                        "shape mismatch: indexing arrays could not be broadcast together with \
                         shapes {}",
                        listed.join(" ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The coordinates of a mask's `True` elements, one 1-d array per mask axis (`mask.nonzero()`),
/// after checking that the mask covers `axes` exactly (`first_axis` names them in the error).
fn mask_coordinates(
    mask: &ArrayD<bool>,
    axes: &[usize],
    first_axis: usize,
) -> Result<Vec<ArrayD<i64>>> {
    for (i, (&mask_len, &len)) in mask.shape().iter().zip(axes).enumerate() {
        if mask_len != len {
            let axis = first_axis + i;
            return Err(Error::index(
                OP,
                format!(
                    "boolean index did not match indexed tensor along axis {axis}; size of axis \
                     is {len} but size of corresponding boolean axis is {mask_len}"
                ),
            ));
        }
    }
    let mut coordinates = vec![Vec::new(); mask.ndim()];
    for (position, _) in mask.indexed_iter().filter(|(_, &selected)| selected) {
        for (axis, column) in coordinates.iter_mut().enumerate() {
            column.push(position[axis] as i64);
        }
    }
    Ok(coordinates
        .into_iter()
        .map(|column| ArrayD::from_shape_vec(IxDyn(&[column.len()]), column).unwrap())
        .collect())
}

/// A whole-axis spec for every axis before `axis`, then `spec`.
fn specs_at(axis: usize, spec: SliceSpec) -> Vec<SliceSpec> {
    let mut specs = vec![SliceSpec::full(); axis];
    specs.push(spec);
    specs
}

/// An index array waiting for the gather: the axis of the partly indexed tensor it indexes, its
/// (wrapped) indices and its place among the key's axis-consuming items (for adjacency).
struct Gather {
    axis: usize,
    indices: ArrayD<i64>,
    place: usize,
}

impl Tensor {
    /// `self[key]` with numpy's rules (see the module documentation).
    ///
    /// ```
    /// use ferrograd::ops::{IndexSpec, SliceSpec};
    /// use ferrograd::Tensor;
    /// use ndarray::arr1;
    ///
    /// // x[1:, [0, 2]] on a 3 x 3 matrix of 0..9: rows 1 and 2, columns 0 and 2.
    /// let x = Tensor::from_vec(&[3, 3], (0..9).map(f64::from).collect()).unwrap();
    /// let key = [
    ///     IndexSpec::Slice(SliceSpec { start: Some(1), stop: None, step: 1 }),
    ///     IndexSpec::Array(arr1(&[0, 2]).into_dyn()),
    /// ];
    /// let y = x.index(&key).unwrap();
    /// assert_eq!(y.shape(), vec![2, 2]);
    /// assert_eq!(y.to_f64().iter().copied().collect::<Vec<_>>(), vec![3.0, 5.0, 6.0, 8.0]);
    /// ```
    pub fn index(&self, key: &[IndexSpec]) -> Result<Tensor> {
        let ndim = self.ndim();
        let consumed: usize = key.iter().map(IndexSpec::axes_consumed).sum();
        if consumed > ndim {
            return Err(Error::index(
                OP,
                format!(
                    "too many indices for a tensor of shape {:?}: {consumed} given",
                    self.shape()
                ),
            ));
        }
        if key
            .iter()
            .filter(|i| matches!(i, IndexSpec::Ellipsis))
            .count()
            > 1
        {
            return Err(Error::index(
                OP,
                "an index can only have a single ellipsis ('...')",
            ));
        }
        if key
            .iter()
            .any(|i| matches!(i, IndexSpec::Mask(mask) if mask.ndim() == 0))
        {
            return Err(Error::index(
                OP,
                "0-d boolean indices are not supported; use a mask with one dimension per axis",
            ));
        }
        let advanced = key
            .iter()
            .any(|i| matches!(i, IndexSpec::Array(_) | IndexSpec::Mask(_)));

        // Basic indexing first, item by item; index arrays are collected for one gather.
        let mut out = self.clone();
        let mut axis = 0usize;
        let mut place = 0usize;
        let mut gathers: Vec<Gather> = Vec::new();
        for item in key {
            match item {
                IndexSpec::Ellipsis => axis += ndim - consumed,
                IndexSpec::NewAxis => {
                    out = out.expand_dims(axis as isize)?;
                    axis += 1;
                }
                IndexSpec::Slice(spec) => {
                    out = out.slice(&specs_at(axis, *spec))?;
                    axis += 1;
                }
                IndexSpec::Int(index) if !advanced => {
                    let len = out.shape()[axis];
                    let at = wrap_index(*index as i64, axis, len)? as isize;
                    out = out.slice(&specs_at(axis, SliceSpec::range(at, at + 1)))?;
                    out = out.squeeze(Some(&[axis as isize]))?;
                }
                IndexSpec::Int(index) => {
                    let len = out.shape()[axis];
                    let wrapped = wrap_index(*index as i64, axis, len)?;
                    let indices = ArrayD::from_elem(IxDyn(&[]), wrapped);
                    gathers.push(Gather {
                        axis,
                        indices,
                        place,
                    });
                    axis += 1;
                }
                IndexSpec::Array(indices) => {
                    let len = out.shape()[axis];
                    let mut wrapped = indices.clone();
                    for i in wrapped.iter_mut() {
                        *i = wrap_index(*i, axis, len)?;
                    }
                    gathers.push(Gather {
                        axis,
                        indices: wrapped,
                        place,
                    });
                    axis += 1;
                }
                IndexSpec::Mask(mask) => {
                    let covered = &out.shape()[axis..axis + mask.ndim()];
                    for (offset, indices) in mask_coordinates(mask, covered, axis)?
                        .into_iter()
                        .enumerate()
                    {
                        gathers.push(Gather {
                            axis: axis + offset,
                            indices,
                            place: place + offset,
                        });
                    }
                    axis += mask.ndim();
                }
            }
            place += item.axes_consumed().max(1);
        }
        if gathers.is_empty() {
            return Ok(out);
        }
        gather_pointwise(&out, &gathers)
    }
}

/// numpy's advanced indexing on `out`: the index arrays broadcast to one shape `B` and pick
/// elements pointwise (not an outer product, as consecutive `take`s would). The indexed axes move
/// to the front and merge into one, gathered there with the row-major flat index.
fn gather_pointwise(out: &Tensor, gathers: &[Gather]) -> Result<Tensor> {
    let shape = out.shape();
    let shapes: Vec<&[usize]> = gathers.iter().map(|g| g.indices.shape()).collect();
    let index_shape = broadcast_index_shapes(&shapes)?;
    let mut flat = ArrayD::<i64>::zeros(IxDyn(&index_shape));
    for gather in gathers {
        let len = shape[gather.axis] as i64;
        let spread = gather
            .indices
            .broadcast(IxDyn(&index_shape))
            .ok_or_else(|| Error::index(OP, "index arrays do not broadcast"))?;
        flat.zip_mut_with(&spread, |f, &i| *f = *f * len + i);
    }
    let indexed: Vec<usize> = gathers.iter().map(|g| g.axis).collect();
    let rest: Vec<usize> = (0..shape.len()).filter(|a| !indexed.contains(a)).collect();
    let order: Vec<isize> = indexed.iter().chain(&rest).map(|&a| a as isize).collect();
    let mut merged: Vec<isize> =
        vec![indexed.iter().map(|&a| shape[a]).product::<usize>() as isize];
    merged.extend(rest.iter().map(|&a| shape[a] as isize));
    let mut result = out
        .permute(&order)?
        .reshape(&merged)?
        .take(&flat, Some(0))?;

    // Index arrays next to each other in the key put B where they stood; separated ones put B
    // first, where the gather left it.
    let adjacent = gathers.windows(2).all(|w| w[1].place == w[0].place + 1);
    let before = indexed[0];
    if adjacent && before > 0 {
        let b = index_shape.len();
        let order: Vec<isize> = (b..b + before)
            .chain(0..b)
            .chain(b + before..b + rest.len())
            .map(|a| a as isize)
            .collect();
        result = result.permute(&order)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use ndarray::{arr1, arr2};

    /// `np.arange(24.0).reshape(2, 3, 4)`.
    fn cube() -> Tensor {
        t64(&[2, 3, 4], &(0..24).map(f64::from).collect::<Vec<_>>())
    }

    fn array(values: &[i64]) -> IndexSpec {
        IndexSpec::Array(arr1(values).into_dyn())
    }

    fn full() -> IndexSpec {
        IndexSpec::Slice(SliceSpec::full())
    }

    // Expected values below were computed with numpy 1.26 on `np.arange(24.0).reshape(2, 3, 4)`.

    #[test]
    fn basic_indexing_selects_slices_and_inserts_axes() {
        let y = cube()
            .index(&[
                IndexSpec::Int(-1),
                IndexSpec::NewAxis,
                IndexSpec::Ellipsis,
                IndexSpec::Int(2),
            ])
            .unwrap();
        // a[-1, None, ..., 2] -> shape (1, 3): [[14, 18, 22]]
        assert_eq!(y.shape(), vec![1, 3]);
        assert_eq!(values(&y), [14.0, 18.0, 22.0]);
    }

    #[test]
    fn index_arrays_pick_pointwise_and_stay_in_place_when_adjacent() {
        // a[:, [1, 0], [0, 2]] -> shape (2, 2): [[4, 2], [16, 14]]
        let y = cube()
            .index(&[full(), array(&[1, 0]), array(&[0, 2])])
            .unwrap();
        assert_eq!(y.shape(), vec![2, 2]);
        assert_eq!(values(&y), [4.0, 2.0, 16.0, 14.0]);
    }

    #[test]
    fn separated_index_arrays_put_the_broadcast_axes_first() {
        // a[1, :, [0, 3]] -> shape (2, 3): [[12, 16, 20], [15, 19, 23]]
        let y = cube()
            .index(&[IndexSpec::Int(1), full(), array(&[0, 3])])
            .unwrap();
        assert_eq!(y.shape(), vec![2, 3]);
        assert_eq!(values(&y), [12.0, 16.0, 20.0, 15.0, 19.0, 23.0]);
    }

    #[test]
    fn a_mask_is_the_coordinates_of_its_true_elements() {
        // a[:, [[True, False, True, False], [False] * 4, [False, False, False, True]]]
        //   -> shape (2, 3): [[0, 2, 11], [12, 14, 23]]
        let mask = arr2(&[
            [true, false, true, false],
            [false, false, false, false],
            [false, false, false, true],
        ])
        .into_dyn();
        let y = cube().index(&[full(), IndexSpec::Mask(mask)]).unwrap();
        assert_eq!(y.shape(), vec![2, 3]);
        assert_eq!(values(&y), [0.0, 2.0, 11.0, 12.0, 14.0, 23.0]);
        let wrong = IndexSpec::Mask(arr1(&[true, false]).into_dyn());
        let err = cube().index(&[full(), wrong]).unwrap_err();
        assert!(matches!(err, Error::Index { .. }));
        assert!(
            err.to_string().contains("axis 1; size of axis is 3"),
            "{err}"
        );
    }

    #[test]
    fn the_gradient_reaches_each_picked_element_once_per_pick() {
        let x = var64(&[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let y = x.index(&[array(&[2, 0, 2, 2])]).unwrap();
        y.sum(None, false).unwrap().backward().unwrap();
        assert_eq!(values(&x.grad().unwrap()), [1.0, 1.0, 0.0, 0.0, 3.0, 3.0]);
    }

    #[test]
    fn bad_keys_are_index_errors_with_numpy_messages() {
        let x = t64(&[2, 3], &[0.0; 6]);
        let message = |key: &[IndexSpec]| match x.index(key) {
            Err(err @ Error::Index { .. }) => err.to_string(),
            other => panic!("expected an index error, got {other:?}"),
        };
        assert!(message(&[IndexSpec::Int(5)])
            .contains("index 5 is out of bounds for axis 0 with size 2"));
        assert!(message(&[IndexSpec::Int(0), full(), full()]).contains("too many indices"));
        assert!(message(&[IndexSpec::Ellipsis, IndexSpec::Ellipsis]).contains("single ellipsis"));
        assert!(message(&[array(&[0, 1]), array(&[0, 1, 2])]).contains("[2] [3]"));
        assert!(message(&[full(), array(&[-4])]).contains("index -4 is out of bounds for axis 1"));
    }
}
