//! Lion, as Keras's `Lion` (keras/src/optimizers/lion.py; Chen et al. 2023):
//! ```text
//! w -= lr * sign(beta_1 * m + (1 - beta_1) * g)
//! m = beta_2 * m + (1 - beta_2) * g
//! ```

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_range, sign, take_slots, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::{Error, Result};
use crate::tensor::Element;

/// Keras's `Lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lion {
    pub beta_1: f64,
    pub beta_2: f64,
}

impl Default for Lion {
    fn default() -> Self {
        Lion {
            beta_1: 0.9,
            beta_2: 0.99,
        }
    }
}

impl Lion {
    /// Keras's default learning rate of `Lion`.
    pub const LEARNING_RATE: f64 = 0.001;

    /// The rule from `Lion`'s config, Keras's defaults for missing keys.
    pub fn from_config(c: &Config<'_>) -> Result<Lion> {
        let d = Lion::default();
        Ok(Lion {
            beta_1: c.f64_or("beta_1", d.beta_1)?,
            beta_2: c.f64_or("beta_2", d.beta_2)?,
        })
    }

    /// `Lion`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        object([
            ("beta_1", json!(self.beta_1)),
            ("beta_2", json!(self.beta_2)),
        ])
    }
}

impl UpdateRule for Lion {
    fn name(&self) -> &'static str {
        "lion"
    }

    fn validate(&self) -> Result<()> {
        // Keras: beta_1 = 0 degenerates to SignSGD.
        if !(self.beta_1 > 0.0 && self.beta_1 <= 1.0) {
            return Err(Error::argument(
                "lion",
                format!("`beta_1` must be in (0, 1], got {}", self.beta_1),
            ));
        }
        check_range("lion", "beta_2", self.beta_2, 0.0, 1.0)
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        vec![("momentum", 0.0)]
    }

    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()> {
        let [m] = take_slots("lion", slots)?;
        let lr = F::lit(step.lr);
        let beta_1 = F::lit(self.beta_1);
        let beta_2 = F::lit(self.beta_2);
        let one = F::one();
        fused_update!(
            param.len(),
            Zip::from(param).and(grad).and(m),
            |w: &mut F, &g: &F, m: &mut F| {
                *w -= *w * decay;
                *w -= lr * sign(*m * beta_1 + g * (one - beta_1));
                *m = *m * beta_2 + g * (one - beta_2);
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
    fn sign_steps() {
        // g = [2, -3, 0]: every step moves by lr against the sign (0 for a zero gradient).
        let mut opt = Optimizer::new(Lion::default(), 0.1).unwrap();
        let steps = run(&mut opt, &[0.0, 0.0, 0.0], &[2.0, -3.0, 0.0], 2);
        assert_close(&steps[1], &[-0.2, 0.2, 0.0], 1e-12);
    }

    #[test]
    fn momentum_can_outvote_the_gradient() {
        // m after step 1 with g = 1: 0.01. Step 2, g = -0.05: 0.9*0.01 + 0.1*-0.05 = 0.004 > 0,
        // so w still moves down.
        let mut opt = Optimizer::new(Lion::default(), 0.1).unwrap();
        let w = crate::Tensor::from_vec(&[1], vec![0.0f64]).unwrap();
        for g in [1.0, -0.05] {
            let g = crate::Tensor::from_vec(&[1], vec![g]).unwrap();
            opt.apply_gradients(&[(g, w.clone())]).unwrap();
        }
        assert_close(w.to_f64().as_slice().unwrap(), &[-0.2], 1e-12);
    }
}
