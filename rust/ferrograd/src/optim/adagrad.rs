//! Adagrad, as Keras's `Adagrad` (keras/src/optimizers/adagrad.py):
//! ```text
//! accumulator += g^2            (starting at initial_accumulator_value = 0.1)
//! w -= lr * g / sqrt(accumulator + epsilon)
//! ```
//! PyTorch starts the accumulator at 0 and adds epsilon (1e-10) outside the square root.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_non_negative, take_slots, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::Result;
use crate::tensor::Element;

/// Keras's `Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adagrad {
    pub initial_accumulator_value: f64,
    pub epsilon: f64,
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad {
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }
}

impl Adagrad {
    /// Keras's default learning rate of `Adagrad`.
    pub const LEARNING_RATE: f64 = 0.001;

    /// The rule from `Adagrad`'s config, Keras's defaults for missing keys.
    pub fn from_config(c: &Config<'_>) -> Result<Adagrad> {
        let d = Adagrad::default();
        Ok(Adagrad {
            initial_accumulator_value: c
                .f64_or("initial_accumulator_value", d.initial_accumulator_value)?,
            epsilon: c.f64_or("epsilon", d.epsilon)?,
        })
    }

    /// `Adagrad`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        object([
            (
                "initial_accumulator_value",
                json!(self.initial_accumulator_value),
            ),
            ("epsilon", json!(self.epsilon)),
        ])
    }
}

impl UpdateRule for Adagrad {
    fn name(&self) -> &'static str {
        "adagrad"
    }

    fn validate(&self) -> Result<()> {
        check_non_negative(
            "adagrad",
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        check_non_negative("adagrad", "epsilon", self.epsilon)
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        vec![("accumulator", self.initial_accumulator_value)]
    }

    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()> {
        let [accumulator] = take_slots("adagrad", slots)?;
        let lr = F::lit(step.lr);
        let epsilon = F::lit(self.epsilon);
        fused_update!(
            param.len(),
            Zip::from(param).and(grad).and(accumulator),
            |w: &mut F, &g: &F, acc: &mut F| {
                *w -= *w * decay;
                *acc += g * g;
                *w -= lr * g / (*acc + epsilon).sqrt();
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
    fn accumulator_starts_at_point_one() {
        // g = 1: acc = 1.1, w = -0.1/sqrt(1.1 + 1e-7); acc = 2.1, w -= 0.1/sqrt(2.1 + 1e-7).
        let mut opt = Optimizer::new(Adagrad::default(), 0.1).unwrap();
        let steps = run(&mut opt, &[0.0], &[1.0], 2);
        let w1 = -0.1 / (1.1f64 + 1e-7).sqrt();
        assert_close(&steps[0], &[w1], 1e-12);
        assert_close(&steps[1], &[w1 - 0.1 / (2.1f64 + 1e-7).sqrt()], 1e-12);
    }
}
