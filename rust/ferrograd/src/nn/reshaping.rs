//! `Flatten` and `Reshape`: views of each sample with another shape (the batch axis is kept).

use super::*;

/// The product of known dims, or None when one is unknown.
fn known_product(dims: &[Option<usize>]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, d| d.map(|d| acc * d))
}

fn rank_at_least_one(layer: &str, op: &'static str, shape: &Shape) -> Result<()> {
    if shape.is_empty() {
        return Err(Error::Shape {
            op,
            message: format!("layer '{layer}' needs a batch axis, got a 0-d input"),
        });
    }
    Ok(())
}

/// Keras's `Flatten`: `(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)`; a `(batch,)` input
/// becomes `(batch, 1)`.
pub struct Flatten {
    core: LayerCore,
}

pub(crate) const CLASSES: &[LayerClass] = &[
    LayerClass {
        name: "Flatten",
        make: |c, _| {
            registry::channels_last(c)?;
            Ok(Made::plain(Flatten::new(c.required_name()?)))
        },
    },
    LayerClass {
        name: "Reshape",
        make: |c, _| Ok(Made::plain(Reshape::from_config(c)?)),
    },
    LayerClass {
        name: "RepeatVector",
        make: |c, _| {
            Ok(Made::plain(RepeatVector::new(
                c.required_name()?,
                c.positive("n")?,
            )))
        },
    },
];

impl Flatten {
    pub fn new(name: impl Into<String>) -> Flatten {
        let core = LayerCore::new(name);
        core.set_built();
        Flatten { core }
    }
}

impl Layer for Flatten {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "Flatten"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        config_of([("data_format", serde_json::json!("channels_last"))])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        rank_at_least_one(self.name(), "Flatten", shape)?;
        Ok(vec![vec![shape[0], known_product(&shape[1..])]])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        rank_at_least_one(self.name(), "Flatten", &known(&x.shape()))?;
        let batch = x.shape()[0] as isize;
        Ok(vec![x.reshape(&[batch, -1])?])
    }
}

/// Keras's `Reshape(target_shape)`: each sample reshaped to `target_shape` (one entry may be
/// -1, inferred from the others).
pub struct Reshape {
    core: LayerCore,
    target_shape: Vec<isize>,
}

impl Reshape {
    /// Keras's `Reshape` config: `target_shape`, a list of sizes with at most one -1.
    pub fn from_config(c: &Config<'_>) -> Result<Reshape> {
        if !c.has("target_shape") {
            return Err(c.err("target_shape", "a list of integers"));
        }
        Reshape::new(c.required_name()?, c.ints_or("target_shape", &[])?)
    }

    pub fn new(name: impl Into<String>, target_shape: Vec<isize>) -> Result<Reshape> {
        let unknown = target_shape.iter().filter(|&&d| d == -1).count();
        if unknown > 1 || target_shape.iter().any(|&d| d < -1 || d == 0) {
            return Err(Error::argument(
                "Reshape",
                format!(
                    "target_shape must hold positive sizes and at most one -1, got {target_shape:?}"
                ),
            ));
        }
        let core = LayerCore::new(name);
        core.set_built();
        Ok(Reshape { core, target_shape })
    }

    pub fn target_shape(&self) -> &[isize] {
        &self.target_shape
    }

    /// The per-sample target with -1 resolved, when the sample size is known.
    fn resolve(&self, sample: Option<usize>, input: &Shape) -> Result<Vec<Option<usize>>> {
        let fixed: usize = self
            .target_shape
            .iter()
            .filter(|&&d| d > 0)
            .map(|&d| d as usize)
            .product();
        let mismatch = || Error::Shape {
            op: "Reshape",
            message: format!(
                "layer '{}' cannot reshape input shape {} to target shape {:?}: the sizes differ",
                self.name(),
                format_shape(input),
                self.target_shape
            ),
        };
        let has_unknown = self.target_shape.contains(&-1);
        if let Some(total) = sample {
            if has_unknown {
                if fixed == 0 || total % fixed != 0 {
                    return Err(mismatch());
                }
            } else if total != fixed {
                return Err(mismatch());
            }
        }
        Ok(self
            .target_shape
            .iter()
            .map(|&d| {
                if d == -1 {
                    sample.map(|total| total / fixed)
                } else {
                    Some(d as usize)
                }
            })
            .collect())
    }
}

