//! Keras's optimizer config (`keras/src/optimizers/base_optimizer.py`, `get_config`): the
//! update rule's hyperparameters (read by each rule's own `from_config`, beside its update),
//! `learning_rate` (a number or a serialized schedule), `weight_decay` and the clipping keys.
//!
//! Keras also writes `name`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
//! `loss_scale_factor` and `gradient_accumulation_steps`. The engine keeps no name; the others
//! are read only to refuse what it would not reproduce: `use_ema: true` (weight moving averages)
//! and `gradient_accumulation_steps` above 1. `loss_scale_factor` is accepted and ignored: Keras
//! multiplies the loss by it and divides the gradients back before the update, which leaves the
//! update unchanged (it only guards float16 gradients from underflow, which the engine does not
//! compute in).
//!
//! ```
//! use ferrograd::config::{deserialize, serialize};
//! use ferrograd::optim::{Clip, Optimizer};
//! use serde_json::json;
//!
//! let opt: Optimizer = deserialize(&json!({
//!     "class_name": "RMSprop",
//!     "config": {"learning_rate": 0.01, "momentum": 0.5, "clipnorm": 1.0},
//! }))
//! .unwrap();
//! assert_eq!(opt.clip(), Clip::ByNorm(1.0));
//! assert_eq!(serialize(&opt)["config"]["rho"], 0.9);
//! ```

use serde_json::{json, Map, Value};

use super::{
    Adadelta, Adagrad, Adam, Adamax, Algorithm, Clip, LearningRate, Lion, Nadam, Optimizer,
    RmsProp, Sgd,
};
use crate::config::{Config, KerasObject};
use crate::error::{Error, Result};

/// Keras's optimizer classes the engine runs.
pub const OPTIMIZER_CLASSES: [&str; 9] = [
    "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "Lion",
];

/// Keras's `AdamW(weight_decay=0.004)` default.
const ADAMW_WEIGHT_DECAY: f64 = 0.004;

fn unknown_class(name: &str) -> Error {
    Error::Format(format!(
        "unknown optimizer '{name}'; valid optimizers are {OPTIMIZER_CLASSES:?} (or their lower-case names)"
    ))
}

/// The class a name stands for: a class name, or Keras's lower-case string shortcut
/// (`"adam"`, `"sgd"`, `"rmsprop"`, ...).
fn class_of(name: &str) -> Result<&'static str> {
    OPTIMIZER_CLASSES
        .into_iter()
        .find(|class| *class == name || class.to_ascii_lowercase() == name)
        .ok_or_else(|| unknown_class(name))
}

impl Algorithm {
    /// Keras's default learning rate of the class.
    pub fn default_learning_rate(&self) -> f64 {
        match self {
            Algorithm::Sgd(_) => Sgd::LEARNING_RATE,
            Algorithm::RmsProp(_) => RmsProp::LEARNING_RATE,
            Algorithm::Adagrad(_) => Adagrad::LEARNING_RATE,
            Algorithm::Adadelta(_) => Adadelta::LEARNING_RATE,
            Algorithm::Adam(_) | Algorithm::AdamW(_) => Adam::LEARNING_RATE,
            Algorithm::Adamax(_) => Adamax::LEARNING_RATE,
            Algorithm::Nadam(_) => Nadam::LEARNING_RATE,
            Algorithm::Lion(_) => Lion::LEARNING_RATE,
        }
    }

    /// The name a Keras optimizer of this class gets by default (`"SGD"`, `"adam"`, ...).
    fn default_name(&self) -> &'static str {
        match self {
            Algorithm::Sgd(_) => "SGD",
            Algorithm::RmsProp(_) => "rmsprop",
            Algorithm::Adagrad(_) => "adagrad",
            Algorithm::Adadelta(_) => "adadelta",
            Algorithm::Adam(_) => "adam",
            Algorithm::AdamW(_) => "adamw",
            Algorithm::Adamax(_) => "adamax",
            Algorithm::Nadam(_) => "nadam",
            Algorithm::Lion(_) => "lion",
        }
    }
}

/// The update rule alone: its class and hyperparameters.
impl KerasObject for Algorithm {
    const MODULE: &'static str = "keras.optimizers";

