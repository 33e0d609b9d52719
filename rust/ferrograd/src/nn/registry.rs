//! Layers from Keras's configs, and their configs back: Keras's class name → the engine layer.
//!
//! Each layer file reads its own config (its `from_config`, beside its forward code, with
//! Keras's defaults for missing keys) and lists its classes in a `CLASSES` table; this file only
//! joins the tables, so adding a layer to a family file touches that file alone. Reading never
//! runs code: a class name selects one of the engine's layers, and anything else (a custom Python
//! layer, an activation given as a Python function) is an error that names it.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::config::{class_and_config, Config};

/// How a family file makes a layer of one class: from its config and, for wrappers, the layers
/// it wraps when a front end made them already (empty: the wrapper makes them from its config).
pub type FromConfig = fn(&Config<'_>, &[Arc<dyn Layer>]) -> Result<Made>;

/// One Keras class the engine reads.
pub struct LayerClass {
    /// Keras's class name (`"Dense"`).
    pub name: &'static str,
    pub make: FromConfig,
}

/// The family tables, in no particular order (class names are unique across them).
const FAMILIES: &[&[LayerClass]] = &[
    super::dense::CLASSES,
    super::activation::CLASSES,
    super::prelu::CLASSES,
    super::reshaping::CLASSES,
    super::dropout::CLASSES,
    super::merge::CLASSES,
    super::conv::CLASSES,
    super::pooling::CLASSES,
    super::normalization::CLASSES,
    super::embedding::CLASSES,
    super::masking::CLASSES,
    super::recurrent::CLASSES,
    super::time_distributed::CLASSES,
];

/// The Keras class names the engine can make.
pub fn class_names() -> Vec<&'static str> {
    FAMILIES
        .iter()
        .flat_map(|f| f.iter().map(|c| c.name))
        .collect()
}

/// A layer made from its config, with the layers it wraps (which [`Made::build`] builds first:
/// a wrapper's own build does not create its inner layers' weights).
pub struct Made {
    pub layer: Arc<dyn Layer>,
    /// Inner layers that see the wrapper's inputs (Bidirectional's forward and backward).
    pub same_inputs: Vec<Made>,
    /// An inner layer that sees each time step (TimeDistributed's).
    pub per_step: Option<Box<Made>>,
}

impl Made {
    /// A layer that wraps none.
    pub fn plain(layer: impl Layer + 'static) -> Made {
        Made::shared(Arc::new(layer))
    }

    pub(crate) fn shared(layer: Arc<dyn Layer>) -> Made {
        Made {
            layer,
            same_inputs: Vec::new(),
            per_step: None,
        }
    }

    /// Builds the inner layers, then the layer, for inputs of these shapes.
    pub fn build(&self, shapes: &[Shape], dtype: DType) -> Result<()> {
        self.build_checked(shapes, dtype, None, self.layer.name())
    }

    /// [`Made::build`], first checking every weight the layer would create against the shapes
    /// of the tensors a file holds (by the weight's name, `prefix/weight`): a hostile or damaged
    /// config cannot make the loader allocate a weight the file does not hold.
    pub fn build_checked(
        &self,
        shapes: &[Shape],
        dtype: DType,
        expected: Option<&HashMap<String, Vec<usize>>>,
        prefix: &str,
    ) -> Result<()> {
        for inner in &self.same_inputs {
            let inner_prefix = format!("{prefix}/{}", inner.layer.name());
            inner.build_checked(shapes, dtype, expected, &inner_prefix)?;
        }
        if let Some(inner) = &self.per_step {
            let folded: Vec<Shape> = shapes
                .iter()
                .map(|s| {
                    let mut f = vec![None];
                    f.extend(s.iter().skip(2).cloned());
                    f
                })
                .collect();
            inner.build_checked(&folded, dtype, expected, prefix)?;
        }
        if let (Some(expected), false) = (expected, self.layer.core().built()) {
            for spec in self.layer.weight_specs(shapes)? {
                let name = format!("{prefix}/{}", spec.name);
                match expected.get(&name) {
                    Some(stored) if *stored == spec.shape => {}
                    Some(stored) => {
                        return Err(Error::Format(format!(
                            "weight '{name}' has shape {:?} by the model's config but the file holds shape {stored:?}",
                            spec.shape
                        )))
                    }
                    None => {
                        return Err(Error::Format(format!(
                            "the model's config needs weight '{name}' of shape {:?}, which the file does not hold",
                            spec.shape
                        )))
                    }
                }
            }
        }
        build(self.layer.as_ref(), shapes, dtype)
    }
}

/// An engine layer from Keras's class name and config (not built yet).
pub fn layer_from_config(class: &str, config: &Value) -> Result<Made> {
    layer_from_config_with(class, config, &[])
}

