//! Gradient clipping, as Keras's optimizers do it (keras/src/optimizers/base_optimizer.py):
//! - by norm, per gradient: `g * clipnorm / max(||g||, clipnorm)` (direction kept);
//! - by global norm, over all gradients: `g * clipnorm / max(sqrt(sum ||g_i||^2), clipnorm)`,
//!   every gradient NaN when that norm is not finite;
//! - by value, per element: `clip(g, -clipvalue, clipvalue)`.
//!
//! Norms are summed in f64 whatever the dtype, scaled by the largest magnitude first (as BLAS's
//! `nrm2`), so that gradients whose squares overflow (above ~1e154) or underflow still get their
//! true norm. The same functions serve the optimizers and the front ends' `clip_by_global_norm` /
//! `clip_by_value` (`tf.clip_by_global_norm`, `tf.clip_by_value`), so both take the same step.

use ndarray::{ArrayD, Dimension, IxDyn, Zip};
use num_traits::ToPrimitive;

use crate::error::{Error, Result};
use crate::ops::broadcast_index_shapes;
use crate::tensor::{Element, Storage, Tensor};

/// Which clipping an optimizer applies to its gradients (Keras allows one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Clip {
    #[default]
    None,
    /// Keras's `clipnorm`: each gradient's L2 norm at most this.
    ByNorm(f64),
    /// Keras's `clipvalue`: each element within `[-v, v]`.
    ByValue(f64),
    /// Keras's `global_clipnorm`: the L2 norm of all gradients together at most this.
    ByGlobalNorm(f64),
}

impl Clip {
    /// The threshold must be positive and finite.
    pub fn validate(&self) -> Result<()> {
        let (what, value) = match *self {
            Clip::None => return Ok(()),
            Clip::ByNorm(v) => ("clipnorm", v),
            Clip::ByValue(v) => ("clipvalue", v),
            Clip::ByGlobalNorm(v) => ("global_clipnorm", v),
        };
        if !(value.is_finite() && value > 0.0) {
            return Err(Error::argument(
                "optimizer",
                format!("`{what}` must be a positive number, got {value}"),
            ));
        }
        Ok(())
    }
}

/// The largest magnitude of a storage's elements, NaN when one is NaN (as a plain sum of squares
/// would be: NaN wins over inf).
fn largest_magnitude(storage: &Storage) -> f64 {
    dispatch!(storage, |a| a.iter().fold(0.0f64, |largest, &x| {
        let magnitude = x.to_f64().unwrap_or(f64::NAN).abs();
        if magnitude.is_nan() || largest.is_nan() {
            f64::NAN
        } else {
            largest.max(magnitude)
        }
    }))
}

/// `sum((x / largest)^2)` over a storage's elements.
fn scaled_sum_of_squares(storage: &Storage, largest: f64) -> f64 {
    dispatch!(storage, |a| a
        .iter()
        .map(|&x| {
            let scaled = x.to_f64().unwrap_or(f64::NAN) / largest;
            scaled * scaled
        })
        .sum::<f64>())
}

/// The L2 norm of all the storages' elements together: `largest * sqrt(sum((x / largest)^2))`,
/// exact where the plain `sqrt(sum(x^2))` overflows or underflows. Infinite or NaN only when an
/// element is (NaN when any is NaN); 0 for no elements.
pub fn global_norm(storages: &[&Storage]) -> f64 {
    let largest = storages
        .iter()
        .map(|s| largest_magnitude(s))
        .fold(0.0f64, |a, b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        });
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    let total: f64 = storages
        .iter()
        .map(|s| scaled_sum_of_squares(s, largest))
        .sum();
    largest * total.sqrt()
}

fn scale(storage: &Storage, factor: f64) -> Storage {
    fn scaled<F: Element>(a: &crate::tensor::Array<F>, factor: f64) -> Storage {
        let factor = F::lit(factor);
        F::wrap(a.mapv(|x| x * factor).into_shared())
    }
    dispatch!(storage, |a| scaled(a, factor))
}

