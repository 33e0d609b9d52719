//! RMSprop, as Keras's `RMSprop` (keras/src/optimizers/rmsprop.py):
//! ```text
//! v = rho * v + (1 - rho) * g^2
//! centered:  a = rho * a + (1 - rho) * g;   denominator = v - a^2 + epsilon
//! otherwise: denominator = v + epsilon
//! increment = lr * g / sqrt(denominator)
//! momentum > 0: m = momentum * m + increment;  w -= m
//! otherwise:    w -= increment
//! ```
//! Keras adds epsilon (1e-7) inside the square root; PyTorch adds it (1e-8) outside, and
//! defaults to rho (`alpha`) = 0.99 where Keras uses 0.9.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_non_negative, check_range, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::{Error, Result};
use crate::tensor::Element;

/// Keras's `RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsProp {
    pub rho: f64,
    pub momentum: f64,
    pub epsilon: f64,
    pub centered: bool,
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp {
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }
}

impl RmsProp {
    /// Keras's default learning rate of `RMSprop`.
    pub const LEARNING_RATE: f64 = 0.001;

    /// The rule from `RMSprop`'s config, Keras's defaults for missing keys.
    pub fn from_config(c: &Config<'_>) -> Result<RmsProp> {
        let d = RmsProp::default();
        Ok(RmsProp {
            rho: c.f64_or("rho", d.rho)?,
            momentum: c.f64_or("momentum", d.momentum)?,
            epsilon: c.f64_or("epsilon", d.epsilon)?,
            centered: c.bool_or("centered", d.centered)?,
        })
    }

    /// `RMSprop`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        object([
            ("rho", json!(self.rho)),
            ("momentum", json!(self.momentum)),
            ("epsilon", json!(self.epsilon)),
            ("centered", json!(self.centered)),
        ])
    }
}

impl UpdateRule for RmsProp {
    fn name(&self) -> &'static str {
        "rmsprop"
    }

    fn validate(&self) -> Result<()> {
        check_range("rmsprop", "rho", self.rho, 0.0, 1.0)?;
        check_range("rmsprop", "momentum", self.momentum, 0.0, 1.0)?;
        check_non_negative("rmsprop", "epsilon", self.epsilon)
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        let mut slots = vec![("velocity", 0.0)];
        if self.momentum > 0.0 {
            slots.push(("momentum", 0.0));
        }
        if self.centered {
            slots.push(("average_gradient", 0.0));
        }
        slots
    }

    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()> {
        let lr = F::lit(step.lr);
        let rho = F::lit(self.rho);
        let one_minus_rho = F::lit(1.0 - self.rho);
        let epsilon = F::lit(self.epsilon);
        let momentum = F::lit(self.momentum);
        let len = param.len();
        let mut slots = slots.into_iter();
        let missing = || Error::argument("rmsprop", "internal error: missing optimizer slot");
        let velocity = slots.next().ok_or_else(missing)?;
        let momentums = if self.momentum > 0.0 {
            Some(slots.next().ok_or_else(missing)?)
        } else {
            None
        };
        let averages = if self.centered {
            Some(slots.next().ok_or_else(missing)?)
        } else {
            None
        };
        // The shared arithmetic; each arm below zips only the slots it has.
        let increment = move |g: F, v: &mut F, a: Option<&mut F>| -> F {
            *v = rho * *v + one_minus_rho * g * g;
            let denominator = match a {
                Some(a) => {
                    *a = rho * *a + one_minus_rho * g;
                    *v - *a * *a + epsilon
                }
                None => *v + epsilon,
            };
            lr * g / denominator.sqrt()
        };
        let zip = Zip::from(param).and(grad).and(velocity);
        match (momentums, averages) {
            (None, None) => fused_update!(len, zip, |w: &mut F, &g: &F, v: &mut F| {
                *w -= *w * decay;
                *w -= increment(g, v, None);
            }),
            (None, Some(averages)) => fused_update!(
                len,
                zip.and(averages),
                |w: &mut F, &g: &F, v: &mut F, a: &mut F| {
                    *w -= *w * decay;
                    *w -= increment(g, v, Some(a));
                }
            ),
            (Some(momentums), None) => fused_update!(
                len,
                zip.and(momentums),
                |w: &mut F, &g: &F, v: &mut F, m: &mut F| {
                    *w -= *w * decay;
                    *m = momentum * *m + increment(g, v, None);
                    *w -= *m;
                }
            ),
            (Some(momentums), Some(averages)) => fused_update!(
                len,
                zip.and(momentums).and(averages),
                |w: &mut F, &g: &F, v: &mut F, m: &mut F, a: &mut F| {
                    *w -= *w * decay;
                    *m = momentum * *m + increment(g, v, Some(a));
                    *w -= *m;
                }
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Optimizer;
    use super::*;

    #[test]
    fn first_step_has_epsilon_inside_the_root() {
        // g = 2, rho = 0.9: v = 0.1 * 4 = 0.4; w = 1 - 0.01 * 2 / sqrt(0.4 + 1e-7).
        let mut opt = Optimizer::new(RmsProp::default(), 0.01).unwrap();
        let steps = run(&mut opt, &[1.0], &[2.0], 1);
        assert_close(&steps[0], &[1.0 - 0.02 / (0.4f64 + 1e-7).sqrt()], 1e-12);
    }

    #[test]
    fn centered_with_momentum() {
        // rho = 0.5, momentum = 0.5, eps = 0, g = 1:
        // step 1: v = 0.5, a = 0.5, den = 0.25, inc = lr * 1/0.5 = 0.2 (lr 0.1), m = 0.2, w = -0.2
        // step 2: v = 0.75, a = 0.75, den = 0.1875, inc = 0.1/sqrt(0.1875), m = 0.1 + inc
        let rule = RmsProp {
            rho: 0.5,
            momentum: 0.5,
            epsilon: 0.0,
            centered: true,
        };
        let mut opt = Optimizer::new(rule, 0.1).unwrap();
        let steps = run(&mut opt, &[0.0], &[1.0], 2);
        assert_close(&steps[0], &[-0.2], 1e-12);
        let m2 = 0.1 + 0.1 / 0.1875f64.sqrt();
        assert_close(&steps[1], &[-0.2 - m2], 1e-12);
    }
}
