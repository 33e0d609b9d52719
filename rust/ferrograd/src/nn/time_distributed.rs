//! `TimeDistributed`: one layer applied to every time step of a sequence.

use std::sync::Arc;

use super::*;

pub(crate) const CLASSES: &[LayerClass] = &[LayerClass {
    name: "TimeDistributed",
    make: TimeDistributed::from_config,
}];

/// Keras's `TimeDistributed`: applies a layer to every time step, by folding the time axis into
/// the batch (`(batch, time, ...)` to `(batch * time, ...)`) for one call of the inner layer.
pub struct TimeDistributed {
    core: LayerCore,
    inner: Arc<dyn Layer>,
}

impl TimeDistributed {
    pub fn new(name: impl Into<String>, inner: Arc<dyn Layer>) -> TimeDistributed {
        let core = LayerCore::new(name);
        core.set_built();
        TimeDistributed { core, inner }
    }

    /// Keras's `TimeDistributed` config: `layer`, the serialized inner layer, or the inner layer
    /// a front end made already (`inner`).
    pub fn from_config(c: &Config<'_>, inner: &[Arc<dyn Layer>]) -> Result<Made> {
        let name = c.required_name()?;
        let inner = match inner {
            [layer] => Made::shared(layer.clone()),
            [] => {
                let layer = c
                    .get("layer")
                    .ok_or_else(|| c.err("layer", "a serialized layer"))?;
                registry::layer_from_value(layer)?
            }
            more => {
                return Err(Error::Format(format!(
                    "{}: wraps one layer, got {}",
                    c.owner(),
                    more.len()
                )))
            }
        };
        let layer = Arc::new(TimeDistributed::new(name, inner.layer.clone()));
        Ok(Made {
            layer,
            same_inputs: Vec::new(),
            per_step: Some(Box::new(inner)),
        })
    }

    /// The layer applied to every time step.
    pub fn layer(&self) -> &Arc<dyn Layer> {
        &self.inner
    }

    fn inner_shape(&self, shape: &Shape) -> Result<Shape> {
        if shape.len() < 3 {
            return Err(Error::shape(
                "TimeDistributed",
                format!(
                    "layer '{}' expects inputs of rank >= 3 (batch, time, ...), got {}",
                    self.name(),
                    format_shape(shape)
                ),
            ));
        }
        let mut inner = vec![shape[0].zip(shape[1]).map(|(b, t)| b * t)];
        inner.extend(shape[2..].iter().copied());
        Ok(inner)
    }
}

impl Layer for TimeDistributed {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "TimeDistributed"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let layer = registry::layer_config(self.inner.as_ref()).ok()?;
        config_of([("layer", layer)])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        let inner = self.inner.output_shapes(&[self.inner_shape(shape)?])?;
        Ok(inner
            .into_iter()
            .map(|s| {
                let mut out = vec![shape[0], shape[1]];
                out.extend(s[1..].iter().copied());
                out
            })
            .collect())
    }

    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        let xs = x.shape();
        self.inner_shape(&known(&xs))?;
        let mut folded: Vec<isize> = vec![(xs[0] * xs[1]) as isize];
        folded.extend(xs[2..].iter().map(|&d| d as isize));
        let out = self.inner.call(&[x.reshape(&folded)?], training)?;
        out.iter()
            .map(|y| {
                let mut shape = vec![xs[0] as isize, xs[1] as isize];
                shape.extend(y.shape()[1..].iter().map(|&d| d as isize));
                y.reshape(&shape)
            })
            .collect()
    }

    fn weights(&self) -> Vec<Weight> {
        self.inner.weights()
    }

    /// Keras's `TimeDistributed` supports masking and keeps the steps: the mask goes on.
    fn compute_mask(
        &self,
        _inputs: &[Tensor],
        masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(pass_mask(masks))
    }
}
