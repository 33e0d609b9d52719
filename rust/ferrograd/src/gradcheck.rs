//! Gradient checking with the two-sided difference (f(θ+ε) − f(θ−ε)) / 2ε, in float64, with
//! PyTorch's pass rule |analytic − numeric| ≤ atol + rtol·|numeric|.
//!
//! A non-scalar output is reduced to a scalar by a fixed pseudo-random projection ⟨w, f(θ)⟩, so
//! one backward pass checks the whole vector-Jacobian product (as PyTorch's fast mode does).

use ndarray::{ArrayD, Dimension, IxDyn};

use crate::autodiff;
use crate::error::{Error, Result};
use crate::tensor::{DType, Storage, Tensor};

/// Tolerances and step of [`gradcheck`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy)]
pub struct GradcheckOptions {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

/// The outcome of a passing check: the largest violation ratio seen (≤ 1 passes).
#[derive(Debug, Clone)]
pub struct GradcheckReport {
    /// max over elements of |analytic − numeric| / (atol + rtol·|numeric|)
    pub worst_ratio: f64,
    /// How many partial derivatives were compared.
    pub checked: usize,
}

/// Projection weights in [0.5, 1.5): deterministic, never zero, distinct per element.
fn projection(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let values = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            0.5 + (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).expect("size matches")
}

fn scalar_value(output: &Tensor, weights: &ArrayD<f64>) -> f64 {
    output
        .to_f64()
        .iter()
        .zip(weights.iter())
        .map(|(y, w)| y * w)
        .sum()
}

/// Checks the analytic gradient of `f` at `inputs` (converted to float64 leaves) against central
/// differences. On failure the error names the worst element: input, index, both values.
pub fn gradcheck(
    f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    options: GradcheckOptions,
) -> Result<GradcheckReport> {
    let GradcheckOptions { eps, atol, rtol } = options;
    if eps.is_nan() || eps <= 0.0 {
        return Err(Error::argument(
            "gradcheck",
            format!("eps must be positive, got {eps}"),
        ));
    }
    let base: Vec<ArrayD<f64>> = inputs.iter().map(|t| t.to_f64()).collect();
    let leaves: Vec<Tensor> = base
        .iter()
        .map(|a| Tensor::from_storage(Storage::from_array(a.clone()), true))
        .collect();
    let output = f(&leaves)?;
    if output.dtype() != DType::F64 {
        return Err(Error::dtype(
            "gradcheck",
            format!(
                "the function must compute in float64 from float64 inputs, it returned {}",
                output.dtype()
            ),
        ));
    }
    let weights = projection(&output.shape());
    let seed = Storage::from_array(weights.clone());
    let analytic = autodiff::grad(
        &output,
        &leaves,
        Some(seed),
        autodiff::BackwardOptions::default(),
    )?;

    let evaluate = |perturbed: &[ArrayD<f64>]| -> Result<f64> {
        let _guard = autodiff::no_grad();
        let tensors: Vec<Tensor> = perturbed
            .iter()
            .map(|a| Tensor::from_array(a.clone()))
            .collect();
        Ok(scalar_value(&f(&tensors)?, &weights))
    };

    let mut worst: Option<(f64, usize, Vec<usize>, f64, f64)> = None;
    let mut checked = 0;
    let mut point = base.clone();
    for (input_index, analytic_grad) in analytic.iter().enumerate() {
        let analytic_grad = match analytic_grad {
            Some(g) => g.to_f64(),
            None => ArrayD::zeros(base[input_index].raw_dim()),
        };
        for (flat, (index, &original)) in base[input_index].indexed_iter().enumerate() {
            let index = index.as_array_view().to_vec();
            point[input_index][IxDyn(&index)] = original + eps;
            let plus = evaluate(&point)?;
            point[input_index][IxDyn(&index)] = original - eps;
            let minus = evaluate(&point)?;
            point[input_index][IxDyn(&index)] = original;
            let numeric = (plus - minus) / (2.0 * eps);
            let a = analytic_grad
                .as_slice()
                .map(|s| s[flat])
                .unwrap_or_else(|| analytic_grad[IxDyn(&index)]);
            let ratio = (a - numeric).abs() / (atol + rtol * numeric.abs());
            let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
            checked += 1;
            if worst.as_ref().is_none_or(|w| ratio > w.0) {
                worst = Some((ratio, input_index, index, a, numeric));
            }
        }
    }
    let worst_ratio = worst.as_ref().map_or(0.0, |w| w.0);
    if worst_ratio > 1.0 {
        let (_, input, index, a, numeric) = worst.expect("set when ratio > 1");
        return Err(Error::GradcheckFailed(format!(
            "gradcheck failed for input {input} at index {index:?}: analytic {a:.10e} vs numeric {numeric:.10e} (|difference| {:.3e} > atol {atol:e} + rtol {rtol:e} * |numeric|); {checked} partial derivatives checked",
            (a - numeric).abs()
        )));
    }
    Ok(GradcheckReport {
        worst_ratio,
        checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(values: &[f64]) -> Tensor {
        Tensor::from_vec(&[values.len()], values.to_vec()).unwrap()
    }

    #[test]
    fn passes_on_a_correct_gradient() {
        let f = |x: &[Tensor]| x[0].tanh()?.mul(&x[1])?.sum(None, false);
        let report = gradcheck(
            &f,
            &[input(&[0.1, -0.5, 2.0]), input(&[1.0, 2.0, 3.0])],
            GradcheckOptions::default(),
        )
        .unwrap();
        assert_eq!(report.checked, 6);
        assert!(report.worst_ratio <= 1.0);
    }

    #[test]
    fn fails_on_a_wrong_gradient_naming_the_element() {
        // detach() hides x[1]'s contribution to the gradient: analytic says 0 for input 1.
        let f = |x: &[Tensor]| x[0].mul(&x[1].detach())?.sum(None, false);
        let error = gradcheck(
            &f,
            &[input(&[1.0, 2.0]), input(&[3.0, -4.0])],
            GradcheckOptions::default(),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("input 1") && message.contains("[1]"),
            "{message}"
        );
    }
}