impl Layer for Reshape {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "Reshape"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        config_of([("target_shape", serde_json::json!(self.target_shape))])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        rank_at_least_one(self.name(), "Reshape", shape)?;
        let mut out = vec![shape[0]];
        out.extend(self.resolve(known_product(&shape[1..]), shape)?);
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        let shape = known(&x.shape());
        rank_at_least_one(self.name(), "Reshape", &shape)?;
        let sample: usize = x.shape()[1..].iter().product();
        let target = self.resolve(Some(sample), &shape)?;
        let mut full = vec![x.shape()[0] as isize];
        full.extend(target.iter().map(|d| d.expect("resolved") as isize));
        Ok(vec![x.reshape(&full)?])
    }
}

/// Keras's `RepeatVector(n)`: each sample's feature vector repeated `n` times along a new time
/// axis, `(batch, features)` to `(batch, n, features)`. The gradient of a sample is the sum of
/// its `n` copies' gradients (the backward of the broadcast).
pub struct RepeatVector {
    core: LayerCore,
    n: usize,
}

impl RepeatVector {
    pub fn new(name: impl Into<String>, n: usize) -> RepeatVector {
        let core = LayerCore::new(name);
        core.set_built();
        RepeatVector { core, n }
    }

    fn check(&self, shape: &Shape) -> Result<()> {
        // Keras's `InputSpec(ndim=2)`.
        if shape.len() == 2 {
            return Ok(());
        }
        Err(Error::shape(
            "RepeatVector",
            format!(
                "layer '{}' expects inputs of rank 2 (batch, features), got input shape {}",
                self.name(),
                format_shape(shape)
            ),
        ))
    }
}

impl Layer for RepeatVector {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "RepeatVector"
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        config_of([("n", serde_json::json!(self.n))])
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let shape = single(self.name(), input_shapes)?;
        self.check(shape)?;
        Ok(vec![vec![shape[0], Some(self.n), shape[1]]])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let x = single(self.name(), inputs)?;
        let shape = x.shape();
        self.check(&known(&shape))?;
        Ok(vec![x
            .expand_dims(1)?
            .broadcast_to(&[shape[0], self.n, shape[1]])?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn flatten_and_reshape_shapes() {
        let f = Flatten::new("f");
        assert_eq!(
            f.output_shapes(&[vec![None, Some(2), Some(3)]]).unwrap(),
            vec![vec![None, Some(6)]]
        );
        let x = t32(&[2, 1, 3], &[0.0; 6]);
        assert_eq!(
            f.call(std::slice::from_ref(&x), false).unwrap()[0].shape(),
            vec![2, 3]
        );
        let r = Reshape::new("r", vec![-1, 1]).unwrap();
        assert_eq!(
            r.output_shapes(&[vec![None, Some(2), Some(3)]]).unwrap(),
            vec![vec![None, Some(6), Some(1)]]
        );
        assert_eq!(r.call(&[x], false).unwrap()[0].shape(), vec![2, 3, 1]);
        let bad = Reshape::new("r", vec![4]).unwrap();
        let err = bad.output_shapes(&[vec![None, Some(6)]]).unwrap_err();
        assert!(err.to_string().contains("(None, 6)"), "{err}");
        assert!(Reshape::new("r", vec![-1, -1]).is_err());
    }

    #[test]
    fn repeat_vector_copies_rows_and_sums_their_gradients() {
        let layer = RepeatVector::new("rv", 3);
        assert_eq!(
            layer.output_shapes(&[vec![None, Some(2)]]).unwrap(),
            vec![vec![None, Some(3), Some(2)]]
        );
        let x = Tensor::from_vec(&[2, 2], vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
        x.set_requires_grad(true).unwrap();
        let y = layer.call(std::slice::from_ref(&x), false).unwrap();
        assert_eq!(y[0].shape(), vec![2, 3, 2]);
        // Row b of the input, three times.
        assert_eq!(
            values(&y[0]),
            vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 3.0, 4.0]
        );
        // d/dx of sum(y * w) with w = 1..12: each input element sums its three copies' weights.
        let w: Vec<f64> = (1..=12).map(f64::from).collect();
        let w = Tensor::from_vec(&[2, 3, 2], w).unwrap();
        y[0].mul(&w)
            .unwrap()
            .sum(None, false)
            .unwrap()
            .backward()
            .unwrap();
        let g = values(&x.grad().unwrap());
        assert_eq!(
            g,
            vec![
                1.0 + 3.0 + 5.0,
                2.0 + 4.0 + 6.0,
                7.0 + 9.0 + 11.0,
                8.0 + 10.0 + 12.0
            ]
        );
        let err = layer
            .output_shapes(&[vec![None, Some(2), Some(2)]])
            .unwrap_err();
        assert!(err.to_string().contains("rank 2"), "{err}");
    }
}
