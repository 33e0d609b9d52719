//! Learning-rate schedules with Keras's formulas
//! (keras/src/optimizers/schedules/learning_rate_schedule.py), evaluated at the optimizer's
//! `iterations` before each step, so the first step sees step 0.

use std::f64::consts::PI;

use serde_json::{json, Map, Value};

use crate::config::{deserialize, object, serialize, short, Config, KerasObject};
use crate::error::{Error, Result};

/// An optimizer's learning rate: a constant or a schedule of the step count.
#[derive(Debug, Clone, PartialEq)]
pub enum LearningRate {
    Constant(f64),
    Schedule(Schedule),
}

impl From<f64> for LearningRate {
    fn from(value: f64) -> Self {
        LearningRate::Constant(value)
    }
}

impl From<Schedule> for LearningRate {
    fn from(schedule: Schedule) -> Self {
        LearningRate::Schedule(schedule)
    }
}

impl LearningRate {
    /// The learning rate at `step` (0 for the first update).
    pub fn at(&self, step: u64) -> f64 {
        match self {
            LearningRate::Constant(value) => *value,
            LearningRate::Schedule(schedule) => schedule.at(step),
        }
    }

    /// A constant must be finite and non-negative; a schedule must be well formed.
    pub fn validate(&self) -> Result<()> {
        match self {
            LearningRate::Constant(value) => check_rate("learning_rate", *value),
            LearningRate::Schedule(schedule) => schedule.validate(),
        }
    }
}

/// Keras's built-in learning-rate schedules, with its argument names.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `initial * decay_rate ^ (step / decay_steps)` (the exponent floored with `staircase`).
    ExponentialDecay {
        initial_learning_rate: f64,
        decay_steps: f64,
        decay_rate: f64,
        staircase: bool,
    },
    /// `initial / (1 + decay_rate * step / decay_steps)` (the ratio floored with `staircase`).
    InverseTimeDecay {
        initial_learning_rate: f64,
        decay_steps: f64,
        decay_rate: f64,
        staircase: bool,
    },
    /// `values[0]` while `step <= boundaries[0]`, `values[i]` while
    /// `boundaries[i-1] < step <= boundaries[i]`, `values[last]` after the last boundary.
    PiecewiseConstantDecay {
        boundaries: Vec<f64>,
        values: Vec<f64>,
    },
    /// `(initial - end) * (1 - step / decay_steps) ^ power + end`, with `step` capped at
    /// `decay_steps`, or with `cycle` `decay_steps` stretched to the next multiple past `step`.
    PolynomialDecay {
        initial_learning_rate: f64,
        decay_steps: f64,
        end_learning_rate: f64,
        power: f64,
        cycle: bool,
    },
    /// Optional linear warmup from `initial` to `warmup_target` over `warmup_steps`, then
    /// `from * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)`, `s` capped at
    /// `decay_steps`, `from` the warmup target (or `initial` without warmup).
    CosineDecay {
        initial_learning_rate: f64,
        decay_steps: f64,
        alpha: f64,
        warmup_target: Option<f64>,
        warmup_steps: f64,
    },
    /// SGDR: cosine decay restarted after `first_decay_steps`, each period `t_mul` times longer
    /// and starting `m_mul` times lower.
    CosineDecayRestarts {
        initial_learning_rate: f64,
        first_decay_steps: f64,
        t_mul: f64,
        m_mul: f64,
        alpha: f64,
    },
}

fn check_rate(what: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::argument(
            "learning_rate",
            format!("`{what}` must be a non-negative number, got {value}"),
        ));
    }
    Ok(())
}

fn check_steps(what: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::argument(
            "learning_rate",
            format!("`{what}` must be > 0, got {value}"),
        ));
    }
    Ok(())
}

