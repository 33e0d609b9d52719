//! Weight regularizers with Keras 3's definitions: penalties added to the training loss.
//!
//! Keras's `L2(l2)` is `l2 * sum(w²)` (no factor 1/2, unlike the textbook `λ/2 ‖w‖²`), `L1(l1)`
//! is `l1 * sum(|w|)` and `L1L2` the sum of both. Defaults: 0.01 for `L1` and `L2`, 0.0 for
//! both factors of `L1L2`.

use serde_json::{json, Map, Value};

use crate::config::{object, serialize, Config, KerasObject};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// A penalty on a weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Regularizer {
    /// `l1 * sum(|w|)`.
    L1 { l1: f64 },
    /// `l2 * sum(w²)`.
    L2 { l2: f64 },
    /// `l1 * sum(|w|) + l2 * sum(w²)`.
    L1L2 { l1: f64, l2: f64 },
}

impl Regularizer {
    /// A regularizer, checking its factors are finite and not negative (as Keras's
    /// `validate_float_arg`).
    pub fn new(l1: f64, l2: f64) -> Result<Regularizer> {
        for (name, v) in [("l1", l1), ("l2", l2)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Argument {
                    op: "regularizer",
                    message: format!("{name} must be a non-negative finite number, got {v}"),
                });
            }
        }
        Ok(Regularizer::L1L2 { l1, l2 })
    }

    /// Keras's string names with their defaults: `l1`, `l2`, `l1_l2` (and class names).
    pub fn from_name(name: &str) -> Result<Regularizer> {
        Ok(match name {
            "l1" | "L1" => Regularizer::L1 { l1: 0.01 },
            "l2" | "L2" => Regularizer::L2 { l2: 0.01 },
            "l1_l2" | "L1L2" => Regularizer::L1L2 { l1: 0.0, l2: 0.0 },
            other => {
                return Err(Error::Argument {
                    op: "regularizer",
                    message: format!(
                        "unknown regularizer '{other}'; valid names are l1, l2, l1_l2, L1, L2, L1L2"
                    ),
                })
            }
        })
    }

    /// The factors `(l1, l2)`.
    pub fn factors(&self) -> (f64, f64) {
        match *self {
            Regularizer::L1 { l1 } => (l1, 0.0),
            Regularizer::L2 { l2 } => (0.0, l2),
            Regularizer::L1L2 { l1, l2 } => (l1, l2),
        }
    }

    /// The penalty on `weight`, a differentiable scalar of its dtype.
    pub fn penalty(&self, weight: &Tensor) -> Result<Tensor> {
        let (l1, l2) = self.factors();
        let mut total = Tensor::scalar_of(0.0, weight.dtype());
        if l1 != 0.0 {
            total = total.add(&weight.abs()?.sum(None, false)?.scale(l1)?)?;
        }
        if l2 != 0.0 {
            total = total.add(&weight.square()?.sum(None, false)?.scale(l2)?)?;
        }
        Ok(total)
    }
}

impl KerasObject for Regularizer {
    const MODULE: &'static str = "keras.regularizers";

    fn class_name(&self) -> &'static str {
        match self {
            Regularizer::L1 { .. } => "L1",
            Regularizer::L2 { .. } => "L2",
            Regularizer::L1L2 { .. } => "L1L2",
        }
    }

    fn to_config(&self) -> Map<String, Value> {
        match *self {
            Regularizer::L1 { l1 } => object([("l1", json!(l1))]),
            Regularizer::L2 { l2 } => object([("l2", json!(l2))]),
            Regularizer::L1L2 { l1, l2 } => object([("l1", json!(l1)), ("l2", json!(l2))]),
        }
    }

    /// Keras's classes and names (`L1`/`l1`, `L2`/`l2`, `L1L2`/`l1_l2`) with their defaults.
    fn from_config(class_name: &str, c: &Config<'_>) -> Result<Regularizer> {
        let regularizer = match Regularizer::from_name(class_name)? {
            Regularizer::L1 { l1 } => Regularizer::L1 {
                l1: c.f64_or("l1", l1)?,
            },
            Regularizer::L2 { l2 } => Regularizer::L2 {
                l2: c.f64_or("l2", l2)?,
            },
            Regularizer::L1L2 { l1, l2 } => Regularizer::L1L2 {
                l1: c.f64_or("l1", l1)?,
                l2: c.f64_or("l2", l2)?,
            },
        };
        let (l1, l2) = regularizer.factors();
        Regularizer::new(l1, l2)?;
        Ok(regularizer)
    }
}

/// Keras 3's serialized form of an optional regularizer (`null` for none), as a layer's config
/// writes it: `{"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
/// "registered_name": null}`.
pub fn to_config(regularizer: Option<Regularizer>) -> Value {
    regularizer.as_ref().map_or(Value::Null, serialize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalties_follow_keras_formulas() {
        let w = Tensor::from_vec(&[3], vec![1.0f64, -2.0, 0.5]).unwrap();
        let l1 = Regularizer::L1 { l1: 0.1 }
            .penalty(&w)
            .unwrap()
            .item()
            .unwrap();
        let l2 = Regularizer::L2 { l2: 0.1 }
            .penalty(&w)
            .unwrap()
            .item()
            .unwrap();
        let both = Regularizer::new(0.1, 0.1).unwrap().penalty(&w).unwrap();
        assert!((l1 - 0.35).abs() < 1e-12);
        assert!((l2 - 0.525).abs() < 1e-12);
        assert!((both.item().unwrap() - 0.875).abs() < 1e-12);
        assert!(Regularizer::new(-1.0, 0.0).is_err());
        assert_eq!(
            Regularizer::from_name("l2").unwrap(),
            Regularizer::L2 { l2: 0.01 }
        );
        assert!(Regularizer::from_name("l3")
            .unwrap_err()
            .to_string()
            .contains("l1_l2"));
    }

    #[test]
    fn configs_round_trip_with_keras_defaults() {
        use crate::config::deserialize;
        for r in [
            Regularizer::L1 { l1: 0.5 },
            Regularizer::L2 { l2: 0.25 },
            Regularizer::L1L2 { l1: 0.1, l2: 0.2 },
        ] {
            assert_eq!(deserialize::<Regularizer>(&to_config(Some(r))).unwrap(), r);
        }
        assert_eq!(to_config(None), Value::Null);
        let l2 = json!({"class_name": "L2", "config": {}});
        assert_eq!(
            deserialize::<Regularizer>(&l2).unwrap(),
            Regularizer::L2 { l2: 0.01 }
        );
        let negative = json!({"class_name": "L1", "config": {"l1": -1.0}});
        assert!(deserialize::<Regularizer>(&negative).is_err());
        assert!(deserialize::<Regularizer>(&json!("OrthogonalRegularizer")).is_err());
    }

    #[test]
    fn penalty_is_differentiable() {
        let w = Tensor::from_vec(&[2], vec![1.0f64, -2.0]).unwrap();
        w.set_requires_grad(true).unwrap();
        Regularizer::new(0.5, 0.25)
            .unwrap()
            .penalty(&w)
            .unwrap()
            .backward()
            .unwrap();
        // d/dw = l1*sign(w) + 2*l2*w
        let g = w.grad().unwrap().to_f64();
        assert!((g[0] - 1.0).abs() < 1e-12 && (g[1] + 1.5).abs() < 1e-12);
    }
}
