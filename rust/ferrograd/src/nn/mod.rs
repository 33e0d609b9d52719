//! Layers: the [`Layer`] trait and Keras's core layers, each a few ops of the engine.
//!
//! A layer owns its weights (as [`Weight`]s in a [`LayerCore`]), knows the shape of its output
//! for given input shapes, and computes its output with the engine's differentiable ops, so the
//! graph that [`crate::autodiff`] walks is built by `call` itself. Shapes use `None` for the
//! batch axis (and any other axis not known until data arrives), as Keras's `(None, 784)`.
//!
//! Weights are created by [`build`] from the layer's own initializers (the native Rust path), or
//! added one by one by a front end (the Python package creates them with Keras's initializer
//! objects and hands them over with [`LayerCore::add_weight`]). Either way they live in the
//! layer in Keras's order (`Dense`: kernel, bias).
//!
//! ```
//! use ferrograd::nn::{build, Activation, Dense, Layer};
//! use ferrograd::{DType, Tensor};
//!
//! let dense = Dense::new("dense", 3, Activation::Relu, true);
//! build(&dense, &[vec![None, Some(4)]], DType::F32).unwrap();
//! let x = Tensor::zeros(&[2, 4], DType::F32);
//! let y = dense.call(&[x], false).unwrap();
//! assert_eq!(y[0].shape(), vec![2, 3]);
//! assert_eq!(dense.weights()[0].value.shape(), vec![4, 3]); // Keras layout (in, units)
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::regularizers::Regularizer;
use crate::tensor::{DType, Tensor};

mod activation;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod masking;
mod merge;
mod normalization;
mod pooling;
mod prelu;
mod recurrent;
pub mod registry;
mod reshaping;
mod time_distributed;

pub use activation::{Activation, ActivationLayer};
pub use conv::{Conv, ConvTranspose, DepthwiseConv, Padding, SeparableConv};
pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use masking::{pass_mask, Masking};
pub use merge::{Merge, MergeOp};
pub use normalization::{BatchNormalization, GroupNormalization, LayerNormalization};
pub use pooling::{
    Cropping, GlobalPooling, Interpolation, PoolMode, Pooling, UpSampling, ZeroPadding,
};
pub use prelu::PRelu;
pub use recurrent::{Bidirectional, BidirectionalMerge, Recurrent, RecurrentConfig};
pub use registry::{layer_config, layer_from_config, LayerClass, Made};
pub use reshaping::{Flatten, Reshape};
pub use time_distributed::TimeDistributed;

/// A shape with unknown axes as `None` (the batch axis of a symbolic input).
pub type Shape = Vec<Option<usize>>;

/// Formats a shape as Keras prints it: `(None, 28, 28)`.
pub fn format_shape(shape: &[Option<usize>]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("None".to_string(), |d| d.to_string()))
        .collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// The shape of a concrete tensor as a [`Shape`].
pub fn known(shape: &[usize]) -> Shape {
    shape.iter().map(|&d| Some(d)).collect()
}

/// A layer's variable with what the training loop needs to know about it.
#[derive(Clone)]
pub struct Weight {
    /// Keras's name within the layer (`kernel`, `bias`, `alpha`, ...).
    pub name: String,
    /// The variable itself; optimizers update its data in place.
    pub value: Tensor,
    /// Whether optimizers update it (also false for every weight of a frozen layer).
    pub trainable: bool,
    /// A penalty added to the loss during training.
    pub regularizer: Option<Regularizer>,
}

/// What a weight needs to be created natively: its shape, initializer and role.
#[derive(Debug, Clone)]
pub struct WeightSpec {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub initializer: Initializer,
    pub trainable: bool,
    pub regularizer: Option<Regularizer>,
}

/// The state every layer shares: its name, whether it trains, and its weights.
pub struct LayerCore {
    name: String,
    trainable: AtomicBool,
    weights: RwLock<Vec<Weight>>,
    built: AtomicBool,
}

