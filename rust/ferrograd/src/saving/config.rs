//! Architectures as data: Keras 3's JSON config of a `Sequential` or functional model, read
//! into an engine [`Graph`] of built layers, and written from one.
//!
//! Reading never runs code: a layer's `class_name` selects one of the engine's layers from a
//! fixed table and its `config` gives the arguments; anything else (a custom Python layer, an
//! activation given as a Python function) is an error that names it. Keys the engine does not
//! need to run a model (initializers, constraints, `trainable` of the whole file's layers, ...)
//! are ignored; keys that change what a layer computes must be understood or the load fails,
//! so a file never loads into a model that computes something else.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::model::{Graph, Node, ValueRef};
use crate::nn::{
    build, Activation, ActivationLayer, BatchNormalization, Bidirectional, BidirectionalMerge,
    Conv, ConvTranspose, Cropping, Dense, DepthwiseConv, Dropout, Embedding, Flatten,
    GlobalPooling, GroupNormalization, Interpolation, Layer, LayerNormalization, Masking, Merge,
    MergeOp, PRelu, Padding, PoolMode, Pooling, Recurrent, RecurrentConfig, Reshape, SeparableConv,
    Shape, TimeDistributed, UpSampling, ZeroPadding,
};
use crate::ops::{PoolPadding, RnnCell};
use crate::regularizers::Regularizer;
use crate::tensor::DType;

fn bad(message: impl Into<String>) -> Error {
    Error::Format(message.into())
}

/// A layer's `config` with getters whose errors name the layer and the key.
struct Cfg<'a> {
    class: &'a str,
    name: String,
    map: &'a Map<String, Value>,
}

impl<'a> Cfg<'a> {
    fn new(class: &'a str, value: &'a Value) -> Result<Cfg<'a>> {
        let map = value.as_object().ok_or_else(|| {
            bad(format!(
                "the config of a {class} layer is not a JSON object"
            ))
        })?;
        let name = map
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("a {class} layer's config has no 'name'")))?
            .to_string();
        Ok(Cfg { class, name, map })
    }

    fn err(&self, key: &str, expected: &str) -> Error {
        bad(format!(
            "layer '{}' ({}): config key '{key}' must be {expected}, got {}",
            self.name,
            self.class,
            self.map
                .get(key)
                .map_or("nothing".to_string(), Value::to_string)
        ))
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| self.err(key, "a non-negative integer"))
    }

    /// A size that must be at least one (units, filters, vocabulary sizes): Keras refuses 0.
    fn positive(&self, key: &str) -> Result<usize> {
        self.get(key)
            .and_then(Value::as_u64)
            .filter(|&v| v > 0)
            .map(|v| v as usize)
            .ok_or_else(|| self.err(key, "a positive integer"))
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.usize(key),
        }
    }

    fn int_or(&self, key: &str, default: isize) -> Result<isize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_i64()
                .map(|v| v as isize)
                .ok_or_else(|| self.err(key, "an integer")),
        }
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| self.err(key, "a number")),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.err(key, "true or false")),
        }
    }

    fn str_or(&self, key: &str, default: &'a str) -> Result<&'a str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| self.err(key, "a string")),
        }
    }

    /// An int or a list of `n` ints (Keras's `standardize_tuple`).
    fn tuple(&self, key: &str, n: usize, default: Option<usize>) -> Result<Vec<usize>> {
        match self.get(key) {
            None => default
                .map(|d| vec![d; n])
                .ok_or_else(|| self.err(key, &format!("an integer or a list of {n}"))),
            Some(v) => usize_list(v, n)
                .ok_or_else(|| self.err(key, &format!("an integer or a list of {n}"))),
        }
    }

    fn axes(&self, key: &str, default: isize) -> Result<Vec<isize>> {
        match self.get(key) {
            None => Ok(vec![default]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_i64().map(|v| v as isize))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.err(key, "an integer or a list of integers")),
            Some(v) => v
                .as_i64()
                .map(|v| vec![v as isize])
                .ok_or_else(|| self.err(key, "an integer or a list of integers")),
        }
    }

    fn activation(&self, key: &str, default: &str) -> Result<Activation> {
        let name = match self.get(key) {
            None => default.to_string(),
            Some(v) => activation_name(v).ok_or_else(|| {
                bad(format!(
                    "layer '{}' ({}): activation {v} is not one of the built-in activations; \
                     a model with a custom Python activation cannot be loaded natively",
                    self.name, self.class
                ))
            })?,
        };
        Activation::from_name(&name)
    }

    fn regularizer(&self, key: &str) -> Result<Option<Regularizer>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let class = v.get("class_name").and_then(Value::as_str).unwrap_or("");
        let c = v.get("config").cloned().unwrap_or(Value::Null);
        let get = |k: &str| c.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        Ok(Some(match class {
            "L1" | "l1" => Regularizer::L1 { l1: get("l1") },
            "L2" | "l2" => Regularizer::L2 { l2: get("l2") },
            "L1L2" | "l1_l2" => Regularizer::L1L2 {
                l1: get("l1"),
                l2: get("l2"),
            },
            _ => return Err(self.err(key, "a built-in regularizer (L1, L2, L1L2)")),
        }))
    }

    fn padding(&self) -> Result<&'a str> {
        self.str_or("padding", "valid")
    }

    fn channels_last(&self) -> Result<()> {
        match self.get("data_format").and_then(Value::as_str) {
            None | Some("channels_last") => Ok(()),
            Some(other) => Err(bad(format!(
                "layer '{}' ({}): data_format '{other}' is not supported; ferrograd is channels_last",
                self.name, self.class
            ))),
        }
    }
}

