//! Gradient insight: the facts behind "why does my network not train".
//!
//! [`Model::gradient_report`] runs one training step's forward and backward pass on a batch and
//! measures, layer by layer, what the seed material says decides whether a deep network learns:
//! how large each weight's gradient is (products of Jacobians shrink or grow it from the last
//! layer to the first), how large the step the compiled optimizer would take is relative to the
//! weight, how many ReLU units are dead and how many sigmoid/tanh units sit in their flat tails,
//! and where a NaN or an infinity first appears. It changes nothing: every weight (including
//! BatchNormalization's moving statistics) and the optimizer's state are as they were after
//! the call. The verdicts (vanishing, exploding, ...) are judgements on these numbers, made in
//! `verdict.rs` ([`super::GradientHealth`]).
//!
//! [`GradientStats`] is the cheap part the training loop records while `fit` runs (see
//! [`Model::set_gradient_monitor`]): the norms of the gradients the step has computed anyway,
//! every step's loss checked for NaN/inf, and where a non-finite value first appeared.

use std::collections::HashSet;
use std::sync::Arc;

use crate::autodiff::{self, BackwardOptions};
use crate::error::Result;
use crate::nn::Layer;
use crate::optim::{Clip, Optimizer};
use crate::tensor::{Storage, Tensor};

use super::Model;

/// Summary statistics of one layer output over a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivationStats {
    pub shape: Vec<usize>,
    /// Mean, standard deviation, minimum and maximum of the finite values.
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// How many values are NaN or infinite.
    pub nonfinite: usize,
    /// Fraction of values exactly zero.
    pub zero_fraction: f64,
    /// Fraction of units (entries of the last axis) that are zero for every sample and position
    /// of the batch: for a ReLU layer, units that pass no gradient at all ("dead").
    pub dead_unit_fraction: f64,
    /// Fraction of values below 0.01 or above 0.99: for a sigmoid output, where its derivative
    /// `y (1 - y)` is below 0.01, a hundredth of what it is at 0.5... (saturated).
    pub sigmoid_saturated_fraction: f64,
    /// Fraction of values with `|y| > 0.99`: for a tanh output, where `1 - y²` is below 0.02.
    pub tanh_saturated_fraction: f64,
}

impl ActivationStats {
    /// The statistics of a tensor's values (any dtype, read as f64).
    pub fn of(tensor: &Tensor) -> ActivationStats {
        let values = tensor.to_f64();
        let shape = values.shape().to_vec();
        let units = shape.last().copied().unwrap_or(1).max(1);
        let mut alive = vec![false; units];
        let (mut n, mut sum, mut sum_sq) = (0usize, 0.0f64, 0.0f64);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut nonfinite, mut zeros, mut sig_sat, mut tanh_sat) =
            (0usize, 0usize, 0usize, 0usize);
        for (i, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                nonfinite += 1;
                alive[i % units] = true;
                continue;
            }
            n += 1;
            sum += v;
            sum_sq += v * v;
            min = min.min(v);
            max = max.max(v);
            if v == 0.0 {
                zeros += 1;
            } else {
                alive[i % units] = true;
            }
            if !(0.01..=0.99).contains(&v) {
                sig_sat += 1;
            }
            if v.abs() > 0.99 {
                tanh_sat += 1;
            }
        }
        let total = values.len().max(1) as f64;
        let mean = if n > 0 { sum / n as f64 } else { f64::NAN };
        let variance = if n > 0 {
            (sum_sq / n as f64 - mean * mean).max(0.0)
        } else {
            f64::NAN
        };
        let dead = if values.is_empty() {
            0
        } else {
            alive.iter().filter(|a| !**a).count()
        };
        ActivationStats {
            shape,
            mean,
            std: variance.sqrt(),
            min: if n > 0 { min } else { f64::NAN },
            max: if n > 0 { max } else { f64::NAN },
            nonfinite,
            zero_fraction: zeros as f64 / total,
            dead_unit_fraction: dead as f64 / units as f64,
            sigmoid_saturated_fraction: sig_sat as f64 / total,
            tanh_saturated_fraction: tanh_sat as f64 / total,
        }
    }
}

