//! Nadam, as Keras's `Nadam` (keras/src/optimizers/nadam.py; Dozat 2015), with its momentum
//! schedule `u_t = beta_1 * (1 - 0.5 * 0.96^t)` and the running product of the `u_t`:
//! ```text
//! m += (g - m) * (1 - beta_1);   v += (g^2 - v) * (1 - beta_2)
//! m_hat = u_{t+1} * m / (1 - prod_{i<=t+1} u_i) + (1 - u_t) * g / (1 - prod_{i<=t} u_i)
//! v_hat = v / (1 - beta_2^t)
//! w -= lr * m_hat / (sqrt(v_hat) + epsilon)
//! ```

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_non_negative, check_range, take_slots, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::Result;
use crate::tensor::Element;

/// Keras's `Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nadam {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
}

impl Default for Nadam {
    fn default() -> Self {
        Nadam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl Nadam {
    /// Keras's default learning rate of `Nadam`.
    pub const LEARNING_RATE: f64 = 0.001;

    /// The rule from `Nadam`'s config, Keras's defaults for missing keys.
    pub fn from_config(c: &Config<'_>) -> Result<Nadam> {
        let d = Nadam::default();
        Ok(Nadam {
            beta_1: c.f64_or("beta_1", d.beta_1)?,
            beta_2: c.f64_or("beta_2", d.beta_2)?,
            epsilon: c.f64_or("epsilon", d.epsilon)?,
        })
    }

    /// `Nadam`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        object([
            ("beta_1", json!(self.beta_1)),
            ("beta_2", json!(self.beta_2)),
            ("epsilon", json!(self.epsilon)),
        ])
    }
}

impl Nadam {
    /// The momentum schedule `u_t = beta_1 * (1 - 0.5 * 0.96^t)`.
    pub(crate) fn momentum_factor(&self, t: f64) -> f64 {
        self.beta_1 * (1.0 - 0.5 * 0.96f64.powf(t))
    }
}

impl UpdateRule for Nadam {
    fn name(&self) -> &'static str {
        "nadam"
    }

    fn validate(&self) -> Result<()> {
        check_range("nadam", "beta_1", self.beta_1, 0.0, 1.0)?;
        check_range("nadam", "beta_2", self.beta_2, 0.0, 1.0 - f64::EPSILON)?;
        check_non_negative("nadam", "epsilon", self.epsilon)
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        vec![("momentum", 0.0), ("velocity", 0.0)]
    }

    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()> {
        let [m, v] = take_slots("nadam", slots)?;
        let u_t = self.momentum_factor(step.t);
        let u_next = self.momentum_factor(step.t + 1.0);
        let product = step.momentum_product;
        let product_next = product * u_next;
        let m_coefficient = F::lit(u_next / (1.0 - product_next));
        let g_coefficient = F::lit((1.0 - u_t) / (1.0 - product));
        let v_correction = F::lit(1.0 - self.beta_2.powf(step.t));
        let lr = F::lit(step.lr);
        let one_minus_beta_1 = F::lit(1.0 - self.beta_1);
        let one_minus_beta_2 = F::lit(1.0 - self.beta_2);
        let epsilon = F::lit(self.epsilon);
        fused_update!(
            param.len(),
            Zip::from(param).and(grad).and(m).and(v),
            |w: &mut F, &g: &F, m: &mut F, v: &mut F| {
                *w -= *w * decay;
                *m += (g - *m) * one_minus_beta_1;
                *v += (g * g - *v) * one_minus_beta_2;
                let m_hat = m_coefficient * *m + g_coefficient * g;
                let v_hat = *v / v_correction;
                *w -= m_hat * lr / (v_hat.sqrt() + epsilon);
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
    fn first_step_by_hand() {
        // t = 1, g = 1: u1 = 0.9 * (1 - 0.48) = 0.468, u2 = 0.9 * (1 - 0.5 * 0.9216) = 0.48528
        // m = 0.1, v = 0.001; m_hat = u2*0.1/(1 - u1*u2) + (1 - u1)/(1 - u1); v_hat = 1
        let mut opt = Optimizer::new(Nadam::default(), 0.01).unwrap();
        let steps = run(&mut opt, &[0.0], &[1.0], 1);
        let (u1, u2) = (0.468f64, 0.48528f64);
        let m_hat = u2 * 0.1 / (1.0 - u1 * u2) + 1.0;
        assert_close(&steps[0], &[-0.01 * m_hat / (1.0 + 1e-7)], 1e-12);
    }
}
