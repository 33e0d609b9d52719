//! [`Graph`]: a directed acyclic graph of layers from inputs to outputs — Keras's functional
//! model, of which `Sequential` is the chain. Nodes are kept in topological order (a node may
//! only read values of earlier nodes), so running the graph is one pass with no recursion.
//!
//! Masks travel beside the values, as Keras's `_keras_mask`: a layer's outputs get the masks
//! its [`Layer::compute_mask`] gives, and a layer whose inputs carry a mask is run with
//! [`Layer::call_masked`]. A model without masks runs exactly as before.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::nn::{format_shape, known, Layer, Shape, Weight};
use crate::tensor::{DType, Tensor};

/// One value in the graph: output `output` of node `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValueRef {
    pub node: usize,
    pub output: usize,
}

/// What [`Graph::forward_observed`] shows each layer's outputs to: `(node index, layer,
/// outputs)`.
pub type Observer<'a> = dyn FnMut(usize, &Arc<dyn Layer>, &[Tensor]) -> Result<()> + 'a;

/// A node: a model input, or a layer applied to earlier values.
#[derive(Clone)]
pub enum Node {
    Input {
        name: String,
        shape: Shape,
    },
    Layer {
        layer: Arc<dyn Layer>,
        inputs: Vec<ValueRef>,
    },
}

/// A graph of layers with its inputs and outputs.
#[derive(Clone)]
pub struct Graph {
    nodes: Vec<Node>,
    /// The shape of every output of every node.
    shapes: Vec<Vec<Shape>>,
    inputs: Vec<usize>,
    outputs: Vec<ValueRef>,
    dtype: DType,
}

