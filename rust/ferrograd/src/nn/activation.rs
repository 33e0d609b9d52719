//! Activations as data ([`Activation`], resolvable from Keras's names) and the layers that
//! apply one: `Activation`, `ReLU`, `LeakyReLU`, `ELU`, `Softmax` (Keras's classes, one struct).

use serde_json::Value;

use super::*;
use crate::ops::Comparison;

/// An activation function with its parameters. Keras's defaults by name: `leaky_relu` 0.2,
/// `elu` 1.0, `gelu` exact, `softmax`/`log_softmax` on the last axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Linear,
    Relu,
    /// Keras's general `relu(x, negative_slope, max_value, threshold)`.
    ReluWith {
        negative_slope: f64,
        max_value: Option<f64>,
        threshold: f64,
    },
    Relu6,
    LeakyRelu(f64),
    Elu(f64),
    Selu,
    Gelu {
        approximate: bool,
    },
    Sigmoid,
    HardSigmoid,
    /// `x * hard_sigmoid(x)`.
    HardSilu,
    Tanh,
    Softplus,
    Softsign,
    /// `x * sigmoid(x)` (also called swish).
    Silu,
    Exponential,
    Softmax(isize),
    LogSoftmax(isize),
}

impl Activation {
    /// Keras's names (`keras.activations.get`).
    pub const NAMES: &'static [&'static str] = &[
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "sigmoid",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "tanh",
        "softplus",
        "softsign",
        "silu",
        "swish",
        "exponential",
        "softmax",
        "log_softmax",
    ];

    /// The activation Keras's string `name` stands for.
    pub fn from_name(name: &str) -> Result<Activation> {
        Ok(match name {
            "linear" => Activation::Linear,
            "relu" => Activation::Relu,
            "relu6" => Activation::Relu6,
            "leaky_relu" => Activation::LeakyRelu(0.2),
            "elu" => Activation::Elu(1.0),
            "selu" => Activation::Selu,
            "gelu" => Activation::Gelu { approximate: false },
            "sigmoid" => Activation::Sigmoid,
            "hard_sigmoid" => Activation::HardSigmoid,
            "hard_silu" | "hard_swish" => Activation::HardSilu,
            "tanh" => Activation::Tanh,
            "softplus" => Activation::Softplus,
            "softsign" => Activation::Softsign,
            "silu" | "swish" => Activation::Silu,
            "exponential" => Activation::Exponential,
            "softmax" => Activation::Softmax(-1),
            "log_softmax" => Activation::LogSoftmax(-1),
            other => {
                return Err(Error::Argument {
                    op: "activation",
                    message: format!(
                        "unknown activation '{other}'; valid names are {:?}",
                        Activation::NAMES
                    ),
                })
            }
        })
    }

    /// The activation a layer config's `key` names (`"relu"`, or Keras 3's serialized function
    /// `{"class_name": "function", "config": "relu", ...}`), `default` when missing. A custom
    /// Python function is an error naming it.
    pub fn read(c: &Config<'_>, key: &str, default: &str) -> Result<Activation> {
        let name = match c.get(key) {
            None => default,
            Some(Value::String(s)) => s.as_str(),
            Some(v @ Value::Object(m)) => m
                .get("config")
                .and_then(Value::as_str)
                .or_else(|| m.get("registered_name").and_then(Value::as_str))
                .ok_or_else(|| c.err(key, "an activation's name"))
                .map_err(|_| {
                    Error::Format(format!(
                        "{}: activation {} is not one of the built-in activations; \
                         a model with a custom Python activation cannot be loaded natively",
                        c.owner(),
                        crate::config::short(v)
                    ))
                })?,
            Some(_) => return Err(c.err(key, "an activation's name")),
        };
        Activation::from_name(name).map_err(|e| Error::Format(format!("{}: {e}", c.owner())))
    }

    /// Keras's name when it stands for exactly this activation (the name's default
    /// arguments); `None` for one no name expresses (`LeakyRelu(0.1)`, a softmax over another
    /// axis, a `ReluWith`), which Keras writes as a layer (`LeakyReLU`, `Softmax`, `ReLU`).
    pub fn keras_name(&self) -> Option<&'static str> {
        let name = self.name();
        (Activation::from_name(name).ok() == Some(*self)).then_some(name)
    }

    /// Keras's name for this activation (`serialize`).
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu | Activation::ReluWith { .. } => "relu",
            Activation::Relu6 => "relu6",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Elu(_) => "elu",
            Activation::Selu => "selu",
            Activation::Gelu { .. } => "gelu",
            Activation::Sigmoid => "sigmoid",
            Activation::HardSigmoid => "hard_sigmoid",
            Activation::HardSilu => "hard_silu",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::Silu => "silu",
            Activation::Exponential => "exponential",
            Activation::Softmax(_) => "softmax",
            Activation::LogSoftmax(_) => "log_softmax",
        }
    }

    /// Applies the activation (differentiably).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Linear => Ok(x.clone()),
            Activation::Relu => x.relu(),
            Activation::ReluWith {
                negative_slope,
                max_value,
                threshold,
            } => relu_with(x, negative_slope, max_value, threshold),
            Activation::Relu6 => x.relu6(),
            Activation::LeakyRelu(slope) => x.leaky_relu(slope),
            Activation::Elu(alpha) => x.elu(alpha),
            Activation::Selu => x.selu(),
            Activation::Gelu { approximate } => x.gelu(approximate),
            Activation::Sigmoid => x.sigmoid(),
            Activation::HardSigmoid => x.hard_sigmoid(),
            Activation::HardSilu => x.mul(&x.hard_sigmoid()?),
            Activation::Tanh => x.tanh(),
            Activation::Softplus => x.softplus(),
            Activation::Softsign => x.softsign(),
            Activation::Silu => x.silu(),
            Activation::Exponential => x.exp(),
            Activation::Softmax(axis) => x.softmax(axis),
            Activation::LogSoftmax(axis) => x.log_softmax(axis),
        }
    }

    /// Whether the activation keeps the shape of its input and acts elementwise (softmax does
    /// not act elementwise but keeps the shape; every activation here keeps it).
    pub fn keeps_shape(&self) -> bool {
        true
    }
}