/// The factor that brings a norm down to `max_norm` (1 when already within), NaN when the norm
/// is not finite, as Keras's `clip_by_global_norm`.
fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if !norm.is_finite() {
        f64::NAN
    } else if norm > max_norm {
        max_norm / norm
    } else {
        1.0
    }
}

fn norm_clipped(storage: Storage, max_norm: f64) -> Storage {
    let norm = global_norm(&[&storage]);
    // Keras: g * c / max(norm, c); a NaN norm makes the gradient NaN.
    if norm <= max_norm {
        storage
    } else {
        scale(&storage, max_norm / norm)
    }
}

fn value_clipped(storage: &Storage, limit: f64) -> Storage {
    fn clamped<F: Element>(a: &crate::tensor::Array<F>, limit: f64) -> Storage {
        let (low, high) = (F::lit(-limit), F::lit(limit));
        // Comparisons keep NaN as NaN, as numpy's clip does.
        F::wrap(
            a.mapv(|x| {
                if x > high {
                    high
                } else if x < low {
                    low
                } else {
                    x
                }
            })
            .into_shared(),
        )
    }
    dispatch!(storage, |a| clamped(a, limit))
}

/// Applies `clip` to an optimizer's gradients.
pub(crate) fn clip_storages(clip: Clip, grads: Vec<Storage>) -> Vec<Storage> {
    match clip {
        Clip::None => grads,
        Clip::ByNorm(max_norm) => grads
            .into_iter()
            .map(|g| norm_clipped(g, max_norm))
            .collect(),
        Clip::ByValue(limit) => grads.iter().map(|g| value_clipped(g, limit)).collect(),
        Clip::ByGlobalNorm(max_norm) => {
            let norm = global_norm(&grads.iter().collect::<Vec<_>>());
            let factor = clip_factor(norm, max_norm);
            if factor == 1.0 {
                grads
            } else {
                grads.iter().map(|g| scale(g, factor)).collect()
            }
        }
    }
}

fn check_threshold(op: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::argument(
            op,
            format!("the threshold must be a positive number, got {value}"),
        ));
    }
    Ok(())
}

/// `tensor` rescaled so that its L2 norm is at most `max_norm` (a new tensor, no graph).
pub fn clip_by_norm(tensor: &Tensor, max_norm: f64) -> Result<Tensor> {
    check_threshold("clip_by_norm", max_norm)?;
    Ok(Tensor::from_storage(
        norm_clipped(tensor.storage(), max_norm),
        false,
    ))
}

/// `tensor` with every element clamped to `[-limit, limit]` (a new tensor, no graph).
pub fn clip_by_value(tensor: &Tensor, limit: f64) -> Result<Tensor> {
    check_threshold("clip_by_value", limit)?;
    Ok(Tensor::from_storage(
        value_clipped(&tensor.storage(), limit),
        false,
    ))
}

/// The tensors rescaled together so that their global L2 norm is at most `max_norm`, and that
/// norm before clipping (as `tf.clip_by_global_norm`).
pub fn clip_by_global_norm(tensors: &[Tensor], max_norm: f64) -> Result<(Vec<Tensor>, f64)> {
    check_threshold("clip_by_global_norm", max_norm)?;
    let storages: Vec<Storage> = tensors.iter().map(|t| t.storage()).collect();
    let norm = global_norm(&storages.iter().collect::<Vec<_>>());
    let clipped = clip_storages(Clip::ByGlobalNorm(max_norm), storages)
        .into_iter()
        .map(|s| Tensor::from_storage(s, false))
        .collect();
    Ok((clipped, norm))
}

