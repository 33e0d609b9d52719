//! Models: a [`Graph`] of layers, compiled with a loss, an optimizer and metrics, and trained by
//! Keras's loop — shuffle, batch, forward, loss + regularization, backward, optimizer step,
//! metrics — entirely in Rust. Front ends drive it an epoch at a time ([`Model::fit_epoch`]) and
//! get a call after every batch (for callbacks and progress bars); the Python binding runs it with
//! the GIL released.
//!
//! Logged values follow Keras 3: `loss` is the mean of the batch losses weighted by batch size
//! (regularization included), metrics are running values over the epoch; with several outputs
//! each output's loss and metrics are logged with the output's name as prefix.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use ferrograd::model::{Compiled, Graph, Model};
//! use ferrograd::nn::{build, Activation, Dense, Layer};
//! use ferrograd::losses::Loss;
//! use ferrograd::optim::{Optimizer, Sgd};
//! use ferrograd::{DType, Tensor};
//!
//! let mut graph = Graph::new(DType::F64);
//! let x = graph.add_input("x", vec![None, Some(1)]);
//! let dense: Arc<dyn Layer> = Arc::new(Dense::new("dense", 1, Activation::Linear, true));
//! build(dense.as_ref(), &[vec![None, Some(1)]], DType::F64).unwrap();
//! let y = graph.add_layer(dense, vec![x]).unwrap();
//! graph.set_outputs(y).unwrap();
//! let optimizer = Optimizer::new(Sgd::default(), 0.1).unwrap();
//! let mut model = Model::new(graph);
//! model.compile(Compiled::new(Arc::new(Mutex::new(optimizer)), vec![Some(Loss::MeanSquaredError)]));
//! // learn y = 2x + 1
//! let xs = Tensor::from_vec(&[4, 1], vec![0.0f64, 1.0, 2.0, 3.0]).unwrap();
//! let ys = Tensor::from_vec(&[4, 1], vec![1.0f64, 3.0, 5.0, 7.0]).unwrap();
//! let data = ferrograd::model::Data::new(vec![xs], vec![ys], None).unwrap();
//! for epoch in 0..200 {
//!     model.fit_epoch(&data, 4, false, epoch, &mut |_, _| true).unwrap();
//! }
//! let logs = model.evaluate(&data, 4, &mut |_, _| true).unwrap();
//! assert!(logs[0].1 < 1e-3, "{logs:?}");
//! ```

use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::autodiff::{self, BackwardOptions};
use crate::error::{Error, Result};
use crate::losses::{Loss, Reduction};
use crate::metrics::{Metric, MetricKind};
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use crate::threads;

mod compile_config;
mod data;
mod graph;
mod insight;
mod verdict;

pub use data::{copy_rows, gather_rows, Column, Data, RowSource};
pub use graph::{Graph, Node, ValueRef};
pub use insight::{
    ActivationStats, GradientMonitor, GradientReport, GradientStats, LayerInsight, MonitorRecord,
    NonFinite, WeightInsight,
};
pub use verdict::{judge, GradientHealth, LayerHealth, Thresholds, Verdict};

/// Named values after a batch or an epoch, in Keras's order (`loss` first).
pub type Logs = Vec<(String, f64)>;

/// The batch callback: `(batch index, running logs)`; returning `false` stops the loop after
/// this batch.
pub type BatchHook<'a> = dyn FnMut(usize, &Logs) -> bool + 'a;

/// A per-sample loss function from outside the engine (a front end's Python loss), called
/// with `(y_true, y_pred)`.
pub type LossFn = Arc<dyn Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync>;

/// The loss of one output: a built-in [`Loss`] or a function, reduced as `reduction` says
/// (Keras's default `sum_over_batch_size`).
#[derive(Clone)]
pub enum CompiledLoss {
    Builtin {
        loss: Loss,
        reduction: Reduction,
    },
    Custom {
        per_sample: LossFn,
        reduction: Reduction,
    },
}

impl From<Loss> for CompiledLoss {
    fn from(loss: Loss) -> CompiledLoss {
        CompiledLoss::Builtin {
            loss,
            reduction: Reduction::SumOverBatchSize,
        }
    }
}

