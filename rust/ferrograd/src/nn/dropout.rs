//! `Dropout`: in training, zeroes each element with probability `rate` and scales the rest by
//! `1 / (1 - rate)` (inverted dropout, as Keras), so inference is the identity. The mask comes
//! from the layer's own seeded generator, which advances with every call (Keras's
//! `SeedGenerator`): a fixed seed gives a repeatable sequence of masks.

use std::sync::Mutex;

use ndarray::{ArrayD, IxDyn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::tensor::Storage;

pub(crate) const CLASSES: &[LayerClass] = &[LayerClass {
    name: "Dropout",
    make: |c, _| Ok(Made::plain(Dropout::from_config(c)?)),
}];

/// Keras's `Dropout(rate, noise_shape=None, seed=None)`.
pub struct Dropout {
    core: LayerCore,
    rate: f64,
    noise_shape: Option<Shape>,
    seed: Option<u64>,
    rng: Mutex<StdRng>,
}

impl Dropout {
    pub fn new(
        name: impl Into<String>,
        rate: f64,
        noise_shape: Option<Shape>,
        seed: Option<u64>,
    ) -> Result<Dropout> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::argument(
                "Dropout",
                format!("rate must be a float in [0, 1), got {rate}"),
            ));
        }
        let core = LayerCore::new(name);
        core.set_built();
        let rng = StdRng::seed_from_u64(seed.unwrap_or_else(crate::init::next_seed));
        Ok(Dropout {
            core,
            rate,
            noise_shape,
            seed,
            rng: Mutex::new(rng),
        })
    }

    /// Keras's `Dropout` config: `rate`, `noise_shape` (none), `seed` (none).
    pub fn from_config(c: &Config<'_>) -> Result<Dropout> {
        Dropout::new(
            c.required_name()?,
            c.f64_or("rate", 0.0)?,
            c.opt_shape("noise_shape")?,
            c.opt_usize("seed")?.map(|s| s as u64),
        )
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    pub fn noise_shape(&self) -> Option<&Shape> {
        self.noise_shape.as_ref()
    }

    /// The mask's shape: `noise_shape` with its unknown entries taken from the input.
    fn mask_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let Some(noise) = &self.noise_shape else {
            return Ok(input.to_vec());
        };
        let bad = || {
            Error::shape(
                "Dropout",
                format!(
                    "layer '{}': noise_shape {} does not broadcast to input shape {}",
                    self.name(),
                    format_shape(noise),
                    format_shape(&known(input))
                ),
            )
        };
        if noise.len() != input.len() {
            return Err(bad());
        }
        noise
            .iter()
            .zip(input)
            .map(|(n, &d)| match n {
                None => Ok(d),
                Some(n) if *n == d || *n == 1 => Ok(*n),
                Some(_) => Err(bad()),
            })
            .collect()
    }
}

impl Layer for Dropout {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "Dropout"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use serde_json::json;
        config_of([
            ("rate", json!(self.rate)),
            ("noise_shape", json!(self.noise_shape)),
            ("seed", json!(self.seed)),
        ])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        Ok(vec![single(self.name(), input_shapes)?.clone()])
    }

    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        if !training || self.rate == 0.0 {
            return Ok(vec![x.clone()]);
        }
        let shape = self.mask_shape(&x.shape())?;
        let keep = 1.0 - self.rate;
        let scale = 1.0 / keep;
        let mask = {
            let mut rng = self.rng.lock().expect("dropout generator");
            ArrayD::from_shape_simple_fn(IxDyn(&shape), || {
                if rng.random::<f64>() < keep {
                    scale
                } else {
                    0.0
                }
            })
        };
        let mask = Tensor::from_storage(Storage::from_array(mask).cast(x.dtype()), false);
        Ok(vec![x.mul(&mask)?])
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
    fn dropout_scales_kept_values_and_is_identity_in_inference() {
        let layer = Dropout::new("d", 0.5, None, Some(7)).unwrap();
        let x = t32(&[1000], &[1.0; 1000]);
        let y = values(&layer.call(std::slice::from_ref(&x), true).unwrap()[0]);
        assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = y.iter().filter(|&&v| v == 2.0).count();
        assert!((400..600).contains(&kept), "{kept}");
        assert_eq!(
            values(&layer.call(std::slice::from_ref(&x), false).unwrap()[0]),
            vec![1.0; 1000]
        );
        // the same seed replays the same masks
        let again = Dropout::new("d", 0.5, None, Some(7)).unwrap();
        assert_eq!(values(&again.call(&[x], true).unwrap()[0]), y);
        assert!(Dropout::new("d", 1.0, None, None).is_err());
    }

    #[test]
    fn noise_shape_shares_the_mask() {
        let layer = Dropout::new("d", 0.5, Some(vec![None, Some(1)]), Some(1)).unwrap();
        let x = t32(&[4, 50], &[1.0; 200]);
        let y = layer.call(&[x], true).unwrap()[0].to_f64();
        for row in y.rows() {
            assert!(row.iter().all(|&v| v == row[0]));
        }
    }
}
