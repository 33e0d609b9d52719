//! Optimizers with Keras 3's update formulas and defaults, each a fused loop over the elements.
//!
//! An [`Optimizer`] holds its hyperparameters as data (an [`Algorithm`] such as [`Adam`] or
//! [`Sgd`], a [`LearningRate`], the weight decay and the [`Clip`] rule), the per-variable state
//! (Keras's "slots": momentums, velocities, accumulators) keyed by [`Tensor::id`], and the step
//! counter `iterations`. [`Optimizer::apply_gradients`] takes `(gradient, variable)` pairs, as
//! Keras's `apply_gradients` does, and updates each variable's data in place.
//!
//! One step runs Keras's `BaseOptimizer.apply` in order:
//! 1. clip the gradients (`clipnorm` per gradient, `global_clipnorm` over all of them, or
//!    `clipvalue` per element);
//! 2. evaluate the learning rate at the current `iterations` (schedules start at step 0);
//! 3. decoupled weight decay `w -= w * weight_decay * lr`, before the update;
//! 4. the optimizer's update rule;
//! 5. `iterations += 1`.
//!
//! Steps 3 and 4 share one pass over each variable's elements.
//!
//! ```
//! use ferrograd::optim::{Adam, Optimizer};
//! use ferrograd::Tensor;
//!
//! let w = Tensor::from_vec(&[2], vec![1.0f64, -1.0]).unwrap();
//! let g = Tensor::from_vec(&[2], vec![0.5f64, -0.5]).unwrap();
//! let mut opt = Optimizer::new(Adam::default(), 0.1).unwrap();
//! opt.apply_gradients(&[(g, w.clone())]).unwrap();
//! // Adam's first step moves each weight by about lr against the sign of its gradient.
//! let w = w.to_f64();
//! assert!((w[0] - 0.9).abs() < 1e-6 && (w[1] + 0.9).abs() < 1e-6);
//! assert_eq!(opt.iterations(), 1);
//! ```

use std::collections::{HashMap, HashSet};

use ndarray::{ArrayViewD, ArrayViewMutD};

use crate::error::{Error, Result};
use crate::tensor::{Array, DType, Element, Storage, Tensor};

/// Runs a fused elementwise update over an `ndarray::Zip`, on the engine's thread pool when the
/// arrays are large enough for threads to pay off.
macro_rules! fused_update {
    ($len:expr, $zip:expr, $body:expr) => {{
        let len: usize = $len;
        let zip = $zip;
        if len >= $crate::threads::PARALLEL_MIN_ELEMENTS {
            $crate::threads::install(|| zip.par_for_each($body));
        } else {
            zip.for_each($body);
        }
    }};
}

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
pub mod clip;
mod config;
mod lion;
mod nadam;
mod rmsprop;
pub mod schedules;
mod sgd;

pub use adadelta::Adadelta;
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamax::Adamax;
pub use clip::{clip_by_global_norm, clip_by_norm, clip_by_value, Clip};
pub use config::OPTIMIZER_CLASSES;
pub use lion::Lion;
pub use nadam::Nadam;
pub use rmsprop::RmsProp;
pub use schedules::{LearningRate, Schedule};
pub use sgd::{Momentum, Sgd};

/// The scalars one step shares across variables.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// The learning rate at this step.
    pub lr: f64,
    /// Keras's `local_step = iterations + 1`.
    pub t: f64,
    /// Nadam's running product of momentum-schedule factors, including this step's.
    pub momentum_product: f64,
}