/// L2 norm, largest absolute value and count of non-finite values of a tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientStats {
    pub norm: f64,
    pub max_abs: f64,
    pub nonfinite: usize,
}

impl GradientStats {
    pub fn of(tensor: &Tensor) -> GradientStats {
        // Read in the tensor's own dtype, over the contiguous memory when there is one: the
        // monitor scans every gradient of a monitored step, and ndarray's n-d iterator is several
        // times slower than a slice.
        let (sum_sq, max_abs, nonfinite) = match tensor.storage() {
            Storage::F32(a) => match a.as_slice_memory_order() {
                Some(s) => scan(s),
                None => scan(&a.iter().copied().collect::<Vec<_>>()),
            },
            Storage::F64(a) => match a.as_slice_memory_order() {
                Some(s) => scan(s),
                None => scan(&a.iter().copied().collect::<Vec<_>>()),
            },
        };
        GradientStats {
            norm: if nonfinite > 0 {
                f64::NAN
            } else {
                sum_sq.sqrt()
            },
            max_abs: if nonfinite > 0 { f64::NAN } else { max_abs },
            nonfinite,
        }
    }
}

/// Lanes of the monitor's scans: eight independent accumulators in fixed-size arrays, a shape
/// LLVM turns into SIMD (the values widened to f64 a vector at a time). A plain iterator with
/// `f64::max` is not vectorized and made a monitored step cost more than the optimizer update.
const LANES: usize = 8;

/// Sum of squares and largest absolute value of the finite values, and the count of the
/// others. The common case (every value finite) is one branch-free vectorized pass; only when the
/// sum is not finite does a second, careful pass count the NaN/inf values and redo the sums over
/// the finite ones.
fn scan<F: Copy + Into<f64> + Sync>(values: &[F]) -> (f64, f64, usize) {
    use rayon::prelude::*;
    // A monitored step runs between two training steps, when the pool is idle: large
    // gradients are scanned in chunks on every thread (the sums are then combined in a
    // different order than a serial pass; both are f64 sums of f32/f64 squares).
    if values.len() < 2 * SCAN_CHUNK {
        return scan_serial(values);
    }
    crate::threads::install(|| {
        values.par_chunks(SCAN_CHUNK).map(scan_serial).reduce(
            || (0.0, 0.0, 0),
            |a, b| (a.0 + b.0, a.1.max(b.1), a.2 + b.2),
        )
    })
}

/// Elements per task of the parallel scans.
const SCAN_CHUNK: usize = 1 << 15;

fn scan_serial<F: Copy + Into<f64>>(values: &[F]) -> (f64, f64, usize) {
    let (mut sum, mut max) = ([0.0f64; LANES], [0.0f64; LANES]);
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for j in 0..LANES {
            let v: f64 = chunk[j].into();
            sum[j] += v * v;
            let a = v.abs();
            max[j] = if a > max[j] { a } else { max[j] };
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        let v: f64 = v.into();
        sum[j] += v * v;
        max[j] = max[j].max(v.abs());
    }
    let total: f64 = sum.iter().sum();
    if total.is_finite() {
        return (total, max.iter().fold(0.0, |m, &v| m.max(v)), 0);
    }
    let (mut sum, mut max_abs, mut nonfinite) = (0.0f64, 0.0f64, 0usize);
    for &v in values {
        let v: f64 = v.into();
        if v.is_finite() {
            sum += v * v;
            max_abs = max_abs.max(v.abs());
        } else {
            nonfinite += 1;
        }
    }
    (sum, max_abs, nonfinite)
}

/// One weight of a layer in a [`GradientReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct WeightInsight {
    /// Keras's name within the layer (`kernel`, `bias`, ...).
    pub name: String,
    pub shape: Vec<usize>,
    pub trainable: bool,
    /// L2 norm of the weight.
    pub norm: f64,
    /// The gradient of the loss with respect to it; `None` for a weight the loss does not
    /// depend on or that does not train.
    pub gradient: Option<GradientStats>,
    /// L2 norm of the change the compiled optimizer's next step would make (with its current
    /// state: Adam's moments, momentum, the learning-rate schedule, clipping).
    pub update_norm: Option<f64>,
}

