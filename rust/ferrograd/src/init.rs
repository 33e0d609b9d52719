//! Weight initializers with Keras 3's exact definitions (keras/src/initializers), seeded.
//!
//! An initializer given a seed returns the same values on every call, as Keras 3's do; without
//! one it draws its seed from a process-wide generator that [`set_global_seed`] makes repeatable
//! (what `fg.utils.set_random_seed` calls).

use std::sync::{Mutex, OnceLock};

use ndarray::{ArrayD, IxDyn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StandardNormal};

use serde_json::{json, Map, Value};

use crate::config::{object, Config, KerasObject};
use crate::error::{Error, Result};
use crate::tensor::{DType, Storage, Tensor};

/// How VarianceScaling counts the fan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
    FanAvg,
}

/// The distribution VarianceScaling samples from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    TruncatedNormal,
    UntruncatedNormal,
    Uniform,
}

/// A weight initializer (Keras's classes; the named ones such as `glorot_uniform` are
/// [`Initializer::VarianceScaling`] with Keras's parameters, see [`Initializer::named`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Initializer {
    Zeros,
    Ones,
    Constant {
        value: f64,
    },
    RandomNormal {
        mean: f64,
        stddev: f64,
    },
    RandomUniform {
        minval: f64,
        maxval: f64,
    },
    /// Normal resampled until within two standard deviations of the mean.
    TruncatedNormal {
        mean: f64,
        stddev: f64,
    },
    VarianceScaling {
        scale: f64,
        mode: FanMode,
        distribution: Sampling,
    },
    Orthogonal {
        gain: f64,
    },
    Identity {
        gain: f64,
    },
}

/// Keras's `compute_fans`: (fan_in, fan_out) of a weight shape; convolution kernels multiply by
/// the receptive field (all axes but the last two).
pub fn compute_fans(shape: &[usize]) -> (f64, f64) {
    match shape.len() {
        0 => (1.0, 1.0),
        1 => (shape[0] as f64, shape[0] as f64),
        2 => (shape[0] as f64, shape[1] as f64),
        n => {
            let receptive: usize = shape[..n - 2].iter().product();
            (
                (shape[n - 2] * receptive) as f64,
                (shape[n - 1] * receptive) as f64,
            )
        }
    }
}

fn global_rng() -> &'static Mutex<StdRng> {
    static RNG: OnceLock<Mutex<StdRng>> = OnceLock::new();
    RNG.get_or_init(|| Mutex::new(StdRng::from_os_rng()))
}

/// Reseeds the generator that initializers without a seed draw from.
pub fn set_global_seed(seed: u64) {
    *global_rng().lock().unwrap_or_else(|e| e.into_inner()) = StdRng::seed_from_u64(seed);
}

/// A seed from the global generator.
pub fn next_seed() -> u64 {
    global_rng()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .random()
}

/// Two standard deviations: Keras's (and TensorFlow's) truncation bound.
fn truncated_normal(rng: &mut StdRng, mean: f64, stddev: f64) -> f64 {
    loop {
        let z: f64 = StandardNormal.sample(rng);
        if z.abs() <= 2.0 {
            return mean + stddev * z;
        }
    }
}

/// The std of a standard normal truncated to [-2, 2]: VarianceScaling divides by it so that
/// the truncated samples have the intended variance (the constant in Keras's source).
const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

