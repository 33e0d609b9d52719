//! Recurrent layers with Keras 3's semantics and weight layouts: `SimpleRNN`, `LSTM`, `GRU` as
//! one [`Recurrent`] layer over an [`RnnCell`], and the `Bidirectional` wrapper.
//!
//! A recurrent layer is two ops: the input projection of every time step as one GEMM
//! ([`Tensor::linear`] over `(batch, time, in)`), then the time loop as one fused op
//! ([`Tensor::rnn_sequence`]), whose backward runs backpropagation through time as a loop, so
//! unrolls of any length neither recurse nor grow the graph.
//!
//! Weights (Keras's order and layout, `g` gates of `units` columns each):
//! kernel `(in, g * units)`, recurrent_kernel `(units, g * units)`, bias `(g * units,)`, or
//! `(2, 3 * units)` for the GRU with `reset_after=True` (row 0 for the input, row 1 for the
//! recurrent projection). Gate order: LSTM i, f, c, o; GRU z, r, h.
//!
//! Masks (Keras's `mask`, see [`Layer::compute_mask`]): a recurrent layer skips the masked
//! steps of each sample, carrying its states over, and passes the mask on only with
//! `return_sequences`.
//!
//! ```
//! use ferrograd::nn::{build, Layer, Recurrent, RecurrentConfig};
//! use ferrograd::ops::RnnCell;
//! use ferrograd::{DType, Tensor};
//!
//! let config = RecurrentConfig { return_state: true, ..RecurrentConfig::new(4) };
//! let lstm = Recurrent::new("lstm", RnnCell::Lstm, config).unwrap();
//! build(&lstm, &[vec![None, Some(7), Some(3)]], DType::F32).unwrap();
//! let out = lstm.call(&[Tensor::zeros(&[2, 7, 3], DType::F32)], false).unwrap();
//! // [last output, h, c], each (batch, units)
//! assert_eq!(out.iter().map(|t| t.shape()).collect::<Vec<_>>(), vec![vec![2, 4]; 3]);
//! assert_eq!(lstm.weights()[1].value.shape(), vec![4, 16]); // recurrent_kernel (units, 4 units)
//! ```

use std::sync::Mutex;

use ndarray::{ArrayD, IxDyn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::ops::{FusedActivation, RnnCell, RnnMasks, RnnSpec, SliceSpec};
use crate::tensor::Storage;

pub(crate) const CLASSES: &[LayerClass] = &[
    LayerClass {
        name: "SimpleRNN",
        make: |c, _| Ok(Made::plain(Recurrent::from_config(c)?)),
    },
    LayerClass {
        name: "LSTM",
        make: |c, _| Ok(Made::plain(Recurrent::from_config(c)?)),
    },
    LayerClass {
        name: "GRU",
        make: |c, _| Ok(Made::plain(Recurrent::from_config(c)?)),
    },
    LayerClass {
        name: "Bidirectional",
        make: Bidirectional::from_config,
    },
];

/// The arguments of a recurrent layer, with Keras's defaults from [`RecurrentConfig::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecurrentConfig {
    pub units: usize,
    /// `tanh` by default; tanh, sigmoid, relu or linear.
    pub activation: Activation,
    /// `sigmoid` by default (unused by SimpleRNN).
    pub recurrent_activation: Activation,
    pub use_bias: bool,
    /// Return every step's output `(batch, time, units)` rather than the last `(batch, units)`.
    pub return_sequences: bool,
    /// Also return the final states (h, and c for the LSTM).
    pub return_state: bool,
    /// Process the sequence last step first (outputs stay in processing order, as Keras).
    pub go_backwards: bool,
    /// Fraction of the input features dropped in training (one mask for all time steps; one
    /// per gate when `recurrent_dropout > 0`, as Keras 3's `implementation=1`).
    pub dropout: f64,
    /// Fraction of the state dropped before each gate's recurrent product in training: one
    /// mask per sample and gate, constant over the time steps (Keras 3's cells).
    pub recurrent_dropout: f64,
    /// GRU only: Keras's `reset_after` (default true; false is the original GRU, whose bias is
    /// `(3 * units,)`).
    pub reset_after: bool,
    /// LSTM only: Keras's `unit_forget_bias` (default true): a native [`build`] starts the
    /// forget gate's bias at one.
    pub unit_forget_bias: bool,
    /// Output zeros rather than the carried state at masked steps (Keras's RNN argument,
    /// default false; `Bidirectional` forces it with `return_sequences`).
    pub zero_output_for_mask: bool,
    pub seed: Option<u64>,
}

impl RecurrentConfig {
    pub fn new(units: usize) -> RecurrentConfig {
        RecurrentConfig {
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            return_sequences: false,
            return_state: false,
            go_backwards: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            reset_after: true,
            unit_forget_bias: true,
            zero_output_for_mask: false,
            seed: None,
        }
    }
}

fn fused(op: &'static str, role: &str, activation: Activation) -> Result<FusedActivation> {
    match activation {
        Activation::Linear => Ok(FusedActivation::Linear),
        Activation::Relu => Ok(FusedActivation::Relu),
        Activation::Sigmoid => Ok(FusedActivation::Sigmoid),
        Activation::Tanh => Ok(FusedActivation::Tanh),
        other => Err(Error::argument(
            op,
            format!(
                "{role} '{}' is not supported in a recurrent layer; use tanh, sigmoid, relu or linear",
                other.name()
            ),
        )),
    }
}