/// Keras's `relu` with options (`ReLU.static_call`): zero below `threshold`, a slope
/// `negative_slope` below it, capped at `max_value`.
fn relu_with(
    x: &Tensor,
    negative_slope: f64,
    max_value: Option<f64>,
    threshold: f64,
) -> Result<Tensor> {
    let dtype = x.dtype();
    if negative_slope != 0.0 && max_value.is_none() && threshold == 0.0 {
        return x.leaky_relu(negative_slope);
    }
    let negative_part = if negative_slope != 0.0 {
        let shifted = x.neg()?.add(&Tensor::scalar_of(threshold, dtype))?;
        Some(shifted.relu()?)
    } else {
        None
    };
    let mut clip_max = max_value.is_some();
    let mut out = if threshold != 0.0 {
        let mask = x
            .detach()
            .compare(&Tensor::scalar_of(threshold, dtype), Comparison::Greater)?
            .cast(dtype)?;
        x.mul(&mask)?
    } else if max_value == Some(6.0) {
        clip_max = false;
        x.relu6()?
    } else {
        x.relu()?
    };
    if let (true, Some(max)) = (clip_max, max_value) {
        out = out.clip(0.0, max)?;
    }
    if let Some(negative) = negative_part {
        out = out.sub(&negative.scale(negative_slope)?)?;
    }
    Ok(out)
}

pub(crate) const CLASSES: &[LayerClass] = &[
    LayerClass {
        name: "Activation",
        make: activation_layer,
    },
    LayerClass {
        name: "ReLU",
        make: activation_layer,
    },
    LayerClass {
        name: "LeakyReLU",
        make: activation_layer,
    },
    LayerClass {
        name: "ELU",
        make: activation_layer,
    },
    LayerClass {
        name: "Softmax",
        make: activation_layer,
    },
];

fn activation_layer(c: &Config<'_>, _: &[std::sync::Arc<dyn Layer>]) -> Result<Made> {
    Ok(Made::plain(ActivationLayer::from_config(c)?))
}

/// A layer applying an activation: Keras's `Activation`, `ReLU`, `LeakyReLU`, `ELU` and
/// `Softmax`, which differ only in their class name and parameters.
pub struct ActivationLayer {
    core: LayerCore,
    class_name: &'static str,
    activation: Activation,
}

impl ActivationLayer {
    /// Keras's `Activation(activation)`.
    pub fn new(name: impl Into<String>, activation: Activation) -> ActivationLayer {
        ActivationLayer::with_class(name, "Activation", activation)
    }

    /// The same layer under another Keras class name (`ReLU`, `LeakyReLU`, `ELU`, `Softmax`).
    pub fn with_class(
        name: impl Into<String>,
        class_name: &'static str,
        activation: Activation,
    ) -> ActivationLayer {
        let core = LayerCore::new(name);
        core.set_built();
        ActivationLayer {
            core,
            class_name,
            activation,
        }
    }

