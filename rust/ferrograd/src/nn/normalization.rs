//! Normalization layers with Keras's semantics: `BatchNormalization` (batch statistics in
//! training, moving statistics in inference), `LayerNormalization` and `GroupNormalization`.
//! Each is one fused op of [`crate::ops`].

use super::*;
use crate::tensor::Storage;

/// Resolves Keras's `axis` (an int or a list) against a shape, with an error naming the layer.
fn resolve_axes(
    class: &'static str,
    layer: &str,
    axes: &[isize],
    shape: &Shape,
) -> Result<Vec<usize>> {
    let ndim = shape.len() as isize;
    let mut resolved = Vec::with_capacity(axes.len());
    for &axis in axes {
        let a = if axis < 0 { axis + ndim } else { axis };
        if a < 0 || a >= ndim {
            return Err(Error::argument(
                class,
                format!(
                    "layer '{layer}': axis {axis} is out of range for input shape {} (rank {ndim})",
                    format_shape(shape)
                ),
            ));
        }
        resolved.push(a as usize);
    }
    resolved.sort_unstable();
    let before = resolved.len();
    resolved.dedup();
    if resolved.is_empty() || resolved.len() != before {
        return Err(Error::argument(
            class,
            format!("layer '{layer}': axis must be one or more distinct axes, got {axes:?}"),
        ));
    }
    Ok(resolved)
}

/// The sizes of `axes`, which must be known (they size the weights).
fn known_sizes(
    class: &'static str,
    layer: &str,
    axes: &[usize],
    shape: &Shape,
) -> Result<Vec<usize>> {
    axes.iter()
        .map(|&a| {
            shape[a].ok_or_else(|| {
                Error::shape(
                    class,
                    format!(
                        "layer '{layer}': axis {a} of the input should have a defined dimension, \
                         but the layer received an input with shape {}",
                        format_shape(shape)
                    ),
                )
            })
        })
        .collect()
}

/// Checks a concrete input against the parameter shape the layer was built for.
fn check_built_for(
    class: &'static str,
    layer: &str,
    x: &Tensor,
    axes: &[isize],
    built: &[usize],
) -> Result<Vec<usize>> {
    let shape = known(&x.shape());
    let resolved = resolve_axes(class, layer, axes, &shape)?;
    let sizes: Vec<usize> = resolved.iter().map(|&a| x.shape()[a]).collect();
    if sizes != built {
        return Err(Error::shape(
            class,
            format!(
                "layer '{layer}' was built for sizes {built:?} on axis {axes:?}, got input shape {}",
                format_shape(&shape)
            ),
        ));
    }
    Ok(resolved)
}

fn spec(
    name: &'static str,
    shape: &[usize],
    initializer: Initializer,
    trainable: bool,
    regularizer: Option<Regularizer>,
) -> WeightSpec {
    WeightSpec {
        name,
        shape: shape.to_vec(),
        initializer,
        trainable,
        regularizer,
    }
}

/// Keras's `BatchNormalization`: in training, normalizes each feature (an index along `axis`)
/// by the batch's mean and biased variance and updates the moving statistics in place as
/// `moving = moving * momentum + batch * (1 - momentum)`; in inference (or when frozen, as
/// Keras) it normalizes with the moving statistics. Weights in Keras's order: gamma, beta
pub(crate) const CLASSES: &[LayerClass] = &[
    LayerClass {
        name: "BatchNormalization",
        make: |c, _| Ok(Made::plain(BatchNormalization::from_config(c)?)),
    },
    LayerClass {
        name: "LayerNormalization",
        make: |c, _| Ok(Made::plain(LayerNormalization::from_config(c)?)),
    },
    LayerClass {
        name: "GroupNormalization",
        make: |c, _| Ok(Made::plain(GroupNormalization::from_config(c)?)),
    },
];

/// (trainable), moving_mean, moving_variance (not trainable).
pub struct BatchNormalization {
    core: LayerCore,
    axis: Vec<isize>,
    momentum: f64,
    epsilon: f64,
    center: bool,
    scale: bool,
    pub gamma_initializer: Initializer,
    pub beta_initializer: Initializer,
    pub moving_mean_initializer: Initializer,
    pub moving_variance_initializer: Initializer,
    pub gamma_regularizer: Option<Regularizer>,
    pub beta_regularizer: Option<Regularizer>,
}