/// Keras's `SimpleRNN`, `LSTM` and `GRU`.
pub struct Recurrent {
    core: LayerCore,
    cell: RnnCell,
    config: RecurrentConfig,
    spec: RnnSpec,
    rng: Mutex<StdRng>,
    /// Initializers and regularizers for native building (the Python front end creates the
    /// weights itself with Keras's initializer objects, including the LSTM's
    /// `unit_forget_bias`, which native building applies in [`Layer::after_build`]).
    pub kernel_initializer: Initializer,
    pub recurrent_initializer: Initializer,
    pub bias_initializer: Initializer,
    pub kernel_regularizer: Option<Regularizer>,
    pub recurrent_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
}

impl Recurrent {
    /// Keras's `SimpleRNN`/`LSTM`/`GRU` config (the cell by the class): `units`, `activation`
    /// (tanh), `recurrent_activation` (sigmoid), `use_bias` (true), `return_sequences`,
    /// `return_state`, `go_backwards` (false), `dropout`, `recurrent_dropout` (0), `seed`,
    /// `reset_after` (true), `unit_forget_bias` (true), `zero_output_for_mask` (false), the
    /// kernel, recurrent and bias regularizers (none).
    pub fn from_config(c: &Config<'_>) -> Result<Recurrent> {
        let cell = match c.class() {
            "SimpleRNN" => RnnCell::Simple,
            "LSTM" => RnnCell::Lstm,
            "GRU" => RnnCell::Gru,
            other => {
                return Err(Error::Format(format!(
                    "{}: '{other}' is not a recurrent layer (SimpleRNN, LSTM or GRU)",
                    c.owner()
                )))
            }
        };
        let d = RecurrentConfig::new(c.positive("units")?);
        let config = RecurrentConfig {
            activation: Activation::read(c, "activation", "tanh")?,
            recurrent_activation: Activation::read(c, "recurrent_activation", "sigmoid")?,
            use_bias: c.bool_or("use_bias", d.use_bias)?,
            return_sequences: c.bool_or("return_sequences", d.return_sequences)?,
            return_state: c.bool_or("return_state", d.return_state)?,
            go_backwards: c.bool_or("go_backwards", d.go_backwards)?,
            dropout: c.f64_or("dropout", d.dropout)?,
            recurrent_dropout: c.f64_or("recurrent_dropout", d.recurrent_dropout)?,
            reset_after: c.bool_or("reset_after", d.reset_after)?,
            unit_forget_bias: c.bool_or("unit_forget_bias", d.unit_forget_bias)?,
            zero_output_for_mask: c.bool_or("zero_output_for_mask", d.zero_output_for_mask)?,
            seed: c.opt_usize("seed")?.map(|s| s as u64),
            ..d
        };
        let mut layer = Recurrent::new(c.required_name()?, cell, config)?;
        layer.kernel_regularizer = c.object("kernel_regularizer")?;
        layer.recurrent_regularizer = c.object("recurrent_regularizer")?;
        layer.bias_regularizer = c.object("bias_regularizer")?;
        Ok(layer)
    }