    fn class_name(&self) -> &'static str {
        match self {
            Algorithm::Sgd(_) => "SGD",
            Algorithm::RmsProp(_) => "RMSprop",
            Algorithm::Adagrad(_) => "Adagrad",
            Algorithm::Adadelta(_) => "Adadelta",
            Algorithm::Adam(_) => "Adam",
            Algorithm::AdamW(_) => "AdamW",
            Algorithm::Adamax(_) => "Adamax",
            Algorithm::Nadam(_) => "Nadam",
            Algorithm::Lion(_) => "Lion",
        }
    }

    fn to_config(&self) -> Map<String, Value> {
        match self {
            Algorithm::Sgd(rule) => rule.to_config(),
            Algorithm::RmsProp(rule) => rule.to_config(),
            Algorithm::Adagrad(rule) => rule.to_config(),
            Algorithm::Adadelta(rule) => rule.to_config(),
            Algorithm::Adam(rule) | Algorithm::AdamW(rule) => rule.to_config(),
            Algorithm::Adamax(rule) => rule.to_config(),
            Algorithm::Nadam(rule) => rule.to_config(),
            Algorithm::Lion(rule) => rule.to_config(),
        }
    }

    fn from_config(class_name: &str, c: &Config<'_>) -> Result<Algorithm> {
        let algorithm = match class_of(class_name)? {
            "SGD" => Algorithm::Sgd(Sgd::from_config(c)?),
            "RMSprop" => Algorithm::RmsProp(RmsProp::from_config(c)?),
            "Adagrad" => Algorithm::Adagrad(Adagrad::from_config(c)?),
            "Adadelta" => Algorithm::Adadelta(Adadelta::from_config(c)?),
            "Adam" => Algorithm::Adam(Adam::from_config(c)?),
            "AdamW" => Algorithm::AdamW(Adam::from_config(c)?),
            "Adamax" => Algorithm::Adamax(Adamax::from_config(c)?),
            "Nadam" => Algorithm::Nadam(Nadam::from_config(c)?),
            "Lion" => Algorithm::Lion(Lion::from_config(c)?),
            other => return Err(unknown_class(other)),
        };
        algorithm.validate()?;
        Ok(algorithm)
    }
}

/// Keras's clipping keys: at most one set; 0 (or null) means no clipping, as Keras clips only
/// for a positive threshold.
fn clip_from_config(c: &Config<'_>) -> Result<Clip> {
    let threshold =
        |key: &str| -> Result<Option<f64>> { Ok(c.opt_f64(key)?.filter(|&value| value != 0.0)) };
    let (clipnorm, clipvalue, global_clipnorm) = (
        threshold("clipnorm")?,
        threshold("clipvalue")?,
        threshold("global_clipnorm")?,
    );
    let clip = match (clipnorm, clipvalue, global_clipnorm) {
        (None, None, None) => Clip::None,
        (Some(v), None, None) => Clip::ByNorm(v),
        (None, Some(v), None) => Clip::ByValue(v),
        (None, None, Some(v)) => Clip::ByGlobalNorm(v),
        _ => {
            return Err(Error::Format(format!(
                "{}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; got \
                 clipnorm={clipnorm:?}, clipvalue={clipvalue:?}, global_clipnorm={global_clipnorm:?}",
                c.owner()
            )))
        }
    };
    clip.validate()?;
    Ok(clip)
}

/// Refuses the keys of Keras's config that would change the numbers and that the engine does
/// not implement (see the module docs).
fn check_unsupported(c: &Config<'_>) -> Result<()> {
    if c.bool_or("use_ema", false)? {
        return Err(Error::Format(format!(
            "{}: use_ema=True (exponential moving averages of the weights) is not supported",
            c.owner()
        )));
    }
    if c.opt_usize("gradient_accumulation_steps")?.unwrap_or(1) > 1 {
        return Err(Error::Format(format!(
            "{}: gradient_accumulation_steps={} is not supported (the engine applies every \
             batch's gradients)",
            c.owner(),
            c.usize("gradient_accumulation_steps")?
        )));
    }
    Ok(())
}

/// A whole optimizer: rule, learning rate, weight decay and clipping. Reading gives a fresh
/// optimizer (step 0, no slots); the training state travels separately (the model file's
/// optimizer state).
impl KerasObject for Optimizer {
    const MODULE: &'static str = "keras.optimizers";

