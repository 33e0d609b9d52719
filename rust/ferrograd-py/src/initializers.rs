//! Bindings of the engine's weight initializers.

use ferrograd::init::{FanMode, Initializer, Sampling};
use ferrograd::DType;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::parse_dtype;
use crate::errors::IntoPy;
use crate::tensor::PyTensor;

fn fan_mode(mode: &str) -> PyResult<FanMode> {
    match mode {
        "fan_in" => Ok(FanMode::FanIn),
        "fan_out" => Ok(FanMode::FanOut),
        "fan_avg" => Ok(FanMode::FanAvg),
        _ => Err(PyValueError::new_err(format!(
            "mode must be 'fan_in', 'fan_out' or 'fan_avg', got '{mode}'"
        ))),
    }
}

fn sampling(distribution: &str) -> PyResult<Sampling> {
    match distribution {
        "truncated_normal" => Ok(Sampling::TruncatedNormal),
        "untruncated_normal" => Ok(Sampling::UntruncatedNormal),
        "uniform" => Ok(Sampling::Uniform),
        _ => Err(PyValueError::new_err(format!(
            "distribution must be 'truncated_normal', 'untruncated_normal' or 'uniform', got '{distribution}'"
        ))),
    }
}

/// Samples an initializer described by its Keras class parameters: `kind` is one of
/// "zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
/// "variance_scaling", "orthogonal", "identity"; `a`/`b` are its two numeric parameters
/// (value; mean, stddev; minval, maxval; scale; gain).
#[pyfunction]
#[pyo3(signature = (kind, shape, dtype=None, seed=None, a=0.0, b=0.0, mode="fan_in", distribution="truncated_normal"))]
#[allow(clippy::too_many_arguments)]
fn initialize(
    kind: &str,
    shape: Vec<usize>,
    dtype: Option<&Bound<'_, PyAny>>,
    seed: Option<u64>,
    a: f64,
    b: f64,
    mode: &str,
    distribution: &str,
) -> PyResult<PyTensor> {
    let init = match kind {
        "zeros" => Initializer::Zeros,
        "ones" => Initializer::Ones,
        "constant" => Initializer::Constant { value: a },
        "random_normal" => Initializer::RandomNormal { mean: a, stddev: b },
        "random_uniform" => Initializer::RandomUniform {
            minval: a,
            maxval: b,
        },
        "truncated_normal" => Initializer::TruncatedNormal { mean: a, stddev: b },
        "variance_scaling" => Initializer::VarianceScaling {
            scale: a,
            mode: fan_mode(mode)?,
            distribution: sampling(distribution)?,
        },
        "orthogonal" => Initializer::Orthogonal { gain: a },
        "identity" => Initializer::Identity { gain: a },
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown initializer kind '{kind}'"
            )))
        }
    };
    let dtype = parse_dtype(dtype)?.unwrap_or(DType::F32);
    init.sample(&shape, dtype, seed).py().map(PyTensor::new)
}

/// Reseeds the generator that unseeded initializers draw from.
#[pyfunction]
fn set_global_seed(seed: u64) {
    ferrograd::init::set_global_seed(seed);
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(initialize, m)?)?;
    m.add_function(wrap_pyfunction!(set_global_seed, m)?)?;
    Ok(())
}
