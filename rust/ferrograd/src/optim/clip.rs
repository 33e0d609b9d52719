//! Gradient clipping, as Keras's optimizers do it (keras/src/optimizers/base_optimizer.py):
//! - by norm, per gradient: `g * clipnorm / max(||g||, clipnorm)` (direction kept);
//! - by global norm, over all gradients: `g * clipnorm / max(sqrt(sum ||g_i||^2), clipnorm)`,
//!   every gradient NaN when that norm is not finite;
//! - by value, per element: `clip(g, -clipvalue, clipvalue)`.
//!
//! Norms are summed in f64 whatever the dtype.

use num_traits::ToPrimitive;

use crate::error::{Error, Result};
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

fn squared_norm(storage: &Storage) -> f64 {
    dispatch!(storage, |a| a
        .iter()
        .map(|&x| {
            let x = x.to_f64().unwrap_or(f64::NAN);
            x * x
        })
        .sum::<f64>())
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
    let norm = squared_norm(&storage).sqrt();
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
            let norm = grads.iter().map(squared_norm).sum::<f64>().sqrt();
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
    let norm = storages.iter().map(squared_norm).sum::<f64>().sqrt();
    let clipped = clip_storages(Clip::ByGlobalNorm(max_norm), storages)
        .into_iter()
        .map(|s| Tensor::from_storage(s, false))
        .collect();
    Ok((clipped, norm))
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
}