impl Initializer {
    /// Keras's string names: `zeros`, `ones`, `random_normal`, `random_uniform`,
    /// `truncated_normal`, `glorot_uniform`, `glorot_normal`, `he_uniform`, `he_normal`,
    /// `lecun_uniform`, `lecun_normal`, `orthogonal`, `identity`, `variance_scaling`.
    pub fn named(name: &str) -> Option<Initializer> {
        use FanMode::*;
        use Sampling::*;
        let vs = |scale, mode, distribution| Initializer::VarianceScaling {
            scale,
            mode,
            distribution,
        };
        Some(match name {
            "zeros" => Initializer::Zeros,
            "ones" => Initializer::Ones,
            "constant" => Initializer::Constant { value: 0.0 },
            "random_normal" => Initializer::RandomNormal {
                mean: 0.0,
                stddev: 0.05,
            },
            "random_uniform" => Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
            },
            "truncated_normal" => Initializer::TruncatedNormal {
                mean: 0.0,
                stddev: 0.05,
            },
            "variance_scaling" => vs(1.0, FanIn, TruncatedNormal),
            "glorot_uniform" => vs(1.0, FanAvg, Uniform),
            "glorot_normal" => vs(1.0, FanAvg, TruncatedNormal),
            "he_uniform" => vs(2.0, FanIn, Uniform),
            "he_normal" => vs(2.0, FanIn, TruncatedNormal),
            "lecun_uniform" => vs(1.0, FanIn, Uniform),
            "lecun_normal" => vs(1.0, FanIn, TruncatedNormal),
            "orthogonal" => Initializer::Orthogonal { gain: 1.0 },
            "identity" => Initializer::Identity { gain: 1.0 },
            _ => return None,
        })
    }

    /// Values of `shape` and `dtype`; `seed = None` draws a seed from the global generator.
    pub fn sample(&self, shape: &[usize], dtype: DType, seed: Option<u64>) -> Result<Tensor> {
        let values = self.sample_f64(shape, seed.unwrap_or_else(next_seed))?;
        Ok(Tensor::from_storage(
            Storage::from_array(values).cast(dtype),
            false,
        ))
    }

    fn sample_f64(&self, shape: &[usize], seed: u64) -> Result<ArrayD<f64>> {
        let mut rng = StdRng::seed_from_u64(seed);
        let dim = IxDyn(shape);
        let positive = |name: &'static str, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::argument(
                    "initializer",
                    format!("{name} must be positive and finite, got {v}"),
                ))
            }
        };
        Ok(match *self {
            Initializer::Zeros => ArrayD::zeros(dim),
            Initializer::Ones => ArrayD::ones(dim),
            Initializer::Constant { value } => ArrayD::from_elem(dim, value),
            Initializer::RandomNormal { mean, stddev } => {
                positive("stddev", stddev)?;
                let normal = Normal::new(mean, stddev)
                    .map_err(|e| Error::argument("random_normal", e.to_string()))?;
                ArrayD::from_shape_simple_fn(dim, || normal.sample(&mut rng))
            }
            Initializer::RandomUniform { minval, maxval } => {
                if minval.is_nan() || maxval.is_nan() || minval >= maxval {
                    return Err(Error::argument(
                        "random_uniform",
                        format!("needs minval < maxval, got {minval} and {maxval}"),
                    ));
                }
                ArrayD::from_shape_simple_fn(dim, || rng.random_range(minval..maxval))
            }
            Initializer::TruncatedNormal { mean, stddev } => {
                positive("stddev", stddev)?;
                ArrayD::from_shape_simple_fn(dim, || truncated_normal(&mut rng, mean, stddev))
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                positive("scale", scale)?;
                let (fan_in, fan_out) = compute_fans(shape);
                let fan = match mode {
                    FanMode::FanIn => fan_in,
                    FanMode::FanOut => fan_out,
                    FanMode::FanAvg => (fan_in + fan_out) / 2.0,
                };
                let variance = scale / fan.max(1.0);
                match distribution {
                    Sampling::TruncatedNormal => {
                        let stddev = variance.sqrt() / TRUNCATED_STD;
                        ArrayD::from_shape_simple_fn(dim, || {
                            truncated_normal(&mut rng, 0.0, stddev)
                        })
                    }
                    Sampling::UntruncatedNormal => {
                        let stddev = variance.sqrt();
                        ArrayD::from_shape_simple_fn(dim, || {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            stddev * z
                        })
                    }
                    Sampling::Uniform => {
                        let limit = (3.0 * variance).sqrt();
                        ArrayD::from_shape_simple_fn(dim, || rng.random_range(-limit..limit))
                    }
                }
            }
            Initializer::Orthogonal { gain } => orthogonal(shape, gain, &mut rng)?,
            Initializer::Identity { gain } => {
                if shape.len() != 2 {
                    return Err(Error::shape(
                        "identity",
                        format!("needs a 2-D shape, got {shape:?}"),
                    ));
                }
                let mut eye = ArrayD::zeros(dim);
                for i in 0..shape[0].min(shape[1]) {
                    eye[[i, i].as_slice()] = gain;
                }
                eye
            }
        })
    }
}

/// Keras's Orthogonal: a normal (rows × cols) matrix, with rows = prod(shape[:-1]) and
/// cols = shape[-1], made orthonormal by QR (here modified Gram-Schmidt on the taller side),
/// the signs fixed by R's diagonal so the result is uniformly distributed, times `gain`.
fn orthogonal(shape: &[usize], gain: f64, rng: &mut StdRng) -> Result<ArrayD<f64>> {
    if shape.len() < 2 {
        return Err(Error::shape(
            "orthogonal",
            format!("needs at least a 2-D shape, got {shape:?}"),
        ));
    }
    let cols = shape[shape.len() - 1];
    let rows: usize = shape[..shape.len() - 1].iter().product();
    // Orthonormalize the columns of a tall (long × short) matrix, transposing if needed.
    let (long, short) = (rows.max(cols), rows.min(cols));
    let mut q: Vec<Vec<f64>> = (0..short)
        .map(|_| {
            (0..long)
                .map(|_| StandardNormal.sample(&mut *rng))
                .collect()
        })
        .collect();
    for j in 0..short {
        // Modified Gram-Schmidt: subtract each earlier (already orthonormal) column in turn.
        let (done, rest) = q.split_at_mut(j);
        let column = &mut rest[0];
        for previous in done.iter() {
            let dot: f64 = previous.iter().zip(column.iter()).map(|(p, c)| p * c).sum();
            for (c, p) in column.iter_mut().zip(previous) {
                *c -= dot * p;
            }
        }
        let norm: f64 = q[j].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm < 1e-12 {
            return Err(Error::argument(
                "orthogonal",
                "degenerate random draw; try another seed",
            ));
        }
        for v in q[j].iter_mut() {
            *v /= norm;
        }
    }
    let mut out = ArrayD::zeros(IxDyn(&[rows, cols]));
    for (j, column) in q.iter().enumerate() {
        for (r, &v) in column.iter().enumerate() {
            let (row, col) = if rows >= cols { (r, j) } else { (j, r) };
            out[[row, col].as_slice()] = gain * v;
        }
    }
    Ok(out
        .into_shape_with_order(IxDyn(shape))
        .expect("same number of elements"))
}

