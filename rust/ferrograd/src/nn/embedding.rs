//! `Embedding`: a lookup table of learned vectors for integer ids, with Keras's layout
//! (`embeddings` of shape `(input_dim, output_dim)`) and `mask_zero`.

use ndarray::{ArrayD, IxDyn};

use super::*;
use crate::ops::Comparison;

pub(crate) const CLASSES: &[LayerClass] = &[LayerClass {
    name: "Embedding",
    make: |c, _| Ok(Made::plain(Embedding::from_config(c)?)),
}];

/// Keras's `Embedding`: row `id` of an `(input_dim, output_dim)` table for each integer id.
pub struct Embedding {
    core: LayerCore,
    input_dim: usize,
    output_dim: usize,
    mask_zero: bool,
    /// Keras's default: `RandomUniform(-0.05, 0.05)`.
    pub embeddings_initializer: Initializer,
    pub embeddings_regularizer: Option<Regularizer>,
}

impl Embedding {
    /// Keras's `Embedding` config: `input_dim`, `output_dim`, `mask_zero` (false),
    /// `embeddings_regularizer` (none).
    pub fn from_config(c: &Config<'_>) -> Result<Embedding> {
        let mut embedding = Embedding::new(
            c.required_name()?,
            c.positive("input_dim")?,
            c.positive("output_dim")?,
            c.bool_or("mask_zero", false)?,
        )?;
        embedding.embeddings_regularizer = c.object("embeddings_regularizer")?;
        Ok(embedding)
    }

    pub fn new(
        name: impl Into<String>,
        input_dim: usize,
        output_dim: usize,
        mask_zero: bool,
    ) -> Result<Embedding> {
        if input_dim == 0 || output_dim == 0 {
            return Err(Error::argument(
                "Embedding",
                format!(
                    "input_dim and output_dim must be positive, got input_dim={input_dim}, output_dim={output_dim}"
                ),
            ));
        }
        Ok(Embedding {
            core: LayerCore::new(name),
            input_dim,
            output_dim,
            mask_zero,
            embeddings_initializer: Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
            },
            embeddings_regularizer: None,
        })
    }

    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    pub fn output_dim(&self) -> usize {
        self.output_dim
    }

    /// Whether id 0 means padding (Keras's `mask_zero`): the output then carries the mask
    /// `ids != 0` (see [`Layer::compute_mask`]).
    pub fn mask_zero(&self) -> bool {
        self.mask_zero
    }

    /// The ids as integers: ids arrive as floats (batches of `fit` are float tensors), so each
    /// must be a whole number in `[0, input_dim)`.
    fn ids(&self, x: &Tensor) -> Result<ArrayD<i64>> {
        let values = x.to_f64();
        let mut ids = Vec::with_capacity(values.len());
        for (position, &v) in values.iter().enumerate() {
            if !(v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v < self.input_dim as f64) {
                let problem = if !v.is_finite() || v.fract() != 0.0 {
                    "is not a whole number"
                } else if v < 0.0 {
                    "is negative"
                } else {
                    "is out of range"
                };
                return Err(Error::argument(
                    "Embedding",
                    format!(
                        "layer '{}': id {v} (flat position {position}) {problem}; ids must be integers in [0, {}) (input_dim={})",
                        self.name(),
                        self.input_dim,
                        self.input_dim
                    ),
                ));
            }
            ids.push(v as i64);
        }
        Ok(ArrayD::from_shape_vec(IxDyn(values.shape()), ids).expect("same length"))
    }
}

impl Layer for Embedding {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "Embedding"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        config_of([
            ("input_dim", json!(self.input_dim)),
            ("output_dim", json!(self.output_dim)),
            (
                "embeddings_regularizer",
                crate::regularizers::to_config(self.embeddings_regularizer),
            ),
            ("mask_zero", json!(self.mask_zero)),
        ])
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        single(self.name(), input_shapes)?;
        Ok(vec![WeightSpec {
            name: "embeddings",
            shape: vec![self.input_dim, self.output_dim],
            initializer: self.embeddings_initializer,
            trainable: true,
            regularizer: self.embeddings_regularizer,
        }])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let mut out = single(self.name(), input_shapes)?.clone();
        out.push(Some(self.output_dim));
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        self.core.require_built()?;
        let table = self
            .core
            .weight("embeddings")
            .expect("built Embedding has embeddings");
        // `take` along the rows: its backward scatters (adds) the gradient into the used rows.
        Ok(vec![table.take(&self.ids(x)?, Some(0))?])
    }

    /// Keras's `compute_mask`: `ids != 0` with `mask_zero`, no mask otherwise.
    fn compute_mask(
        &self,
        inputs: &[Tensor],
        _masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        if !self.mask_zero {
            return Ok(Vec::new());
        }
        let ids = single(self.name(), inputs)?;
        let zero = Tensor::zeros(&[], ids.dtype());
        Ok(vec![Some(ids.compare(&zero, Comparison::NotEqual)?)])
    }
}
