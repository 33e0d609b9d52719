//! Adam (and AMSGrad), as Keras 3's `Adam` (keras/src/optimizers/adam.py). The bias correction
//! is folded into the step size and epsilon ("epsilon hat", 1e-7) is added to `sqrt(v)`
//! uncorrected, where PyTorch divides by `sqrt(v / (1 - beta_2^t)) + epsilon` (1e-8):
//! ```text
//! lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
//! m += (g - m) * (1 - beta_1)
//! v += (g^2 - v) * (1 - beta_2)
//! amsgrad: v_hat = max(v_hat, v), used in place of v
//! w -= lr_t * m / (sqrt(v) + epsilon)
//! ```
//! AdamW is this rule with Keras's decoupled weight decay (see [`super::Optimizer::adamw`]).

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};
use serde_json::{json, Map, Value};

use super::{check_non_negative, check_range, take_slots, Step, UpdateRule};
use crate::config::{object, Config};
use crate::error::Result;
use crate::tensor::Element;

/// Keras's `Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    pub amsgrad: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }
}

impl Adam {
    /// Keras's default learning rate of `Adam` and `AdamW`.
    pub const LEARNING_RATE: f64 = 0.001;

    /// The rule from `Adam`'s (or `AdamW`'s) config, Keras's defaults for missing keys.
    pub fn from_config(c: &Config<'_>) -> Result<Adam> {
        let d = Adam::default();
        Ok(Adam {
            beta_1: c.f64_or("beta_1", d.beta_1)?,
            beta_2: c.f64_or("beta_2", d.beta_2)?,
            epsilon: c.f64_or("epsilon", d.epsilon)?,
            amsgrad: c.bool_or("amsgrad", d.amsgrad)?,
        })
    }

    /// `Adam`'s hyperparameters under Keras's names.
    pub fn to_config(&self) -> Map<String, Value> {
        object([
            ("beta_1", json!(self.beta_1)),
            ("beta_2", json!(self.beta_2)),
            ("epsilon", json!(self.epsilon)),
            ("amsgrad", json!(self.amsgrad)),
        ])
    }
}