/// Checks the bounds of [`clip_by_bounds`]: neither NaN, broadcastable together, and
/// `clip_value_min <= clip_value_max` everywhere (equal bounds are allowed).
pub fn check_bounds(low: &ArrayD<f64>, high: &ArrayD<f64>) -> Result<()> {
    const OP: &str = "clip_by_value";
    for (name, bound) in [("clip_value_min", low), ("clip_value_max", high)] {
        if bound.iter().any(|v| v.is_nan()) {
            return Err(Error::argument(OP, format!("{name} must not be NaN")));
        }
    }
    let shape = broadcast_index_shapes(&[low.shape(), high.shape()]).map_err(|_| {
        Error::argument(
            OP,
            format!(
                "clip_value_min (shape {:?}) and clip_value_max (shape {:?}) do not broadcast \
                 together",
                low.shape(),
                high.shape()
            ),
        )
    })?;
    let (low, high) = (
        low.broadcast(IxDyn(&shape)).unwrap(),
        high.broadcast(IxDyn(&shape)).unwrap(),
    );
    let inverted = low
        .indexed_iter()
        .zip(high.iter())
        .find(|((_, l), h)| l > h);
    if let Some(((at, l), h)) = inverted {
        let at = if shape.is_empty() {
            String::new()
        } else {
            format!(" at {:?}", at.slice())
        };
        return Err(Error::argument(
            OP,
            format!("clip_value_min must be <= clip_value_max, got {l} and {h}{at}"),
        ));
    }
    Ok(())
}