/// An optimizer's update rule: hyperparameters in, a fused per-element update out.
pub(crate) trait UpdateRule {
    /// The Keras name (`"adam"`, `"sgd"`, ...), used in error messages.
    fn name(&self) -> &'static str;
    /// Checks the hyperparameters.
    fn validate(&self) -> Result<()>;
    /// The per-variable slots this rule keeps, with their initial values, in the order
    /// [`UpdateRule::update`] receives them.
    fn slots(&self) -> Vec<(&'static str, f64)>;
    /// Updates `param` in place from `grad` and the slots. `decay` is `weight_decay * lr` (0 for
    /// none): Keras applies `w -= w * decay` before the rule, which we fuse into the same loop.
    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()>;
}

/// The update rule of an optimizer, with its hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Algorithm {
    Sgd(Sgd),
    RmsProp(RmsProp),
    Adagrad(Adagrad),
    Adadelta(Adadelta),
    Adam(Adam),
    /// Keras's `AdamW`: the Adam rule, with the optimizer's decoupled weight decay (Keras's
    /// default 0.004; see [`Optimizer::adamw`]). Its own variant so that its config is written
    /// back under its class name; its slots and state are Adam's.
    AdamW(Adam),
    Adamax(Adamax),
    Nadam(Nadam),
    Lion(Lion),
}

macro_rules! with_rule {
    ($algorithm:expr, |$rule:ident| $body:expr) => {
        match $algorithm {
            Algorithm::Sgd($rule) => $body,
            Algorithm::RmsProp($rule) => $body,
            Algorithm::Adagrad($rule) => $body,
            Algorithm::Adadelta($rule) => $body,
            Algorithm::Adam($rule) => $body,
            Algorithm::AdamW($rule) => $body,
            Algorithm::Adamax($rule) => $body,
            Algorithm::Nadam($rule) => $body,
            Algorithm::Lion($rule) => $body,
        }
    };
}

macro_rules! algorithm_from {
    ($($rule:ident => $variant:ident),*) => {
        $(impl From<$rule> for Algorithm {
            fn from(rule: $rule) -> Algorithm {
                Algorithm::$variant(rule)
            }
        })*
    };
}

algorithm_from!(Sgd => Sgd, RmsProp => RmsProp, Adagrad => Adagrad, Adadelta => Adadelta,
    Adam => Adam, Adamax => Adamax, Nadam => Nadam, Lion => Lion);

impl Algorithm {
    /// The Keras name of the algorithm.
    pub fn name(&self) -> &'static str {
        with_rule!(self, |rule| rule.name())
    }

    /// Checks the hyperparameters.
    pub fn validate(&self) -> Result<()> {
        with_rule!(self, |rule| rule.validate())
    }

    /// The names of the per-variable slots, in Keras's order.
    pub fn slot_names(&self) -> Vec<&'static str> {
        self.slots().into_iter().map(|(name, _)| name).collect()
    }

    fn slots(&self) -> Vec<(&'static str, f64)> {
        with_rule!(self, |rule| rule.slots())
    }

    fn update<F: Element>(
        &self,
        step: &Step,
        decay: F,
        param: ArrayViewMutD<'_, F>,
        grad: ArrayViewD<'_, F>,
        slots: Vec<ArrayViewMutD<'_, F>>,
    ) -> Result<()> {
        with_rule!(self, |rule| rule.update(step, decay, param, grad, slots))
    }
}

/// Splits the slot views into exactly `N`, or reports an internal inconsistency.
pub(crate) fn take_slots<'a, F, const N: usize>(
    name: &'static str,
    slots: Vec<ArrayViewMutD<'a, F>>,
) -> Result<[ArrayViewMutD<'a, F>; N]> {
    let count = slots.len();
    slots.try_into().map_err(|_| {
        Error::argument(
            name,
            format!("internal error: expected {N} optimizer slots, found {count}"),
        )
    })
}

/// Checks that a hyperparameter lies in `[low, high]` (and is not NaN).
pub(crate) fn check_range(
    op: &'static str,
    what: &str,
    value: f64,
    low: f64,
    high: f64,
) -> Result<()> {
    if !(low..=high).contains(&value) {
        return Err(Error::argument(
            op,
            format!("`{what}` must be in [{low}, {high}], got {value}"),
        ));
    }
    Ok(())
}

