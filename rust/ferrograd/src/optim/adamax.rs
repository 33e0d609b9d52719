//! Adamax, as Keras's `Adamax` (keras/src/optimizers/adamax.py), Kingma & Ba section 7.1:
//! ```text
//! m += (g - m) * (1 - beta_1)
//! u = max(beta_2 * u, |g|)
//! w -= lr * m / ((1 - beta_1^t) * (u + epsilon))
//! ```

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_non_negative, check_range, take_slots, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::Result;
use crate::tensor::Element;

/// Keras's `Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adamax {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl Adamax {
    /// Keras's default learning rate of `Adamax`.
    pub const LEARNING_RATE: f64 = 0.001;

    /// The rule from `Adamax`'s config, Keras's defaults for missing keys.
    pub fn from_config(c: &Config<'_>) -> Result<Adamax> {
        let d = Adamax::default();
        Ok(Adamax {
            beta_1: c.f64_or("beta_1", d.beta_1)?,
            beta_2: c.f64_or("beta_2", d.beta_2)?,
            epsilon: c.f64_or("epsilon", d.epsilon)?,
        })
    }

    /// `Adamax`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        object([
            ("beta_1", json!(self.beta_1)),
            ("beta_2", json!(self.beta_2)),
            ("epsilon", json!(self.epsilon)),
        ])
    }
}

impl UpdateRule for Adamax {
    fn name(&self) -> &'static str {
        "adamax"
    }

    fn validate(&self) -> Result<()> {
        check_range("adamax", "beta_1", self.beta_1, 0.0, 1.0 - f64::EPSILON)?;
        check_range("adamax", "beta_2", self.beta_2, 0.0, 1.0)?;
        check_non_negative("adamax", "epsilon", self.epsilon)
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        vec![("momentum", 0.0), ("norm", 0.0)]
    }

    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()> {
        let [m, u] = take_slots("adamax", slots)?;
        let lr = F::lit(step.lr);
        let correction = F::lit(1.0 - self.beta_1.powf(step.t));
        let one_minus_beta_1 = F::lit(1.0 - self.beta_1);
        let beta_2 = F::lit(self.beta_2);
        let epsilon = F::lit(self.epsilon);
        fused_update!(
            param.len(),
            Zip::from(param).and(grad).and(m).and(u),
            |w: &mut F, &g: &F, m: &mut F, u: &mut F| {
                *w -= *w * decay;
                *m += (g - *m) * one_minus_beta_1;
                *u = (beta_2 * *u).max(g.abs());
                *w -= lr * *m / (correction * (*u + epsilon));
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
    fn two_steps() {
        // g = -2, lr = 0.1: m1 = -0.2, u1 = 2, w1 = 0.1*0.2/(0.1*(2+1e-7)).
        let mut opt = Optimizer::new(Adamax::default(), 0.1).unwrap();
        let steps = run(&mut opt, &[0.0], &[-2.0], 2);
        let w1 = 0.1 * 0.2 / (0.1 * (2.0 + 1e-7));
        assert_close(&steps[0], &[w1], 1e-12);
        // m2 = -0.38, u2 = max(1.998, 2) = 2, correction 1 - 0.81 = 0.19
        let w2 = w1 + 0.1 * 0.38 / (0.19 * (2.0 + 1e-7));
        assert_close(&steps[1], &[w2], 1e-12);
    }
}