/// One layer of a [`GradientReport`], in the order the model runs its layers.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInsight {
    pub name: String,
    pub class_name: String,
    /// Statistics of each output of each call of the layer (a shared layer has several calls).
    pub outputs: Vec<ActivationStats>,
    pub weights: Vec<WeightInsight>,
}

/// Where a NaN or an infinity first appeared.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// `"input"`, `"forward"` (a layer's output), `"loss"` or `"gradient"`.
    pub stage: String,
    /// The layer, when the stage is `forward` or `gradient`.
    pub layer: Option<String>,
    pub class_name: Option<String>,
    /// What was found, in words (which weight, how many values, whether its inputs were finite).
    pub detail: String,
}

/// The result of [`Model::gradient_report`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientReport {
    /// The batch's total training loss (with regularization), as `fit` computes it.
    pub loss: f64,
    pub layers: Vec<LayerInsight>,
    pub nonfinite: Option<NonFinite>,
}

fn layer_key(layer: &Arc<dyn Layer>) -> usize {
    Arc::as_ptr(layer) as *const () as usize
}

fn count_nonfinite(tensor: &Tensor) -> usize {
    tensor.to_f64().iter().filter(|v| !v.is_finite()).count()
}

impl Model {
    /// One forward and backward pass of the compiled training step on a batch, measured layer by
    /// layer (see the module docs). Leaves the weights and the optimizer unchanged.
    pub fn gradient_report(
        &mut self,
        x: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<GradientReport> {
        self.compiled_or_err("gradient_report")?;
        let all_weights = self.graph.weights();
        let snapshot: Vec<Storage> = all_weights.iter().map(|w| w.value.storage()).collect();
        let result = self.measure(x, y, sample_weight);
        // Training-mode forward passes move BatchNormalization's statistics and the dry-run
        // optimizer step moves every weight: put everything back, whatever happened.
        for (w, data) in all_weights.iter().zip(snapshot) {
            w.value.assign(data)?;
        }
        result
    }

    fn measure(
        &mut self,
        x: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<GradientReport> {
        let mut nonfinite: Option<NonFinite> = None;
        for (i, input) in x.iter().enumerate() {
            let bad = count_nonfinite(input);
            if bad > 0 {
                nonfinite = Some(NonFinite {
                    stage: "input".into(),
                    layer: None,
                    class_name: None,
                    detail: format!("input {i} holds {bad} NaN or infinite value(s)"),
                });
                break;
            }
        }

        // Layers in execution order, each with the statistics of every call's outputs.
        let mut order: Vec<Arc<dyn Layer>> = Vec::new();
        let mut outputs: Vec<Vec<ActivationStats>> = Vec::new();
        let mut index_of = std::collections::HashMap::new();
        let graph_outputs = self
            .graph
            .forward_observed(x, true, &mut |_, layer, values| {
                let key = layer_key(layer);
                let slot = *index_of.entry(key).or_insert_with(|| {
                    order.push(layer.clone());
                    outputs.push(Vec::new());
                    order.len() - 1
                });
                for value in values {
                    let stats = ActivationStats::of(value);
                    if stats.nonfinite > 0 && nonfinite.is_none() {
                        nonfinite = Some(forward_culprit(layer, &stats));
                    }
                    outputs[slot].push(stats);
                }
                Ok(())
            })?;

        let (total, _) = self.batch_loss(&graph_outputs, y, sample_weight, true)?;
        let loss = total.to_f64().iter().copied().next().unwrap_or(f64::NAN);
        if !loss.is_finite() && nonfinite.is_none() {
            nonfinite = Some(NonFinite {
                stage: "loss".into(),
                layer: None,
                class_name: None,
                detail: format!(
                    "every layer output is finite but the loss is {loss}: the loss function \
                     overflowed (e.g. a log of 0, or targets outside the loss's range)"
                ),
            });
        }

        let trainable = self.graph.trainable_weights();
        let tensors: Vec<Tensor> = trainable.iter().map(|w| w.value.clone()).collect();
        let grads = if !tensors.is_empty() && total.requires_grad() {
            autodiff::grad(&total, &tensors, None, BackwardOptions::default())?
        } else {
            vec![None; tensors.len()]
        };
        let mut gradient_of = std::collections::HashMap::new();
        for (w, g) in tensors.iter().zip(&grads) {
            if let Some(g) = g {
                gradient_of.insert(w.id(), GradientStats::of(g));
            }
        }

        // Weight norms before the dry-run step below moves the weights.
        let mut norm_of = std::collections::HashMap::new();
        for w in self.graph.weights() {
            norm_of.insert(w.value.id(), GradientStats::of(&w.value).norm);
        }

        // The step the compiled optimizer would take, from its current state: a clone of the
        // optimizer applied to the real variables (whose ids key its slots), measured, then
        // undone by `gradient_report`'s restore.
        let pairs: Vec<(Tensor, Tensor)> = grads
            .into_iter()
            .zip(&tensors)
            .filter_map(|(g, w)| g.map(|g| (g, w.clone())))
            .collect();
        let mut update_of = std::collections::HashMap::new();
        if !pairs.is_empty() {
            let before: Vec<Tensor> = pairs.iter().map(|(_, w)| w.detach()).collect();
            let mut dry_run = self
                .compiled_or_err("gradient_report")?
                .optimizer
                .lock()
                .expect("optimizer lock")
                .clone();
            dry_run.apply_gradients(&pairs)?;
            for ((_, w), old) in pairs.iter().zip(before) {
                let (new, old) = (w.to_f64(), old.to_f64());
                let norm = new
                    .iter()
                    .zip(old.iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                update_of.insert(w.id(), norm);
            }
        }

        let mut seen = HashSet::new();
        let mut layers = Vec::with_capacity(order.len());
        for (layer, outs) in order.iter().zip(outputs) {
            let weights = layer
                .weights()
                .into_iter()
                .filter(|w| seen.insert(w.value.id()))
                .map(|w| {
                    let norm = norm_of
                        .get(&w.value.id())
                        .copied()
                        .unwrap_or_else(|| GradientStats::of(&w.value).norm);
                    WeightInsight {
                        shape: w.value.shape(),
                        trainable: w.trainable,
                        norm,
                        gradient: gradient_of.get(&w.value.id()).copied(),
                        update_norm: update_of.get(&w.value.id()).copied(),
                        name: w.name,
                    }
                })
                .collect();
            layers.push(LayerInsight {
                name: layer.name().to_string(),
                class_name: layer.class_name().to_string(),
                outputs: outs,
                weights,
            });
        }
        if nonfinite.is_none() {
            // Backward runs from the last layer to the first: the deepest layer with a
            // non-finite weight gradient is where it started.
            for layer in layers.iter().rev() {
                if let Some(w) = layer
                    .weights
                    .iter()
                    .find(|w| w.gradient.is_some_and(|g| g.nonfinite > 0))
                {
                    let bad = w.gradient.map_or(0, |g| g.nonfinite);
                    nonfinite = Some(NonFinite {
                        stage: "gradient".into(),
                        layer: Some(layer.name.clone()),
                        class_name: Some(layer.class_name.clone()),
                        detail: format!(
                            "the forward pass and the loss are finite, but the gradient of \
                             '{}/{}' holds {bad} NaN or infinite value(s): the backward pass \
                             overflowed there",
                            layer.name, w.name
                        ),
                    });
                    break;
                }
            }
        }
        Ok(GradientReport {
            loss,
            layers,
            nonfinite,
        })
    }
}

/// Describes the first layer whose output is not finite: a non-finite weight of its own is the
/// cause; otherwise its (finite) inputs overflowed in its computation.
fn forward_culprit(layer: &Arc<dyn Layer>, stats: &ActivationStats) -> NonFinite {
    let bad_weight = layer
        .weights()
        .into_iter()
        .map(|w| (count_nonfinite(&w.value), w.name))
        .find(|(bad, _)| *bad > 0);
    let detail = match bad_weight {
        Some((bad, name)) => format!(
            "its weight '{name}' holds {bad} NaN or infinite value(s), so {} of its {} output \
             values are not finite",
            stats.nonfinite,
            stats.shape.iter().product::<usize>()
        ),
        None => format!(
            "its inputs and weights are finite but {} of its {} output values are not: the \
             layer's computation overflowed (finite outputs range over [{}, {}])",
            stats.nonfinite,
            stats.shape.iter().product::<usize>(),
            stats.min,
            stats.max
        ),
    };
    NonFinite {
        stage: "forward".into(),
        layer: Some(layer.name().to_string()),
        class_name: Some(layer.class_name().to_string()),
        detail,
    }
}

/// What the training loop records for [`GradientMonitor`] on a monitored step.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRecord {
    /// The batch's index since the monitor was installed (0-based).
    pub step: u64,
    /// The step's total training loss.
    pub loss: f64,
    /// `layer/weight` for each trainable weight that got a gradient, in model order.
    pub labels: Vec<String>,
    pub gradients: Vec<GradientStats>,
    /// L2 norm of each weight after the step.
    pub weight_norms: Vec<f64>,
    /// L2 norm of the change the optimizer made to each weight.
    pub update_norms: Vec<f64>,
    /// Whether the optimizer's clipping (`clipnorm`, `clipvalue`, `global_clipnorm`) changed
    /// this step's gradients.
    pub clipped: bool,
}

/// Gradient statistics recorded during `fit` from the gradients each step computes anyway (no
/// extra backward pass): every `every_n_batches`-th step in full, and on every step a check of
/// the loss, a scalar, so that a NaN is caught on the step it appears. With `stop_on_nonfinite`
/// a step whose loss or gradients are not finite is not applied (the weights stay finite) and
/// the epoch stops; [`GradientMonitor::nonfinite`] names the culprit.
#[derive(Debug, Clone)]
pub struct GradientMonitor {
    pub every_n_batches: u64,
    pub stop_on_nonfinite: bool,
    steps: u64,
    records: Vec<MonitorRecord>,
    nonfinite: Option<NonFinite>,
}

impl GradientMonitor {
    pub fn new(every_n_batches: u64, stop_on_nonfinite: bool) -> GradientMonitor {
        GradientMonitor {
            every_n_batches: every_n_batches.max(1),
            stop_on_nonfinite,
            steps: 0,
            records: Vec::new(),
            nonfinite: None,
        }
    }

    /// The records since the last call, handed over (Python drains them once an epoch).
    pub fn take_records(&mut self) -> Vec<MonitorRecord> {
        std::mem::take(&mut self.records)
    }

    /// The first non-finite loss or gradient seen, if any.
    pub fn nonfinite(&self) -> Option<&NonFinite> {
        self.nonfinite.as_ref()
    }

    /// Whether training must stop: a non-finite step was seen and `stop_on_nonfinite` is set.
    pub fn must_stop(&self) -> bool {
        self.stop_on_nonfinite && self.nonfinite.is_some()
    }

    /// Called by the training step before the optimizer: whether this step is recorded in full
    /// (advances the step count).
    pub(crate) fn begin_step(&mut self) -> (u64, bool) {
        let step = self.steps;
        self.steps += 1;
        (step, step % self.every_n_batches == 0)
    }

    pub(crate) fn record(&mut self, record: MonitorRecord) {
        self.records.push(record);
    }

    pub(crate) fn flag(&mut self, found: NonFinite) {
        if self.nonfinite.is_none() {
            self.nonfinite = Some(found);
        }
    }
}

/// Whether `clip` changes gradients with these statistics.
pub(crate) fn clip_applies(clip: Clip, gradients: &[GradientStats]) -> bool {
    match clip {
        Clip::None => false,
        Clip::ByNorm(c) => gradients.iter().any(|g| g.norm > c),
        Clip::ByValue(v) => gradients.iter().any(|g| g.max_abs > v),
        Clip::ByGlobalNorm(c) => {
            gradients
                .iter()
                .map(|g| g.norm * g.norm)
                .sum::<f64>()
                .sqrt()
                > c
        }
    }
}

/// `(‖new − old‖, ‖new‖)`, read in the tensors' own dtype (no f64 copies of the weights on a
/// monitored step).
pub(crate) fn update_and_norm(new: &Tensor, old: &Tensor) -> (f64, f64) {
    fn squares<F: Copy + Into<f64>>(new: &[F], old: &[F]) -> (f64, f64) {
        let (mut delta, mut norm) = ([0.0f64; LANES], [0.0f64; LANES]);
        let n = new.len().min(old.len());
        let (new, old) = (&new[..n], &old[..n]);
        for (a, b) in new.chunks_exact(LANES).zip(old.chunks_exact(LANES)) {
            for j in 0..LANES {
                let (a, b): (f64, f64) = (a[j].into(), b[j].into());
                delta[j] += (a - b) * (a - b);
                norm[j] += a * a;
            }
        }
        let done = n - n % LANES;
        for (j, (&a, &b)) in new[done..].iter().zip(&old[done..]).enumerate() {
            let (a, b): (f64, f64) = (a.into(), b.into());
            delta[j] += (a - b) * (a - b);
            norm[j] += a * a;
        }
        (delta.iter().sum::<f64>(), norm.iter().sum::<f64>())
    }
    fn pairs<F: Copy + Into<f64> + Sync>(new: &[F], old: &[F]) -> (f64, f64) {
        use rayon::prelude::*;
        let (delta, norm) = if new.len() < 2 * SCAN_CHUNK {
            squares(new, old)
        } else {
            crate::threads::install(|| {
                new.par_chunks(SCAN_CHUNK)
                    .zip(old.par_chunks(SCAN_CHUNK))
                    .map(|(a, b)| squares(a, b))
                    .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
            })
        };
        (delta.sqrt(), norm.sqrt())
    }
    let (new, old) = (new.storage(), old.storage());
    match (&new, &old) {
        (Storage::F32(a), Storage::F32(b)) if a.is_standard_layout() && b.is_standard_layout() => {
            pairs(
                a.as_slice().expect("standard layout"),
                b.as_slice().expect("standard layout"),
            )
        }
        (Storage::F64(a), Storage::F64(b)) if a.is_standard_layout() && b.is_standard_layout() => {
            pairs(
                a.as_slice().expect("standard layout"),
                b.as_slice().expect("standard layout"),
            )
        }
        _ => {
            let (a, b) = (new.to_f64(), old.to_f64());
            let (a, b) = (
                a.iter().copied().collect::<Vec<_>>(),
                b.iter().copied().collect::<Vec<_>>(),
            );
            pairs(&a, &b)
        }
    }
}

/// `layer/weight` for every weight of the graph, keyed by tensor id.
pub(crate) fn weight_labels(model: &Model) -> std::collections::HashMap<u64, String> {
    let mut labels = std::collections::HashMap::new();
    for layer in model.graph.layers() {
        for w in layer.weights() {
            labels
                .entry(w.value.id())
                .or_insert_with(|| format!("{}/{}", layer.name(), w.name));
        }
    }
    labels
}

/// The gradient monitor of the training loop: installed by the front end, consulted by
/// [`Model::train_step`] around each optimizer step.
impl Model {
    /// Installs (or, with `None`, removes) the gradient monitor of the training step.
    pub fn set_gradient_monitor(&mut self, monitor: Option<GradientMonitor>) {
        self.monitor = monitor;
    }

    pub fn gradient_monitor(&self) -> Option<&GradientMonitor> {
        self.monitor.as_ref()
    }

    pub fn gradient_monitor_mut(&mut self) -> Option<&mut GradientMonitor> {
        self.monitor.as_mut()
    }

    /// The optimizer step under the gradient monitor: every step checks the loss (a scalar) for
    /// NaN/inf; a monitored step (or one whose loss is not finite) also measures every gradient,
    /// the update and the weights. A non-finite step is skipped when the monitor stops on it.
    pub(super) fn monitored_apply(
        &mut self,
        total: &Tensor,
        pairs: &[(Tensor, Tensor)],
        optimizer: &mut Optimizer,
    ) -> Result<()> {
        let loss = total.to_f64().iter().copied().next().unwrap_or(f64::NAN);
        let monitor = self.monitor.as_mut().expect("monitor installed");
        let (step, due) = monitor.begin_step();
        if !due && loss.is_finite() {
            return optimizer.apply_gradients(pairs);
        }
        let gradients: Vec<GradientStats> =
            pairs.iter().map(|(g, _)| GradientStats::of(g)).collect();
        let labels = weight_labels(self);
        let label = |w: &Tensor| labels.get(&w.id()).cloned().unwrap_or_else(|| "?".into());
        let bad_gradient = pairs
            .iter()
            .zip(&gradients)
            .rev()
            .find(|(_, g)| g.nonfinite > 0)
            .map(|((_, w), g)| (label(w), g.nonfinite));
        let found = if !loss.is_finite() {
            let bad_weight = pairs
                .iter()
                .find(|(_, w)| w.to_f64().iter().any(|v| !v.is_finite()))
                .map(|(_, w)| label(w));
            Some(NonFinite {
                stage: "loss".into(),
                layer: bad_weight.as_ref().map(|l| l.split('/').next().unwrap_or("").to_string()),
                class_name: None,
                detail: match bad_weight {
                    Some(l) => format!("the loss is {loss} at step {step}; weight '{l}' already holds NaN or infinite values"),
                    None => format!(
                        "the loss is {loss} at step {step} while every weight is finite: the forward pass or \
                         the loss overflowed (fg.diagnostics.gradient_report on this batch finds the layer)"
                    ),
                },
            })
        } else {
            bad_gradient.map(|(l, n)| NonFinite {
                stage: "gradient".into(),
                layer: Some(l.split('/').next().unwrap_or("").to_string()),
                class_name: None,
                detail: format!(
                    "the loss is finite at step {step} but the gradient of '{l}' holds {n} NaN or \
                     infinite value(s)"
                ),
            })
        };
        let monitor = self.monitor.as_mut().expect("monitor installed");
        let skip = found.is_some() && monitor.stop_on_nonfinite;
        if let Some(found) = found {
            monitor.flag(found);
        }
        if skip {
            return Ok(());
        }
        let clipped = clip_applies(optimizer.clip(), &gradients);
        let before: Vec<Tensor> = pairs.iter().map(|(_, w)| w.detach()).collect();
        optimizer.apply_gradients(pairs)?;
        let mut update_norms = Vec::with_capacity(pairs.len());
        let mut weight_norms = Vec::with_capacity(pairs.len());
        for ((_, w), old) in pairs.iter().zip(before) {
            let (delta, norm) = update_and_norm(w, &old);
            update_norms.push(delta);
            weight_norms.push(norm);
        }
        let record = MonitorRecord {
            step,
            loss,
            labels: pairs.iter().map(|(_, w)| label(w)).collect(),
            gradients,
            weight_norms,
            update_norms,
            clipped,
        };
        self.monitor
            .as_mut()
            .expect("monitor installed")
            .record(record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, ArrayD};

    fn t(values: ArrayD<f64>) -> Tensor {
        Tensor::from_array(values)
    }

    #[test]
    fn activation_stats_count_dead_units_and_saturation() {
        // Units 0 and 2 are zero in both samples (dead); unit 1 is not.
        let stats = ActivationStats::of(&t(arr2(&[[0.0, 0.5, 0.0], [0.0, 0.995, 0.0]]).into_dyn()));
        assert_eq!(stats.shape, vec![2, 3]);
        assert!((stats.dead_unit_fraction - 2.0 / 3.0).abs() < 1e-12);
        assert!((stats.zero_fraction - 4.0 / 6.0).abs() < 1e-12);
        // 0.0 (four times) and 0.995 are in the sigmoid's tails; only 0.995 in tanh's.
        assert!((stats.sigmoid_saturated_fraction - 5.0 / 6.0).abs() < 1e-12);
        assert!((stats.tanh_saturated_fraction - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(stats.nonfinite, 0);
        assert!((stats.max - 0.995).abs() < 1e-12 && stats.min == 0.0);
    }

    #[test]
    fn activation_stats_ignore_nonfinite_values_in_the_moments() {
        let stats = ActivationStats::of(&t(arr1(&[1.0, f64::NAN, 3.0, f64::INFINITY]).into_dyn()));
        assert_eq!(stats.nonfinite, 2);
        assert!((stats.mean - 2.0).abs() < 1e-12 && (stats.std - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gradient_stats_are_the_l2_norm_and_max_abs() {
        let stats = GradientStats::of(&t(arr1(&[3.0, -4.0]).into_dyn()));
        assert_eq!((stats.norm, stats.max_abs, stats.nonfinite), (5.0, 4.0, 0));
        let bad = GradientStats::of(&t(arr1(&[3.0, f64::NAN]).into_dyn()));
        assert!(bad.norm.is_nan() && bad.nonfinite == 1);
    }

    /// The vectorized scans against plain loops, at every length around the lane width (the
    /// tail) and with a NaN/inf at every position.
    #[test]
    fn scans_match_plain_loops_at_every_length_and_nonfinite_position() {
        for n in 0..27usize {
            let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let (sum, max, bad) = scan(&values);
            let plain: f64 = values.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let plain_max = values.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
            assert!((sum - plain).abs() <= 1e-12 * plain.max(1.0), "n={n}");
            assert_eq!((max, bad), (plain_max, 0), "n={n}");
            let old: Vec<f32> = values.iter().map(|v| v * 0.5).collect();
            let (delta, norm) = update_and_norm(
                &Tensor::from_vec(&[n], values.clone()).unwrap(),
                &Tensor::from_vec(&[n], old).unwrap(),
            );
            assert!((delta - plain.sqrt() * 0.5).abs() <= 1e-6 * plain.sqrt().max(1.0));
            assert!((norm - plain.sqrt()).abs() <= 1e-6 * plain.sqrt().max(1.0));
            for k in 0..n {
                let mut with_bad = values.clone();
                with_bad[k] = if k % 2 == 0 { f32::NAN } else { f32::INFINITY };
                let (sum, max, bad) = scan(&with_bad);
                let expect: f64 = plain - (values[k] as f64) * (values[k] as f64);
                assert_eq!(bad, 1, "n={n} k={k}");
                assert!((sum - expect).abs() <= 1e-9 * plain.max(1.0), "n={n} k={k}");
                assert!(max <= plain_max && max.is_finite());
            }
        }
    }

    /// Past the chunk size the scans run in parallel chunks: the same sums (up to rounding)
    /// and the same count of non-finite values as one serial pass.
    #[test]
    fn parallel_scans_match_the_serial_pass() {
        let n = 5 * SCAN_CHUNK + 123;
        let mut values: Vec<f32> = (0..n).map(|i| ((i % 1013) as f32 * 0.01).cos()).collect();
        let (sum, max, bad) = scan(&values);
        let (s_sum, s_max, s_bad) = scan_serial(&values);
        assert!((sum - s_sum).abs() <= 1e-12 * s_sum && max == s_max && bad == s_bad);
        values[3 * SCAN_CHUNK + 7] = f32::NAN;
        values[17] = f32::NEG_INFINITY;
        let (sum, _, bad) = scan(&values);
        assert_eq!(bad, 2);
        assert!(sum.is_finite());
        let old: Vec<f32> = values
            .iter()
            .map(|v| if v.is_finite() { v * 0.25 } else { 0.0 })
            .collect();
        let new: Vec<f32> = values
            .iter()
            .map(|v| if v.is_finite() { *v } else { 0.0 })
            .collect();
        let (delta, norm) = update_and_norm(
            &Tensor::from_vec(&[n], new.clone()).unwrap(),
            &Tensor::from_vec(&[n], old).unwrap(),
        );
        let plain: f64 = new.iter().map(|&v| (v as f64) * (v as f64)).sum();
        assert!((norm - plain.sqrt()).abs() <= 1e-9 * plain.sqrt());
        assert!((delta - 0.75 * plain.sqrt()).abs() <= 1e-6 * plain.sqrt());
    }
}