impl Graph {
    /// An empty graph whose inputs are converted to `dtype`.
    pub fn new(dtype: DType) -> Graph {
        Graph {
            nodes: Vec::new(),
            shapes: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            dtype,
        }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Adds a model input of `shape` (batch axis `None`).
    pub fn add_input(&mut self, name: impl Into<String>, shape: Shape) -> ValueRef {
        let node = self.nodes.len();
        self.nodes.push(Node::Input {
            name: name.into(),
            shape: shape.clone(),
        });
        self.shapes.push(vec![shape]);
        self.inputs.push(node);
        ValueRef { node, output: 0 }
    }

    /// Applies `layer` to earlier values; returns its outputs. The layer must already be built
    /// (its shapes are checked here).
    pub fn add_layer(
        &mut self,
        layer: Arc<dyn Layer>,
        inputs: Vec<ValueRef>,
    ) -> Result<Vec<ValueRef>> {
        let input_shapes = inputs
            .iter()
            .map(|r| self.shape(*r).cloned())
            .collect::<Result<Vec<Shape>>>()?;
        let output_shapes = layer.output_shapes(&input_shapes)?;
        let node = self.nodes.len();
        let refs = (0..output_shapes.len())
            .map(|output| ValueRef { node, output })
            .collect();
        self.nodes.push(Node::Layer { layer, inputs });
        self.shapes.push(output_shapes);
        Ok(refs)
    }

    /// Sets the model's outputs.
    pub fn set_outputs(&mut self, outputs: Vec<ValueRef>) -> Result<()> {
        for r in &outputs {
            self.shape(*r)?;
        }
        if outputs.is_empty() {
            return Err(Error::Argument {
                op: "model",
                message: "a model needs at least one output".into(),
            });
        }
        self.outputs = outputs;
        Ok(())
    }

    /// The shape of a value.
    pub fn shape(&self, value: ValueRef) -> Result<&Shape> {
        self.shapes
            .get(value.node)
            .and_then(|s| s.get(value.output))
            .ok_or_else(|| Error::Argument {
                op: "model",
                message: format!(
                    "value {}:{} is not in the graph (it has {} nodes)",
                    value.node,
                    value.output,
                    self.nodes.len()
                ),
            })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[ValueRef] {
        &self.outputs
    }

    pub fn input_shapes(&self) -> Vec<Shape> {
        self.inputs
            .iter()
            .map(|&n| self.shapes[n][0].clone())
            .collect()
    }

    pub fn output_shapes(&self) -> Vec<Shape> {
        self.outputs
            .iter()
            .map(|r| self.shapes[r.node][r.output].clone())
            .collect()
    }

    /// Every layer once, in the order of first use (Keras's `model.layers` without inputs).
    pub fn layers(&self) -> Vec<Arc<dyn Layer>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for node in &self.nodes {
            if let Node::Layer { layer, .. } = node {
                let key = Arc::as_ptr(layer) as *const () as usize;
                if seen.insert(key) {
                    out.push(layer.clone());
                }
            }
        }
        out
    }

    /// Every weight once (a shared layer's weights are listed once), in layer order.
    pub fn weights(&self) -> Vec<Weight> {
        let mut seen = HashSet::new();
        self.layers()
            .iter()
            .flat_map(|l| l.weights())
            .filter(|w| seen.insert(w.value.id()))
            .collect()
    }

    /// The trainable weights (Keras's `model.trainable_weights`).
    pub fn trainable_weights(&self) -> Vec<Weight> {
        self.weights().into_iter().filter(|w| w.trainable).collect()
    }

    /// Checks concrete inputs against the input shapes (count, rank, known axes, batch sizes).
    pub fn check_inputs(&self, inputs: &[Tensor]) -> Result<()> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::Argument {
                op: "model",
                message: format!(
                    "the model expects {} input(s), got {}",
                    self.inputs.len(),
                    inputs.len()
                ),
            });
        }
        let mut batch = None;
        for (i, (x, expected)) in inputs.iter().zip(self.input_shapes()).enumerate() {
            let shape = x.shape();
            let fits = shape.len() == expected.len()
                && shape
                    .iter()
                    .zip(&expected)
                    .all(|(&d, e)| e.is_none_or(|e| e == d));
            if !fits {
                return Err(Error::Shape {
                    op: "model",
                    message: format!(
                        "input {i} of the model expects shape {}, got data of shape {}{}",
                        format_shape(&expected),
                        format_shape(&known(&shape)),
                        flatten_hint(&shape, &expected)
                    ),
                });
            }
            let n = shape.first().copied();
            if batch.is_some() && n != batch {
                return Err(Error::Shape {
                    op: "model",
                    message: format!(
                        "all inputs must have the same number of samples, got {:?} and {:?}",
                        batch.unwrap_or_default(),
                        n.unwrap_or_default()
                    ),
                });
            }
            batch = n;
        }
        Ok(())
    }

    /// Runs the graph on concrete inputs (in the graph's input order). Values are dropped as soon
    /// as their last reader has run.
    pub fn forward(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        self.forward_observed(inputs, training, &mut |_, _, _| Ok(()))
    }

    /// [`Graph::forward`] that shows every layer's outputs to `observe` as soon as the layer has
    /// run, in execution order: `(node index, layer, outputs)`. Gradient insight uses it to
    /// look at activations and to find the first layer whose output is not finite; an error
    /// from `observe` stops the pass.
    pub fn forward_observed(
        &self,
        inputs: &[Tensor],
        training: bool,
        observe: &mut Observer<'_>,
    ) -> Result<Vec<Tensor>> {
        self.check_inputs(inputs)?;
        let mut last_use = vec![0usize; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            if let Node::Layer { inputs, .. } = node {
                for r in inputs {
                    last_use[r.node] = i;
                }
            }
        }
        for r in &self.outputs {
            last_use[r.node] = usize::MAX;
        }
        let mut values: Vec<Option<Vec<Tensor>>> = vec![None; self.nodes.len()];
        // Each node's output masks; empty: none of its outputs has a mask.
        let mut masks: Vec<Vec<Option<Tensor>>> = vec![Vec::new(); self.nodes.len()];
        let mut next_input = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            let produced = match node {
                Node::Input { .. } => {
                    let x = &inputs[next_input];
                    next_input += 1;
                    vec![if x.dtype() == self.dtype {
                        x.clone()
                    } else {
                        x.cast(self.dtype)?
                    }]
                }
                Node::Layer { layer, inputs } => {
                    let args = inputs
                        .iter()
                        .map(|r| {
                            values[r.node]
                                .as_ref()
                                .and_then(|v| v.get(r.output))
                                .cloned()
                                .ok_or_else(|| {
                                    Error::Autograd(format!(
                                        "graph value {}:{} read before it was computed",
                                        r.node, r.output
                                    ))
                                })
                        })
                        .collect::<Result<Vec<Tensor>>>()?;
                    let arg_masks: Vec<Option<Tensor>> = inputs
                        .iter()
                        .map(|r| masks[r.node].get(r.output).cloned().flatten())
                        .collect();
                    let out = if arg_masks.iter().any(Option::is_some) {
                        layer.call_masked(&args, &arg_masks, training)?
                    } else {
                        layer.call(&args, training)?
                    };
                    masks[i] = layer.compute_mask(&args, &arg_masks)?;
                    if out.len() != self.shapes[i].len() {
                        return Err(Error::Argument {
                            op: "model",
                            message: format!(
                                "layer '{}' returned {} outputs where its output shapes promise {}",
                                layer.name(),
                                out.len(),
                                self.shapes[i].len()
                            ),
                        });
                    }
                    observe(i, layer, &out)?;
                    out
                }
            };
            values[i] = Some(produced);
            if let Node::Layer { inputs, .. } = node {
                for r in inputs {
                    if last_use[r.node] == i {
                        values[r.node] = None;
                        masks[r.node] = Vec::new();
                    }
                }
            }
        }
        self.outputs
            .iter()
            .map(|r| {
                values[r.node]
                    .as_ref()
                    .map(|v| v[r.output].clone())
                    .ok_or_else(|| Error::Autograd("model output was not computed".into()))
            })
            .collect()
    }
}

