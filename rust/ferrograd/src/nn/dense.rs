//! `Dense`: `activation(x @ kernel + bias)` on the last axis of an input of any rank, with
//! Keras's layout (kernel `(in, units)`) and defaults (Glorot-uniform kernel, zero bias).

use super::*;
use crate::ops::FusedActivation;

pub(crate) const CLASSES: &[LayerClass] = &[LayerClass {
    name: "Dense",
    make: |c, _| Ok(Made::plain(Dense::from_config(c)?)),
}];

/// Keras's `Dense` layer.
pub struct Dense {
    core: LayerCore,
    units: usize,
    activation: Activation,
    use_bias: bool,
    /// Initializers and regularizers for native building (the Python front end creates the
    /// weights itself with Keras's initializer objects).
    pub kernel_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

impl Dense {
    pub fn new(
        name: impl Into<String>,
        units: usize,
        activation: Activation,
        use_bias: bool,
    ) -> Dense {
        Dense {
            core: LayerCore::new(name),
            units,
            activation,
            use_bias,
            kernel_initializer: Initializer::named("glorot_uniform").expect("known initializer"),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
        }
    }

    /// Keras's `Dense` config: `units`, `activation` (`"linear"`), `use_bias` (true), the
    /// regularizers (none).
    pub fn from_config(c: &Config<'_>) -> Result<Dense> {
        let mut dense = Dense::new(
            c.required_name()?,
            c.positive("units")?,
            Activation::read(c, "activation", "linear")?,
            c.bool_or("use_bias", true)?,
        );
        dense.kernel_regularizer = c.object("kernel_regularizer")?;
        dense.bias_regularizer = c.object("bias_regularizer")?;
        Ok(dense)
    }

    pub fn units(&self) -> usize {
        self.units
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    pub fn use_bias(&self) -> bool {
        self.use_bias
    }

    fn input_dim(&self, shape: &Shape) -> Result<usize> {
        // Keras's `InputSpec(min_ndim=2)`: a batch axis and a feature axis at least.
        if shape.len() < 2 {
            return Err(Error::Shape {
                op: "Dense",
                message: format!(
                    "layer '{}' expects inputs of rank >= 2 (batch, ..., features), got input shape {}",
                    self.name(),
                    format_shape(shape)
                ),
            });
        }
        match shape.last() {
            Some(Some(dim)) => Ok(*dim),
            _ => Err(Error::Shape {
                op: "Dense",
                message: format!(
                    "layer '{}' needs the last axis of its input to be known, got input shape {}",
                    self.name(),
                    format_shape(shape)
                ),
            }),
        }
    }
}

impl Layer for Dense {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "Dense"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        // Keras's Dense takes an activation by name only.
        let activation = self.activation.keras_name()?;
        config_of([
            ("units", json!(self.units)),
            ("activation", json!(activation)),
            ("use_bias", json!(self.use_bias)),
            (
                "kernel_regularizer",
                crate::regularizers::to_config(self.kernel_regularizer),
            ),
            (
                "bias_regularizer",
                crate::regularizers::to_config(self.bias_regularizer),
            ),
        ])
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let input_dim = self.input_dim(single(self.name(), input_shapes)?)?;
        let mut specs = vec![WeightSpec {
            name: "kernel",
            shape: vec![input_dim, self.units],
            initializer: self.kernel_initializer,
            trainable: true,
            regularizer: self.kernel_regularizer,
        }];
        if self.use_bias {
            specs.push(WeightSpec {
                name: "bias",
                shape: vec![self.units],
                initializer: self.bias_initializer,
                trainable: true,
                regularizer: self.bias_regularizer,
            });
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        let input_dim = self.input_dim(shape)?;
        if let Some(kernel) = self.core.weight("kernel") {
            if kernel.shape()[0] != input_dim {
                return Err(Error::Shape {
                    op: "Dense",
                    message: format!(
                        "layer '{}' was built for inputs with last axis {}, got input shape {}",
                        self.name(),
                        kernel.shape()[0],
                        format_shape(shape)
                    ),
                });
            }
        }
        let mut out = shape.clone();
        *out.last_mut().expect("rank checked") = Some(self.units);
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let kernel = self
            .core
            .weight("kernel")
            .expect("built Dense has a kernel");
        if x.ndim() < 2 || x.shape()[x.ndim() - 1] != kernel.shape()[0] {
            return Err(Error::Shape {
                op: "Dense",
                message: format!(
                    "layer '{}' expects inputs of rank >= 2 with last axis {}, got shape {}",
                    self.name(),
                    kernel.shape()[0],
                    format_shape(&known(&x.shape()))
                ),
            });
        }
        let bias = self.core.weight("bias");
        // One fused op when the activation's derivative comes from the output alone.
        let fused = match self.activation {
            Activation::Linear => Some(FusedActivation::Linear),
            Activation::Relu => Some(FusedActivation::Relu),
            Activation::Sigmoid => Some(FusedActivation::Sigmoid),
            Activation::Tanh => Some(FusedActivation::Tanh),
            _ => None,
        };
        match fused {
            Some(activation) => Ok(vec![x.linear(&kernel, bias.as_ref(), activation)?]),
            None => {
                let y = x.linear(&kernel, bias.as_ref(), FusedActivation::Linear)?;
                Ok(vec![self.activation.apply(&y)?])
            }
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

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn dense_matches_formula_on_any_rank() {
        let dense = Dense::new("d", 2, Activation::Linear, true);
        build(&dense, &[vec![None, None, Some(3)]], DType::F32).unwrap();
        let w = dense.weights();
        w[0].value
            .assign(t32(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).storage())
            .unwrap();
        w[1].value
            .assign(t32(&[2], &[0.5, -0.5]).storage())
            .unwrap();
        let x = t32(&[1, 2, 3], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let y = dense.call(&[x], false).unwrap().remove(0);
        assert_eq!(y.shape(), vec![1, 2, 2]);
        assert_eq!(values(&y), vec![1.5, 1.5, 9.5, 11.5]);
        let err = dense
            .call(&[t32(&[1, 2], &[1.0, 2.0])], false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("last axis 3"), "{err}");
        assert!(dense.output_shapes(&[vec![None, Some(4)]]).is_err());
        // Keras's min_ndim=2: a lone feature vector is not a batch
        assert!(dense.call(&[t32(&[3], &[1.0, 2.0, 3.0])], false).is_err());
        assert!(dense.output_shapes(&[vec![Some(3)]]).is_err());
    }

    #[test]
    fn unbuilt_dense_says_so() {
        let dense = Dense::new("d", 2, Activation::Relu, false);
        let err = dense.call(&[t32(&[1, 1], &[1.0])], false).err().unwrap();
        assert!(err.to_string().contains("not built"));
    }
}
