//! `PReLU`: `max(x, 0) + alpha * min(x, 0)` with a learned `alpha` per element of the input's
//! non-batch shape (or shared along `shared_axes`), Keras's zero initial `alpha`.

use super::*;

pub(crate) const CLASSES: &[LayerClass] = &[LayerClass {
    name: "PReLU",
    make: |c, _| Ok(Made::plain(PRelu::from_config(c)?)),
}];

/// Keras's `PReLU` layer.
pub struct PRelu {
    core: LayerCore,
    /// Axes (1-based over the input, as Keras: axis 0 is the batch) along which alpha is shared.
    shared_axes: Vec<usize>,
    pub alpha_initializer: Initializer,
    pub alpha_regularizer: Option<Regularizer>,
}

impl PRelu {
    pub fn new(name: impl Into<String>, shared_axes: Vec<usize>) -> PRelu {
        PRelu {
            core: LayerCore::new(name),
            shared_axes,
            alpha_initializer: Initializer::Zeros,
            alpha_regularizer: None,
        }
    }

    /// Keras's `PReLU` config: `shared_axes` (none), `alpha_regularizer` (none).
    pub fn from_config(c: &Config<'_>) -> Result<PRelu> {
        let axes = c
            .ints_or("shared_axes", &[])?
            .into_iter()
            .map(|a| usize::try_from(a).map_err(|_| c.err("shared_axes", "positive axes")))
            .collect::<Result<Vec<_>>>()?;
        let mut prelu = PRelu::new(c.required_name()?, axes);
        prelu.alpha_regularizer = c.object("alpha_regularizer")?;
        Ok(prelu)
    }

    pub fn shared_axes(&self) -> &[usize] {
        &self.shared_axes
    }

    /// alpha's shape: the input's shape without the batch axis, 1 along shared axes.
    fn alpha_shape(&self, shape: &Shape) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(shape.len().saturating_sub(1));
        for (axis, dim) in shape.iter().enumerate().skip(1) {
            if self.shared_axes.contains(&axis) {
                out.push(1);
            } else {
                out.push(dim.ok_or_else(|| Error::Shape {
                    op: "PReLU",
                    message: format!(
                        "layer '{}' needs axis {axis} of its input known (or shared), got {}",
                        self.name(),
                        format_shape(shape)
                    ),
                })?);
            }
        }
        if let Some(&bad) = self
            .shared_axes
            .iter()
            .find(|&&a| a == 0 || a >= shape.len())
        {
            return Err(Error::argument(
                "PReLU",
                format!(
                    "shared axis {bad} is out of range for input shape {}",
                    format_shape(shape)
                ),
            ));
        }
        Ok(out)
    }
}

impl Layer for PRelu {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "PReLU"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        // Keras writes None for "no shared axes".
        let shared_axes = if self.shared_axes.is_empty() {
            serde_json::Value::Null
        } else {
            json!(self.shared_axes)
        };
        config_of([
            ("shared_axes", shared_axes),
            (
                "alpha_regularizer",
                crate::regularizers::to_config(self.alpha_regularizer),
            ),
        ])
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        Ok(vec![WeightSpec {
            name: "alpha",
            shape: self.alpha_shape(single(self.name(), input_shapes)?)?,
            initializer: self.alpha_initializer,
            trainable: true,
            regularizer: self.alpha_regularizer,
        }])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        self.alpha_shape(shape)?;
        Ok(vec![shape.clone()])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let alpha = self.core.weight("alpha").expect("built PReLU has alpha");
        // The output has the input's shape (Keras's compute_output_shape), so alpha must not
        // broadcast the input: every axis that is not shared keeps the size it was built for.
        let x_shape = x.shape();
        let alpha_shape = alpha.shape();
        let fits = x_shape.len() == alpha_shape.len() + 1
            && alpha_shape
                .iter()
                .enumerate()
                .all(|(i, &a)| self.shared_axes.contains(&(i + 1)) || x_shape[i + 1] == a);
        if !fits {
            let mut built = vec![None];
            built.extend(
                alpha_shape
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| (!self.shared_axes.contains(&(i + 1))).then_some(a)),
            );
            return Err(Error::Shape {
                op: "PReLU",
                message: format!(
                    "layer '{}' was built for inputs of shape {}, got shape {}",
                    self.name(),
                    format_shape(&built),
                    format_shape(&known(&x_shape))
                ),
            });
        }
        // relu(x) - alpha * relu(-x), as Keras.
        let negative = x.neg()?.relu()?;
        Ok(vec![x.relu()?.sub(&alpha.mul(&negative)?)?])
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
    fn prelu_shares_alpha_along_axes() {
        let layer = PRelu::new("p", vec![1]);
        build(&layer, &[vec![None, Some(2), Some(3)]], DType::F32).unwrap();
        let alpha = &layer.weights()[0].value;
        assert_eq!(alpha.shape(), vec![1, 3]);
        alpha
            .assign(t32(&[1, 3], &[0.1, 0.2, 0.3]).storage())
            .unwrap();
        let x = t32(&[1, 2, 3], &[-1.0, -1.0, -1.0, 1.0, -2.0, 3.0]);
        let y = values(&layer.call(&[x], false).unwrap()[0]);
        let expected = [-0.1, -0.2, -0.3, 1.0, -0.4, 3.0];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6);
        }
        // alpha never broadcasts the input: axis 1 is shared, axis 2 must stay 3
        let err = layer
            .call(&[t32(&[1, 2, 1], &[-1.0; 2])], false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("(None, None, 3)"), "{err}");
        assert!(layer.call(&[t32(&[1, 5, 3], &[-1.0; 15])], false).is_ok());
        assert!(PRelu::new("q", vec![3])
            .output_shapes(&[vec![None, Some(2), Some(3)]])
            .is_err());
    }
}
