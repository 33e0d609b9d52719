//! Reverse-mode automatic differentiation over the graph that ops record in their outputs.
//!
//! The contract of the gradient store (after burn's `grads.rs`): the gradient of every tensor is
//! the sum of what each of its consumers sends back; an intermediate gradient is consumed exactly
//! once, when its tensor is reached in reverse topological order, and dropped there; leaf
//! gradients are accumulated into the leaves (`backward`) or returned (`grad`).

mod grad_mode;

pub use grad_mode::{is_grad_enabled, no_grad, pop_no_grad, push_no_grad, NoGradGuard};

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::tensor::{Storage, Tensor};

/// Options of a backward pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackwardOptions {
    /// Keep the graph so that a second backward through it works (PyTorch's `retain_graph`).
    pub retain_graph: bool,
}

/// The tensors reachable from `root` through recorded nodes, in topological order (inputs before
/// outputs). Iterative, so a 1,000-step RNN unroll does not overflow the stack.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited: HashSet<u64> = HashSet::new();
    // (tensor, whether its inputs have been pushed already)
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((tensor, expanded)) = stack.pop() {
        if expanded {
            order.push(tensor);
            continue;
        }
        if !visited.insert(tensor.id()) {
            continue;
        }
        let node = tensor.node();
        stack.push((tensor, true));
        if let Some(node) = node {
            for input in node.inputs.iter().rev() {
                if input.requires_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}

/// The seed gradient: ones for a one-element output, else the given one, checked.
fn seed_gradient(output: &Tensor, grad_output: Option<Storage>) -> Result<Storage> {
    match grad_output {
        None => {
            if output.len() != 1 {
                return Err(Error::shape(
                    "backward",
                    format!(
                        "a gradient can be created implicitly only for a scalar output; this output has shape {:?}, so pass a gradient of that shape",
                        output.shape()
                    ),
                ));
            }
            Ok(Storage::full(&output.shape(), 1.0, output.dtype()))
        }
        Some(g) => {
            if g.shape() != output.shape().as_slice() {
                return Err(Error::shape(
                    "backward",
                    format!(
                        "the gradient has shape {:?} but the output has shape {:?}",
                        g.shape(),
                        output.shape()
                    ),
                ));
            }
            Ok(g.cast(output.dtype()))
        }
    }
}

/// Runs the backward pass from `output`, calling `sink` with the total gradient of every tensor
/// that `wanted` accepts (leaves and intermediates alike).
fn run_backward(
    output: &Tensor,
    grad_output: Option<Storage>,
    options: BackwardOptions,
    wanted: &dyn Fn(&Tensor) -> bool,
    sink: &mut dyn FnMut(&Tensor, &Storage) -> Result<()>,
) -> Result<()> {
    if !output.requires_grad() {
        return Err(Error::Autograd(
            "this tensor does not require grad and has no grad_fn: nothing to differentiate (did you forget requires_grad=True, or compute it under no_grad?)".into(),
        ));
    }
    if output.is_released() {
        return Err(Error::Autograd(
            "trying to backward through the graph a second time: its saved values were freed by the first backward (use retain_graph=True)".into(),
        ));
    }
    let seed = seed_gradient(output, grad_output)?;
    let order = topological_order(output);
    let mut grads: HashMap<u64, Storage> = HashMap::with_capacity(order.len());
    grads.insert(output.id(), seed);

    // The backward pass itself records nothing: gradients of gradients are not supported.
    let _guard = no_grad();
    for tensor in order.iter().rev() {
        let Some(grad) = grads.remove(&tensor.id()) else {
            continue;
        };
        if wanted(tensor) {
            sink(tensor, &grad)?;
        }
        let Some(node) = tensor.node() else {
            if tensor.is_released() {
                return Err(Error::Autograd(
                    "trying to backward through a part of the graph that an earlier backward freed (use retain_graph=True)".into(),
                ));
            }
            continue;
        };
        let input_grads = (node.backward)(&grad)?;
        drop(grad);
        for (input, input_grad) in node.inputs.iter().zip(input_grads) {
            let Some(input_grad) = input_grad else {
                continue;
            };
            if !input.requires_grad() {
                continue;
            }
            if input_grad.shape() != input.shape().as_slice() {
                return Err(Error::Autograd(format!(
                    "internal error in the backward of {}: gradient shape {:?} for an input of shape {:?}",
                    node.op,
                    input_grad.shape(),
                    input.shape()
                )));
            }
            let total = match grads.remove(&input.id()) {
                None => input_grad,
                Some(previous) => previous.add_same_shape(&input_grad)?,
            };
            grads.insert(input.id(), total);
        }
        if !options.retain_graph {
            tensor.release_node();
        }
    }
    Ok(())
}

/// Computes the gradient of `output` with respect to every leaf that requires one and adds it to
/// the leaf's `grad`. A non-scalar output needs an explicit `grad_output` of its shape.
pub fn backward(
    output: &Tensor,
    grad_output: Option<Storage>,
    options: BackwardOptions,
) -> Result<()> {
    run_backward(
        output,
        grad_output,
        options,
        &|t: &Tensor| t.is_leaf(),
        &mut |t: &Tensor, g: &Storage| t.accumulate_grad(g.clone()),
    )
}

/// The gradients of `output` with respect to `inputs`, returned rather than accumulated (the
/// functional form behind `GradientTape.gradient` and `fg.grad`). An input that `output` does not
/// depend on gets `None`.
pub fn grad(
    output: &Tensor,
    inputs: &[Tensor],
    grad_output: Option<Storage>,
    options: BackwardOptions,
) -> Result<Vec<Option<Tensor>>> {
    let ids: HashSet<u64> = inputs.iter().map(|t| t.id()).collect();
    let mut found: HashMap<u64, Storage> = HashMap::new();
    run_backward(
        output,
        grad_output,
        options,
        &|t: &Tensor| ids.contains(&t.id()),
        &mut |t: &Tensor, g: &Storage| {
            found.insert(t.id(), g.clone());
            Ok(())
        },
    )?;
    Ok(inputs
        .iter()
        .map(|t| {
            found
                .get(&t.id())
                .map(|g| Tensor::from_storage(g.clone(), false))
        })
        .collect())
}

impl Tensor {
    /// `backward()` for a scalar output: accumulates gradients into the leaves.
    pub fn backward(&self) -> Result<()> {
        backward(self, None, BackwardOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    fn leaf(values: &[f64]) -> Tensor {
        let t = Tensor::from_vec(&[values.len()], values.to_vec()).unwrap();
        t.set_requires_grad(true).unwrap();
        t
    }

    #[test]
    fn shared_subexpression_accumulates() {
        // y = x*x + x  →  dy/dx = 2x + 1
        let x = leaf(&[3.0]);
        let y = x
            .mul(&x)
            .unwrap()
            .add(&x)
            .unwrap()
            .sum(None, false)
            .unwrap();
        y.backward().unwrap();
        assert_eq!(
            x.grad()
                .unwrap()
                .to_f64()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![7.0]
        );
    }

    #[test]
    fn non_scalar_needs_a_seed() {
        let x = leaf(&[1.0, 2.0]);
        let y = x.exp().unwrap();
        assert!(matches!(y.backward(), Err(Error::Shape { .. })));
        backward(
            &y,
            Some(Storage::full(&[2], 1.0, y.dtype())),
            BackwardOptions::default(),
        )
        .unwrap();
    }

    #[test]
    fn no_grad_records_nothing_and_backward_on_constant_errors() {
        let x = leaf(&[1.0]);
        let y = {
            let _guard = no_grad();
            x.exp().unwrap()
        };
        assert!(!y.requires_grad());
        assert!(matches!(y.backward(), Err(Error::Autograd(_))));
    }

    #[test]
    fn second_backward_without_retain_graph_errors() {
        let x = leaf(&[1.0]);
        let y = x.exp().unwrap().sum(None, false).unwrap();
        y.backward().unwrap();
        assert!(matches!(y.backward(), Err(Error::Autograd(_))));
        let z = x.exp().unwrap().sum(None, false).unwrap();
        backward(&z, None, BackwardOptions { retain_graph: true }).unwrap();
        backward(&z, None, BackwardOptions { retain_graph: true }).unwrap();
        // e + e + e: three backward passes accumulated into x.grad
        let g = x.grad().unwrap().item().unwrap();
        assert!((g - 3.0 * 1f64.exp()).abs() < 1e-12);
    }

    #[test]
    fn grad_returns_without_accumulating() {
        let x = leaf(&[2.0]);
        let unused = leaf(&[5.0]);
        let y = x.square().unwrap().sum(None, false).unwrap();
        let grads = grad(&y, &[x.clone(), unused], None, BackwardOptions::default()).unwrap();
        assert_eq!(grads[0].as_ref().unwrap().item().unwrap(), 4.0);
        assert!(grads[1].is_none());
        assert!(x.grad().is_none());
    }

    #[test]
    fn deep_chain_does_not_overflow_the_stack() {
        let x = leaf(&[0.5]);
        let mut y = x.clone();
        for _ in 0..20_000 {
            y = y.scale(1.0).unwrap();
        }
        y.sum(None, false).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap().item().unwrap(), 1.0);
    }

    #[test]
    fn dropping_a_deep_unreleased_graph_does_not_overflow_the_stack() {
        let x = leaf(&[0.5]);
        let mut y = x.clone();
        for _ in 0..200_000 {
            y = y.scale(1.0).unwrap();
        }
        drop(y);
        assert!(x.grad().is_none());
    }
}