impl FanMode {
    fn name(self) -> &'static str {
        match self {
            FanMode::FanIn => "fan_in",
            FanMode::FanOut => "fan_out",
            FanMode::FanAvg => "fan_avg",
        }
    }
}

impl Sampling {
    fn name(self) -> &'static str {
        match self {
            Sampling::TruncatedNormal => "truncated_normal",
            Sampling::UntruncatedNormal => "untruncated_normal",
            Sampling::Uniform => "uniform",
        }
    }
}

/// Keras's initializer classes (`keras.initializers`) with their defaults; the presets
/// (`GlorotUniform`, `HeNormal`, ...) read as the [`Initializer::VarianceScaling`] they are and
/// are written as it. A config's `seed` is not part of the initializer: the caller passes it to
/// [`Initializer::sample`].
impl KerasObject for Initializer {
    const MODULE: &'static str = "keras.initializers";

    fn class_name(&self) -> &'static str {
        match self {
            Initializer::Zeros => "Zeros",
            Initializer::Ones => "Ones",
            Initializer::Constant { .. } => "Constant",
            Initializer::RandomNormal { .. } => "RandomNormal",
            Initializer::RandomUniform { .. } => "RandomUniform",
            Initializer::TruncatedNormal { .. } => "TruncatedNormal",
            Initializer::VarianceScaling { .. } => "VarianceScaling",
            Initializer::Orthogonal { .. } => "Orthogonal",
            Initializer::Identity { .. } => "Identity",
        }
    }

    fn to_config(&self) -> Map<String, Value> {
        match *self {
            Initializer::Zeros | Initializer::Ones => Map::new(),
            Initializer::Constant { value } => object([("value", json!(value))]),
            Initializer::RandomNormal { mean, stddev }
            | Initializer::TruncatedNormal { mean, stddev } => {
                object([("mean", json!(mean)), ("stddev", json!(stddev))])
            }
            Initializer::RandomUniform { minval, maxval } => {
                object([("minval", json!(minval)), ("maxval", json!(maxval))])
            }
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => object([
                ("scale", json!(scale)),
                ("mode", json!(mode.name())),
                ("distribution", json!(distribution.name())),
            ]),
            Initializer::Orthogonal { gain } | Initializer::Identity { gain } => {
                object([("gain", json!(gain))])
            }
        }
    }

    fn from_config(class_name: &str, c: &Config<'_>) -> Result<Initializer> {
        // Keras's snake_case names are its string shortcuts for the same classes.
        let snake: String = class_name
            .chars()
            .enumerate()
            .flat_map(|(i, ch)| {
                let sep = (i > 0 && ch.is_ascii_uppercase()).then_some('_');
                sep.into_iter()
                    .chain(std::iter::once(ch.to_ascii_lowercase()))
            })
            .collect();
        let defaults = Initializer::named(&snake).ok_or_else(|| {
            Error::Format(format!(
                "unknown initializer '{class_name}'; the built-in ones are Zeros, Ones, Constant, \
                 RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, GlorotUniform, \
                 GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal, Identity"
            ))
        })?;
        Ok(match defaults {
            Initializer::Zeros | Initializer::Ones => defaults,
            Initializer::Constant { value } => Initializer::Constant {
                value: c.f64_or("value", value)?,
            },
            Initializer::RandomNormal { mean, stddev } => Initializer::RandomNormal {
                mean: c.f64_or("mean", mean)?,
                stddev: c.f64_or("stddev", stddev)?,
            },
            Initializer::TruncatedNormal { mean, stddev } => Initializer::TruncatedNormal {
                mean: c.f64_or("mean", mean)?,
                stddev: c.f64_or("stddev", stddev)?,
            },
            Initializer::RandomUniform { minval, maxval } => Initializer::RandomUniform {
                minval: c.f64_or("minval", minval)?,
                maxval: c.f64_or("maxval", maxval)?,
            },
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                let scale = c.f64_or("scale", scale)?;
                if scale.is_nan() || scale <= 0.0 {
                    return Err(c.err("scale", "a positive number"));
                }
                let mode = match c.str_or("mode", mode.name())? {
                    "fan_in" => FanMode::FanIn,
                    "fan_out" => FanMode::FanOut,
                    "fan_avg" => FanMode::FanAvg,
                    _ => return Err(c.err("mode", "'fan_in', 'fan_out' or 'fan_avg'")),
                };
                let distribution = match c.str_or("distribution", distribution.name())? {
                    "truncated_normal" | "normal" => Sampling::TruncatedNormal,
                    "untruncated_normal" => Sampling::UntruncatedNormal,
                    "uniform" => Sampling::Uniform,
                    _ => {
                        return Err(c.err(
                            "distribution",
                            "'truncated_normal', 'untruncated_normal' or 'uniform'",
                        ))
                    }
                };
                Initializer::VarianceScaling {
                    scale,
                    mode,
                    distribution,
                }
            }
            Initializer::Orthogonal { gain } => Initializer::Orthogonal {
                gain: c.f64_or("gain", gain)?,
            },
            Initializer::Identity { gain } => Initializer::Identity {
                gain: c.f64_or("gain", gain)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_read_keras_classes_and_shortcuts() {
        use crate::config::{deserialize, serialize};
        let glorot = deserialize::<Initializer>(&json!("glorot_uniform")).unwrap();
        assert_eq!(glorot, Initializer::named("glorot_uniform").unwrap());
        let he = json!({"class_name": "HeNormal", "config": {"seed": 3}});
        assert_eq!(
            deserialize::<Initializer>(&he).unwrap(),
            Initializer::VarianceScaling {
                scale: 2.0,
                mode: FanMode::FanIn,
                distribution: Sampling::TruncatedNormal
            }
        );
        let normal = json!({"class_name": "RandomNormal", "config": {"stddev": 0.5}});
        let normal = deserialize::<Initializer>(&normal).unwrap();
        assert_eq!(
            normal,
            Initializer::RandomNormal {
                mean: 0.0,
                stddev: 0.5
            }
        );
        assert_eq!(
            deserialize::<Initializer>(&serialize(&normal)).unwrap(),
            normal
        );
        let vs = json!({"class_name": "VarianceScaling", "config": {"mode": "fan_up"}});
        assert!(deserialize::<Initializer>(&vs).is_err());
        assert!(deserialize::<Initializer>(&json!("Xavier")).is_err());
    }

    #[test]
    fn fans_follow_keras() {
        assert_eq!(compute_fans(&[3, 4]), (3.0, 4.0));
        assert_eq!(compute_fans(&[5]), (5.0, 5.0));
        // Conv2D kernel (kh, kw, in, out): receptive field 3·3.
        assert_eq!(compute_fans(&[3, 3, 2, 8]), (18.0, 72.0));
    }

    #[test]
    fn seeded_initializers_repeat_and_unseeded_follow_the_global_seed() {
        let init = Initializer::named("glorot_uniform").unwrap();
        let a = init.sample(&[4, 5], DType::F64, Some(7)).unwrap().to_f64();
        let b = init.sample(&[4, 5], DType::F64, Some(7)).unwrap().to_f64();
        assert_eq!(a, b);
        set_global_seed(3);
        let c = init.sample(&[4, 5], DType::F64, None).unwrap().to_f64();
        set_global_seed(3);
        let d = init.sample(&[4, 5], DType::F64, None).unwrap().to_f64();
        assert_eq!(c, d);
        let limit = (6.0f64 / 9.0).sqrt();
        assert!(a.iter().all(|v| v.abs() <= limit));
    }

    #[test]
    fn he_normal_has_the_intended_variance() {
        let init = Initializer::named("he_normal").unwrap();
        let w = init
            .sample(&[400, 300], DType::F64, Some(1))
            .unwrap()
            .to_f64();
        let variance = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
        assert!(
            (variance / (2.0 / 400.0) - 1.0).abs() < 0.03,
            "variance {variance}"
        );
    }

    #[test]
    fn orthogonal_columns_are_orthonormal() {
        let init = Initializer::Orthogonal { gain: 1.0 };
        for shape in [[6usize, 4], [4, 6]] {
            let w = init.sample(&shape, DType::F64, Some(2)).unwrap().to_f64();
            let m = w.into_dimensionality::<ndarray::Ix2>().unwrap();
            let gram = if shape[0] >= shape[1] {
                m.t().dot(&m)
            } else {
                m.dot(&m.t())
            };
            for ((i, j), v) in gram.indexed_iter() {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-10);
            }
        }
    }
}