impl UpdateRule for Adam {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn validate(&self) -> Result<()> {
        // beta = 1 would divide by 1 - beta^t = 0.
        check_range("adam", "beta_1", self.beta_1, 0.0, 1.0 - f64::EPSILON)?;
        check_range("adam", "beta_2", self.beta_2, 0.0, 1.0 - f64::EPSILON)?;
        check_non_negative("adam", "epsilon", self.epsilon)
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        let mut slots = vec![("momentum", 0.0), ("velocity", 0.0)];
        if self.amsgrad {
            slots.push(("velocity_hat", 0.0));
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
        let alpha = F::lit(
            step.lr * (1.0 - self.beta_2.powf(step.t)).sqrt() / (1.0 - self.beta_1.powf(step.t)),
        );
        let one_minus_beta_1 = F::lit(1.0 - self.beta_1);
        let one_minus_beta_2 = F::lit(1.0 - self.beta_2);
        let epsilon = F::lit(self.epsilon);
        let len = param.len();
        if self.amsgrad {
            let [m, v, v_hat] = take_slots("adam", slots)?;
            fused_update!(
                len,
                Zip::from(param).and(grad).and(m).and(v).and(v_hat),
                |w: &mut F, &g: &F, m: &mut F, v: &mut F, v_hat: &mut F| {
                    *w -= *w * decay;
                    *m += (g - *m) * one_minus_beta_1;
                    *v += (g * g - *v) * one_minus_beta_2;
                    *v_hat = v_hat.max(*v);
                    *w -= *m * alpha / (v_hat.sqrt() + epsilon);
                }
            );
        } else {
            let [m, v] = take_slots("adam", slots)?;
            let contiguous = param.is_standard_layout()
                && grad.is_standard_layout()
                && m.is_standard_layout()
                && v.is_standard_layout();
            if contiguous {
                let coefficients = Coefficients {
                    decay,
                    alpha,
                    one_minus_beta_1,
                    one_minus_beta_2,
                    epsilon,
                };
                update_slices(
                    param.into_slice().expect("standard layout"),
                    grad.to_slice().expect("standard layout"),
                    m.into_slice().expect("standard layout"),
                    v.into_slice().expect("standard layout"),
                    coefficients,
                );
                return Ok(());
            }
            fused_update!(
                len,
                Zip::from(param).and(grad).and(m).and(v),
                |w: &mut F, &g: &F, m: &mut F, v: &mut F| {
                    *w -= *w * decay;
                    *m += (g - *m) * one_minus_beta_1;
                    *v += (g * g - *v) * one_minus_beta_2;
                    *w -= *m * alpha / (v.sqrt() + epsilon);
                }
            );
        }
        Ok(())
    }
}

/// The per-step constants of [`update_slices`].
#[derive(Clone, Copy)]
struct Coefficients<F> {
    decay: F,
    alpha: F,
    one_minus_beta_1: F,
    one_minus_beta_2: F,
    epsilon: F,
}

/// Elements per parallel task of [`update_slices`].
const CHUNK: usize = 1 << 13;

/// Adam's step over contiguous slices (the usual case), in chunks on the pool when large, each
/// chunk compiled a second time for AVX2 where the CPU has it (the wheel targets baseline
/// x86-64, whose 4-wide square roots and divisions made this loop ~8% of an MLP training step).
/// The arithmetic is the same operations in the same order as the general path below (Rust
/// never fuses a multiply and add on its own), so the result is the same bit for bit.
fn update_slices<F: Element>(w: &mut [F], g: &[F], m: &mut [F], v: &mut [F], k: Coefficients<F>) {
    #[cfg(target_arch = "x86_64")]
    let simd = crate::ops::simd_available();
    let run = |w: &mut [F], g: &[F], m: &mut [F], v: &mut [F]| {
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            return unsafe { update_chunk_avx2(w, g, m, v, k) };
        }
        update_chunk(w, g, m, v, k)
    };
    if w.len() >= crate::threads::PARALLEL_MIN_ELEMENTS {
        use rayon::prelude::*;
        crate::threads::install(|| {
            w.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((w, g), m), v)| run(w, g, m, v))
        });
    } else {
        run(w, g, m, v);
    }
}