fn usize_list(v: &Value, n: usize) -> Option<Vec<usize>> {
    match v {
        Value::Array(items) if items.len() == n => items
            .iter()
            .map(|x| x.as_u64().map(|x| x as usize))
            .collect(),
        other => other.as_u64().map(|x| vec![x as usize; n]),
    }
}

/// A Keras activation as a name: `"relu"`, or Keras 3's serialized function
/// `{"class_name": "function", "config": "relu", ...}`.
fn activation_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m
            .get("config")
            .and_then(Value::as_str)
            .or_else(|| m.get("registered_name").and_then(Value::as_str))
            .map(str::to_string),
        _ => None,
    }
}

/// Pairs of padding/cropping per spatial axis: Keras writes an int, a pair per axis, or (for
/// the 1-D layers) one pair.
fn pairs(cfg: &Cfg<'_>, key: &str, rank: usize) -> Result<Vec<(usize, usize)>> {
    let expected = "an integer, a pair, or a pair per spatial axis";
    let v = cfg.get(key).ok_or_else(|| cfg.err(key, expected))?;
    let pair = |v: &Value| -> Option<(usize, usize)> {
        match v {
            Value::Array(p) if p.len() == 2 => {
                Some((p[0].as_u64()? as usize, p[1].as_u64()? as usize))
            }
            other => other.as_u64().map(|x| (x as usize, x as usize)),
        }
    };
    let out = match v {
        Value::Array(items) if rank == 1 => pair(v).map(|p| vec![p]).or_else(|| {
            (items.len() == 1)
                .then(|| pair(&items[0]).map(|p| vec![p]))
                .flatten()
        }),
        Value::Array(items) if items.len() == rank => items.iter().map(pair).collect(),
        other => other.as_u64().map(|x| vec![(x as usize, x as usize); rank]),
    };
    out.ok_or_else(|| cfg.err(key, expected))
}