/// [`layer_from_config`] for a wrapper whose inner layers a front end made already.
pub fn layer_from_config_with(
    class: &str,
    config: &Value,
    inner: &[Arc<dyn Layer>],
) -> Result<Made> {
    let c = Config::new(class, config)?;
    let name = c.required_name()?;
    let Some(entry) = FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .find(|e| e.name == class)
    else {
        return Err(Error::Format(match class {
            "Sequential" | "Functional" | "Model" => format!(
                "layer '{name}' is a nested {class} model; nested models cannot be loaded natively yet"
            ),
            other => format!(
                "layer '{name}' has class '{other}', which is not a built-in ferrograd layer; \
                 custom Python layers can only be loaded from Python (fg.load_model with the class registered)"
            ),
        }));
    };
    let made = (entry.make)(&c, inner)?;
    if !c.bool_or("trainable", true)? {
        made.layer.core().set_trainable(false)?;
    }
    Ok(made)
}

/// An engine layer from a serialized layer (`{"class_name", "config"}`).
pub fn layer_from_value(value: &Value) -> Result<Made> {
    let (class, config) = class_and_config(value)?;
    layer_from_config(class, config)
}

/// Keras's serialized form of an engine layer: its [`Layer::config`] with `name` and
/// `trainable`, for models built natively in Rust.
pub fn layer_config(layer: &dyn Layer) -> Result<Value> {
    let name = layer.name();
    let mut config = layer.config().ok_or_else(|| {
        let why = match layer.class_name() {
            "Bidirectional" => {
                " (a Bidirectional writes its config when it wraps SimpleRNN, LSTM or GRU layers \
                 and its forward layer is named forward_<name>, as Keras names it: see \
                 Bidirectional::wrap)"
            }
            _ => {
                " (one of its arguments has no form in Keras's config, such as an activation \
                 with other parameters than its name's defaults: apply it with an activation \
                 layer such as LeakyReLU instead)"
            }
        };
        Error::Format(format!(
            "layer '{name}' ({}) cannot write its config natively{why}; build and save the model from Python",
            layer.class_name()
        ))
    })?;
    config.insert("name".into(), Value::String(name.to_string()));
    config.insert("trainable".into(), Value::Bool(layer.core().trainable()));
    Ok(
        json!({"module": "keras.layers", "class_name": layer.class_name(), "config": config, "registered_name": null}),
    )
}

/// Fails unless the config's `data_format` is channels_last (the engine's only layout).
pub(crate) fn channels_last(c: &Config<'_>) -> Result<()> {
    match c.opt_str("data_format")? {
        None | Some("channels_last") => Ok(()),
        Some(other) => Err(Error::Format(format!(
            "{}: data_format '{other}' is not supported; ferrograd is channels_last",
            c.owner()
        ))),
    }
}

/// The number of spatial axes of a `...1D` / `...2D` class.
pub(crate) fn spatial_rank(c: &Config<'_>) -> usize {
    if c.class().contains("1D") {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_unique_and_unknown_ones_are_named() {
        let names = class_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a class listed twice");
        assert!(names.contains(&"Dense") && names.contains(&"TimeDistributed"));
        let err = layer_from_config("MyLayer", &json!({"name": "m"}))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("'MyLayer'") && err.contains("not a built-in"),
            "{err}"
        );
        let err = layer_from_config("Dense", &json!({"units": 2}))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no 'name'"), "{err}");
    }

    #[test]
    fn every_class_round_trips_its_config() {
        // Each class from a minimal config, its config written back and read again: the same
        // config (what the layer computes is defined by it).
        let minimal = |class: &str| -> Value {
            let inner = json!({"class_name": "LSTM", "config": {"name": "forward_l", "units": 2}});
            let mut c = match class {
                "Dense" => json!({"units": 3}),
                "Activation" => json!({"activation": "tanh"}),
                "Reshape" => json!({"target_shape": [2, -1]}),
                "Dropout" => json!({"rate": 0.5}),
                "Conv1D" | "Conv2D" | "Conv1DTranspose" | "Conv2DTranspose" => {
                    json!({"filters": 2, "kernel_size": 3})
                }
                "SeparableConv1D" | "SeparableConv2D" => json!({"filters": 2, "kernel_size": 3}),
                "DepthwiseConv1D" | "DepthwiseConv2D" => json!({"kernel_size": 3}),
                "ZeroPadding1D" | "ZeroPadding2D" => json!({"padding": 1}),
                "Cropping1D" | "Cropping2D" => json!({"cropping": 1}),
                "Embedding" => json!({"input_dim": 5, "output_dim": 2}),
                "SimpleRNN" | "LSTM" | "GRU" => json!({"units": 2}),
                "Bidirectional" => json!({"layer": inner}),
                "TimeDistributed" => {
                    json!({"layer": {"class_name": "Dense", "config": {"name": "d", "units": 2}}})
                }
                "GroupNormalization" => json!({"groups": 1}),
                "RepeatVector" => json!({"n": 2}),
                _ => json!({}),
            };
            c["name"] = json!("x");
            c
        };
        for class in class_names() {
            let made = layer_from_config(class, &minimal(class))
                .unwrap_or_else(|e| panic!("{class}: {e}"));
            let written = layer_config(made.layer.as_ref()).unwrap();
            let again = layer_from_value(&written).unwrap_or_else(|e| panic!("{class}: {e}"));
            let rewritten = layer_config(again.layer.as_ref()).unwrap();
            assert_eq!(written, rewritten, "{class}");
            assert_eq!(written["class_name"], class);
        }
    }
}
