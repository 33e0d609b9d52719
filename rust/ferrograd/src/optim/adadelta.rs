//! Adadelta, as Keras's `Adadelta` (keras/src/optimizers/adadelta.py):
//! ```text
//! E[g^2]  = rho * E[g^2] + (1 - rho) * g^2
//! delta   = -sqrt(E[dx^2] + epsilon) * g / sqrt(E[g^2] + epsilon)
//! E[dx^2] = rho * E[dx^2] + (1 - rho) * delta^2
//! w += lr * delta
//! ```

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_non_negative, check_range, take_slots, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::Result;
use crate::tensor::Element;

/// Keras's `Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adadelta {
    pub rho: f64,
    pub epsilon: f64,
}

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta {
            rho: 0.95,
            epsilon: 1e-7,
        }
    }
}

impl Adadelta {
    /// Keras's default learning rate of `Adadelta`.
    pub const LEARNING_RATE: f64 = 0.001;

    /// The rule from `Adadelta`'s config, Keras's defaults for missing keys.
    pub fn from_config(c: &Config<'_>) -> Result<Adadelta> {
        let d = Adadelta::default();
        Ok(Adadelta {
            rho: c.f64_or("rho", d.rho)?,
            epsilon: c.f64_or("epsilon", d.epsilon)?,
        })
    }

    /// `Adadelta`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        object([("rho", json!(self.rho)), ("epsilon", json!(self.epsilon))])
    }
}

impl UpdateRule for Adadelta {
    fn name(&self) -> &'static str {
        "adadelta"
    }

    fn validate(&self) -> Result<()> {
        check_range("adadelta", "rho", self.rho, 0.0, 1.0)?;
        check_non_negative("adadelta", "epsilon", self.epsilon)
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        vec![("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]
    }

    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()> {
        let [accumulated_grad, accumulated_delta] = take_slots("adadelta", slots)?;
        let lr = F::lit(step.lr);
        let rho = F::lit(self.rho);
        let one_minus_rho = F::lit(1.0 - self.rho);
        let epsilon = F::lit(self.epsilon);
        fused_update!(
            param.len(),
            Zip::from(param)
                .and(grad)
                .and(accumulated_grad)
                .and(accumulated_delta),
            |w: &mut F, &g: &F, eg: &mut F, edx: &mut F| {
                *w -= *w * decay;
                *eg = rho * *eg + one_minus_rho * g * g;
                let delta = -((*edx + epsilon).sqrt() * g) / (*eg + epsilon).sqrt();
                *edx = rho * *edx + one_minus_rho * delta * delta;
                *w += lr * delta;
            }
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Optimizer;
    use super::*;

    #[test]
    fn first_step() {
        // rho = 0.5, eps = 0.01, g = 1: E[g^2] = 0.5, delta = -sqrt(0.01)/sqrt(0.51) ; w = lr*delta.
        let mut opt = Optimizer::new(
            Adadelta {
                rho: 0.5,
                epsilon: 0.01,
            },
            1.0,
        )
        .unwrap();
        let steps = run(&mut opt, &[0.0], &[1.0], 2);
        let d1 = -(0.01f64).sqrt() / 0.51f64.sqrt();
        assert_close(&steps[0], &[d1], 1e-12);
        // E[dx^2] = 0.5 d1^2; E[g^2] = 0.75
        let d2 = -(0.5 * d1 * d1 + 0.01).sqrt() / 0.76f64.sqrt();
        assert_close(&steps[1], &[d1 + d2], 1e-12);
    }
}