impl BatchNormalization {
    /// Keras's `BatchNormalization` config: `axis` (-1), `momentum` (0.99), `epsilon` (1e-3),
    /// `center`, `scale` (true), gamma and beta regularizers (none).
    pub fn from_config(c: &Config<'_>) -> Result<BatchNormalization> {
        let mut norm = BatchNormalization::new(
            c.required_name()?,
            c.ints_or("axis", &[-1])?,
            c.f64_or("momentum", 0.99)?,
            c.f64_or("epsilon", 1e-3)?,
            c.bool_or("center", true)?,
            c.bool_or("scale", true)?,
        )?;
        norm.gamma_regularizer = c.object("gamma_regularizer")?;
        norm.beta_regularizer = c.object("beta_regularizer")?;
        Ok(norm)
    }

    /// Keras's defaults are `axis=[-1]`, `momentum=0.99`, `epsilon=1e-3`, center and scale.
    pub fn new(
        name: impl Into<String>,
        axis: Vec<isize>,
        momentum: f64,
        epsilon: f64,
        center: bool,
        scale: bool,
    ) -> Result<BatchNormalization> {
        let name = name.into();
        if !(0.0..=1.0).contains(&momentum) {
            return Err(Error::argument(
                "BatchNormalization",
                format!("layer '{name}': momentum must be in [0, 1], got {momentum}"),
            ));
        }
        if epsilon.is_nan() || epsilon <= 0.0 {
            return Err(Error::argument(
                "BatchNormalization",
                format!("layer '{name}': epsilon must be > 0, got {epsilon}"),
            ));
        }
        Ok(BatchNormalization {
            core: LayerCore::new(name),
            axis,
            momentum,
            epsilon,
            center,
            scale,
            gamma_initializer: Initializer::Ones,
            beta_initializer: Initializer::Zeros,
            moving_mean_initializer: Initializer::Zeros,
            moving_variance_initializer: Initializer::Ones,
            gamma_regularizer: None,
            beta_regularizer: None,
        })
    }

    pub fn axis(&self) -> &[isize] {
        &self.axis
    }

    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    fn param_shape(&self, shape: &Shape) -> Result<Vec<usize>> {
        let axes = resolve_axes("BatchNormalization", self.name(), &self.axis, shape)?;
        known_sizes("BatchNormalization", self.name(), &axes, shape)
    }

    /// `moving * momentum + batch * (1 - momentum)`, Keras's form (PyTorch's momentum is
    /// `1 - momentum`), in place.
    fn update_moving(&self, moving: &Tensor, batch: &Tensor) -> Result<()> {
        let momentum = self.momentum;
        let updated = moving.to_f64() * momentum + batch.to_f64() * (1.0 - momentum);
        moving.assign(Storage::from_array(updated))
    }
}

impl Layer for BatchNormalization {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "BatchNormalization"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        let axis = if self.axis.len() == 1 {
            json!(self.axis[0])
        } else {
            json!(self.axis)
        };
        config_of([
            ("axis", axis),
            ("momentum", json!(self.momentum)),
            ("epsilon", json!(self.epsilon)),
            ("center", json!(self.center)),
            ("scale", json!(self.scale)),
            (
                "beta_regularizer",
                crate::regularizers::to_config(self.beta_regularizer),
            ),
            (
                "gamma_regularizer",
                crate::regularizers::to_config(self.gamma_regularizer),
            ),
        ])
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let shape = self.param_shape(single(self.name(), input_shapes)?)?;
        let mut specs = Vec::new();
        if self.scale {
            specs.push(spec(
                "gamma",
                &shape,
                self.gamma_initializer,
                true,
                self.gamma_regularizer,
            ));
        }
        if self.center {
            specs.push(spec(
                "beta",
                &shape,
                self.beta_initializer,
                true,
                self.beta_regularizer,
            ));
        }
        specs.push(spec(
            "moving_mean",
            &shape,
            self.moving_mean_initializer,
            false,
            None,
        ));
        specs.push(spec(
            "moving_variance",
            &shape,
            self.moving_variance_initializer,
            false,
            None,
        ));
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        self.param_shape(shape)?;
        Ok(vec![shape.clone()])
    }

    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let moving_mean = self
            .core
            .weight("moving_mean")
            .expect("built BN has moving_mean");
        let moving_variance = self
            .core
            .weight("moving_variance")
            .expect("built BN has moving_variance");
        check_built_for(
            "BatchNormalization",
            self.name(),
            x,
            &self.axis,
            &moving_mean.shape(),
        )?;
        let gamma = self.core.weight("gamma");
        let beta = self.core.weight("beta");
        // A frozen BatchNormalization runs in inference mode even in training (Keras 3).
        if training && self.core.trainable() {
            let out = x.batch_norm(gamma.as_ref(), beta.as_ref(), &self.axis, self.epsilon)?;
            self.update_moving(&moving_mean, &out.mean)?;
            self.update_moving(&moving_variance, &out.variance)?;
            Ok(vec![out.output])
        } else {
            Ok(vec![x.batch_norm_inference(
                gamma.as_ref(),
                beta.as_ref(),
                &moving_mean,
                &moving_variance,
                &self.axis,
                self.epsilon,
            )?])
        }
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