/// Checks that a hyperparameter is finite and not negative.
pub(crate) fn check_non_negative(op: &'static str, what: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::argument(
            op,
            format!("`{what}` must be a non-negative number, got {value}"),
        ));
    }
    Ok(())
}

/// Keras's optimizer: an update rule, a learning rate (constant or scheduled), optional
/// decoupled weight decay and gradient clipping, per-variable slots and the step count.
#[derive(Debug, Clone)]
pub struct Optimizer {
    algorithm: Algorithm,
    learning_rate: LearningRate,
    weight_decay: Option<f64>,
    clip: Clip,
    iterations: u64,
    /// Slots of each variable seen so far, keyed by the variable's id.
    slots: HashMap<u64, Vec<Storage>>,
    /// Variables that weight decay skips (Keras's `exclude_from_weight_decay`).
    no_decay: HashSet<u64>,
    /// Nadam's product of momentum-schedule factors (1 before the first step).
    momentum_product: f64,
}

impl Optimizer {
    /// An optimizer with no weight decay and no clipping.
    pub fn new(
        algorithm: impl Into<Algorithm>,
        learning_rate: impl Into<LearningRate>,
    ) -> Result<Self> {
        let algorithm = algorithm.into();
        algorithm.validate()?;
        let learning_rate = learning_rate.into();
        learning_rate.validate()?;
        Ok(Optimizer {
            algorithm,
            learning_rate,
            weight_decay: None,
            clip: Clip::None,
            iterations: 0,
            slots: HashMap::new(),
            no_decay: HashSet::new(),
            momentum_product: 1.0,
        })
    }

    /// Keras's `AdamW`: Adam with decoupled weight decay (Keras's default is 0.004).
    pub fn adamw(
        adam: Adam,
        learning_rate: impl Into<LearningRate>,
        weight_decay: f64,
    ) -> Result<Self> {
        Optimizer::new(Algorithm::AdamW(adam), learning_rate)?.with_weight_decay(Some(weight_decay))
    }

    /// Sets the decoupled weight decay (`None` for none).
    pub fn with_weight_decay(mut self, weight_decay: Option<f64>) -> Result<Self> {
        if let Some(wd) = weight_decay {
            check_non_negative("optimizer", "weight_decay", wd)?;
        }
        self.weight_decay = weight_decay;
        Ok(self)
    }

    /// Sets the gradient clipping rule.
    pub fn with_clip(mut self, clip: Clip) -> Result<Self> {
        clip.validate()?;
        self.clip = clip;
        Ok(self)
    }

    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    pub fn weight_decay(&self) -> Option<f64> {
        self.weight_decay
    }

    pub fn clip(&self) -> Clip {
        self.clip
    }

    /// The number of steps applied so far.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Sets the step count (restoring a checkpoint; schedules follow it).
    pub fn set_iterations(&mut self, iterations: u64) {
        self.iterations = iterations;
    }

    /// The learning rate as configured (a constant or a schedule).
    pub fn learning_rate(&self) -> &LearningRate {
        &self.learning_rate
    }

    /// Replaces the learning rate (a constant or a schedule).
    pub fn set_learning_rate(&mut self, learning_rate: impl Into<LearningRate>) -> Result<()> {
        let learning_rate = learning_rate.into();
        learning_rate.validate()?;
        self.learning_rate = learning_rate;
        Ok(())
    }

    /// The learning rate the next step will use.
    pub fn current_learning_rate(&self) -> f64 {
        self.learning_rate.at(self.iterations)
    }

    /// Keeps weight decay off `variable` (Keras's `exclude_from_weight_decay`).
    pub fn exclude_from_weight_decay(&mut self, variable: &Tensor) {
        self.no_decay.insert(variable.id());
    }