/// `(class_name, config)` of a serialized layer (Keras 3's `{"class_name", "config", ...}`).
fn class_and_config(layer: &Value) -> Result<(&str, &Value)> {
    let class = layer
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(format!(
                "a layer entry has no 'class_name': {}",
                short(layer)
            ))
        })?;
    let config = layer
        .get("config")
        .ok_or_else(|| bad(format!("the {class} layer entry has no 'config'")))?;
    Ok((class, config))
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 120 {
        format!(
            "{}...",
            &text[..text.char_indices().nth(117).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// A layer made from its config, with the layers it wraps (which [`Made::build`] builds first:
/// a wrapper's own build does not create its inner layers' weights).
pub struct Made {
    pub layer: Arc<dyn Layer>,
    /// Inner layers that see the wrapper's inputs (Bidirectional's forward and backward).
    same_inputs: Vec<Made>,
    /// An inner layer that sees each time step (TimeDistributed's).
    per_step: Option<Box<Made>>,
}

impl Made {
    fn plain(layer: Arc<dyn Layer>) -> Made {
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
    fn build_checked(
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
                        return Err(bad(format!(
                            "weight '{name}' has shape {:?} by the model's config but the file holds shape {stored:?}",
                            spec.shape
                        )))
                    }
                    None => {
                        return Err(bad(format!(
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
    let c = Cfg::new(class, config)?;
    let name = c.name.clone();
    let rank_of = |class: &str| if class.contains("1D") { 1 } else { 2 };
    let layer: Arc<dyn Layer> = match class {
        "Dense" => {
            let mut d = Dense::new(
                name,
                c.positive("units")?,
                c.activation("activation", "linear")?,
                c.bool_or("use_bias", true)?,
            );
            d.kernel_regularizer = c.regularizer("kernel_regularizer")?;
            d.bias_regularizer = c.regularizer("bias_regularizer")?;
            Arc::new(d)
        }
        "Activation" => Arc::new(ActivationLayer::new(name, c.activation("activation", "linear")?)),
        "ReLU" => {
            let slope = c.f64_or("negative_slope", 0.0)?;
            let max_value = c.get("max_value").and_then(Value::as_f64);
            let threshold = c.f64_or("threshold", 0.0)?;
            let activation = if slope == 0.0 && max_value.is_none() && threshold == 0.0 {
                Activation::Relu
            } else {
                Activation::ReluWith {
                    negative_slope: slope,
                    max_value,
                    threshold,
                }
            };
            Arc::new(ActivationLayer::with_class(name, "ReLU", activation))
        }
        "LeakyReLU" => Arc::new(ActivationLayer::with_class(
            name,
            "LeakyReLU",
            Activation::LeakyRelu(c.f64_or("negative_slope", 0.3)?),
        )),
        "ELU" => Arc::new(ActivationLayer::with_class(
            name,
            "ELU",
            Activation::Elu(c.f64_or("alpha", 1.0)?),
        )),
        "Softmax" => Arc::new(ActivationLayer::with_class(
            name,
            "Softmax",
            Activation::Softmax(c.int_or("axis", -1)?),
        )),
        "PReLU" => {
            let axes = match c.get("shared_axes") {
                None => Vec::new(),
                Some(v) => match v {
                    Value::Array(items) => items
                        .iter()
                        .map(|x| x.as_u64().map(|x| x as usize))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| c.err("shared_axes", "a list of axes"))?,
                    other => vec![other.as_u64().ok_or_else(|| c.err("shared_axes", "axes"))? as usize],
                },
            };
            let mut prelu = PRelu::new(name, axes);
            prelu.alpha_regularizer = c.regularizer("alpha_regularizer")?;
            Arc::new(prelu)
        }
        "Flatten" => {
            c.channels_last()?;
            Arc::new(Flatten::new(name))
        }
        "Reshape" => {
            let target = c
                .get("target_shape")
                .and_then(Value::as_array)
                .and_then(|items| items.iter().map(|x| x.as_i64().map(|x| x as isize)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| c.err("target_shape", "a list of integers"))?;
            Arc::new(Reshape::new(name, target)?)
        }
        "Dropout" => {
            let noise_shape: Option<Shape> = match c.get("noise_shape") {
                None => None,
                Some(Value::Array(items)) => Some(items.iter().map(|x| x.as_u64().map(|x| x as usize)).collect()),
                Some(_) => return Err(c.err("noise_shape", "a list of sizes or nulls")),
            };
            let seed = c.get("seed").and_then(Value::as_u64);
            Arc::new(Dropout::new(name, c.f64_or("rate", 0.0)?, noise_shape, seed)?)
        }
        "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" | "Concatenate" => {
            let op = match class {
                "Add" => MergeOp::Add,
                "Subtract" => MergeOp::Subtract,
                "Multiply" => MergeOp::Multiply,
                "Average" => MergeOp::Average,
                "Maximum" => MergeOp::Maximum,
                "Minimum" => MergeOp::Minimum,
                _ => MergeOp::Concatenate {
                    axis: c.int_or("axis", -1)?,
                },
            };
            Arc::new(Merge::new(name, op))
        }
        "Conv1D" | "Conv2D" => {
            c.channels_last()?;
            let r = rank_of(class);
            let mut conv = Conv::with_options(
                name,
                c.positive("filters")?,
                c.tuple("kernel_size", r, None)?,
                c.tuple("strides", r, Some(1))?,
                Padding::parse(c.padding()?)?,
                c.tuple("dilation_rate", r, Some(1))?,
                c.usize_or("groups", 1)?,
                c.activation("activation", "linear")?,
                c.bool_or("use_bias", true)?,
            )?;
            conv.kernel_regularizer = c.regularizer("kernel_regularizer")?;
            conv.bias_regularizer = c.regularizer("bias_regularizer")?;
            Arc::new(conv)
        }
        "DepthwiseConv1D" | "DepthwiseConv2D" => {
            c.channels_last()?;
            let r = rank_of(class);
            let mut conv = DepthwiseConv::new(
                name,
                c.usize_or("depth_multiplier", 1)?,
                c.tuple("kernel_size", r, None)?,
                c.tuple("strides", r, Some(1))?,
                Padding::parse(c.padding()?)?,
                c.tuple("dilation_rate", r, Some(1))?,
                c.activation("activation", "linear")?,
                c.bool_or("use_bias", true)?,
            )?;
            conv.depthwise_regularizer = c.regularizer("depthwise_regularizer")?;
            conv.bias_regularizer = c.regularizer("bias_regularizer")?;
            Arc::new(conv)
        }
        "Conv1DTranspose" | "Conv2DTranspose" => {
            c.channels_last()?;
            let r = rank_of(class);
            let output_padding = match c.get("output_padding") {
                None => None,
                Some(_) => Some(c.tuple("output_padding", r, None)?),
            };
            let mut conv = ConvTranspose::new(
                name,
                c.positive("filters")?,
                c.tuple("kernel_size", r, None)?,
                c.tuple("strides", r, Some(1))?,
                Padding::parse(c.padding()?)?,
                c.tuple("dilation_rate", r, Some(1))?,
                c.activation("activation", "linear")?,
                c.bool_or("use_bias", true)?,
            )?
            .with_output_padding(output_padding)?;
            conv.kernel_regularizer = c.regularizer("kernel_regularizer")?;
            conv.bias_regularizer = c.regularizer("bias_regularizer")?;
            Arc::new(conv)
        }
        "SeparableConv1D" | "SeparableConv2D" => {
            c.channels_last()?;
            let r = rank_of(class);
            let mut conv = SeparableConv::new(
                name,
                c.positive("filters")?,
                c.usize_or("depth_multiplier", 1)?,
                c.tuple("kernel_size", r, None)?,
                c.tuple("strides", r, Some(1))?,
                Padding::parse(c.padding()?)?,
                c.tuple("dilation_rate", r, Some(1))?,
                c.activation("activation", "linear")?,
                c.bool_or("use_bias", true)?,
            )?;
            conv.depthwise_regularizer = c.regularizer("depthwise_regularizer")?;
            conv.pointwise_regularizer = c.regularizer("pointwise_regularizer")?;
            conv.bias_regularizer = c.regularizer("bias_regularizer")?;
            Arc::new(conv)
        }
        "MaxPooling1D" | "MaxPooling2D" | "AveragePooling1D" | "AveragePooling2D" => {
            c.channels_last()?;
            let r = rank_of(class);
            let mode = if class.starts_with("Max") { PoolMode::Max } else { PoolMode::Average };
            let pool = c.tuple("pool_size", r, Some(2))?;
            let strides = match c.get("strides") {
                None => pool.clone(),
                Some(_) => c.tuple("strides", r, None)?,
            };
            Arc::new(Pooling::new(name, mode, &pool, Some(&strides), PoolPadding::parse(c.padding()?)?)?)
        }
        "GlobalAveragePooling1D" | "GlobalAveragePooling2D" | "GlobalMaxPooling1D" | "GlobalMaxPooling2D" => {
            c.channels_last()?;
            let mode = if class.starts_with("GlobalMax") { PoolMode::Max } else { PoolMode::Average };
            Arc::new(GlobalPooling::new(name, mode, rank_of(class), c.bool_or("keepdims", false)?)?)
        }
        "ZeroPadding1D" | "ZeroPadding2D" => {
            c.channels_last()?;
            Arc::new(ZeroPadding::new(name, pairs(&c, "padding", rank_of(class))?)?)
        }
        "Cropping1D" | "Cropping2D" => {
            c.channels_last()?;
            Arc::new(Cropping::new(name, pairs(&c, "cropping", rank_of(class))?)?)
        }
        "UpSampling1D" | "UpSampling2D" => {
            c.channels_last()?;
            let r = rank_of(class);
            let interpolation = match c.str_or("interpolation", "nearest")? {
                "nearest" => Interpolation::Nearest,
                "bilinear" => Interpolation::Bilinear,
                _ => return Err(c.err("interpolation", "'nearest' or 'bilinear'")),
            };
            Arc::new(UpSampling::with_interpolation(name, c.tuple("size", r, Some(2))?, interpolation)?)
        }
        "BatchNormalization" => {
            let mut norm = BatchNormalization::new(
                name,
                c.axes("axis", -1)?,
                c.f64_or("momentum", 0.99)?,
                c.f64_or("epsilon", 1e-3)?,
                c.bool_or("center", true)?,
                c.bool_or("scale", true)?,
            )?;
            norm.gamma_regularizer = c.regularizer("gamma_regularizer")?;
            norm.beta_regularizer = c.regularizer("beta_regularizer")?;
            Arc::new(norm)
        }
        "LayerNormalization" => {
            let mut norm = LayerNormalization::new(
                name,
                c.axes("axis", -1)?,
                c.f64_or("epsilon", 1e-3)?,
                c.bool_or("center", true)?,
                c.bool_or("scale", true)?,
            )?;
            norm.gamma_regularizer = c.regularizer("gamma_regularizer")?;
            norm.beta_regularizer = c.regularizer("beta_regularizer")?;
            Arc::new(norm)
        }
        "GroupNormalization" => {
            let mut norm = GroupNormalization::new(
                name,
                c.int_or("groups", 32)?,
                c.int_or("axis", -1)?,
                c.f64_or("epsilon", 1e-3)?,
                c.bool_or("center", true)?,
                c.bool_or("scale", true)?,
            )?;
            norm.gamma_regularizer = c.regularizer("gamma_regularizer")?;
            norm.beta_regularizer = c.regularizer("beta_regularizer")?;
            Arc::new(norm)
        }
        "Embedding" => {
            let mut embedding = Embedding::new(
                name,
                c.positive("input_dim")?,
                c.positive("output_dim")?,
                c.bool_or("mask_zero", false)?,
            )?;
            embedding.embeddings_regularizer = c.regularizer("embeddings_regularizer")?;
            Arc::new(embedding)
        }
        "SimpleRNN" | "LSTM" | "GRU" => recurrent_from_config(&c, None)?.layer,
        "Masking" => Arc::new(Masking::new(name, c.f64_or("mask_value", 0.0)?)),
        "Bidirectional" => {
            let inner = c.get("layer").ok_or_else(|| c.err("layer", "a serialized recurrent layer"))?;
            let (inner_class, inner_config) = class_and_config(inner)?;
            // As the Python layer (and Keras): the wrapped layers zero masked steps' outputs
            // when they return sequences.
            let mut inner_map = inner_config.as_object().cloned().unwrap_or_default();
            let sequences = inner_map.get("return_sequences").and_then(Value::as_bool).unwrap_or(false);
            inner_map.insert("zero_output_for_mask".into(), Value::Bool(sequences));
            let inner_value = Value::Object(inner_map);
            let inner_config = &inner_value;
            let inner_cfg = Cfg::new(inner_class, inner_config)?;
            // A saved wrapper's inner config is its forward layer, already called "forward_<name>".
            let base = inner_cfg.name.strip_prefix("forward_").unwrap_or(&inner_cfg.name).to_string();
            let forward = recurrent_from_config(&inner_cfg, Some(format!("forward_{base}")))?;
            let backward = match c.get("backward_layer") {
                Some(b) => {
                    let (bc, bcfg) = class_and_config(b)?;
                    recurrent_from_config(&Cfg::new(bc, bcfg)?, None)?
                }
                None => {
                    let flipped = !inner_cfg.bool_or("go_backwards", false)?;
                    let mut map = inner_config.as_object().cloned().unwrap_or_default();
                    map.insert("go_backwards".into(), Value::Bool(flipped));
                    let value = Value::Object(map);
                    let cfg = Cfg::new(inner_class, &value)?;
                    recurrent_from_config(&cfg, Some(format!("backward_{base}")))?
                }
            };
            let merge = match c.str_or("merge_mode", "concat")? {
                "concat" => BidirectionalMerge::Concat,
                "sum" => BidirectionalMerge::Sum,
                "mul" => BidirectionalMerge::Mul,
                "ave" => BidirectionalMerge::Ave,
                _ => return Err(c.err("merge_mode", "one of concat, sum, mul, ave")),
            };
            let return_sequences = inner_cfg.bool_or("return_sequences", false)?;
            let layer: Arc<dyn Layer> = Arc::new(Bidirectional::new(
                name,
                forward.layer.clone(),
                backward.layer.clone(),
                merge,
                return_sequences,
            ));
            return finish(&c, Made { layer, same_inputs: vec![forward, backward], per_step: None });
        }
        "TimeDistributed" => {
            let inner = c.get("layer").ok_or_else(|| c.err("layer", "a serialized layer"))?;
            let (inner_class, inner_config) = class_and_config(inner)?;
            let inner = layer_from_config(inner_class, inner_config)?;
            let layer: Arc<dyn Layer> = Arc::new(TimeDistributed::new(name, inner.layer.clone()));
            return finish(&c, Made { layer, same_inputs: Vec::new(), per_step: Some(Box::new(inner)) });
        }
        "Sequential" | "Functional" | "Model" => {
            return Err(bad(format!(
                "layer '{name}' is a nested {class} model; nested models cannot be loaded natively yet"
            )))
        }
        other => {
            return Err(bad(format!(
                "layer '{name}' has class '{other}', which is not a built-in ferrograd layer; \
                 custom Python layers can only be loaded from Python (fg.load_model with the class registered)"
            )))
        }
    };
    finish(&c, Made::plain(layer))
}

fn finish(c: &Cfg<'_>, made: Made) -> Result<Made> {
    if !c.bool_or("trainable", true)? {
        made.layer.core().set_trainable(false)?;
    }
    Ok(made)
}

fn recurrent_from_config(c: &Cfg<'_>, rename: Option<String>) -> Result<Made> {
    let cell = match c.class {
        "SimpleRNN" => RnnCell::Simple,
        "LSTM" => RnnCell::Lstm,
        "GRU" => RnnCell::Gru,
        other => {
            return Err(bad(format!(
                "layer '{}': Bidirectional wraps SimpleRNN, LSTM or GRU, got '{other}'",
                c.name
            )))
        }
    };
    let mut config = RecurrentConfig::new(c.positive("units")?);
    config.activation = c.activation("activation", "tanh")?;
    config.recurrent_activation = c.activation("recurrent_activation", "sigmoid")?;
    config.use_bias = c.bool_or("use_bias", true)?;
    config.return_sequences = c.bool_or("return_sequences", false)?;
    config.return_state = c.bool_or("return_state", false)?;
    config.go_backwards = c.bool_or("go_backwards", false)?;
    config.dropout = c.f64_or("dropout", 0.0)?;
    config.recurrent_dropout = c.f64_or("recurrent_dropout", 0.0)?;
    config.reset_after = c.bool_or("reset_after", true)?;
    config.unit_forget_bias = c.bool_or("unit_forget_bias", true)?;
    config.zero_output_for_mask = c.bool_or("zero_output_for_mask", false)?;
    config.seed = c.get("seed").and_then(Value::as_u64);
    let name = rename.unwrap_or_else(|| c.name.clone());
    let mut layer = Recurrent::new(name, cell, config)?;
    layer.kernel_regularizer = c.regularizer("kernel_regularizer")?;
    layer.recurrent_regularizer = c.regularizer("recurrent_regularizer")?;
    layer.bias_regularizer = c.regularizer("bias_regularizer")?;
    Ok(Made::plain(Arc::new(layer)))
}

fn parse_dtype(v: Option<&Value>) -> Result<Option<DType>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let name = v
                .as_str()
                .or_else(|| {
                    v.get("config")
                        .and_then(|c| c.get("name"))
                        .and_then(Value::as_str)
                })
                .unwrap_or("");
            match name {
                "float32" => Ok(Some(DType::F32)),
                "float64" => Ok(Some(DType::F64)),
                other => Err(bad(format!(
                    "dtype '{other}' is not supported; ferrograd computes in float32 or float64"
                ))),
            }
        }
    }
}

fn batch_shape(config: &Value) -> Result<Shape> {
    let v = config
        .get("batch_shape")
        .or_else(|| config.get("batch_input_shape"))
        .ok_or_else(|| {
            bad(format!(
                "an InputLayer config has no batch_shape: {}",
                short(config)
            ))
        })?;
    v.as_array()
        .ok_or_else(|| bad(format!("batch_shape must be a list, got {v}")))?
        .iter()
        .map(|d| match d {
            Value::Null => Ok(None),
            d => d.as_u64().map(|d| Some(d as usize)).ok_or_else(|| {
                bad(format!(
                    "batch_shape entries must be sizes or null, got {d}"
                ))
            }),
        })
        .collect()
}

/// A graph from Keras 3's model config (`{"class_name": "Sequential" | "Functional", "config":
/// {...}}`), every layer built, ready for weights.
pub fn graph_from_config(model: &Value) -> Result<Graph> {
    graph_from_config_checked(model, None)
}

/// [`graph_from_config`] for a file's config: every weight a layer would create is checked
/// against `expected` (the file's tensor shapes by name) before it is allocated.
pub fn graph_from_config_checked(
    model: &Value,
    expected: Option<&HashMap<String, Vec<usize>>>,
) -> Result<Graph> {
    let (class, config) = class_and_config(model)?;
    let layers = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("the {class} model config has no 'layers' list")))?;
    match class {
        "Sequential" => sequential(config, layers, expected),
        "Functional" | "Model" => functional(config, layers, expected),
        other => Err(bad(format!(
            "model class '{other}' cannot be loaded natively: only Sequential and functional models \
             (a subclassed model's call is Python code)"
        ))),
    }
}

fn sequential(
    config: &Value,
    layers: &[Value],
    expected: Option<&HashMap<String, Vec<usize>>>,
) -> Result<Graph> {
    let mut entries = layers.iter();
    let first = layers
        .first()
        .ok_or_else(|| bad("the Sequential model has no layers"))?;
    let (first_class, first_config) = class_and_config(first)?;
    let (shape, dtype, input_name) = if first_class == "InputLayer" {
        entries.next();
        let name = first_config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("input_layer");
        (
            batch_shape(first_config)?,
            parse_dtype(first_config.get("dtype"))?,
            name.to_string(),
        )
    } else if let Some(shape) = config.get("build_input_shape").filter(|v| !v.is_null()) {
        let wrapped = json!({ "batch_shape": shape });
        (
            batch_shape(&wrapped)?,
            parse_dtype(first_config.get("dtype"))?,
            "input_layer".to_string(),
        )
    } else if let Some(shape) = first_config
        .get("batch_shape")
        .or_else(|| first_config.get("batch_input_shape"))
    {
        let wrapped = json!({ "batch_shape": shape });
        (
            batch_shape(&wrapped)?,
            parse_dtype(first_config.get("dtype"))?,
            "input_layer".to_string(),
        )
    } else {
        return Err(bad("the Sequential model has no input shape (it was never built), so it has no weights to load"));
    };
    let dtype = dtype.unwrap_or(DType::F32);
    let mut graph = Graph::new(dtype);
    let mut value = graph.add_input(input_name, shape);
    for entry in entries {
        let (class, c) = class_and_config(entry)?;
        let made = layer_from_config(class, c)?;
        let name = made.layer.name().to_string();
        made.build_checked(&[graph.shape(value)?.clone()], dtype, expected, &name)?;
        let outputs = graph.add_layer(made.layer.clone(), vec![value])?;
        value = *outputs
            .first()
            .ok_or_else(|| bad(format!("layer of class {class} has no output")))?;
    }
    graph.set_outputs(vec![value])?;
    Ok(graph)
}

/// `[name, node_index, tensor_index]` (Keras's `keras_history` and `input_layers` entries).
fn history(v: &Value) -> Option<(String, usize, usize)> {
    let items = v.as_array()?;
    if items.len() != 3 {
        return None;
    }
    Some((
        items[0].as_str()?.to_string(),
        items[1].as_u64()? as usize,
        items[2].as_u64()? as usize,
    ))
}

/// `input_layers`/`output_layers`: a list of histories, or a single one (Keras 3 writes the
/// single one bare).
fn endpoints(config: &Value, key: &str) -> Result<Vec<(String, usize, usize)>> {
    let v = config
        .get(key)
        .ok_or_else(|| bad(format!("the functional model config has no '{key}'")))?;
    if let Some(one) = history(v) {
        return Ok(vec![one]);
    }
    v.as_array()
        .and_then(|items| items.iter().map(history).collect::<Option<Vec<_>>>())
        .ok_or_else(|| {
            bad(format!(
                "'{key}' must list [layer_name, node_index, tensor_index] entries, got {}",
                short(v)
            ))
        })
}

/// The keras tensors a node's `args` refer to, in order (a tensor, or a list of them).
fn node_inputs(node: &Value) -> Result<Vec<(String, usize, usize)>> {
    fn collect(v: &Value, out: &mut Vec<(String, usize, usize)>) -> Result<()> {
        match v {
            Value::Array(items) => {
                if let Some(h) = history(v).filter(|_| items.first().is_some_and(Value::is_string))
                {
                    out.push(h); // Keras 2's [name, node, tensor, kwargs] style
                    return Ok(());
                }
                for item in items {
                    collect(item, out)?;
                }
                Ok(())
            }
            Value::Object(m)
                if m.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") =>
            {
                let h = m
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(history)
                    .ok_or_else(|| {
                        bad(format!(
                            "a keras tensor without a valid keras_history: {}",
                            short(v)
                        ))
                    })?;
                out.push(h);
                Ok(())
            }
            other => Err(bad(format!(
                "a node argument that is not a tensor cannot be loaded natively: {}",
                short(other)
            ))),
        }
    }
    let mut out = Vec::new();
    match node.get("args") {
        Some(args) => collect(args, &mut out)?,
        None => collect(node, &mut out)?,
    }
    if let Some(kwargs) = node.get("kwargs").and_then(Value::as_object) {
        for (key, v) in kwargs {
            if v.to_string().contains("__keras_tensor__") {
                return Err(bad(format!(
                    "a layer call with the tensor keyword argument '{key}' cannot be loaded natively yet"
                )));
            }
        }
    }
    Ok(out)
}

fn functional(
    config: &Value,
    layers: &[Value],
    expected: Option<&HashMap<String, Vec<usize>>>,
) -> Result<Graph> {
    // Inputs first: their dtype is the graph's.
    let mut dtype = None;
    for entry in layers {
        let (class, c) = class_and_config(entry)?;
        if class == "InputLayer" {
            if let Some(d) = parse_dtype(c.get("dtype"))? {
                dtype = Some(d);
                break;
            }
        }
    }
    let dtype = dtype.unwrap_or(DType::F32);
    let mut graph = Graph::new(dtype);
    // Values by (layer name, node index, tensor index).
    let mut values: HashMap<(String, usize, usize), ValueRef> = HashMap::new();
    // Inputs in `input_layers` order: that is the order the model takes its inputs in.
    for (input, _, _) in endpoints(config, "input_layers")? {
        let entry = layers
            .iter()
            .find(|e| {
                let (class, c) = match class_and_config(e) {
                    Ok(x) => x,
                    Err(_) => return false,
                };
                let name = e
                    .get("name")
                    .or_else(|| c.get("name"))
                    .and_then(Value::as_str);
                class == "InputLayer" && name == Some(input.as_str())
            })
            .ok_or_else(|| {
                bad(format!(
                    "input layer '{input}' is not an InputLayer of the model"
                ))
            })?;
        let (_, c) = class_and_config(entry)?;
        let r = graph.add_input(input.clone(), batch_shape(c)?);
        values.insert((input, 0, 0), r);
    }

    // Layer nodes, in as many passes as the order of `layers` needs (Keras allows a layer to
    // appear before the layers its later nodes depend on).
    struct Pending<'a> {
        made: Made,
        name: String,
        nodes: Vec<&'a Value>,
        next: usize,
    }
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for entry in layers {
        let (class, c) = class_and_config(entry)?;
        if class == "InputLayer" {
            continue;
        }
        let made = layer_from_config(class, c)?;
        let nodes = entry
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .map(|n| n.iter().collect())
            .unwrap_or_default();
        pending.push(Pending {
            name: made.layer.name().to_string(),
            made,
            nodes,
            next: 0,
        });
    }
    loop {
        let mut progressed = false;
        for p in pending.iter_mut() {
            while p.next < p.nodes.len() {
                let inputs = node_inputs(p.nodes[p.next])?;
                let refs: Option<Vec<ValueRef>> =
                    inputs.iter().map(|k| values.get(k).copied()).collect();
                let Some(refs) = refs else { break };
                let shapes = refs
                    .iter()
                    .map(|r| graph.shape(*r).cloned())
                    .collect::<Result<Vec<_>>>()?;
                if p.next == 0 {
                    p.made.build_checked(&shapes, dtype, expected, &p.name)?;
                }
                let outs = graph.add_layer(p.made.layer.clone(), refs)?;
                for (i, r) in outs.into_iter().enumerate() {
                    values.insert((p.name.clone(), p.next, i), r);
                }
                p.next += 1;
                progressed = true;
            }
        }
        if pending.iter().all(|p| p.next == p.nodes.len()) {
            break;
        }
        if !progressed {
            let stuck = pending
                .iter()
                .find(|p| p.next < p.nodes.len())
                .expect("one is pending");
            return Err(bad(format!(
                "layer '{}' is called on tensors no layer of the model produces (its node {} is unreachable)",
                stuck.name, stuck.next
            )));
        }
    }
    let outputs = endpoints(config, "output_layers")?
        .into_iter()
        .map(|k| {
            values.get(&k).copied().ok_or_else(|| {
                bad(format!(
                    "output [{}, {}, {}] is not produced by any layer",
                    k.0, k.1, k.2
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    graph.set_outputs(outputs)?;
    Ok(graph)
}

// ----- writing configs of native models

/// Keras's serialized form of an engine layer, for models built natively in Rust.
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
        bad(format!(
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

fn shape_value(shape: &Shape) -> Value {
    Value::Array(
        shape
            .iter()
            .map(|d| d.map_or(Value::Null, |d| json!(d)))
            .collect(),
    )
}

/// Keras 3's functional config of an engine graph (every model is written as a functional one:
/// a Sequential is the chain case).
pub fn model_config(graph: &Graph) -> Result<Value> {
    let dtype = crate::saving::file::dtype_name(graph.dtype());
    let mut layers = Vec::new();
    let mut node_counts: HashMap<String, usize> = HashMap::new();
    let mut produced: HashMap<ValueRef, (String, usize, usize)> = HashMap::new();
    let mut entries: HashMap<String, usize> = HashMap::new();
    for (index, node) in graph.nodes().iter().enumerate() {
        match node {
            Node::Input { name, shape } => {
                layers.push(json!({
                    "module": "keras.layers", "class_name": "InputLayer", "name": name,
                    "config": {"batch_shape": shape_value(shape), "dtype": dtype, "sparse": false, "name": name},
                    "registered_name": null, "inbound_nodes": []
                }));
                produced.insert(
                    ValueRef {
                        node: index,
                        output: 0,
                    },
                    (name.clone(), 0, 0),
                );
            }
            Node::Layer { layer, inputs } => {
                let name = layer.name().to_string();
                let args: Vec<Value> = inputs
                    .iter()
                    .map(|r| {
                        let (n, k, t) = produced.get(r).cloned().expect("inputs come first");
                        let shape = graph.shape(*r).map(shape_value).unwrap_or(Value::Null);
                        json!({"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": dtype, "keras_history": [n, k, t]}})
                    })
                    .collect();
                let args = if args.len() == 1 {
                    args
                } else {
                    vec![Value::Array(args)]
                };
                let node_index = *node_counts.entry(name.clone()).or_insert(0);
                *node_counts.get_mut(&name).expect("inserted") += 1;
                let outputs = (0..)
                    .take_while(|&i| {
                        graph
                            .shape(ValueRef {
                                node: index,
                                output: i,
                            })
                            .is_ok()
                    })
                    .count();
                for i in 0..outputs {
                    produced.insert(
                        ValueRef {
                            node: index,
                            output: i,
                        },
                        (name.clone(), node_index, i),
                    );
                }
                let node = json!({"args": args, "kwargs": {}});
                match entries.get(&name) {
                    Some(&at) => layers[at]["inbound_nodes"]
                        .as_array_mut()
                        .expect("a list")
                        .push(node),
                    None => {
                        let mut entry = layer_config(layer.as_ref())?;
                        entry["name"] = Value::String(name.clone());
                        entry["inbound_nodes"] = json!([node]);
                        entries.insert(name.clone(), layers.len());
                        layers.push(entry);
                    }
                }
            }
        }
    }
    let inputs: Vec<Value> = graph
        .inputs()
        .iter()
        .map(|&n| {
            let (name, k, t) = produced[&ValueRef { node: n, output: 0 }].clone();
            json!([name, k, t])
        })
        .collect();
    let outputs: Vec<Value> = graph
        .outputs()
        .iter()
        .map(|r| {
            let (name, k, t) = produced[r].clone();
            json!([name, k, t])
        })
        .collect();
    Ok(json!({
        "module": "keras", "class_name": "Functional", "registered_name": null,
        "config": {"name": "model", "trainable": true, "layers": layers, "input_layers": inputs, "output_layers": outputs}
    }))
}