/// A hint for data whose samples hold the expected number of values in another shape (images
/// fed to a Dense input): flatten them, or start the model with a `Flatten` layer.
fn flatten_hint(shape: &[usize], expected: &[Option<usize>]) -> String {
    let sample: usize = shape.iter().skip(1).product();
    let wanted: Option<usize> = expected.iter().skip(1).copied().product();
    match (shape.first(), wanted) {
        (Some(&n), Some(wanted)) if shape.len() != expected.len() && sample == wanted => format!(
            "; each sample has the {wanted} values the input takes, in another shape: reshape the \
             data to ({n}, {wanted}) or make the model take shape {} with a Flatten layer first",
            format_shape(&known(&shape[1..]))
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{
        build, Activation, Dense, Embedding, Merge, MergeOp, Recurrent, RecurrentConfig,
    };
    use crate::ops::test_util::{assert_close, values};
    use crate::ops::RnnCell;

    #[test]
    fn residual_graph_runs_and_lists_shared_layers_once() {
        let mut g = Graph::new(DType::F64);
        let x = g.add_input("x", vec![None, Some(3)]);
        let dense: Arc<dyn Layer> = Arc::new(Dense::new("d", 3, Activation::Tanh, true));
        build(dense.as_ref(), &[vec![None, Some(3)]], DType::F64).unwrap();
        let h = g.add_layer(dense.clone(), vec![x]).unwrap()[0];
        let h2 = g.add_layer(dense.clone(), vec![h]).unwrap()[0];
        let add: Arc<dyn Layer> = Arc::new(Merge::new("add", MergeOp::Add));
        let y = g.add_layer(add, vec![x, h2]).unwrap()[0];
        g.set_outputs(vec![y]).unwrap();
        assert_eq!(g.layers().len(), 2);
        assert_eq!(g.weights().len(), 2);
        let input = Tensor::from_vec(&[2, 3], vec![0.1f64; 6]).unwrap();
        let out = g.forward(std::slice::from_ref(&input), false).unwrap();
        let direct = {
            let d = |t: &Tensor| {
                dense
                    .call(std::slice::from_ref(t), false)
                    .unwrap()
                    .remove(0)
            };
            input.add(&d(&d(&input))).unwrap()
        };
        assert_eq!(out[0].to_f64(), direct.to_f64());
        let err = g
            .forward(&[Tensor::zeros(&[2, 4], DType::F64)], false)
            .unwrap_err();
        assert!(err.to_string().contains("(None, 3)"), "{err}");
    }

    #[test]
    fn graph_carries_the_embedding_mask_into_the_lstm() {
        // Embedding(mask_zero) -> LSTM: trailing padding leaves the final state unchanged,
        // and leading padding too (the state carries the initial zeros over).
        let mut graph = Graph::new(DType::F64);
        let ids = graph.add_input("ids", vec![None, Some(5)]);
        let embedding: Arc<dyn Layer> = Arc::new(Embedding::new("e", 6, 3, true).unwrap());
        build(embedding.as_ref(), &[vec![None, Some(5)]], DType::F64).unwrap();
        let lstm: Arc<dyn Layer> =
            Arc::new(Recurrent::new("l", RnnCell::Lstm, RecurrentConfig::new(4)).unwrap());
        build(lstm.as_ref(), &[vec![None, Some(5), Some(3)]], DType::F64).unwrap();
        let embedded = graph.add_layer(embedding.clone(), vec![ids]).unwrap();
        let out = graph.add_layer(lstm.clone(), embedded).unwrap();
        graph.set_outputs(out).unwrap();
        let padded = Tensor::from_vec(
            &[3, 5],
            vec![
                3.0, 1.0, 4.0, 0.0, 0.0, //
                0.0, 0.0, 3.0, 1.0, 4.0, //
                0.0, 0.0, 0.0, 0.0, 0.0,
            ],
        )
        .unwrap();
        let y = values(&graph.forward(&[padded], false).unwrap()[0]);
        let unpadded = Tensor::from_vec(&[1, 3], vec![3.0, 1.0, 4.0]).unwrap();
        let x = embedding.call(&[unpadded], false).unwrap();
        let expected = values(&lstm.call(&x, false).unwrap()[0]);
        assert_close(&y[..4], &expected, 1e-12);
        assert_close(&y[4..8], &expected, 1e-12);
        assert_eq!(&y[8..], &[0.0; 4]); // all masked: the initial zeros
    }
}