impl LayerCore {
    pub fn new(name: impl Into<String>) -> LayerCore {
        LayerCore {
            name: name.into(),
            trainable: AtomicBool::new(true),
            weights: RwLock::new(Vec::new()),
            built: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn trainable(&self) -> bool {
        self.trainable.load(Ordering::Relaxed)
    }

    /// Freezes or unfreezes the layer; frozen weights stop recording gradients.
    pub fn set_trainable(&self, trainable: bool) -> Result<()> {
        self.trainable.store(trainable, Ordering::Relaxed);
        for w in self.weights.read().expect("weights lock").iter() {
            w.value.set_requires_grad(w.trainable && trainable)?;
        }
        Ok(())
    }

    /// The weights in creation order; a frozen layer reports all of them as not trainable.
    pub fn weights(&self) -> Vec<Weight> {
        let frozen = !self.trainable();
        self.weights
            .read()
            .expect("weights lock")
            .iter()
            .map(|w| Weight {
                trainable: w.trainable && !frozen,
                ..w.clone()
            })
            .collect()
    }

    /// The weight called `name`.
    pub fn weight(&self, name: &str) -> Option<Tensor> {
        self.weights
            .read()
            .expect("weights lock")
            .iter()
            .find(|w| w.name == name)
            .map(|w| w.value.clone())
    }

    /// Adds a weight (in Keras's order: the front end calls this as Keras's `add_weight`).
    /// Trainable weights record gradients.
    pub fn add_weight(&self, weight: Weight) -> Result<()> {
        weight
            .value
            .set_requires_grad(weight.trainable && self.trainable())?;
        self.weights.write().expect("weights lock").push(weight);
        Ok(())
    }

    pub fn built(&self) -> bool {
        self.built.load(Ordering::Relaxed)
    }

    /// Marks the layer built (its weights are all there).
    pub fn set_built(&self) {
        self.built.store(true, Ordering::Relaxed);
    }

    /// An error for a layer called before its weights exist.
    pub fn require_built(&self) -> Result<()> {
        if self.built() {
            Ok(())
        } else {
            Err(Error::Argument {
                op: "layer",
                message: format!(
                    "layer '{}' is not built: call build(input_shape) or call it on data first",
                    self.name
                ),
            })
        }
    }
}

/// A layer: a function of its inputs and weights, built by the engine's differentiable ops.
pub trait Layer: Send + Sync {
    /// The shared state (name, trainable flag, weights).
    fn core(&self) -> &LayerCore;

    /// Keras's class name (`"Dense"`, `"ReLU"`, ...).
    fn class_name(&self) -> &str;

    fn name(&self) -> &str {
        self.core().name()
    }

    /// The weights that inputs of these shapes need, with the layer's initializers.
    fn weight_specs(&self, _input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        Ok(Vec::new())
    }

    /// The output shapes for inputs of these shapes (validating them).
    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>>;

    /// The outputs, recorded in the autodiff graph. `training` switches dropout and the like.
    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>>;

    /// All weights in creation order.
    fn weights(&self) -> Vec<Weight> {
        self.core().weights()
    }

    /// Keras's `compute_mask`: the masks of the outputs, given the inputs and their masks
    /// (`None` where a value has none). A mask says which time steps of a `(batch, time, ...)`
    /// value count, as a `(batch, time)` tensor of 0/1. The default is Keras's rule for a layer
    /// without masking support: the mask ends here (an empty list: no output has a mask).
    /// Layers that keep their input's steps (Dense, Dropout, activations, normalization) pass
    /// it on with [`pass_mask`]; `Embedding(mask_zero=True)` and `Masking` make one; recurrent
    /// layers consume it.
    fn compute_mask(
        &self,
        _inputs: &[Tensor],
        _masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(Vec::new())
    }

    /// `call` given the inputs' masks, for layers whose computation uses them (Keras passes
    /// `mask=` to a `call` that takes one). The graph calls it only when some input has a
    /// mask, so unmasked models pay nothing; the default ignores the masks.
    fn call_masked(
        &self,
        inputs: &[Tensor],
        _masks: &[Option<Tensor>],
        training: bool,
    ) -> Result<Vec<Tensor>> {
        self.call(inputs, training)
    }

    /// Adjusts the weights right after a native [`build`] created them, for initializations
    /// one [`Initializer`] cannot express (the LSTM's `unit_forget_bias`). Front ends that
    /// create the weights themselves apply their own initializers instead.
    fn after_build(&self) -> Result<()> {
        Ok(())
    }

    /// Keras's config of the layer without `name` and `trainable` (the arguments that define
    /// what it computes), so that a model built natively can be saved
    /// ([`registry::layer_config`]); `None` for a layer that cannot describe itself. The same
    /// keys are read back by the layer's `from_config`, in the same file.
    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        None
    }
}

/// A JSON object from `key: value` pairs, for [`Layer::config`].
pub(crate) fn config_of(
    pairs: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    Some(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Creates a layer's weights natively from its [`WeightSpec`]s (Keras's `build`); does
/// nothing when it is already built.
pub fn build(layer: &dyn Layer, input_shapes: &[Shape], dtype: DType) -> Result<()> {
    let core = layer.core();
    if core.built() {
        return Ok(());
    }
    layer.output_shapes(input_shapes)?;
    for spec in layer.weight_specs(input_shapes)? {
        let value = spec.initializer.sample(&spec.shape, dtype, None)?;
        core.add_weight(Weight {
            name: spec.name.to_string(),
            value,
            trainable: spec.trainable,
            regularizer: spec.regularizer,
        })?;
    }
    layer.after_build()?;
    core.set_built();
    Ok(())
}

/// Checks the number of inputs a layer got.
pub(crate) fn expect_inputs<T>(layer: &str, inputs: &[T], count: usize) -> Result<()> {
    if inputs.len() == count {
        Ok(())
    } else {
        Err(Error::Argument {
            op: "layer",
            message: format!(
                "layer '{layer}' expects {count} input(s), got {}",
                inputs.len()
            ),
        })
    }
}

/// The one input of a single-input layer.
pub(crate) fn single<'a, T>(layer: &str, inputs: &'a [T]) -> Result<&'a T> {
    expect_inputs(layer, inputs, 1)?;
    Ok(&inputs[0])
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub fn t32(shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::from_vec(shape, values.to_vec()).unwrap()
    }

    pub fn values(t: &Tensor) -> Vec<f64> {
        t.to_f64().iter().copied().collect()
    }
}