    pub fn new(name: impl Into<String>, cell: RnnCell, config: RecurrentConfig) -> Result<Self> {
        let op = class_of(cell);
        if config.units == 0 {
            return Err(Error::argument(
                op,
                "Received an invalid value for `units`, expected a positive integer. Received: units=0",
            ));
        }
        for (name, rate) in [
            ("dropout", config.dropout),
            ("recurrent_dropout", config.recurrent_dropout),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return Err(Error::argument(
                    op,
                    format!("{name} must be a float in [0, 1), got {name}={rate}"),
                ));
            }
        }
        let spec = RnnSpec {
            cell,
            activation: fused(op, "activation", config.activation)?,
            recurrent_activation: fused(op, "recurrent_activation", config.recurrent_activation)?,
            go_backwards: config.go_backwards,
            reset_after: config.reset_after,
        };
        let rng = StdRng::seed_from_u64(config.seed.unwrap_or_else(crate::init::next_seed));
        Ok(Recurrent {
            core: LayerCore::new(name),
            cell,
            config,
            spec,
            rng: Mutex::new(rng),
            kernel_initializer: Initializer::named("glorot_uniform").expect("known initializer"),
            recurrent_initializer: Initializer::named("orthogonal").expect("known initializer"),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
        })
    }

    pub fn cell(&self) -> RnnCell {
        self.cell
    }

    pub fn config(&self) -> &RecurrentConfig {
        &self.config
    }

    fn units(&self) -> usize {
        self.config.units
    }

    /// The feature count of a `(batch, time, features)` input shape.
    fn input_dim(&self, shape: &Shape) -> Result<usize> {
        match shape.as_slice() {
            [_, _, Some(features)] => Ok(*features),
            _ => Err(Error::shape(
                class_of(self.cell),
                format!(
                    "layer '{}' expects inputs of shape (batch, time, features) with the features known, got {}",
                    self.name(),
                    format_shape(shape)
                ),
            )),
        }
    }

    /// Checks the number of inputs: the sequence alone, or with every initial state.
    fn check_input_count(&self, count: usize) -> Result<()> {
        let states = self.cell.states();
        if count == 1 || count == 1 + states {
            Ok(())
        } else {
            Err(Error::argument(
                class_of(self.cell),
                format!(
                    "layer '{}' takes the sequence and optionally all {states} initial state(s), got {} initial state(s)",
                    self.name(),
                    count - 1
                ),
            ))
        }
    }

    /// Inverted-dropout masks of `shape` (`0` or `1 / (1 - rate)`) from the layer's generator.
    fn dropout_mask(&self, shape: &[usize], rate: f64, dtype: DType) -> Tensor {
        let keep = 1.0 - rate;
        let mut rng = self.rng.lock().expect("dropout generator");
        let mask = ArrayD::from_shape_simple_fn(IxDyn(shape), || {
            if rng.random::<f64>() < keep {
                1.0 / keep
            } else {
                0.0
            }
        });
        Tensor::from_storage(Storage::from_array(mask).cast(dtype), false)
    }

    /// Whether the GRU's bias is `(2, 3 * units)` (input and recurrent rows).
    fn split_bias(&self) -> bool {
        self.cell == RnnCell::Gru && self.config.reset_after
    }

    /// The input projection of all time steps, `x @ kernel + input_bias`, with Keras's input
    /// dropout in training: one mask `(batch, 1, in)` for all gates (one GEMM), or one mask
    /// per gate when recurrent dropout is on (Keras 3 then runs `implementation=1`, whose
    /// gates each see their own dropped input: one GEMM per gate block).
    fn project(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        bias: Option<&Tensor>,
        training: bool,
    ) -> Result<Tensor> {
        let rate = self.config.dropout;
        if !training || rate == 0.0 {
            return x.linear(kernel, bias, FusedActivation::Linear);
        }
        let (batch, features) = (x.shape()[0], x.shape()[2]);
        if self.config.recurrent_dropout == 0.0 || self.cell == RnnCell::Simple {
            let mask = self.dropout_mask(&[batch, 1, features], rate, x.dtype());
            return x.mul(&mask)?.linear(kernel, bias, FusedActivation::Linear);
        }
        let units = self.units() as isize;
        let full = SliceSpec::full();
        let mut blocks = Vec::with_capacity(self.cell.gates());
        for k in 0..self.cell.gates() as isize {
            let columns = SliceSpec::range(k * units, (k + 1) * units);
            let mask = self.dropout_mask(&[batch, 1, features], rate, x.dtype());
            let kernel_k = kernel.slice(&[full, columns])?;
            let bias_k = bias.map(|b| b.slice(&[columns])).transpose()?;
            blocks.push(x.mul(&mask)?.linear(
                &kernel_k,
                bias_k.as_ref(),
                FusedActivation::Linear,
            )?);
        }
        Tensor::concatenate(&blocks, -1)
    }

    /// The mask of the sequence input, checked against it: `(batch, time)`.
    fn step_mask(&self, mask: Option<&Tensor>, x_shape: &[usize]) -> Result<Option<Tensor>> {
        let Some(mask) = mask else {
            return Ok(None);
        };
        let expected = [x_shape[0], x_shape[1]];
        if mask.shape() != expected {
            return Err(Error::shape(
                class_of(self.cell),
                format!(
                    "layer '{}': mask of shape {} does not fit inputs of shape {}: it needs (batch, time) = {}",
                    self.name(),
                    format_shape(&known(&mask.shape())),
                    format_shape(&known(x_shape)),
                    format_shape(&known(&expected))
                ),
            ));
        }
        Ok(Some(mask.clone()))
    }

    /// The layer's computation, with the sequence's mask when it has one.
    fn run(&self, inputs: &[Tensor], mask: Option<&Tensor>, training: bool) -> Result<Vec<Tensor>> {
        self.check_input_count(inputs.len())?;
        self.core.require_built()?;
        let op = class_of(self.cell);
        let kernel = self
            .core
            .weight("kernel")
            .expect("built layer has a kernel");
        let recurrent_kernel = self
            .core
            .weight("recurrent_kernel")
            .expect("built layer has a recurrent kernel");
        let x = inputs[0].clone();
        let xs = x.shape();
        if xs.len() != 3 || xs[2] != kernel.shape()[0] || xs[1] == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "layer '{}' expects inputs of shape (batch, time >= 1, {}), got {}",
                    self.name(),
                    kernel.shape()[0],
                    format_shape(&known(&xs))
                ),
            ));
        }
        let (batch, steps, units) = (xs[0], xs[1], self.units());
        let mask = self.step_mask(mask, &xs)?;
        let bias = self.core.weight("bias");
        let (input_bias, recurrent_bias) = match &bias {
            Some(b) if self.split_bias() => {
                let row = |r: isize| -> Result<Tensor> {
                    b.slice(&[SliceSpec::range(r, r + 1)])?.reshape(&[-1])
                };
                (Some(row(0)?), Some(row(1)?))
            }
            b => (b.clone(), None),
        };
        // The input projection of all time steps: one GEMM.
        let projected = self.project(&x, &kernel, input_bias.as_ref(), training)?;
        let dtype = projected.dtype();
        let zeros = || Tensor::zeros(&[batch, units], dtype);
        let (h0, c0) = if inputs.len() > 1 {
            (inputs[1].clone(), inputs.get(2).cloned())
        } else {
            (zeros(), (self.cell == RnnCell::Lstm).then(zeros))
        };
        let recurrent_dropout = (training && self.config.recurrent_dropout > 0.0).then(|| {
            self.dropout_mask(
                &[batch, self.cell.gates(), units],
                self.config.recurrent_dropout,
                dtype,
            )
        });
        let masks = RnnMasks {
            step_mask: mask.as_ref(),
            recurrent_dropout: recurrent_dropout.as_ref(),
        };
        let packed = projected
            .rnn_sequence_masked(
                &recurrent_kernel,
                &h0,
                c0.as_ref(),
                recurrent_bias.as_ref(),
                self.spec,
                masks,
            )
            .map_err(|err| match err {
                Error::Shape { message, .. } => Error::Shape {
                    op,
                    message: format!("layer '{}': {message}", self.name()),
                },
                other => other,
            })?;
        let full = SliceSpec::full();
        let states = self.cell.states();
        let columns = |t: &Tensor, k: isize| -> Result<Tensor> {
            let u = units as isize;
            t.slice(&[full, full, SliceSpec::range(k * u, (k + 1) * u)])
        };
        let last_step = |t: &Tensor| -> Result<Tensor> {
            t.slice(&[full, SliceSpec::range(steps as isize - 1, steps as isize)])?
                .reshape(&[batch as isize, -1])
        };
        let zero_masked = self.config.zero_output_for_mask && mask.is_some();
        // The whole h sequence, only when the output needs it: without return_sequences the
        // last step is sliced from `packed` directly (copying every step's h out of `packed`
        // first cost ~1% of an LSTM training step).
        let sequence = || -> Result<Tensor> {
            let sequence = if states == 1 {
                packed.clone()
            } else {
                columns(&packed, 0)?
            };
            match (zero_masked, &mask) {
                (true, Some(mask)) => {
                    // Keras's zero_output_for_mask: masked steps output zeros (in processing
                    // order).
                    let mask = if self.config.go_backwards {
                        mask.slice(&[full, reversed()])?
                    } else {
                        mask.clone()
                    };
                    sequence.mul(&mask.cast(dtype)?.expand_dims(-1)?)
                }
                _ => Ok(sequence),
            }
        };
        let mut out = vec![if self.config.return_sequences {
            sequence()?
        } else if zero_masked {
            last_step(&sequence()?)?
        } else {
            last_step(&packed)?.slice(&[full, SliceSpec::range(0, units as isize)])?
        }];
        if self.config.return_state {
            let last = last_step(&packed)?;
            out.push(last.slice(&[full, SliceSpec::range(0, units as isize)])?);
            if states == 2 {
                out.push(
                    last.slice(&[full, SliceSpec::range(units as isize, 2 * units as isize)])?,
                );
            }
        }
        Ok(out)
    }
}

