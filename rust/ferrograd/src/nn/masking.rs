//! Masks between layers (Keras's `_keras_mask`): which time steps of a `(batch, time, ...)`
//! value count, as a `(batch, time)` tensor of 0/1 that the graph carries beside the value (see
//! [`Layer::compute_mask`]). This file holds Keras's `Masking` layer and the pass-through rule.
//!
//! ```
//! use ferrograd::nn::{Layer, Masking};
//! use ferrograd::Tensor;
//!
//! let masking = Masking::new("masking", 0.0);
//! // Two samples of three steps with two features; sample 0's last step is padding.
//! let x = Tensor::from_vec(&[2, 3, 2], vec![1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1.0]).unwrap();
//! let mask = masking.compute_mask(&[x], &[None]).unwrap().remove(0).unwrap();
//! assert_eq!(mask.to_f64().iter().copied().collect::<Vec<_>>(), vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0]);
//! ```

use super::*;
use crate::ops::Comparison;

/// Keras's default `compute_mask` for a layer with `supports_masking` that keeps its input's
/// steps (Dense, Dropout, activations, normalization, TimeDistributed): the first input's mask,
/// unchanged.
pub fn pass_mask(masks: &[Option<Tensor>]) -> Vec<Option<Tensor>> {
    masks.first().cloned().into_iter().collect()
}

pub(crate) const CLASSES: &[LayerClass] = &[LayerClass {
    name: "Masking",
    make: |c, _| {
        Ok(Made::plain(Masking::new(
            c.required_name()?,
            c.f64_or("mask_value", 0.0)?,
        )))
    },
}];

/// Keras's `Masking(mask_value=0.0)`: a step whose features all equal `mask_value` is masked
/// (`any(x != mask_value, axis=-1)` is its mask), and its features are zeroed in the output.
pub struct Masking {
    core: LayerCore,
    mask_value: f64,
}

impl Masking {
    pub fn new(name: impl Into<String>, mask_value: f64) -> Masking {
        let core = LayerCore::new(name);
        core.set_built();
        Masking { core, mask_value }
    }

    pub fn mask_value(&self) -> f64 {
        self.mask_value
    }

    /// `any(x != mask_value, axis=-1)` as 0/1, keeping the last axis (size 1).
    fn keep(&self, x: &Tensor) -> Result<Tensor> {
        let value = Tensor::full(&[], self.mask_value, x.dtype());
        x.compare(&value, Comparison::NotEqual)?
            .max(Some(&[-1]), true)
    }
}

impl Layer for Masking {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "Masking"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        config_of([("mask_value", serde_json::json!(self.mask_value))])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        if shape.len() < 2 {
            return Err(Error::shape(
                "Masking",
                format!(
                    "layer '{}' expects inputs of rank >= 2 (batch, ..., features), got {}",
                    self.name(),
                    format_shape(shape)
                ),
            ));
        }
        Ok(vec![shape.clone()])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.output_shapes(&[known(&x.shape())])?;
        // The comparison records no gradient: masked steps pass none back.
        Ok(vec![x.mul(&self.keep(x)?)?])
    }

    fn compute_mask(
        &self,
        inputs: &[Tensor],
        _masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        let x = single(self.name(), inputs)?;
        Ok(vec![Some(self.keep(x)?.squeeze(Some(&[-1]))?)])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn masking_zeroes_padded_steps_and_stops_their_gradient() {
        let layer = Masking::new("m", -1.0);
        let x = Tensor::from_vec(&[1, 3, 2], vec![1.0f64, -1.0, -1.0, -1.0, 0.0, 2.0])
            .unwrap()
            .detach();
        x.set_requires_grad(true).unwrap();
        let y = layer
            .call(std::slice::from_ref(&x), false)
            .unwrap()
            .remove(0);
        assert_eq!(values(&y), vec![1.0, -1.0, 0.0, 0.0, 0.0, 2.0]);
        let mask = layer
            .compute_mask(std::slice::from_ref(&x), &[None])
            .unwrap();
        assert_eq!(values(mask[0].as_ref().unwrap()), vec![1.0, 0.0, 1.0]);
        y.sum(None, false).unwrap().backward().unwrap();
        assert_eq!(
            values(&x.grad().unwrap()),
            vec![1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
        );
    }

    #[test]
    fn masking_passes_through_layers_that_support_it() {
        let mask = t32(&[1, 2], &[1.0, 0.0]);
        let passed = pass_mask(&[Some(mask.clone()), None]);
        assert_eq!(passed.len(), 1);
        assert_eq!(values(passed[0].as_ref().unwrap()), values(&mask));
        assert!(pass_mask(&[]).is_empty());
    }
}
