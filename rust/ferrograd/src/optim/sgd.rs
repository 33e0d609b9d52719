//! Stochastic gradient descent with optional (Nesterov) momentum, as Keras's `SGD`.
//!
//! Keras's momentum form (keras/src/optimizers/sgd.py), which differs from PyTorch's
//! (`v = momentum * v + g; w -= lr * v`) in where the learning rate enters:
//! ```text
//! no momentum:  w -= lr * g
//! momentum:     v = momentum * v - lr * g;   w += v
//! nesterov:     v = momentum * v - lr * g;   w += momentum * v - lr * g
//! ```

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_range, take_slots, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::Result;
use crate::tensor::Element;

/// The momentum variant (dfdx's options-as-data).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Momentum {
    Classic(f64),
    Nesterov(f64),
}

/// Keras's `SGD(learning_rate=0.01, momentum=0.0, nesterov=False)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sgd {
    /// `None` for plain gradient descent (Keras's `momentum=0.0`, whatever `nesterov` says).
    pub momentum: Option<Momentum>,
}

impl Sgd {
    /// Keras's arguments: `momentum == 0` means no momentum slot.
    pub fn new(momentum: f64, nesterov: bool) -> Sgd {
        let momentum = if momentum == 0.0 {
            None
        } else if nesterov {
            Some(Momentum::Nesterov(momentum))
        } else {
            Some(Momentum::Classic(momentum))
        };
        Sgd { momentum }
    }
}

impl Sgd {
    /// Keras's default learning rate of `SGD`.
    pub const LEARNING_RATE: f64 = 0.01;

    /// The rule from `SGD`'s config: `momentum` (0.0), `nesterov` (false).
    pub fn from_config(c: &Config<'_>) -> Result<Sgd> {
        Ok(Sgd::new(
            c.f64_or("momentum", 0.0)?,
            c.bool_or("nesterov", false)?,
        ))
    }

    /// `SGD`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        let (momentum, nesterov) = match self.momentum {
            None => (0.0, false),
            Some(Momentum::Classic(m)) => (m, false),
            Some(Momentum::Nesterov(m)) => (m, true),
        };
        object([("momentum", json!(momentum)), ("nesterov", json!(nesterov))])
    }
}

impl UpdateRule for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn validate(&self) -> Result<()> {
        match self.momentum {
            Some(Momentum::Classic(m) | Momentum::Nesterov(m)) => {
                check_range("sgd", "momentum", m, 0.0, 1.0)
            }
            None => Ok(()),
        }
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        match self.momentum {
            Some(_) => vec![("momentum", 0.0)],
            None => vec![],
        }
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
        let len = param.len();
        match self.momentum {
            None => {
                take_slots::<F, 0>("sgd", slots)?;
                fused_update!(len, Zip::from(param).and(grad), |w: &mut F, &g: &F| {
                    *w -= *w * decay;
                    *w -= g * lr;
                });
            }
            Some(Momentum::Classic(m)) => {
                let [velocity] = take_slots("sgd", slots)?;
                let momentum = F::lit(m);
                fused_update!(
                    len,
                    Zip::from(param).and(grad).and(velocity),
                    |w: &mut F, &g: &F, v: &mut F| {
                        *w -= *w * decay;
                        *v = *v * momentum - g * lr;
                        *w += *v;
                    }
                );
            }
            Some(Momentum::Nesterov(m)) => {
                let [velocity] = take_slots("sgd", slots)?;
                let momentum = F::lit(m);
                fused_update!(
                    len,
                    Zip::from(param).and(grad).and(velocity),
                    |w: &mut F, &g: &F, v: &mut F| {
                        *w -= *w * decay;
                        *v = *v * momentum - g * lr;
                        *w += *v * momentum - g * lr;
                    }
                );
            }
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
    fn plain_step() {
        let mut opt = Optimizer::new(Sgd::default(), 0.1).unwrap();
        let steps = run(&mut opt, &[1.0, -2.0], &[0.5, 1.0], 2);
        assert_close(&steps[1], &[1.0 - 2.0 * 0.05, -2.0 - 2.0 * 0.1], 1e-12);
    }

    #[test]
    fn keras_momentum_form() {
        // lr = 0.1, momentum = 0.9, g = 1, w0 = 0:
        // v1 = -0.1, w1 = -0.1; v2 = -0.09 - 0.1 = -0.19, w2 = -0.29.
        let mut opt = Optimizer::new(Sgd::new(0.9, false), 0.1).unwrap();
        let steps = run(&mut opt, &[0.0], &[1.0], 2);
        assert_close(&steps[0], &[-0.1], 1e-12);
        assert_close(&steps[1], &[-0.29], 1e-12);
    }

    #[test]
    fn keras_nesterov_form() {
        // v1 = -0.1, w1 = 0.9*-0.1 - 0.1 = -0.19; v2 = -0.19, w2 = -0.19 + 0.9*-0.19 - 0.1 = -0.461.
        let mut opt = Optimizer::new(Sgd::new(0.9, true), 0.1).unwrap();
        let steps = run(&mut opt, &[0.0], &[1.0], 2);
        assert_close(&steps[0], &[-0.19], 1e-12);
        assert_close(&steps[1], &[-0.461], 1e-12);
    }

    #[test]
    fn momentum_out_of_range_is_rejected() {
        assert!(Optimizer::new(Sgd::new(1.5, false), 0.1).is_err());
        assert!(Optimizer::new(Sgd::new(-0.1, true), 0.1).is_err());
    }
}