    /// The names of the per-variable slots, in Keras's order.
    pub fn slot_names(&self) -> Vec<&'static str> {
        self.algorithm.slot_names()
    }

    /// A copy of the slot `name` of `variable`, once a step has created it.
    pub fn slot(&self, variable: &Tensor, name: &str) -> Option<Tensor> {
        let index = self.slot_names().iter().position(|n| *n == name)?;
        let slots = self.slots.get(&variable.id())?;
        Some(Tensor::from_storage(slots.get(index)?.clone(), false))
    }

    /// Restores the slots of `variable` (in [`Optimizer::slot_names`] order), as saved from an
    /// optimizer of the same kind: a loaded model then continues training where it stopped.
    /// Each slot must have the variable's shape; it is cast to the variable's dtype.
    pub fn set_slots(&mut self, variable: &Tensor, slots: Vec<Storage>) -> Result<()> {
        let names = self.slot_names();
        if slots.len() != names.len() {
            return Err(Error::argument(
                "set_slots",
                format!(
                    "{} keeps {} slot(s) per variable ({}), got {}",
                    self.algorithm.name(),
                    names.len(),
                    names.join(", "),
                    slots.len()
                ),
            ));
        }
        let shape = variable.shape();
        for (name, slot) in names.iter().zip(&slots) {
            if slot.shape() != shape.as_slice() {
                return Err(Error::shape(
                    "set_slots",
                    format!(
                        "slot '{name}' has shape {:?} but its variable has shape {shape:?}",
                        slot.shape()
                    ),
                ));
            }
        }
        let dtype = variable.dtype();
        let slots = slots.into_iter().map(|s| s.cast(dtype)).collect();
        self.slots.insert(variable.id(), slots);
        Ok(())
    }

    /// Nadam's running product of momentum factors (1 for the other algorithms); saved with
    /// the optimizer's state because it depends on the whole history of steps.
    pub fn momentum_product(&self) -> f64 {
        self.momentum_product
    }

    pub fn set_momentum_product(&mut self, value: f64) {
        self.momentum_product = value;
    }

    /// Applies one step to `(gradient, variable)` pairs (Keras's order). Gradients are cast to
    /// their variable's dtype; a gradient whose shape differs from its variable's is an error,
    /// reported before any variable changes.
    pub fn apply_gradients(&mut self, pairs: &[(Tensor, Tensor)]) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        for (i, (grad, variable)) in pairs.iter().enumerate() {
            let (grad_shape, var_shape) = (grad.shape(), variable.shape());
            if grad_shape != var_shape {
                return Err(Error::shape(
                    "apply_gradients",
                    format!(
                        "the gradient of variable {i} has shape {grad_shape:?}, but the variable \
                         has shape {var_shape:?}"
                    ),
                ));
            }
            if let Some(slots) = self.slots.get(&variable.id()) {
                if slots.iter().any(|s| s.shape() != var_shape.as_slice()) {
                    return Err(Error::shape(
                        "apply_gradients",
                        format!("variable {i} changed shape since the optimizer last updated it"),
                    ));
                }
            }
        }
        let grads: Vec<Storage> = pairs
            .iter()
            .map(|(grad, variable)| grad.storage().cast(variable.dtype()))
            .collect();
        let grads = clip::clip_storages(self.clip, grads);

        let lr = self.learning_rate.at(self.iterations);
        let t = (self.iterations + 1) as f64;
        if let Algorithm::Nadam(nadam) = &self.algorithm {
            self.momentum_product *= nadam.momentum_factor(t);
        }
        let step = Step {
            lr,
            t,
            momentum_product: self.momentum_product,
        };
        for ((_, variable), grad) in pairs.iter().zip(&grads) {
            let decay = match self.weight_decay {
                Some(wd) if !self.no_decay.contains(&variable.id()) => wd * lr,
                _ => 0.0,
            };
            match variable.dtype() {
                DType::F32 => self.update_variable::<f32>(&step, decay, variable, grad)?,
                DType::F64 => self.update_variable::<f64>(&step, decay, variable, grad)?,
            }
        }
        self.iterations += 1;
        Ok(())
    }

    fn update_variable<F: Element>(
        &mut self,
        step: &Step,
        decay: f64,
        variable: &Tensor,
        grad: &Storage,
    ) -> Result<()> {
        let shape = variable.shape();
        let dtype = variable.dtype();
        let algorithm = &self.algorithm;
        let stored = self.slots.entry(variable.id()).or_insert_with(|| {
            algorithm
                .slots()
                .into_iter()
                .map(|(_, initial)| Storage::full(&shape, initial, dtype))
                .collect()
        });
        // Take the slot arrays out so that the update owns them uniquely (no copy on write).
        let mut slots: Vec<Array<F>> = Vec::with_capacity(stored.len());
        for slot in stored.iter_mut() {
            let owned = std::mem::replace(slot, Storage::zeros(&[], dtype));
            slots.push(F::unwrap_owned(owned).map_err(|s| {
                Error::dtype(
                    "apply_gradients",
                    format!("optimizer slot is {}, variable is {}", s.dtype(), F::DTYPE),
                )
            })?);
        }
        let grad = grad.typed::<F>("apply_gradients")?;
        let mut outcome = Ok(());
        variable.update_in_place::<F>(|param| {
            let views = slots.iter_mut().map(|s| s.view_mut()).collect();
            outcome = algorithm.update(step, F::lit(decay), param.view_mut(), grad.view(), views);
        })?;
        for (slot, array) in stored.iter_mut().zip(slots) {
            *slot = F::wrap(array);
        }
        outcome
    }
}