/// Every step of an axis, last first.
fn reversed() -> SliceSpec {
    SliceSpec {
        start: None,
        stop: None,
        step: -1,
    }
}

fn class_of(cell: RnnCell) -> &'static str {
    match cell {
        RnnCell::Simple => "SimpleRNN",
        RnnCell::Lstm => "LSTM",
        RnnCell::Gru => "GRU",
    }
}

impl Layer for Recurrent {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        class_of(self.cell)
    }

    /// Keras's config of the layer's own class: `recurrent_activation` for LSTM and GRU,
    /// `unit_forget_bias` for the LSTM, `reset_after` for the GRU.
    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use crate::regularizers::to_config;
        use serde_json::json;
        let c = &self.config;
        let mut config = config_of([
            ("units", json!(c.units)),
            ("activation", json!(c.activation.keras_name()?)),
            ("use_bias", json!(c.use_bias)),
            ("kernel_regularizer", to_config(self.kernel_regularizer)),
            (
                "recurrent_regularizer",
                to_config(self.recurrent_regularizer),
            ),
            ("bias_regularizer", to_config(self.bias_regularizer)),
            ("dropout", json!(c.dropout)),
            ("recurrent_dropout", json!(c.recurrent_dropout)),
            ("seed", json!(c.seed)),
            ("return_sequences", json!(c.return_sequences)),
            ("return_state", json!(c.return_state)),
            ("go_backwards", json!(c.go_backwards)),
            ("stateful", json!(false)),
            ("unroll", json!(false)),
            ("zero_output_for_mask", json!(c.zero_output_for_mask)),
        ])?;
        if self.cell != RnnCell::Simple {
            let recurrent = c.recurrent_activation.keras_name()?;
            config.insert("recurrent_activation".into(), json!(recurrent));
        }
        match self.cell {
            RnnCell::Lstm => {
                config.insert("unit_forget_bias".into(), json!(c.unit_forget_bias));
            }
            RnnCell::Gru => {
                config.insert("reset_after".into(), json!(c.reset_after));
            }
            RnnCell::Simple => {}
        }
        Some(config)
    }

    fn weight_specs(&self, input_shapes: &[Shape]) -> Result<Vec<WeightSpec>> {
        let input_dim = self.input_dim(&input_shapes[0])?;
        let width = self.cell.gates() * self.units();
        let mut specs = vec![
            WeightSpec {
                name: "kernel",
                shape: vec![input_dim, width],
                initializer: self.kernel_initializer,
                trainable: true,
                regularizer: self.kernel_regularizer,
            },
            WeightSpec {
                name: "recurrent_kernel",
                shape: vec![self.units(), width],
                initializer: self.recurrent_initializer,
                trainable: true,
                regularizer: self.recurrent_regularizer,
            },
        ];
        if self.config.use_bias {
            specs.push(WeightSpec {
                name: "bias",
                shape: if self.split_bias() {
                    vec![2, width]
                } else {
                    vec![width]
                },
                initializer: self.bias_initializer,
                trainable: true,
                regularizer: self.bias_regularizer,
            });
        }
        Ok(specs)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        self.check_input_count(input_shapes.len())?;
        let shape = &input_shapes[0];
        let input_dim = self.input_dim(shape)?;
        if let Some(kernel) = self.core.weight("kernel") {
            if kernel.shape()[0] != input_dim {
                return Err(Error::shape(
                    class_of(self.cell),
                    format!(
                        "layer '{}' was built for {} input features, got input shape {}",
                        self.name(),
                        kernel.shape()[0],
                        format_shape(shape)
                    ),
                ));
            }
        }
        let (batch, steps, units) = (shape[0], shape[1], Some(self.units()));
        let mut out = vec![if self.config.return_sequences {
            vec![batch, steps, units]
        } else {
            vec![batch, units]
        }];
        if self.config.return_state {
            out.extend(std::iter::repeat_n(vec![batch, units], self.cell.states()));
        }
        Ok(out)
    }

    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        self.run(inputs, None, training)
    }

    /// The first mask is the sequence's (those of initial states are ignored, as Keras).
    fn call_masked(
        &self,
        inputs: &[Tensor],
        masks: &[Option<Tensor>],
        training: bool,
    ) -> Result<Vec<Tensor>> {
        self.run(inputs, masks.first().and_then(Option::as_ref), training)
    }

    /// Keras's `RNN.compute_mask`: the sequence's mask goes on with `return_sequences` (not
    /// reversed for `go_backwards`, as Keras); states carry none.
    fn compute_mask(
        &self,
        _inputs: &[Tensor],
        masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        let mask = masks.first().cloned().flatten();
        Ok(vec![mask.filter(|_| self.config.return_sequences)])
    }

    /// Keras's `unit_forget_bias`: the LSTM's bias is `[init(u), ones(u), init(2u)]` with `init`
    /// its bias initializer, each block sampled at its own shape as Keras's composite
    /// initializer does.
    fn after_build(&self) -> Result<()> {
        if self.cell != RnnCell::Lstm || !self.config.unit_forget_bias {
            return Ok(());
        }
        let Some(bias) = self.core.weight("bias") else {
            return Ok(());
        };
        let (units, dtype) = (self.units(), bias.dtype());
        let blocks = [
            self.bias_initializer.sample(&[units], dtype, None)?,
            Tensor::full(&[units], 1.0, dtype),
            self.bias_initializer.sample(&[2 * units], dtype, None)?,
        ];
        let value = Tensor::concatenate(&blocks, 0)?;
        bias.assign(value.storage())
    }
}