    fn class_name(&self) -> &'static str {
        self.algorithm().class_name()
    }

    fn to_config(&self) -> Map<String, Value> {
        let algorithm = self.algorithm();
        let (clipnorm, clipvalue, global_clipnorm) = match self.clip() {
            Clip::None => (None, None, None),
            Clip::ByNorm(v) => (Some(v), None, None),
            Clip::ByValue(v) => (None, Some(v), None),
            Clip::ByGlobalNorm(v) => (None, None, Some(v)),
        };
        let mut config = Map::new();
        for (key, value) in [
            ("name", json!(algorithm.default_name())),
            ("learning_rate", self.learning_rate().to_value()),
            ("weight_decay", json!(self.weight_decay())),
            ("clipnorm", json!(clipnorm)),
            ("global_clipnorm", json!(global_clipnorm)),
            ("clipvalue", json!(clipvalue)),
            ("use_ema", json!(false)),
            ("ema_momentum", json!(0.99)),
            ("ema_overwrite_frequency", Value::Null),
            ("loss_scale_factor", Value::Null),
            ("gradient_accumulation_steps", Value::Null),
        ] {
            config.insert(key.to_string(), value);
        }
        config.extend(algorithm.to_config());
        config
    }

    fn from_config(class_name: &str, c: &Config<'_>) -> Result<Optimizer> {
        check_unsupported(c)?;
        let algorithm = Algorithm::from_config(class_name, c)?;
        let learning_rate = match c.get("learning_rate") {
            Some(value) => LearningRate::from_value(value)
                .map_err(|e| Error::Format(format!("{}: {e}", c.owner())))?,
            None => LearningRate::Constant(algorithm.default_learning_rate()),
        };
        let weight_decay = match (&algorithm, c.opt_f64("weight_decay")?) {
            (Algorithm::AdamW(_), None) => Some(ADAMW_WEIGHT_DECAY),
            (_, weight_decay) => weight_decay,
        };
        Optimizer::new(algorithm, learning_rate)?
            .with_weight_decay(weight_decay)?
            .with_clip(clip_from_config(c)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{deserialize, serialize};
    use crate::optim::{Momentum, Schedule};

    #[test]
    fn every_class_round_trips_with_keras_defaults() {
        for class in OPTIMIZER_CLASSES {
            let opt: Optimizer = deserialize(&json!(class.to_ascii_lowercase())).unwrap();
            assert_eq!(opt.class_name(), class);
            let again: Optimizer = deserialize(&serialize(&opt)).unwrap();
            assert_eq!(again.algorithm(), opt.algorithm());
            assert_eq!(again.learning_rate(), opt.learning_rate());
            assert_eq!(again.weight_decay(), opt.weight_decay());
        }
        // Defaults from keras/src/optimizers/*.py.
        let sgd: Optimizer = deserialize(&json!("SGD")).unwrap();
        assert_eq!(sgd.learning_rate(), &LearningRate::Constant(0.01));
        let adamw: Optimizer = deserialize(&json!("adamw")).unwrap();
        assert_eq!(adamw.weight_decay(), Some(0.004));
        assert_eq!(adamw.algorithm(), &Algorithm::AdamW(Adam::default()));
        let rms: Optimizer = deserialize(&json!("rmsprop")).unwrap();
        assert_eq!(rms.learning_rate(), &LearningRate::Constant(0.001));
        assert_eq!(
            rms.algorithm(),
            &Algorithm::RmsProp(RmsProp {
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
                centered: false
            })
        );
    }

    #[test]
    fn keras_written_config_with_schedule_and_clipping() {
        // As Keras 3 writes `keras.optimizers.SGD(ExponentialDecay(...), momentum=0.9,
        // nesterov=True, global_clipnorm=1.0).get_config()`.
        let value = json!({
            "module": "keras.optimizers", "class_name": "SGD", "registered_name": null,
            "config": {
                "name": "SGD", "learning_rate": {
                    "module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
                    "config": {"initial_learning_rate": 0.1, "decay_steps": 10.0, "decay_rate": 0.5,
                               "staircase": false, "name": "ExponentialDecay"},
                    "registered_name": null},
                "weight_decay": null, "clipnorm": null, "global_clipnorm": 1.0, "clipvalue": null,
                "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null,
                "loss_scale_factor": null, "gradient_accumulation_steps": null,
                "momentum": 0.9, "nesterov": true}
        });
        let opt: Optimizer = deserialize(&value).unwrap();
        assert_eq!(opt.clip(), Clip::ByGlobalNorm(1.0));
        assert_eq!(
            opt.algorithm(),
            &Algorithm::Sgd(Sgd {
                momentum: Some(Momentum::Nesterov(0.9))
            })
        );
        assert_eq!(
            opt.learning_rate(),
            &LearningRate::Schedule(Schedule::ExponentialDecay {
                initial_learning_rate: 0.1,
                decay_steps: 10.0,
                decay_rate: 0.5,
                staircase: false
            })
        );
        assert_eq!(serialize(&opt)["config"], value["config"]);
    }

    #[test]
    fn unsupported_and_malformed_keys_are_refused_naming_them() {
        let refuse = |config: Value, needle: &str| {
            let value = json!({"class_name": "Adam", "config": config});
            let message = deserialize::<Optimizer>(&value).unwrap_err().to_string();
            assert!(message.contains(needle), "{message}");
        };
        refuse(json!({"use_ema": true}), "use_ema");
        refuse(
            json!({"gradient_accumulation_steps": 4}),
            "gradient_accumulation_steps",
        );
        refuse(json!({"clipnorm": 1.0, "clipvalue": 1.0}), "only one of");
        refuse(json!({"beta_1": "high"}), "'beta_1' must be a number");
        refuse(json!({"learning_rate": "fast"}), "learning_rate");
        refuse(json!({"learning_rate": -1.0}), "learning_rate");
        let unknown = json!({"class_name": "Ftrl", "config": {}});
        let message = deserialize::<Optimizer>(&unknown).unwrap_err().to_string();
        assert!(
            message.contains("Ftrl") && message.contains("Lion"),
            "{message}"
        );
        // Neutral values of the keys the engine does not implement are fine.
        let neutral = json!({"class_name": "Adam", "config": {
            "use_ema": false, "gradient_accumulation_steps": null, "loss_scale_factor": 128.0,
            "clipnorm": 0.0}});
        let opt: Optimizer = deserialize(&neutral).unwrap();
        assert_eq!(opt.clip(), Clip::None);
    }
}