#[inline(always)]
fn update_chunk<F: Element>(w: &mut [F], g: &[F], m: &mut [F], v: &mut [F], k: Coefficients<F>) {
    let n = w.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        w[i] -= w[i] * k.decay;
        m[i] += (g[i] - m[i]) * k.one_minus_beta_1;
        v[i] += (g[i] * g[i] - v[i]) * k.one_minus_beta_2;
        w[i] -= m[i] * k.alpha / (v[i].sqrt() + k.epsilon);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn update_chunk_avx2<F: Element>(
    w: &mut [F],
    g: &[F],
    m: &mut [F],
    v: &mut [F],
    k: Coefficients<F>,
) {
    update_chunk(w, g, m, v, k)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Optimizer;
    use super::*;

    /// Keras's formulas step by step in plain f64.
    fn reference(lr: f64, grads: &[f64], wd: f64, amsgrad: bool) -> Vec<f64> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7);
        let (mut w, mut m, mut v, mut v_hat) = (1.0f64, 0.0, 0.0, 0.0f64);
        let mut out = vec![];
        for (i, &g) in grads.iter().enumerate() {
            let t = (i + 1) as f64;
            w -= w * wd * lr;
            let lr_t = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
            m += (g - m) * (1.0 - b1);
            v += (g * g - v) * (1.0 - b2);
            v_hat = v_hat.max(v);
            let denom = if amsgrad { v_hat } else { v };
            w -= lr_t * m / (denom.sqrt() + eps);
            out.push(w);
        }
        out
    }

    #[test]
    fn keras_bias_correction_and_epsilon() {
        let grads = [0.3, -0.2, 0.5];
        let mut opt = Optimizer::new(Adam::default(), 0.01).unwrap();
        let w = crate::Tensor::from_vec(&[1], vec![1.0f64]).unwrap();
        let expected = reference(0.01, &grads, 0.0, false);
        for (g, e) in grads.iter().zip(expected) {
            let g = crate::Tensor::from_vec(&[1], vec![*g]).unwrap();
            opt.apply_gradients(&[(g, w.clone())]).unwrap();
            assert_close(w.to_f64().as_slice().unwrap(), &[e], 1e-12);
        }
    }

    #[test]
    fn contiguous_fast_path_matches_the_general_loop_bit_for_bit() {
        use ndarray::{Array2, ShapeBuilder};
        use ndarray::{ArrayViewD, ArrayViewMutD};

        use super::super::{Step, UpdateRule};
        // Large enough for the pool, with weight decay; Fortran-ordered arrays take the
        // general Zip loop, standard ones the slice path, over the same memory contents.
        let (rows, cols) = (181, 183);
        let wave = |seed: f32| -> Vec<f32> {
            (0..rows * cols)
                .map(|i| ((i as f32 + 1.0) * seed).sin())
                .collect()
        };
        let step = Step {
            lr: 0.003,
            t: 7.0,
            momentum_product: 1.0,
        };
        let run = |fortran: bool| -> Vec<Vec<f32>> {
            let make = |seed: f32, square: bool| {
                let mut data = wave(seed);
                if square {
                    data.iter_mut().for_each(|x| *x *= *x);
                }
                if fortran {
                    Array2::from_shape_vec((rows, cols).f(), data).unwrap()
                } else {
                    Array2::from_shape_vec((rows, cols), data).unwrap()
                }
            };
            let (mut w, g, mut m, mut v) = (
                make(0.7, false),
                make(1.3, false),
                make(0.4, false),
                make(2.1, true),
            );
            let views: Vec<ArrayViewMutD<'_, f32>> =
                vec![m.view_mut().into_dyn(), v.view_mut().into_dyn()];
            let grad: ArrayViewD<'_, f32> = g.view().into_dyn();
            Adam::default()
                .update(&step, 0.01, w.view_mut().into_dyn(), grad, views)
                .unwrap();
            [w, m, v]
                .iter()
                .map(|a| a.as_slice_memory_order().unwrap().to_vec())
                .collect()
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn amsgrad_keeps_the_largest_velocity() {
        let grads = [1.0, 0.01, 0.01];
        let rule = Adam {
            amsgrad: true,
            ..Adam::default()
        };
        let mut opt = Optimizer::new(rule, 0.01).unwrap();
        let w = crate::Tensor::from_vec(&[1], vec![1.0f64]).unwrap();
        let expected = reference(0.01, &grads, 0.0, true);
        for (g, e) in grads.iter().zip(expected) {
            let g = crate::Tensor::from_vec(&[1], vec![*g]).unwrap();
            opt.apply_gradients(&[(g, w.clone())]).unwrap();
            assert_close(w.to_f64().as_slice().unwrap(), &[e], 1e-12);
        }
    }

    #[test]
    fn adamw_decays_before_the_step() {
        let mut opt = Optimizer::adamw(Adam::default(), 0.01, 0.004).unwrap();
        let steps = run(&mut opt, &[1.0], &[0.3], 3);
        let expected = reference(0.01, &[0.3, 0.3, 0.3], 0.004, false);
        assert_close(&steps[2], &[expected[2]], 1e-12);
    }

    #[test]
    fn beta_of_one_is_rejected() {
        let rule = Adam {
            beta_1: 1.0,
            ..Adam::default()
        };
        assert!(Optimizer::new(rule, 0.01).is_err());
    }
}