/// How [`Bidirectional`] joins the forward and backward outputs (Keras's `merge_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidirectionalMerge {
    Concat,
    Sum,
    Mul,
    Ave,
}

/// Keras's `Bidirectional`: a recurrent layer run forward and a copy run backward over the same
/// sequence; the backward sequence output is put back in time order before merging. Weights:
/// the forward layer's, then the backward layer's. With `return_state`, the outputs are
/// `[merged, forward states..., backward states...]`.
pub struct Bidirectional {
    core: LayerCore,
    forward: std::sync::Arc<dyn Layer>,
    backward: std::sync::Arc<dyn Layer>,
    merge: BidirectionalMerge,
    return_sequences: bool,
}

impl Bidirectional {
    /// Keras's `Bidirectional` config: `layer` (the serialized forward layer), `merge_mode`
    /// ("concat"), `backward_layer` (by default the forward layer's copy with `go_backwards`
    /// flipped); or the forward and backward layers a front end made already (`inner`).
    pub fn from_config(c: &Config<'_>, inner: &[std::sync::Arc<dyn Layer>]) -> Result<Made> {
        let merge = match c.str_or("merge_mode", "concat")? {
            "concat" => BidirectionalMerge::Concat,
            "sum" => BidirectionalMerge::Sum,
            "mul" => BidirectionalMerge::Mul,
            "ave" => BidirectionalMerge::Ave,
            other => {
                return Err(Error::Format(format!(
                    "Invalid merge mode. Received: {other}. Merge mode should be one of \
                     {{\"sum\", \"mul\", \"ave\", \"concat\"}} ({})",
                    c.owner()
                )))
            }
        };
        let name = c.required_name()?;
        let (forward, backward) = match inner {
            [f, b] => (Made::shared(f.clone()), Made::shared(b.clone())),
            [] => Bidirectional::inner_from_config(c)?,
            more => {
                return Err(Error::Format(format!(
                    "{}: wraps a forward and a backward layer, got {} layers",
                    c.owner(),
                    more.len()
                )))
            }
        };
        // A front end passing its layers says it; a saved wrapper's layers say it themselves.
        let from_forward = forward.layer.config().and_then(|m| {
            m.get("return_sequences")
                .and_then(serde_json::Value::as_bool)
        });
        let return_sequences = c.bool_or("return_sequences", from_forward.unwrap_or(false))?;
        let layer = std::sync::Arc::new(Bidirectional::new(
            name,
            forward.layer.clone(),
            backward.layer.clone(),
            merge,
            return_sequences,
        ));
        Ok(Made {
            layer,
            same_inputs: vec![forward, backward],
            per_step: None,
        })
    }