impl Schedule {
    /// The Keras class name.
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::ExponentialDecay { .. } => "ExponentialDecay",
            Schedule::InverseTimeDecay { .. } => "InverseTimeDecay",
            Schedule::PiecewiseConstantDecay { .. } => "PiecewiseConstantDecay",
            Schedule::PolynomialDecay { .. } => "PolynomialDecay",
            Schedule::CosineDecay { .. } => "CosineDecay",
            Schedule::CosineDecayRestarts { .. } => "CosineDecayRestarts",
        }
    }

    /// Checks the arguments as Keras does (positive decay steps, matching piecewise lengths),
    /// and that every rate is finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        match self {
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            }
            | Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            } => {
                check_rate("initial_learning_rate", *initial_learning_rate)?;
                check_steps("decay_steps", *decay_steps)?;
                check_rate("decay_rate", *decay_rate)
            }
            Schedule::PiecewiseConstantDecay { boundaries, values } => {
                if boundaries.len() + 1 != values.len() {
                    return Err(Error::argument(
                        "PiecewiseConstantDecay",
                        format!(
                            "the length of boundaries should be 1 less than the length of \
                             values; got {} boundaries and {} values",
                            boundaries.len(),
                            values.len()
                        ),
                    ));
                }
                if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::argument(
                        "PiecewiseConstantDecay",
                        format!("boundaries must be strictly increasing, got {boundaries:?}"),
                    ));
                }
                values.iter().try_for_each(|v| check_rate("values", *v))
            }
            Schedule::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                ..
            } => {
                check_rate("initial_learning_rate", *initial_learning_rate)?;
                check_steps("decay_steps", *decay_steps)?;
                check_rate("end_learning_rate", *end_learning_rate)?;
                check_rate("power", *power)
            }
            Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => {
                check_rate("initial_learning_rate", *initial_learning_rate)?;
                check_steps("decay_steps", *decay_steps)?;
                check_rate("alpha", *alpha)?;
                if let Some(target) = warmup_target {
                    check_rate("warmup_target", *target)?;
                    if *warmup_steps > 0.0 {
                        check_steps("warmup_steps", *warmup_steps)?;
                    }
                }
                check_rate("warmup_steps", *warmup_steps)
            }
            Schedule::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => {
                check_rate("initial_learning_rate", *initial_learning_rate)?;
                check_steps("first_decay_steps", *first_decay_steps)?;
                check_steps("t_mul", *t_mul)?;
                check_rate("m_mul", *m_mul)?;
                check_rate("alpha", *alpha)
            }
        }
    }

    /// The learning rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        let step = step as f64;
        match self {
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = step / decay_steps;
                if *staircase {
                    p = p.floor();
                }
                initial_learning_rate * decay_rate.powf(p)
            }
            Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = step / decay_steps;
                if *staircase {
                    p = p.floor();
                }
                initial_learning_rate / (1.0 + decay_rate * p)
            }
            Schedule::PiecewiseConstantDecay { boundaries, values } => {
                let index = boundaries.iter().take_while(|&&b| step > b).count();
                values[index]
            }
            Schedule::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                cycle,
            } => {
                let (step, decay_steps) = if *cycle {
                    let multiplier = if step == 0.0 {
                        1.0
                    } else {
                        (step / decay_steps).ceil()
                    };
                    (step, decay_steps * multiplier)
                } else {
                    (step.min(*decay_steps), *decay_steps)
                };
                let p = step / decay_steps;
                (initial_learning_rate - end_learning_rate) * (1.0 - p).powf(*power)
                    + end_learning_rate
            }
            Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => {
                let cosine = |s: f64, from: f64| {
                    let decayed = 0.5 * (1.0 + (PI * s / decay_steps).cos());
                    from * ((1.0 - alpha) * decayed + alpha)
                };
                match warmup_target {
                    None => cosine(step.min(*decay_steps), *initial_learning_rate),
                    Some(target) => {
                        let step = step.min(decay_steps + warmup_steps);
                        if step < *warmup_steps {
                            (target - initial_learning_rate) * (step / warmup_steps)
                                + initial_learning_rate
                        } else {
                            cosine(step - warmup_steps, *target)
                        }
                    }
                }
            }
            Schedule::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => {
                let fraction = step / first_decay_steps;
                let (restart, fraction) = if *t_mul == 1.0 {
                    let restart = fraction.floor();
                    (restart, fraction - restart)
                } else {
                    // Periods 1, t, t^2, ...: restart i begins at (1 - t^i) / (1 - t).
                    let restart = ((1.0 - fraction * (1.0 - t_mul)).ln() / t_mul.ln()).floor();
                    let elapsed = (1.0 - t_mul.powf(restart)) / (1.0 - t_mul);
                    (restart, (fraction - elapsed) / t_mul.powf(restart))
                };
                let cosine = 0.5 * m_mul.powf(restart) * (1.0 + (PI * fraction).cos());
                initial_learning_rate * ((1.0 - alpha) * cosine + alpha)
            }
        }
    }
}