/// Keras's `ops.sign`: 0 at 0 (unlike `f64::signum`), NaN stays NaN.
#[inline(always)]
pub(crate) fn sign<F: Element>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        x
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Runs `steps` steps of `opt` on a float64 variable with a fixed gradient; returns the
    /// variable's values after each step.
    pub fn run(opt: &mut Optimizer, init: &[f64], grad: &[f64], steps: usize) -> Vec<Vec<f64>> {
        let w = Tensor::from_vec(&[init.len()], init.to_vec()).unwrap();
        let g = Tensor::from_vec(&[grad.len()], grad.to_vec()).unwrap();
        (0..steps)
            .map(|_| {
                opt.apply_gradients(&[(g.clone(), w.clone())]).unwrap();
                w.to_f64().iter().copied().collect()
            })
            .collect()
    }

    pub fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                (a - e).abs() <= tol * (1.0 + e.abs()),
                "{actual:?} != {expected:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn gradient_shape_mismatch_is_an_error_naming_both_shapes() {
        let mut opt = Optimizer::new(Sgd::default(), 0.1).unwrap();
        let w = Tensor::from_vec(&[2], vec![1.0f64, 2.0]).unwrap();
        let g = Tensor::from_vec(&[3], vec![1.0f64, 2.0, 3.0]).unwrap();
        let err = opt.apply_gradients(&[(g, w.clone())]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("[3]") && message.contains("[2]"),
            "{message}"
        );
        assert_eq!(opt.iterations(), 0);
        assert_eq!(w.to_f64().as_slice().unwrap(), &[1.0, 2.0]);
    }

    #[test]
    fn negative_learning_rate_is_rejected() {
        assert!(Optimizer::new(Adam::default(), -0.1).is_err());
        let mut opt = Optimizer::new(Adam::default(), 0.1).unwrap();
        assert!(opt.set_learning_rate(-1.0).is_err());
        assert!(Optimizer::new(Sgd::default(), 0.1)
            .unwrap()
            .with_weight_decay(Some(-0.1))
            .is_err());
    }

    #[test]
    fn weight_decay_is_applied_before_the_update() {
        // Keras: w <- w - w * wd * lr, then the SGD step w <- w - lr * g.
        // w = 2, wd = 0.5, lr = 0.1, g = 1: 2 - 2*0.05 = 1.9, then 1.9 - 0.1 = 1.8.
        let mut opt = Optimizer::new(Sgd::default(), 0.1)
            .unwrap()
            .with_weight_decay(Some(0.5))
            .unwrap();
        let steps = run(&mut opt, &[2.0], &[1.0], 2);
        assert_close(&steps[0], &[1.8], 1e-12);
        // 1.8 - 1.8*0.05 - 0.1 = 1.61
        assert_close(&steps[1], &[1.61], 1e-12);
    }

    #[test]
    fn excluded_variables_are_not_decayed() {
        let mut opt = Optimizer::new(Sgd::default(), 0.1)
            .unwrap()
            .with_weight_decay(Some(0.5))
            .unwrap();
        let w = Tensor::from_vec(&[1], vec![2.0f64]).unwrap();
        opt.exclude_from_weight_decay(&w);
        let g = Tensor::from_vec(&[1], vec![1.0f64]).unwrap();
        opt.apply_gradients(&[(g, w.clone())]).unwrap();
        assert_close(w.to_f64().as_slice().unwrap(), &[1.9], 1e-12);
    }

    #[test]
    fn float32_variables_and_float64_gradients() {
        let mut opt = Optimizer::new(Sgd::default(), 0.5).unwrap();
        let w = Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap();
        let g = Tensor::from_vec(&[2], vec![1.0f64, -1.0]).unwrap();
        opt.apply_gradients(&[(g, w.clone())]).unwrap();
        assert_eq!(w.dtype(), DType::F32);
        assert_eq!(w.to_f64().as_slice().unwrap(), &[0.5, 2.5]);
    }

    #[test]
    fn schedule_is_evaluated_at_the_iteration_count() {
        // ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5): lr = 1, 0.5, 0.25 at steps 0, 1, 2.
        // SGD with g = 1 moves w by -1, -0.5, -0.25.
        let schedule = Schedule::ExponentialDecay {
            initial_learning_rate: 1.0,
            decay_steps: 1.0,
            decay_rate: 0.5,
            staircase: false,
        };
        let mut opt = Optimizer::new(Sgd::default(), schedule).unwrap();
        let steps = run(&mut opt, &[0.0], &[1.0], 3);
        assert_close(&steps[2], &[-1.75], 1e-12);
        assert_close(&[opt.current_learning_rate()], &[0.125], 1e-12);
    }

    #[test]
    fn slots_are_kept_per_variable() {
        let mut opt = Optimizer::new(Adagrad::default(), 0.1).unwrap();
        let w = Tensor::from_vec(&[1], vec![0.0f64]).unwrap();
        let g = Tensor::from_vec(&[1], vec![2.0f64]).unwrap();
        opt.apply_gradients(&[(g, w.clone())]).unwrap();
        // accumulator = 0.1 + 2^2
        let acc = opt.slot(&w, "accumulator").unwrap();
        assert_close(acc.to_f64().as_slice().unwrap(), &[4.1], 1e-12);
        assert!(opt.slot(&w, "nope").is_none());
    }

    #[test]
    fn large_variables_take_the_parallel_path_with_the_same_result() {
        // Above PARALLEL_MIN_ELEMENTS the fused loop runs on the pool; every element must still
        // get the serial result (one RMSprop step with momentum and centering from w = 1, g = 1:
        // v = 0.1, a = 0.1, increment = 0.1 / sqrt(0.1 - 0.01 + 1e-7), m = increment).
        let n = crate::threads::PARALLEL_MIN_ELEMENTS + 7;
        let rule = RmsProp {
            momentum: 0.5,
            centered: true,
            ..RmsProp::default()
        };
        let mut opt = Optimizer::new(rule, 0.1).unwrap();
        let steps = run(&mut opt, &vec![1.0; n], &vec![1.0; n], 1);
        let expected = 1.0 - 0.1 / (0.1f64 - 0.01 + 1e-7).sqrt();
        assert_close(&steps[0], &vec![expected; n], 1e-12);
    }

    #[test]
    fn sign_is_zero_at_zero() {
        assert_eq!(sign(0.0f64), 0.0);
        assert_eq!(sign(-3.0f32), -1.0);
        assert_eq!(sign(2.0f64), 1.0);
    }
}