    /// The forward and backward layers a saved wrapper describes. As the Python layer (and
    /// Keras), both zero masked steps' outputs when they return sequences; the forward layer's
    /// saved name is already `forward_<name>`.
    fn inner_from_config(c: &Config<'_>) -> Result<(Made, Made)> {
        use serde_json::Value;
        let serialized = c
            .get("layer")
            .ok_or_else(|| c.err("layer", "a serialized recurrent layer"))?;
        let (class, config) = crate::config::class_and_config(serialized)?;
        let mut map = config.as_object().cloned().unwrap_or_default();
        let sequences = map.get("return_sequences").and_then(Value::as_bool);
        map.insert(
            "zero_output_for_mask".into(),
            Value::Bool(sequences == Some(true)),
        );
        let recurrent = |map: &serde_json::Map<String, Value>, name: Option<String>| {
            let mut map = map.clone();
            if let Some(name) = name {
                map.insert("name".into(), Value::String(name));
            }
            let value = Value::Object(map);
            let inner = Config::new(class, &value)?;
            Recurrent::from_config(&inner).map_err(|e| match class {
                "SimpleRNN" | "LSTM" | "GRU" => e,
                other => Error::Format(format!(
                    "{}: Bidirectional wraps SimpleRNN, LSTM or GRU, got '{other}'",
                    c.owner()
                )),
            })
        };
        let inner_name = map.get("name").and_then(Value::as_str).unwrap_or("rnn");
        let base = inner_name
            .strip_prefix("forward_")
            .unwrap_or(inner_name)
            .to_string();
        let forward = recurrent(&map, Some(format!("forward_{base}")))?;
        let backward = match c.get("backward_layer") {
            Some(b) => registry::layer_from_value(b)?,
            None => {
                let flipped = !map
                    .get("go_backwards")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                map.insert("go_backwards".into(), Value::Bool(flipped));
                Made::plain(recurrent(&map, Some(format!("backward_{base}")))?)
            }
        };
        Ok((Made::plain(forward), backward))
    }

    /// `backward` must process the sequence the other way round (`go_backwards` flipped).
    pub fn new(
        name: impl Into<String>,
        forward: std::sync::Arc<dyn Layer>,
        backward: std::sync::Arc<dyn Layer>,
        merge: BidirectionalMerge,
        return_sequences: bool,
    ) -> Bidirectional {
        let core = LayerCore::new(name);
        core.set_built();
        Bidirectional {
            core,
            forward,
            backward,
            merge,
            return_sequences,
        }
    }

    /// Keras's `Bidirectional(layer)` for a recurrent layer of this cell and config: the
    /// forward layer named `forward_<base>` and its copy `backward_<base>` with `go_backwards`
    /// flipped, both with `zero_output_for_mask = return_sequences`, as Keras names and sets
    /// them (`base` is the wrapped layer's name). The layers are not built yet: build each of
    /// [`Bidirectional::forward`] and [`Bidirectional::backward`] for the wrapper's input shape.
    /// Only a wrapper whose layers are named this way can write its config
    /// ([`Layer::config`]), since the Keras config names the inner layers so.
    pub fn wrap(
        name: impl Into<String>,
        base: &str,
        cell: RnnCell,
        config: RecurrentConfig,
        merge: BidirectionalMerge,
    ) -> Result<Bidirectional> {
        let config = RecurrentConfig {
            zero_output_for_mask: config.return_sequences,
            ..config
        };
        let backward = RecurrentConfig {
            go_backwards: !config.go_backwards,
            ..config
        };
        Ok(Bidirectional::new(
            name,
            std::sync::Arc::new(Recurrent::new(format!("forward_{base}"), cell, config)?),
            std::sync::Arc::new(Recurrent::new(format!("backward_{base}"), cell, backward)?),
            merge,
            config.return_sequences,
        ))
    }

    pub fn forward(&self) -> &std::sync::Arc<dyn Layer> {
        &self.forward
    }

    pub fn backward(&self) -> &std::sync::Arc<dyn Layer> {
        &self.backward
    }

    pub fn merge_mode(&self) -> BidirectionalMerge {
        self.merge
    }

    pub fn return_sequences(&self) -> bool {
        self.return_sequences
    }

    fn merge_outputs(&self, f: &Tensor, b: &Tensor) -> Result<Tensor> {
        match self.merge {
            BidirectionalMerge::Concat => Tensor::concatenate(&[f.clone(), b.clone()], -1),
            BidirectionalMerge::Sum => f.add(b),
            BidirectionalMerge::Mul => f.mul(b),
            BidirectionalMerge::Ave => f.add(b)?.scale(0.5),
        }
    }
}