/// Keras's `LayerNormalization`: each sample normalized over `axis` (one or more axes), scaled
/// by gamma and shifted by beta shaped as those axes.
pub struct LayerNormalization {
    core: LayerCore,
    axis: Vec<isize>,
    epsilon: f64,
    center: bool,
    scale: bool,
    pub gamma_initializer: Initializer,
    pub beta_initializer: Initializer,
    pub gamma_regularizer: Option<Regularizer>,
    pub beta_regularizer: Option<Regularizer>,
}

impl LayerNormalization {
    /// Keras's `LayerNormalization` config: `axis` (-1), `epsilon` (1e-3), `center`, `scale`
    /// (true), gamma and beta regularizers (none).
    pub fn from_config(c: &Config<'_>) -> Result<LayerNormalization> {
        let mut norm = LayerNormalization::new(
            c.required_name()?,
            c.ints_or("axis", &[-1])?,
            c.f64_or("epsilon", 1e-3)?,
            c.bool_or("center", true)?,
            c.bool_or("scale", true)?,
        )?;
        norm.gamma_regularizer = c.object("gamma_regularizer")?;
        norm.beta_regularizer = c.object("beta_regularizer")?;
        Ok(norm)
    }

    pub fn new(
        name: impl Into<String>,
        axis: Vec<isize>,
        epsilon: f64,
        center: bool,
        scale: bool,
    ) -> Result<LayerNormalization> {
        let name = name.into();
        if epsilon.is_nan() || epsilon <= 0.0 {
            return Err(Error::argument(
                "LayerNormalization",
                format!("layer '{name}': epsilon must be > 0, got {epsilon}"),
            ));
        }
        Ok(LayerNormalization {
            core: LayerCore::new(name),
            axis,
            epsilon,
            center,
            scale,
            gamma_initializer: Initializer::Ones,
            beta_initializer: Initializer::Zeros,
            gamma_regularizer: None,
            beta_regularizer: None,
        })
    }

    fn param_shape(&self, shape: &Shape) -> Result<Vec<usize>> {
        let axes = resolve_axes("LayerNormalization", self.name(), &self.axis, shape)?;
        known_sizes("LayerNormalization", self.name(), &axes, shape)
    }
}