impl CompiledLoss {
    /// The reduced, sample-weighted loss.
    pub fn compute(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Tensor> {
        match self {
            CompiledLoss::Builtin { loss, reduction } => {
                loss.compute(y_true, y_pred, sample_weight, *reduction)
            }
            CompiledLoss::Custom {
                per_sample,
                reduction,
            } => {
                let values = per_sample(y_true, y_pred)?;
                let values = if values.dtype() == y_pred.dtype() {
                    values
                } else {
                    values.cast(y_pred.dtype())?
                };
                reduction.apply(&values, sample_weight)
            }
        }
    }
}

/// What `compile` sets: the optimizer (shared with the front end, which may change its learning
/// rate between batches), a loss per output (None: that output is not trained), the loss weights
/// and the metrics of each output.
pub struct Compiled {
    pub optimizer: Arc<Mutex<Optimizer>>,
    pub losses: Vec<Option<CompiledLoss>>,
    pub loss_weights: Vec<f64>,
    pub metrics: Vec<Vec<Metric>>,
    /// Output names, used as log prefixes when there are several outputs.
    pub output_names: Vec<String>,
}

impl Compiled {
    /// One loss per output with weight 1 and no metrics.
    pub fn new(optimizer: Arc<Mutex<Optimizer>>, losses: Vec<Option<Loss>>) -> Compiled {
        let losses: Vec<Option<CompiledLoss>> = losses
            .into_iter()
            .map(|l| l.map(CompiledLoss::from))
            .collect();
        let n = losses.len();
        Compiled {
            optimizer,
            losses,
            loss_weights: vec![1.0; n],
            metrics: vec![Vec::new(); n],
            output_names: (0..n).map(|i| format!("output_{i}")).collect(),
        }
    }
}

/// A graph with its compile settings and the running loss trackers.
pub struct Model {
    graph: Graph,
    compiled: Option<Compiled>,
    loss_tracker: Metric,
    output_loss_trackers: Vec<Metric>,
    /// Gradient statistics recorded by the training step (`GradientMonitor` in Python).
    monitor: Option<GradientMonitor>,
}

fn mean_tracker(name: &str) -> Metric {
    Metric::new(MetricKind::Mean, name).expect("a Mean metric is always valid")
}

impl Model {
    pub fn new(graph: Graph) -> Model {
        Model {
            graph,
            compiled: None,
            loss_tracker: mean_tracker("loss"),
            output_loss_trackers: Vec::new(),
            monitor: None,
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The graph, to add layers to before `compile`.
    pub fn graph_mut(&mut self) -> Result<&mut Graph> {
        if self.compiled.is_some() {
            return Err(Error::Argument {
                op: "model",
                message: "the graph of a compiled model cannot change".into(),
            });
        }
        Ok(&mut self.graph)
    }

    pub fn compiled(&self) -> Option<&Compiled> {
        self.compiled.as_ref()
    }

    /// Sets the loss, optimizer and metrics (Keras's `compile`), checking there is one loss
    /// entry per output.
    pub fn compile(&mut self, compiled: Compiled) -> Result<()> {
        let outputs = self.graph.outputs().len();
        if compiled.losses.len() != outputs
            || compiled.loss_weights.len() != outputs
            || compiled.metrics.len() != outputs
            || compiled.output_names.len() != outputs
        {
            return Err(Error::Argument {
                op: "compile",
                message: format!(
                    "the model has {outputs} output(s) but compile got {} loss(es), {} loss weight(s) and {} metric list(s)",
                    compiled.losses.len(),
                    compiled.loss_weights.len(),
                    compiled.metrics.len()
                ),
            });
        }
        if compiled.losses.iter().all(Option::is_none) {
            return Err(Error::Argument {
                op: "compile",
                message: "no loss to optimize: give a loss for at least one output".into(),
            });
        }
        self.output_loss_trackers = if outputs > 1 {
            compiled
                .output_names
                .iter()
                .map(|n| mean_tracker(&format!("{n}_loss")))
                .collect()
        } else {
            Vec::new()
        };
        self.compiled = Some(compiled);
        Ok(())
    }

    fn compiled_or_err(&self, what: &str) -> Result<&Compiled> {
        self.compiled.as_ref().ok_or_else(|| Error::Argument {
            op: "model",
            message: format!("you must call `compile()` before `{what}()`"),
        })
    }

    /// Clears the loss trackers and metrics (Keras's `reset_metrics`).
    pub fn reset_metrics(&mut self) {
        self.loss_tracker.reset_state();
        for t in &mut self.output_loss_trackers {
            t.reset_state();
        }
        if let Some(c) = &mut self.compiled {
            for m in c.metrics.iter_mut().flatten() {
                m.reset_state();
            }
        }
    }

    /// The running values: `loss`, then each output's loss (several outputs), then metrics.
    pub fn logs(&self) -> Logs {
        let mut logs = vec![("loss".to_string(), self.loss_tracker.result())];
        for t in &self.output_loss_trackers {
            logs.push((t.name().to_string(), t.result()));
        }
        if let Some(c) = &self.compiled {
            let prefix = c.metrics.len() > 1;
            for (i, metrics) in c.metrics.iter().enumerate() {
                for m in metrics {
                    let name = if prefix {
                        format!("{}_{}", c.output_names[i], m.name())
                    } else {
                        m.name().to_string()
                    };
                    logs.push((name, m.result()));
                }
            }
        }
        logs
    }

    /// The total loss of a batch (weighted output losses + regularization) and the per-output
    /// losses.
    fn batch_loss(
        &self,
        outputs: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
        with_regularization: bool,
    ) -> Result<(Tensor, Vec<Option<Tensor>>)> {
        let compiled = self.compiled_or_err("fit")?;
        if y.len() != outputs.len() {
            return Err(Error::Argument {
                op: "fit",
                message: format!(
                    "the model has {} output(s) but got {} target array(s)",
                    outputs.len(),
                    y.len()
                ),
            });
        }
        let mut total: Option<Tensor> = None;
        let mut per_output = Vec::with_capacity(outputs.len());
        for (i, (out, target)) in outputs.iter().zip(y).enumerate() {
            let Some(loss) = &compiled.losses[i] else {
                per_output.push(None);
                continue;
            };
            let target = if target.dtype() == out.dtype() {
                target.clone()
            } else {
                target.cast(out.dtype())?
            };
            let value = loss
                .compute(&target, out, sample_weight)
                .map_err(|e| name_output(e, &compiled.output_names[i], outputs.len()))?;
            let weight = compiled.loss_weights[i];
            let weighted = if weight == 1.0 {
                value.clone()
            } else {
                value.scale(weight)?
            };
            total = Some(match total {
                None => weighted,
                Some(t) => t.add(&weighted)?,
            });
            per_output.push(Some(value));
        }
        let mut total = total.expect("compile checked one loss exists");
        if with_regularization {
            for w in self.graph.weights() {
                if let Some(r) = w.regularizer {
                    total = total.add(&r.penalty(&w.value)?.cast(total.dtype())?)?;
                }
            }
        }
        Ok((total, per_output))
    }

    fn track(
        &mut self,
        total: &Tensor,
        per_output: &[Option<Tensor>],
        outputs: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
        batch_size: usize,
    ) -> Result<()> {
        let _guard = autodiff::no_grad();
        let weight = Tensor::scalar(batch_size as f64);
        self.loss_tracker
            .update_values(&total.detach(), Some(&weight))?;
        for (tracker, value) in self.output_loss_trackers.iter_mut().zip(per_output) {
            if let Some(v) = value {
                tracker.update_values(&v.detach(), Some(&weight))?;
            }
        }
        let compiled = self.compiled.as_mut().expect("compiled");
        for ((metrics, out), target) in compiled.metrics.iter_mut().zip(outputs).zip(y) {
            let out = out.detach();
            for m in metrics {
                m.update_state(target, &out, sample_weight)?;
            }
        }
        Ok(())
    }

    /// One optimizer step on a batch (Keras's `train_on_batch` without the reset): updates the
    /// running loss and metrics.
    pub fn train_step(
        &mut self,
        x: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<()> {
        self.compiled_or_err("fit")?;
        let outputs = self.graph.forward(x, true)?;
        let (total, per_output) = self.batch_loss(&outputs, y, sample_weight, true)?;
        let trainable = self.graph.trainable_weights();
        if !trainable.is_empty() && total.requires_grad() {
            let tensors: Vec<Tensor> = trainable.iter().map(|w| w.value.clone()).collect();
            let grads = autodiff::grad(&total, &tensors, None, BackwardOptions::default())?;
            let pairs: Vec<(Tensor, Tensor)> = grads
                .into_iter()
                .zip(tensors)
                .filter_map(|(g, w)| g.map(|g| (g, w)))
                .collect();
            if !pairs.is_empty() {
                let optimizer = self.compiled_or_err("fit")?.optimizer.clone();
                let mut optimizer = optimizer.lock().expect("optimizer lock");
                if self.monitor.is_some() {
                    self.monitored_apply(&total, &pairs, &mut optimizer)?;
                } else {
                    optimizer.apply_gradients(&pairs)?;
                }
            }
        }
        let batch = x.first().map_or(0, |t| t.shape()[0]);
        self.track(&total, &per_output, &outputs, y, sample_weight, batch)
    }

    /// The loss and metrics of a batch without training (Keras's `test_on_batch` without the
    /// reset).
    pub fn test_step(
        &mut self,
        x: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<()> {
        self.compiled_or_err("evaluate")?;
        let _guard = autodiff::no_grad();
        let outputs = self.graph.forward(x, false)?;
        let (total, per_output) = self.batch_loss(&outputs, y, sample_weight, true)?;
        let batch = x.first().map_or(0, |t| t.shape()[0]);
        self.track(&total, &per_output, &outputs, y, sample_weight, batch)
    }

    /// One epoch of training: the data shuffled with `seed` (when `shuffle`), cut into batches,
    /// one step each; `on_batch` runs after every batch and may stop the epoch. Returns the
    /// epoch's logs and whether it ran to the end.
    pub fn fit_epoch(
        &mut self,
        data: &Data,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        on_batch: &mut BatchHook<'_>,
    ) -> Result<(Logs, bool)> {
        self.compiled_or_err("fit")?;
        check_batch_size(batch_size)?;
        let mut order: Vec<usize> = (0..data.len()).collect();
        if shuffle {
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        self.reset_metrics();
        for (index, chunk) in order.chunks(batch_size).enumerate() {
            let start = index * batch_size;
            let contiguous = (!shuffle).then_some((start, start + chunk.len()));
            let batch = data.select(chunk, contiguous)?;
            // The whole step runs on the pool: each parallel op inside it then starts on a
            // worker (a `join`) instead of waking the pool from this thread and sleeping until
            // it is done, which cost a futex round trip per op (~20 per MLP step). The batch
            // hook (Python callbacks, signals) stays on the calling thread.
            let model = &mut *self;
            threads::install(|| {
                model.train_step(&batch.x, &batch.y, batch.sample_weight.as_ref())
            })?;
            let stop = self.monitor.as_ref().is_some_and(|m| m.must_stop());
            if !on_batch(index, &self.logs()) || stop {
                return Ok((self.logs(), false));
            }
        }
        Ok((self.logs(), true))
    }

    /// The loss and metrics over all the data (Keras's `evaluate`).
    pub fn evaluate(
        &mut self,
        data: &Data,
        batch_size: usize,
        on_batch: &mut BatchHook<'_>,
    ) -> Result<Logs> {
        self.compiled_or_err("evaluate")?;
        check_batch_size(batch_size)?;
        self.reset_metrics();
        for (index, start) in (0..data.len()).step_by(batch_size).enumerate() {
            let stop = (start + batch_size).min(data.len());
            let rows: Vec<usize> = (start..stop).collect();
            let batch = data.select(&rows, Some((start, stop)))?;
            // On the pool, as fit's steps are (see `fit_epoch`).
            let model = &mut *self;
            threads::install(|| model.test_step(&batch.x, &batch.y, batch.sample_weight.as_ref()))?;
            if !on_batch(index, &self.logs()) {
                break;
            }
        }
        Ok(self.logs())
    }

    /// The outputs for all inputs, batch by batch in inference mode, concatenated (Keras's
    /// `predict`). `on_batch` gets empty logs.
    pub fn predict(
        &self,
        x: &[Tensor],
        batch_size: usize,
        on_batch: &mut BatchHook<'_>,
    ) -> Result<Vec<Tensor>> {
        check_batch_size(batch_size)?;
        self.predict_data(
            &Data::new(x.to_vec(), Vec::new(), None)?,
            batch_size,
            on_batch,
        )
    }

    /// [`predict`](Model::predict) on the inputs of `data` (its targets are not read), so inputs
    /// held in a [`RowSource`] are read a batch at a time rather than copied whole.
    pub fn predict_data(
        &self,
        data: &Data,
        batch_size: usize,
        on_batch: &mut BatchHook<'_>,
    ) -> Result<Vec<Tensor>> {
        check_batch_size(batch_size)?;
        let _guard = autodiff::no_grad();
        if data.is_empty() {
            // One empty batch gives the outputs' shapes.
            return self.graph.forward(&data.to_tensors()?.0, false);
        }
        let mut parts: Vec<Vec<Tensor>> = vec![Vec::new(); self.graph.outputs().len()];
        for (index, start) in (0..data.len()).step_by(batch_size).enumerate() {
            let stop = (start + batch_size).min(data.len());
            let rows: Vec<usize> = (start..stop).collect();
            let batch = data.select(&rows, Some((start, stop)))?;
            // On the pool, as fit's steps are (see `fit_epoch`); grad mode is per thread, so
            // the worker needs its own no-grad guard.
            let outputs = threads::install(|| {
                let _guard = autodiff::no_grad();
                self.graph.forward(&batch.x, false)
            })?;
            for (part, out) in parts.iter_mut().zip(outputs) {
                part.push(out);
            }
            if !on_batch(index, &Vec::new()) {
                break;
            }
        }
        parts
            .into_iter()
            .map(|p| {
                if p.len() == 1 {
                    Ok(p.into_iter().next().expect("one part"))
                } else {
                    Tensor::concatenate(&p, 0)
                }
            })
            .collect()
    }
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::Argument {
            op: "fit",
            message: "batch_size must be a positive integer, got 0".into(),
        });
    }
    Ok(())
}

/// Adds the output's name to a loss error when the model has several outputs.
fn name_output(error: Error, name: &str, outputs: usize) -> Error {
    if outputs == 1 {
        return error;
    }
    match error {
        Error::Shape { op, message } => Error::Shape {
            op,
            message: format!("output '{name}': {message}"),
        },
        Error::Argument { op, message } => Error::Argument {
            op,
            message: format!("output '{name}': {message}"),
        },
        other => other,
    }
}

/// A small model for the engine's own tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::{Arc, Mutex};

    use ndarray::IxDyn;

    use super::{Compiled, Graph, Model};
    use crate::losses::Loss;
    use crate::nn::{build, Activation, Dense, Layer};
    use crate::optim::{Optimizer, Sgd};
    use crate::tensor::{DType, Storage};

    /// 6 -> 5 (ReLU) -> 3 logits, fixed weights, SGD(0.05), sparse categorical cross-entropy.
    pub(crate) fn small_classifier() -> Model {
        let mut graph = Graph::new(DType::F32);
        let mut value = graph.add_input("x", vec![None, Some(6)]);
        let mut fan_in = 6;
        for (name, units, activation) in
            [("h", 5, Activation::Relu), ("out", 3, Activation::Linear)]
        {
            let layer: Arc<dyn Layer> = Arc::new(Dense::new(name, units, activation, true));
            build(layer.as_ref(), &[vec![None, Some(fan_in)]], DType::F32).unwrap();
            value = graph.add_layer(layer, vec![value]).unwrap()[0];
            fan_in = units;
        }
        graph.set_outputs(vec![value]).unwrap();
        for w in graph.weights() {
            let shape = w.value.shape();
            let n: usize = shape.iter().product();
            let init: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.07)
                .collect();
            let init = ndarray::ArrayD::from_shape_vec(IxDyn(&shape), init).unwrap();
            w.value.assign(Storage::from_array(init)).unwrap();
        }
        let optimizer = Optimizer::new(Sgd::default(), 0.05).unwrap();
        let loss = Loss::SparseCategoricalCrossentropy {
            from_logits: true,
            axis: -1,
        };
        let mut model = Model::new(graph);
        model
            .compile(Compiled::new(
                Arc::new(Mutex::new(optimizer)),
                vec![Some(loss)],
            ))
            .unwrap();
        model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Data {
        let x: Vec<f32> = (0..n * 6)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.1)
            .collect();
        let y: Vec<f32> = (0..n).map(|i| (i * 7 % 3) as f32).collect();
        Data::new(
            vec![Tensor::from_vec(&[n, 6], x).unwrap()],
            vec![Tensor::from_vec(&[n], y).unwrap()],
            None,
        )
        .unwrap()
    }

    fn weights(model: &Model) -> Vec<ndarray::ArrayD<f64>> {
        model
            .graph()
            .weights()
            .iter()
            .map(|w| w.value.to_f64())
            .collect()
    }

    #[test]
    fn fit_steps_on_the_pool_equal_steps_on_the_calling_thread() {
        let data = data(20);
        let mut on_pool = test_support::small_classifier();
        on_pool
            .fit_epoch(&data, 8, false, 0, &mut |_, _| true)
            .unwrap();
        let mut here = test_support::small_classifier();
        for start in (0..20).step_by(8) {
            let rows: Vec<usize> = (start..(start + 8).min(20)).collect();
            let batch = data.select(&rows, None).unwrap();
            here.train_step(&batch.x, &batch.y, None).unwrap();
        }
        assert_eq!(weights(&on_pool), weights(&here));
    }

    #[test]
    fn predict_and_evaluate_on_the_pool_record_no_graph() {
        let data = data(10);
        let mut model = test_support::small_classifier();
        let before = weights(&model);
        // One batch, so the output is the worker's own (no concatenation on this thread).
        let outputs = model.predict_data(&data, 16, &mut |_, _| true).unwrap();
        assert_eq!(outputs[0].shape(), vec![10, 3]);
        // The worker's own no-grad guard: outputs of weights that need gradients would
        // otherwise need them too.
        assert!(model.graph().weights()[0].value.requires_grad());
        assert!(!outputs[0].requires_grad() && outputs[0].grad_fn().is_none());
        model.evaluate(&data, 4, &mut |_, _| true).unwrap();
        assert_eq!(weights(&model), before);
    }
}