/// `tensor` with every element clamped into `[low, high]` (a new tensor, no graph), as
/// `tf.clip_by_value`: the bounds broadcast to the tensor's shape without changing it and are
/// cast to its dtype; NaN elements stay NaN (a NaN gradient is a bug to find, not to hide).
pub fn clip_by_bounds(tensor: &Tensor, low: &ArrayD<f64>, high: &ArrayD<f64>) -> Result<Tensor> {
    check_bounds(low, high)?;
    let shape = tensor.shape();
    let (Some(low), Some(high)) = (low.broadcast(IxDyn(&shape)), high.broadcast(IxDyn(&shape)))
    else {
        return Err(Error::argument(
            "clip_by_value",
            format!(
                "the bounds (shapes {:?} and {:?}) must broadcast to the tensor's shape {shape:?} \
                 without changing it",
                low.shape(),
                high.shape()
            ),
        ));
    };
    fn clamped<F: Element>(
        a: &crate::tensor::Array<F>,
        low: ndarray::ArrayViewD<f64>,
        high: ndarray::ArrayViewD<f64>,
    ) -> Storage {
        let out = Zip::from(a).and(&low).and(&high).map_collect(|&x, &l, &h| {
            let (l, h) = (F::lit(l), F::lit(h));
            // Comparisons with NaN are false: a NaN element stays NaN, as numpy's clip.
            if x > h {
                h
            } else if x < l {
                l
            } else {
                x
            }
        });
        F::wrap(out.into_shared())
    }
    let storage = tensor.storage();
    Ok(Tensor::from_storage(
        dispatch!(&storage, |a| clamped(a, low.view(), high.view())),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(values: &[f64]) -> Tensor {
        Tensor::from_vec(&[values.len()], values.to_vec()).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f64> {
        t.to_f64().iter().copied().collect()
    }

    #[test]
    fn by_norm_keeps_direction() {
        // [3, 4] has norm 5; clipped to 1 it is [0.6, 0.8].
        let clipped = clip_by_norm(&tensor(&[3.0, 4.0]), 1.0).unwrap();
        let v = values(&clipped);
        assert!((v[0] - 0.6).abs() < 1e-12 && (v[1] - 0.8).abs() < 1e-12);
        // Within the limit: unchanged.
        assert_eq!(
            values(&clip_by_norm(&tensor(&[3.0, 4.0]), 10.0).unwrap()),
            [3.0, 4.0]
        );
    }

    #[test]
    fn by_value_clamps_each_element() {
        let clipped = clip_by_value(&tensor(&[-3.0, 0.5, 2.0]), 1.0).unwrap();
        assert_eq!(values(&clipped), [-1.0, 0.5, 1.0]);
    }

    #[test]
    fn by_global_norm_returns_the_norm_before_clipping() {
        // norms 5 and 12: global norm 13; clipped to 6.5 everything halves.
        let (clipped, norm) =
            clip_by_global_norm(&[tensor(&[3.0, 4.0]), tensor(&[12.0])], 6.5).unwrap();
        assert!((norm - 13.0).abs() < 1e-12);
        assert_eq!(values(&clipped[0]), [1.5, 2.0]);
        assert_eq!(values(&clipped[1]), [6.0]);
    }

    #[test]
    fn infinite_global_norm_gives_nan() {
        let (clipped, norm) = clip_by_global_norm(&[tensor(&[f64::INFINITY, 1.0])], 1.0).unwrap();
        assert!(norm.is_infinite());
        assert!(values(&clipped[0]).iter().all(|x| x.is_nan()));
    }

    #[test]
    fn thresholds_must_be_positive() {
        assert!(clip_by_norm(&tensor(&[1.0]), 0.0).is_err());
        assert!(clip_by_value(&tensor(&[1.0]), -1.0).is_err());
        assert!(Clip::ByGlobalNorm(f64::NAN).validate().is_err());
    }

    #[test]
    fn the_global_norm_is_exact_where_squares_overflow_or_underflow() {
        // sqrt(2) * 1e200 and 5e-200 (a 3-4-5 triangle), by hand; the squares are out of range.
        let huge = Tensor::from_vec(&[2], vec![1e200f64, 1e200])
            .unwrap()
            .storage();
        let norm = global_norm(&[&huge]);
        assert!((norm / (2f64.sqrt() * 1e200) - 1.0).abs() < 1e-15, "{norm}");
        let (three, four) = (tensor(&[3e-200]).storage(), tensor(&[4e-200]).storage());
        assert!((global_norm(&[&three, &four]) / 5e-200 - 1.0).abs() < 1e-15);
        assert_eq!(global_norm(&[]), 0.0);
        // NaN wins over inf, whichever comes first.
        let (inf, nan) = (
            tensor(&[f64::INFINITY]).storage(),
            tensor(&[f64::NAN]).storage(),
        );
        assert!(global_norm(&[&inf, &nan]).is_nan());
        assert!(global_norm(&[&nan, &inf]).is_nan());
        assert_eq!(global_norm(&[&inf]), f64::INFINITY);
    }

    #[test]
    fn by_bounds_clamps_per_element_and_keeps_nan() {
        let x = Tensor::from_vec(&[2, 2], vec![5.0f32, 5.0, -5.0, f32::NAN]).unwrap();
        let low = ndarray::arr1(&[-1.0, -2.0]).into_dyn();
        let high = ndarray::arr1(&[1.0, 2.0]).into_dyn();
        let clipped = clip_by_bounds(&x, &low, &high).unwrap();
        assert_eq!(clipped.dtype(), crate::DType::F32);
        let v = values(&clipped);
        assert_eq!(v[..3], [1.0, 2.0, -1.0]);
        assert!(v[3].is_nan());
    }

    #[test]
    fn bad_bounds_are_refused_with_their_names() {
        let x = tensor(&[1.0, 2.0, 3.0]);
        let scalar = |v: f64| ArrayD::from_elem(IxDyn(&[]), v);
        let message = |low: ArrayD<f64>, high: ArrayD<f64>| {
            clip_by_bounds(&x, &low, &high).unwrap_err().to_string()
        };
        assert!(
            message(scalar(1.0), scalar(-1.0)).contains("clip_value_min must be <= clip_value_max")
        );
        assert!(message(scalar(f64::NAN), scalar(1.0)).contains("clip_value_min must not be NaN"));
        let wide = ArrayD::zeros(IxDyn(&[2, 3]));
        assert!(message(wide, scalar(1.0)).contains("without changing it"));
        let (two, three) = (ArrayD::zeros(IxDyn(&[2])), ArrayD::ones(IxDyn(&[3])));
        assert!(message(two, three).contains("do not broadcast together"));
        // Equal bounds are allowed: everything becomes that value.
        let same = clip_by_bounds(&x, &scalar(2.0), &scalar(2.0)).unwrap();
        assert_eq!(values(&same), [2.0, 2.0, 2.0]);
    }
}