impl Layer for Bidirectional {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        "Bidirectional"
    }

    /// Keras's config: `layer` (the forward layer, serialized), `merge_mode`, and
    /// `backward_layer` only when the backward layer is not the forward one's copy that a
    /// reader derives (`backward_<base>`, `go_backwards` flipped). `None` unless the forward
    /// layer is named `forward_<base>` (a reader names it so: see [`Bidirectional::wrap`]).
    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        use registry::layer_config;
        use serde_json::json;
        let base = self.forward.name().strip_prefix("forward_")?;
        let recurrent = |l: &dyn Layer| matches!(l.class_name(), "SimpleRNN" | "LSTM" | "GRU");
        if !recurrent(self.forward.as_ref()) || !recurrent(self.backward.as_ref()) {
            return None;
        }
        let layer = layer_config(self.forward.as_ref()).ok()?;
        let backward = layer_config(self.backward.as_ref()).ok()?;
        // What a reader derives without `backward_layer` (it also sets both layers'
        // zero_output_for_mask to return_sequences, which the wrapper's own masking makes moot).
        let mut derived = layer.clone();
        let go_backwards = derived["config"]["go_backwards"].as_bool()?;
        derived["config"]["go_backwards"] = json!(!go_backwards);
        derived["config"]["name"] = json!(format!("backward_{base}"));
        let mut actual = backward.clone();
        for v in [&mut derived, &mut actual] {
            v["config"].as_object_mut()?.remove("zero_output_for_mask");
        }
        let merge_mode = match self.merge {
            BidirectionalMerge::Concat => "concat",
            BidirectionalMerge::Sum => "sum",
            BidirectionalMerge::Mul => "mul",
            BidirectionalMerge::Ave => "ave",
        };
        let mut config = config_of([("layer", layer), ("merge_mode", json!(merge_mode))])?;
        if derived != actual {
            config.insert("backward_layer".into(), backward);
        }
        Some(config)
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        let f = self.forward.output_shapes(input_shapes)?;
        let b = self.backward.output_shapes(input_shapes)?;
        let mut merged = f[0].clone();
        if self.merge == BidirectionalMerge::Concat {
            let last = merged.last_mut().expect("rank >= 2");
            *last = last
                .zip(*b[0].last().expect("rank >= 2"))
                .map(|(x, y)| x + y);
        }
        let mut out = vec![merged];
        out.extend(f[1..].iter().cloned());
        out.extend(b[1..].iter().cloned());
        Ok(out)
    }

    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        self.call_masked(inputs, &[], training)
    }

    /// Both directions get the mask; with `return_sequences` their masked steps output zeros
    /// (Keras's `Bidirectional` forces `zero_output_for_mask = return_sequences` on both).
    fn call_masked(
        &self,
        inputs: &[Tensor],
        masks: &[Option<Tensor>],
        training: bool,
    ) -> Result<Vec<Tensor>> {
        let mut f = self.forward.call_masked(inputs, masks, training)?;
        let mut b = self.backward.call_masked(inputs, masks, training)?;
        if self.return_sequences {
            // The backward layer's steps come last-first; Keras reverses them into time order.
            b[0] = b[0].slice(&[SliceSpec::full(), reversed()])?;
            if let Some(mask) = masks.first().and_then(Option::as_ref) {
                let mask = mask.cast(f[0].dtype())?.expand_dims(-1)?;
                f[0] = f[0].mul(&mask)?;
                b[0] = b[0].mul(&mask)?;
            }
        }
        let mut out = vec![self.merge_outputs(&f[0], &b[0])?];
        out.extend(f[1..].iter().cloned());
        out.extend(b[1..].iter().cloned());
        Ok(out)
    }

    /// Keras's `Bidirectional.compute_mask`: the mask goes on with `return_sequences`.
    fn compute_mask(
        &self,
        _inputs: &[Tensor],
        masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        let mask = masks.first().cloned().flatten();
        Ok(vec![mask.filter(|_| self.return_sequences)])
    }

    /// The forward layer's weights, then the backward layer's, each named with its layer
    /// (`forward_lstm/kernel`) so that the two `kernel`s stay apart in reports and files.
    fn weights(&self) -> Vec<Weight> {
        let mut weights = Vec::new();
        for layer in [&self.forward, &self.backward] {
            weights.extend(layer.weights().into_iter().map(|w| Weight {
                name: format!("{}/{}", layer.name(), w.name),
                ..w
            }));
        }
        weights
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn recurrent_embedding_looks_up_rows_and_rejects_bad_ids() {
        let embedding = Embedding::new("e", 3, 2, false).unwrap();
        build(&embedding, &[vec![None, Some(2)]], DType::F32).unwrap();
        let table = &embedding.weights()[0].value;
        table
            .assign(t32(&[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).storage())
            .unwrap();
        let y = embedding
            .call(&[t32(&[1, 2], &[2.0, 0.0])], false)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), vec![1, 2, 2]);
        assert_eq!(values(&y), vec![4.0, 5.0, 0.0, 1.0]);
        for (bad, word) in [(3.0, "out of range"), (-1.0, "negative"), (0.5, "whole")] {
            let err = embedding
                .call(&[t32(&[1, 1], &[bad])], false)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(word), "{err}");
        }
    }

    #[test]
    fn recurrent_layer_shapes_follow_keras() {
        let config = RecurrentConfig {
            return_sequences: true,
            return_state: true,
            ..RecurrentConfig::new(3)
        };
        let gru = Recurrent::new("g", RnnCell::Gru, config).unwrap();
        let shapes = gru.output_shapes(&[vec![None, Some(5), Some(2)]]).unwrap();
        assert_eq!(
            shapes,
            vec![vec![None, Some(5), Some(3)], vec![None, Some(3)]]
        );
        build(&gru, &[vec![None, Some(5), Some(2)]], DType::F32).unwrap();
        let shapes: Vec<Vec<usize>> = gru.weights().iter().map(|w| w.value.shape()).collect();
        assert_eq!(shapes, vec![vec![2, 9], vec![3, 9], vec![2, 9]]);
        let out = gru
            .call(&[Tensor::zeros(&[4, 5, 2], DType::F32)], false)
            .unwrap();
        assert_eq!(out[0].shape(), vec![4, 5, 3]);
        assert_eq!(out[1].shape(), vec![4, 3]);
        let err = gru
            .call(&[Tensor::zeros(&[4, 5, 3], DType::F32)], false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("(batch, time >= 1, 2)"), "{err}");
    }

    #[test]
    fn recurrent_wrappers_fold_time_and_reverse_the_backward_pass() {
        let dense: std::sync::Arc<dyn Layer> =
            std::sync::Arc::new(Dense::new("d", 2, Activation::Linear, false));
        build(dense.as_ref(), &[vec![None, Some(3)]], DType::F32).unwrap();
        let td = TimeDistributed::new("td", dense);
        assert_eq!(
            td.output_shapes(&[vec![None, Some(4), Some(3)]]).unwrap(),
            vec![vec![None, Some(4), Some(2)]]
        );
        let y = td
            .call(&[Tensor::zeros(&[5, 4, 3], DType::F32)], false)
            .unwrap();
        assert_eq!(y[0].shape(), vec![5, 4, 2]);
        assert_eq!(td.weights().len(), 1);

        let config = RecurrentConfig {
            return_sequences: true,
            ..RecurrentConfig::new(3)
        };
        let f = Recurrent::new("f", RnnCell::Simple, config).unwrap();
        let b = Recurrent::new(
            "b",
            RnnCell::Simple,
            RecurrentConfig {
                go_backwards: true,
                ..config
            },
        )
        .unwrap();
        for l in [&f, &b] {
            build(l, &[vec![None, Some(4), Some(2)]], DType::F32).unwrap();
        }
        let bi = Bidirectional::new(
            "bi",
            std::sync::Arc::new(f),
            std::sync::Arc::new(b),
            BidirectionalMerge::Concat,
            true,
        );
        let shapes = bi.output_shapes(&[vec![None, Some(4), Some(2)]]).unwrap();
        assert_eq!(shapes, vec![vec![None, Some(4), Some(6)]]);
        assert_eq!(bi.weights().len(), 6);
    }

    #[test]
    fn recurrent_native_build_applies_unit_forget_bias() {
        // Keras's LSTMCell: bias = [init(u), ones(u), init(2u)].
        let lstm = Recurrent::new("l", RnnCell::Lstm, RecurrentConfig::new(3)).unwrap();
        build(&lstm, &[vec![None, Some(2), Some(4)]], DType::F32).unwrap();
        let bias = values(&lstm.weights()[2].value);
        assert_eq!(bias, [[0.0; 3], [1.0; 3], [0.0; 3], [0.0; 3]].concat());
        let plain = Recurrent::new(
            "p",
            RnnCell::Lstm,
            RecurrentConfig {
                unit_forget_bias: false,
                ..RecurrentConfig::new(3)
            },
        )
        .unwrap();
        build(&plain, &[vec![None, Some(2), Some(4)]], DType::F32).unwrap();
        assert_eq!(values(&plain.weights()[2].value), vec![0.0; 12]);
        // Only the LSTM has a forget gate.
        let gru = Recurrent::new("g", RnnCell::Gru, RecurrentConfig::new(3)).unwrap();
        build(&gru, &[vec![None, Some(2), Some(4)]], DType::F32).unwrap();
        assert!(values(&gru.weights()[2].value).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn recurrent_gru_reset_before_has_a_flat_bias() {
        let config = RecurrentConfig {
            reset_after: false,
            ..RecurrentConfig::new(2)
        };
        let gru = Recurrent::new("g", RnnCell::Gru, config).unwrap();
        build(&gru, &[vec![None, Some(3), Some(4)]], DType::F64).unwrap();
        let shapes: Vec<Vec<usize>> = gru.weights().iter().map(|w| w.value.shape()).collect();
        assert_eq!(shapes, vec![vec![4, 6], vec![2, 6], vec![6]]);
        let out = gru
            .call(&[Tensor::full(&[1, 3, 4], 0.5, DType::F64)], true)
            .unwrap();
        assert_eq!(out[0].shape(), vec![1, 2]);
    }

    #[test]
    fn recurrent_rates_outside_zero_one_are_refused() {
        for rate in [-0.1, 1.0] {
            let config = RecurrentConfig {
                recurrent_dropout: rate,
                ..RecurrentConfig::new(2)
            };
            let err = Recurrent::new("l", RnnCell::Lstm, config)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("recurrent_dropout"), "{err}");
        }
    }

    #[test]
    fn recurrent_thousand_step_backward_does_not_recurse() {
        let lstm = Recurrent::new("l", RnnCell::Lstm, RecurrentConfig::new(4)).unwrap();
        build(&lstm, &[vec![None, Some(1000), Some(2)]], DType::F32).unwrap();
        let x = Tensor::full(&[2, 1000, 2], 0.1, DType::F32);
        let y = lstm.call(&[x], true).unwrap().remove(0);
        y.sum(None, false).unwrap().backward().unwrap();
        assert!(lstm.weights()[1].value.grad().is_some());
    }
}