impl LearningRate {
    /// Keras's `learning_rate` argument: a number, or a serialized schedule (`"module"`,
    /// `"class_name"`, `"config"`), checked.
    pub fn from_value(value: &Value) -> Result<LearningRate> {
        let learning_rate = match value {
            Value::Object(_) => LearningRate::Schedule(deserialize::<Schedule>(value)?),
            other => LearningRate::Constant(other.as_f64().ok_or_else(|| {
                Error::Format(format!(
                    "`learning_rate` must be a number or a serialized learning-rate schedule, \
                     got {}",
                    short(other)
                ))
            })?),
        };
        learning_rate.validate()?;
        Ok(learning_rate)
    }

    /// The value Keras's optimizer config holds: the number, or the serialized schedule.
    pub fn to_value(&self) -> Value {
        match self {
            LearningRate::Constant(value) => json!(value),
            LearningRate::Schedule(schedule) => serialize(schedule),
        }
    }
}

/// Keras's class names, argument names and defaults
/// (`keras/src/optimizers/schedules/learning_rate_schedule.py`); the arguments without a
/// default there (`initial_learning_rate`, `decay_steps`, ...) are required.
impl KerasObject for Schedule {
    const MODULE: &'static str = "keras.optimizers.schedules";

    fn class_name(&self) -> &'static str {
        self.name()
    }

    fn to_config(&self) -> Map<String, Value> {
        let mut config = match self {
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            }
            | Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => object([
                ("initial_learning_rate", json!(initial_learning_rate)),
                ("decay_steps", json!(decay_steps)),
                ("decay_rate", json!(decay_rate)),
                ("staircase", json!(staircase)),
            ]),
            Schedule::PiecewiseConstantDecay { boundaries, values } => {
                object([("boundaries", json!(boundaries)), ("values", json!(values))])
            }
            Schedule::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                cycle,
            } => object([
                ("initial_learning_rate", json!(initial_learning_rate)),
                ("decay_steps", json!(decay_steps)),
                ("end_learning_rate", json!(end_learning_rate)),
                ("power", json!(power)),
                ("cycle", json!(cycle)),
            ]),
            Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => object([
                ("initial_learning_rate", json!(initial_learning_rate)),
                ("decay_steps", json!(decay_steps)),
                ("alpha", json!(alpha)),
                ("warmup_target", json!(warmup_target)),
                ("warmup_steps", json!(warmup_steps)),
            ]),
            Schedule::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => object([
                ("initial_learning_rate", json!(initial_learning_rate)),
                ("first_decay_steps", json!(first_decay_steps)),
                ("t_mul", json!(t_mul)),
                ("m_mul", json!(m_mul)),
                ("alpha", json!(alpha)),
            ]),
        };
        config.insert("name".to_string(), json!(self.name()));
        config
    }

    fn from_config(class_name: &str, c: &Config<'_>) -> Result<Schedule> {
        let schedule = match class_name {
            "ExponentialDecay" => Schedule::ExponentialDecay {
                initial_learning_rate: c.f64("initial_learning_rate")?,
                decay_steps: c.f64("decay_steps")?,
                decay_rate: c.f64("decay_rate")?,
                staircase: c.bool_or("staircase", false)?,
            },
            "InverseTimeDecay" => Schedule::InverseTimeDecay {
                initial_learning_rate: c.f64("initial_learning_rate")?,
                decay_steps: c.f64("decay_steps")?,
                decay_rate: c.f64("decay_rate")?,
                staircase: c.bool_or("staircase", false)?,
            },
            "PiecewiseConstantDecay" => Schedule::PiecewiseConstantDecay {
                boundaries: c.f64s("boundaries")?,
                values: c.f64s("values")?,
            },
            "PolynomialDecay" => Schedule::PolynomialDecay {
                initial_learning_rate: c.f64("initial_learning_rate")?,
                decay_steps: c.f64("decay_steps")?,
                end_learning_rate: c.f64_or("end_learning_rate", 0.0001)?,
                power: c.f64_or("power", 1.0)?,
                cycle: c.bool_or("cycle", false)?,
            },
            "CosineDecay" => Schedule::CosineDecay {
                initial_learning_rate: c.f64("initial_learning_rate")?,
                decay_steps: c.f64("decay_steps")?,
                alpha: c.f64_or("alpha", 0.0)?,
                warmup_target: c.opt_f64("warmup_target")?,
                warmup_steps: c.f64_or("warmup_steps", 0.0)?,
            },
            "CosineDecayRestarts" => Schedule::CosineDecayRestarts {
                initial_learning_rate: c.f64("initial_learning_rate")?,
                first_decay_steps: c.f64("first_decay_steps")?,
                t_mul: c.f64_or("t_mul", 2.0)?,
                m_mul: c.f64_or("m_mul", 1.0)?,
                alpha: c.f64_or("alpha", 0.0)?,
            },
            other => {
                return Err(Error::Format(format!(
                    "unknown learning-rate schedule '{other}'; valid classes are {:?}",
                    Schedule::CLASS_NAMES
                )))
            }
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

impl Schedule {
    /// The class names [`Schedule::from_config`] reads.
    pub const CLASS_NAMES: [&'static str; 6] = [
        "ExponentialDecay",
        "InverseTimeDecay",
        "PiecewiseConstantDecay",
        "PolynomialDecay",
        "CosineDecay",
        "CosineDecayRestarts",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn exponential_decay() {
        let s = Schedule::ExponentialDecay {
            initial_learning_rate: 0.1,
            decay_steps: 10.0,
            decay_rate: 0.5,
            staircase: false,
        };
        close(s.at(0), 0.1);
        close(s.at(10), 0.05);
        close(s.at(5), 0.1 * 0.5f64.sqrt());
        let stairs = Schedule::ExponentialDecay {
            initial_learning_rate: 0.1,
            decay_steps: 10.0,
            decay_rate: 0.5,
            staircase: true,
        };
        close(stairs.at(9), 0.1);
        close(stairs.at(25), 0.025);
    }

    #[test]
    fn inverse_time_decay() {
        let s = Schedule::InverseTimeDecay {
            initial_learning_rate: 1.0,
            decay_steps: 2.0,
            decay_rate: 0.5,
            staircase: false,
        };
        close(s.at(2), 1.0 / 1.5);
        close(s.at(3), 1.0 / 1.75);
    }

    #[test]
    fn piecewise_constant_includes_the_boundary_in_the_lower_piece() {
        let s = Schedule::PiecewiseConstantDecay {
            boundaries: vec![2.0, 5.0],
            values: vec![1.0, 0.5, 0.1],
        };
        let got: Vec<f64> = (0..8).map(|t| s.at(t)).collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.1, 0.1]);
        let bad = Schedule::PiecewiseConstantDecay {
            boundaries: vec![2.0],
            values: vec![1.0],
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn polynomial_decay() {
        let s = Schedule::PolynomialDecay {
            initial_learning_rate: 1.0,
            decay_steps: 4.0,
            end_learning_rate: 0.0,
            power: 2.0,
            cycle: false,
        };
        close(s.at(2), 0.25);
        close(s.at(10), 0.0);
        let cyc = Schedule::PolynomialDecay {
            initial_learning_rate: 1.0,
            decay_steps: 4.0,
            end_learning_rate: 0.0,
            power: 1.0,
            cycle: true,
        };
        // step 6: decay_steps becomes 8, p = 0.75.
        close(cyc.at(6), 0.25);
        close(cyc.at(0), 1.0);
    }

    #[test]
    fn cosine_decay_with_warmup() {
        let s = Schedule::CosineDecay {
            initial_learning_rate: 0.0,
            decay_steps: 10.0,
            alpha: 0.1,
            warmup_target: Some(1.0),
            warmup_steps: 4.0,
        };
        close(s.at(2), 0.5);
        close(s.at(4), 1.0);
        // halfway through the decay: 0.9 * 0.5 + 0.1
        close(s.at(9), 0.55);
        close(s.at(100), 0.1);
    }

    #[test]
    fn cosine_decay_restarts() {
        let s = Schedule::CosineDecayRestarts {
            initial_learning_rate: 1.0,
            first_decay_steps: 10.0,
            t_mul: 2.0,
            m_mul: 0.5,
            alpha: 0.0,
        };
        close(s.at(0), 1.0);
        close(s.at(5), 0.5);
        // restart 1 begins at step 10 with half the rate, lasting 20 steps.
        close(s.at(10), 0.5);
        close(s.at(20), 0.25);
        let even = Schedule::CosineDecayRestarts {
            initial_learning_rate: 1.0,
            first_decay_steps: 4.0,
            t_mul: 1.0,
            m_mul: 1.0,
            alpha: 0.0,
        };
        close(even.at(6), 0.5);
    }
}