    /// Keras's configs of `Activation` (`activation`), `ReLU` (`max_value` None,
    /// `negative_slope` 0, `threshold` 0), `LeakyReLU` (`negative_slope` 0.3), `ELU` (`alpha`
    /// 1) and `Softmax` (`axis` -1).
    pub fn from_config(c: &Config<'_>) -> Result<ActivationLayer> {
        let name = c.required_name()?;
        let with = |class, activation| Ok(ActivationLayer::with_class(name, class, activation));
        match c.class() {
            "ReLU" => ActivationLayer::relu(
                name,
                c.opt_f64("max_value")?,
                c.f64_or("negative_slope", 0.0)?,
                c.f64_or("threshold", 0.0)?,
            ),
            "LeakyReLU" => {
                let slope = c.f64_or("negative_slope", 0.3)?;
                if slope.is_nan() || slope < 0.0 {
                    return Err(c.err("negative_slope", "a number >= 0"));
                }
                with("LeakyReLU", Activation::LeakyRelu(slope))
            }
            "ELU" => with("ELU", Activation::Elu(c.f64_or("alpha", 1.0)?)),
            "Softmax" => with("Softmax", Activation::Softmax(c.int_or("axis", -1)?)),
            _ => with("Activation", Activation::read(c, "activation", "linear")?),
        }
    }

    /// Keras's `ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`.
    pub fn relu(
        name: impl Into<String>,
        max_value: Option<f64>,
        negative_slope: f64,
        threshold: f64,
    ) -> Result<ActivationLayer> {
        if max_value.is_some_and(|m| m.is_nan() || m < 0.0) {
            return Err(Error::argument(
                "ReLU",
                format!("max_value of a ReLU layer cannot be a negative value, got {max_value:?}"),
            ));
        }
        if negative_slope.is_nan() || negative_slope < 0.0 || !threshold.is_finite() {
            return Err(Error::argument(
                "ReLU",
                format!("negative_slope must be >= 0 and threshold finite, got {negative_slope} and {threshold}"),
            ));
        }
        let activation = if max_value.is_none() && negative_slope == 0.0 && threshold == 0.0 {
            Activation::Relu
        } else {
            Activation::ReluWith {
                negative_slope,
                max_value,
                threshold,
            }
        };
        Ok(ActivationLayer::with_class(name, "ReLU", activation))
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }
}

impl Layer for ActivationLayer {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        self.class_name
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        match (self.class_name, self.activation) {
            ("Activation", a) => config_of([("activation", json!(a.keras_name()?))]),
            ("ReLU", Activation::Relu) => config_of([
                ("max_value", json!(null)),
                ("negative_slope", json!(0.0)),
                ("threshold", json!(0.0)),
            ]),
            (
                "ReLU",
                Activation::ReluWith {
                    negative_slope,
                    max_value,
                    threshold,
                },
            ) => config_of([
                ("max_value", json!(max_value)),
                ("negative_slope", json!(negative_slope)),
                ("threshold", json!(threshold)),
            ]),
            ("LeakyReLU", Activation::LeakyRelu(slope)) => {
                config_of([("negative_slope", json!(slope))])
            }
            ("ELU", Activation::Elu(alpha)) => config_of([("alpha", json!(alpha))]),
            ("Softmax", Activation::Softmax(axis)) => config_of([("axis", json!(axis))]),
            _ => None,
        }
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        if let Activation::Softmax(axis) | Activation::LogSoftmax(axis) = self.activation {
            crate::ops::normalize_axis("Softmax", axis, shape.len())?;
        }
        Ok(vec![shape.clone()])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        Ok(vec![self.activation.apply(single(self.name(), inputs)?)?])
    }

    /// Keras's layer has `supports_masking`: the mask goes on unchanged.
    fn compute_mask(
        &self,
        _inputs: &[Tensor],
        masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(pass_mask(masks))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn relu_options_follow_keras() {
        let x = t32(&[5], &[-3.0, -1.0, 0.5, 2.0, 8.0]);
        let layer = ActivationLayer::relu("r", Some(6.0), 0.1, 1.0).unwrap();
        let y = values(&layer.call(&[x], false).unwrap()[0]);
        // below threshold: -slope * (threshold - x); above: min(x, 6)
        let expected = [-0.4, -0.2, -0.05, 2.0, 6.0];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
        assert!(ActivationLayer::relu("r", Some(-1.0), 0.0, 0.0).is_err());
    }

    #[test]
    fn names_resolve_with_keras_defaults() {
        assert_eq!(
            Activation::from_name("leaky_relu").unwrap(),
            Activation::LeakyRelu(0.2)
        );
        assert_eq!(Activation::from_name("swish").unwrap(), Activation::Silu);
        let err = Activation::from_name("relu7").unwrap_err().to_string();
        assert!(err.contains("softmax"), "{err}");
    }
}