impl Layer for LayerNormalization {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "LayerNormalization"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        let axis = if self.axis.len() == 1 {
            json!(self.axis[0])
        } else {
            json!(self.axis)
        };
        config_of([
            ("axis", axis),
            ("epsilon", json!(self.epsilon)),
            ("center", json!(self.center)),
            ("scale", json!(self.scale)),
            (
                "beta_regularizer",
                crate::regularizers::to_config(self.beta_regularizer),
            ),
            (
                "gamma_regularizer",
                crate::regularizers::to_config(self.gamma_regularizer),
            ),
        ])
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let shape = self.param_shape(single(self.name(), input_shapes)?)?;
        let mut specs = Vec::new();
        if self.scale {
            specs.push(spec(
                "gamma",
                &shape,
                self.gamma_initializer,
                true,
                self.gamma_regularizer,
            ));
        }
        if self.center {
            specs.push(spec(
                "beta",
                &shape,
                self.beta_initializer,
                true,
                self.beta_regularizer,
            ));
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        self.param_shape(shape)?;
        Ok(vec![shape.clone()])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let gamma = self.core.weight("gamma");
        let beta = self.core.weight("beta");
        if let Some(param) = gamma.as_ref().or(beta.as_ref()) {
            check_built_for(
                "LayerNormalization",
                self.name(),
                x,
                &self.axis,
                &param.shape(),
            )?;
        }
        Ok(vec![x.layer_norm(
            gamma.as_ref(),
            beta.as_ref(),
            &self.axis,
            self.epsilon,
        )?])
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

/// Keras's `GroupNormalization`: the channels on `axis` split into `groups` groups, each
/// sample's group normalized over its channels and all non-batch axes, then scaled and shifted
/// per channel. `groups = -1` is one group per channel (instance normalization), as Keras.
pub struct GroupNormalization {
    core: LayerCore,
    groups: isize,
    axis: isize,
    epsilon: f64,
    center: bool,
    scale: bool,
    pub gamma_initializer: Initializer,
    pub beta_initializer: Initializer,
    pub gamma_regularizer: Option<Regularizer>,
    pub beta_regularizer: Option<Regularizer>,
}

impl GroupNormalization {
    /// Keras's `GroupNormalization` config: `groups` (32), `axis` (-1), `epsilon` (1e-3),
    /// `center`, `scale` (true), gamma and beta regularizers (none).
    pub fn from_config(c: &Config<'_>) -> Result<GroupNormalization> {
        let mut norm = GroupNormalization::new(
            c.required_name()?,
            c.int_or("groups", 32)?,
            c.int_or("axis", -1)?,
            c.f64_or("epsilon", 1e-3)?,
            c.bool_or("center", true)?,
            c.bool_or("scale", true)?,
        )?;
        norm.gamma_regularizer = c.object("gamma_regularizer")?;
        norm.beta_regularizer = c.object("beta_regularizer")?;
        Ok(norm)
    }

    pub fn new(
        name: impl Into<String>,
        groups: isize,
        axis: isize,
        epsilon: f64,
        center: bool,
        scale: bool,
    ) -> Result<GroupNormalization> {
        let name = name.into();
        if groups == 0 || groups < -1 {
            return Err(Error::argument(
                "GroupNormalization",
                format!("layer '{name}': groups must be a positive number or -1, got {groups}"),
            ));
        }
        if epsilon.is_nan() || epsilon <= 0.0 {
            return Err(Error::argument(
                "GroupNormalization",
                format!("layer '{name}': epsilon must be > 0, got {epsilon}"),
            ));
        }
        Ok(GroupNormalization {
            core: LayerCore::new(name),
            groups,
            axis,
            epsilon,
            center,
            scale,
            gamma_initializer: Initializer::Ones,
            beta_initializer: Initializer::Zeros,
            gamma_regularizer: None,
            beta_regularizer: None,
        })
    }

    /// `(channels, groups)` for an input shape, with Keras's checks.
    fn channels_and_groups(&self, shape: &Shape) -> Result<(usize, usize)> {
        let class = "GroupNormalization";
        if shape.len() < 2 {
            return Err(Error::shape(
                class,
                format!(
                    "layer '{}' expects inputs of rank >= 2 (batch, ..., channels), got input shape {}",
                    self.name(),
                    format_shape(shape)
                ),
            ));
        }
        let axis = resolve_axes(class, self.name(), &[self.axis], shape)?[0];
        if axis == 0 {
            return Err(Error::argument(
                class,
                format!(
                    "layer '{}': axis 0 is the batch axis; the channel axis must be another one",
                    self.name()
                ),
            ));
        }
        let channels = known_sizes(class, self.name(), &[axis], shape)?[0];
        let groups = if self.groups == -1 {
            channels
        } else {
            self.groups as usize
        };
        if groups > channels {
            return Err(Error::argument(
                class,
                format!(
                    "layer '{}': number of groups ({groups}) cannot be more than the number of \
                     channels ({channels}) of input shape {}",
                    self.name(),
                    format_shape(shape)
                ),
            ));
        }
        if channels % groups != 0 {
            return Err(Error::argument(
                class,
                format!(
                    "layer '{}': number of groups ({groups}) must be a multiple of the number of \
                     channels ({channels}) of input shape {}: channels are not divisible by groups",
                    self.name(),
                    format_shape(shape)
                ),
            ));
        }
        Ok((channels, groups))
    }
}

impl Layer for GroupNormalization {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "GroupNormalization"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        config_of([
            ("groups", json!(self.groups)),
            ("axis", json!(self.axis)),
            ("epsilon", json!(self.epsilon)),
            ("center", json!(self.center)),
            ("scale", json!(self.scale)),
            (
                "beta_regularizer",
                crate::regularizers::to_config(self.beta_regularizer),
            ),
            (
                "gamma_regularizer",
                crate::regularizers::to_config(self.gamma_regularizer),
            ),
        ])
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let (channels, _) = self.channels_and_groups(single(self.name(), input_shapes)?)?;
        let mut specs = Vec::new();
        if self.scale {
            specs.push(spec(
                "gamma",
                &[channels],
                self.gamma_initializer,
                true,
                self.gamma_regularizer,
            ));
        }
        if self.center {
            specs.push(spec(
                "beta",
                &[channels],
                self.beta_initializer,
                true,
                self.beta_regularizer,
            ));
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        self.channels_and_groups(shape)?;
        Ok(vec![shape.clone()])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let (_, groups) = self.channels_and_groups(&known(&x.shape()))?;
        let gamma = self.core.weight("gamma");
        let beta = self.core.weight("beta");
        if let Some(param) = gamma.as_ref().or(beta.as_ref()) {
            check_built_for(
                "GroupNormalization",
                self.name(),
                x,
                &[self.axis],
                &param.shape(),
            )?;
        }
        Ok(vec![x.group_norm(
            gamma.as_ref(),
            beta.as_ref(),
            groups,
            self.axis,
            self.epsilon,
        )?])
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
    fn batch_normalization_updates_moving_statistics_in_keras_form() {
        let bn = BatchNormalization::new("bn", vec![-1], 0.9, 1e-3, true, true).unwrap();
        build(&bn, &[vec![None, Some(2)]], DType::F64).unwrap();
        let names: Vec<String> = bn.weights().iter().map(|w| w.name.clone()).collect();
        assert_eq!(names, ["gamma", "beta", "moving_mean", "moving_variance"]);
        let trainable: Vec<bool> = bn.weights().iter().map(|w| w.trainable).collect();
        assert_eq!(trainable, [true, true, false, false]);
        let x = Tensor::from_vec(&[2, 2], vec![1.0f64, 10.0, 3.0, 20.0]).unwrap();
        bn.call(std::slice::from_ref(&x), true).unwrap();
        // batch mean (2, 15), biased variance (1, 25): moving = init * 0.9 + batch * 0.1
        let close = |actual: Vec<f64>, expected: [f64; 2]| {
            assert!(
                actual
                    .iter()
                    .zip(expected)
                    .all(|(a, e)| (a - e).abs() < 1e-12),
                "{actual:?} != {expected:?}"
            );
        };
        let w = bn.weights();
        close(values(&w[2].value), [0.2, 1.5]);
        close(values(&w[3].value), [1.0, 3.4]);
        // inference leaves them alone
        bn.call(&[x], false).unwrap();
        close(values(&bn.weights()[2].value), [0.2, 1.5]);
    }

    #[test]
    fn normalization_layers_report_bad_axes_and_groups() {
        let bn = BatchNormalization::new("bn", vec![3], 0.99, 1e-3, true, true).unwrap();
        let err = bn.output_shapes(&[vec![None, Some(4)]]).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let bn = BatchNormalization::new("bn", vec![-1], 0.99, 1e-3, true, true).unwrap();
        let err = bn.output_shapes(&[vec![Some(2), None]]).unwrap_err();
        assert!(err.to_string().contains("defined dimension"), "{err}");
        let gn = GroupNormalization::new("gn", 4, -1, 1e-3, true, true).unwrap();
        let err = gn.output_shapes(&[vec![None, Some(6)]]).unwrap_err();
        assert!(err.to_string().contains("not divisible"), "{err}");
        let ln = LayerNormalization::new("ln", vec![-1], 1e-3, true, true).unwrap();
        build(&ln, &[vec![None, Some(3)]], DType::F32).unwrap();
        let err = ln
            .call(&[Tensor::zeros(&[2, 4], DType::F32)], false)
            .unwrap_err();
        assert!(err.to_string().contains("built for"), "{err}");
    }
}
