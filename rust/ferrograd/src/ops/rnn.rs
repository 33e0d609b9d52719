//! `rnn_sequence`: the time loop of a recurrent layer (SimpleRNN, LSTM, GRU) as one op.
//!
//! The input projection `x @ kernel + bias` of every time step is computed before this op, as
//! one GEMM (`Tensor::linear` over `(batch, time, in)`). This op runs the recurrence: each step
//! is one GEMM `h_prev @ recurrent_kernel` for all gates at once plus one elementwise pass.
//! Backpropagation through time is a loop inside this op's backward closure (one GEMM a step
//! for the gradient of the previous state), so a 1,000-step unroll adds one graph node, not
//! thousands, and nothing recurses. The recurrent kernel's gradient is one GEMM over all steps
//! at the end: `dU = H_prevᵀ · dZ` with the steps stacked as rows.
//!
//! Equations (Keras 3, `keras/src/layers/rnn/{simple_rnn,lstm,gru}.py`), with `x_t` the
//! projected input and `U` the recurrent kernel, gates split along the last axis in Keras's
//! order:
//! - SimpleRNN: `h = act(x_t + h_prev U)`.
//! - LSTM (i, f, c, o): `z = x_t + h_prev U`, `i = σ(z_i)`, `f = σ(z_f)`, `g = act(z_c)`,
//!   `o = σ(z_o)`, `c = f c_prev + i g`, `h = o act(c)`.
//! - GRU, `reset_after=True` (z, r, h): `m = h_prev U + b_rec`, `z = σ(x_z + m_z)`,
//!   `r = σ(x_r + m_r)`, `ĥ = act(x_h + r m_h)`, `h = z h_prev + (1 - z) ĥ`.
//! - GRU, `reset_after=False` (the original form, no recurrent bias): `z = σ(x_z + h_prev U_z)`,
//!   `r = σ(x_r + h_prev U_r)`, `ĥ = act(x_h + (r h_prev) U_h)`, `h = z h_prev + (1 - z) ĥ`.
//!
//! Two optional per-sequence inputs ([`RnnMasks`]), free when absent:
//! - a step mask `(batch, time)` (Keras's `mask`, from `Embedding(mask_zero=True)` or
//!   `Masking`): at a masked step the sample's states are carried over unchanged, and its
//!   output is the carried `h` (Keras's `backend.rnn` with `zero_output_for_mask=False`);
//!   nothing flows back into the step's input or gates.
//! - recurrent dropout masks `(batch, gates, units)`, one per gate block, constant over the
//!   steps: gate block `k` reads `h_prev ⊙ m_k` in its recurrent product, as Keras 3's cells
//!   (`implementation=1`, which Keras selects whenever `recurrent_dropout > 0`); the GRU's
//!   `z h_prev` term and the carried state use the undropped `h_prev`.
//!
//! The output packs every step's state in processing order: `(batch, time, states * units)`
//! with `h` first and, for the LSTM, `c` after it; the layer slices what it returns.

use ndarray::{s, Array3, ArrayD, Ix3, IxDyn};
use rayon::prelude::*;

use super::buffers;
use super::fast_math::{sigmoid, simd_available, tanh};
use super::matmul::{gemm_serial, StridedMatrix};
use super::packed_gemm::{gemm_packed, PackedRhs};
use super::{typed_grad, FusedActivation};
use crate::error::{Error, Result};
use crate::tensor::{DType, Element, Storage, Tensor};
use crate::threads;

/// The recurrent cell a [`Tensor::rnn_sequence`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RnnCell {
    /// Keras's `SimpleRNN`: one gate.
    Simple,
    /// Keras's `LSTM`: gates i, f, c, o; states h, c.
    Lstm,
    /// Keras's `GRU`: gates z, r, h; with `reset_after` (Keras's default) the recurrent bias is
    /// separate, see [`RnnSpec::reset_after`].
    Gru,
}

impl RnnCell {
    /// How many blocks of `units` columns the kernels have.
    pub fn gates(self) -> usize {
        match self {
            RnnCell::Simple => 1,
            RnnCell::Lstm => 4,
            RnnCell::Gru => 3,
        }
    }

    /// How many state tensors the cell carries (h, and c for the LSTM).
    pub fn states(self) -> usize {
        match self {
            RnnCell::Lstm => 2,
            _ => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RnnCell::Simple => "simple_rnn_sequence",
            RnnCell::Lstm => "lstm_sequence",
            RnnCell::Gru => "gru_sequence",
        }
    }
}

/// What a [`Tensor::rnn_sequence`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RnnSpec {
    pub cell: RnnCell,
    /// Keras's `activation` (tanh by default).
    pub activation: FusedActivation,
    /// Keras's `recurrent_activation` (sigmoid by default); unused by SimpleRNN.
    pub recurrent_activation: FusedActivation,
    /// Process the time steps last to first (the output stays in processing order, as Keras).
    pub go_backwards: bool,
    /// GRU only: apply the reset gate after the recurrent product (`r ⊙ (h U_h + b)`, Keras's
    /// default and cuDNN's form) rather than before it (`(r ⊙ h) U_h`, the original GRU).
    pub reset_after: bool,
}

impl RnnSpec {
    /// `cell` with Keras's defaults: tanh, sigmoid, forwards, `reset_after`.
    pub fn new(cell: RnnCell) -> RnnSpec {
        RnnSpec {
            cell,
            activation: FusedActivation::Tanh,
            recurrent_activation: FusedActivation::Sigmoid,
            go_backwards: false,
            reset_after: true,
        }
    }

    /// Whether the candidate block's recurrent product waits for the reset gate.
    fn reset_before(&self) -> bool {
        self.cell == RnnCell::Gru && !self.reset_after
    }

    /// How many leading gate blocks add `h_prev U_k` straight onto the projected input (the
    /// GRU's candidate block is handled apart in both forms).
    fn direct_blocks(&self) -> usize {
        match self.cell {
            RnnCell::Gru => 2,
            cell => cell.gates(),
        }
    }
}

/// The optional per-sequence inputs of [`Tensor::rnn_sequence_masked`]. Neither records a
/// gradient: both are constants of the step.
#[derive(Debug, Clone, Copy, Default)]
pub struct RnnMasks<'a> {
    /// `(batch, time)` in the input's time order: 0 skips the step for that sample (its states
    /// are carried over), anything else runs it.
    pub step_mask: Option<&'a Tensor>,
    /// `(batch, gates, units)`: recurrent dropout masks, already scaled by `1 / (1 - rate)`.
    pub recurrent_dropout: Option<&'a Tensor>,
}

/// `v ← act(v)` over a slice; the match is outside the loop so each arm vectorizes.
#[inline(always)]
fn activate<F: Element>(activation: FusedActivation, values: &mut [F]) {
    match activation {
        FusedActivation::Linear => {}
        FusedActivation::Relu => values.iter_mut().for_each(|v| *v = v.max(F::zero())),
        FusedActivation::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
        FusedActivation::Tanh => values.iter_mut().for_each(|v| *v = tanh(*v)),
    }
}

/// `grad ← grad · act'(x)`, with the derivative written in terms of the output `y = act(x)`.
#[inline(always)]
fn times_derivative<F: Element>(activation: FusedActivation, grad: &mut [F], output: &[F]) {
    let grad = &mut grad[..output.len()];
    match activation {
        FusedActivation::Linear => {}
        FusedActivation::Relu => grad.iter_mut().zip(output).for_each(|(g, &y)| {
            if y <= F::zero() {
                *g = F::zero()
            }
        }),
        FusedActivation::Sigmoid => grad
            .iter_mut()
            .zip(output)
            .for_each(|(g, &y)| *g *= y * (F::one() - y)),
        FusedActivation::Tanh => grad
            .iter_mut()
            .zip(output)
            .for_each(|(g, &y)| *g *= F::one() - y * y),
    }
}

// Elementwise loops over one row of units. Each output is a separate `&mut` argument and each
// input a `&` one, which tells the compiler the slices do not overlap: it then vectorizes the
// loop without run-time alias checks (a loop writing five slices at once stayed scalar).

/// `out[j] = op(out[j], a[j])`.
#[inline(always)]
fn update1<F: Copy>(out: &mut [F], a: &[F], op: impl Fn(F, F) -> F) {
    let a = &a[..out.len()];
    for (o, &a) in out.iter_mut().zip(a) {
        *o = op(*o, a);
    }
}

/// `out[j] = op(out[j], a[j], b[j])`.
#[inline(always)]
fn update2<F: Copy>(out: &mut [F], a: &[F], b: &[F], op: impl Fn(F, F, F) -> F) {
    let n = out.len();
    let (a, b) = (&a[..n], &b[..n]);
    for j in 0..n {
        out[j] = op(out[j], a[j], b[j]);
    }
}

/// `out[j] = op(a[j], b[j])`.
#[inline(always)]
fn map2<F: Copy>(out: &mut [F], a: &[F], b: &[F], op: impl Fn(F, F) -> F) {
    let n = out.len();
    let (a, b) = (&a[..n], &b[..n]);
    for j in 0..n {
        out[j] = op(a[j], b[j]);
    }
}

/// `out[j] = op(a[j], b[j], c[j])`.
#[inline(always)]
fn map3<F: Copy>(out: &mut [F], a: &[F], b: &[F], c: &[F], op: impl Fn(F, F, F) -> F) {
    let n = out.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    for j in 0..n {
        out[j] = op(a[j], b[j], c[j]);
    }
}

/// `out[j] = op(a[j], b[j], c[j], d[j])`.
#[inline(always)]
fn map4<F: Copy>(out: &mut [F], a: &[F], b: &[F], c: &[F], d: &[F], op: impl Fn(F, F, F, F) -> F) {
    let n = out.len();
    let (a, b, c, d) = (&a[..n], &b[..n], &c[..n], &d[..n]);
    for j in 0..n {
        out[j] = op(a[j], b[j], c[j], d[j]);
    }
}

/// `out[j] = op(out[j], a[j], b[j], c[j])`.
#[inline(always)]
fn update3<F: Copy>(out: &mut [F], a: &[F], b: &[F], c: &[F], op: impl Fn(F, F, F, F) -> F) {
    let n = out.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    for j in 0..n {
        out[j] = op(out[j], a[j], b[j], c[j]);
    }
}

/// A row-major block of `rows × cols` starting at `data[0]`, rows `row_stride` apart.
fn rows_of<F>(data: &[F], rows: usize, cols: usize, row_stride: usize) -> StridedMatrix<'_, F> {
    StridedMatrix {
        data,
        rows,
        cols,
        row_stride,
        col_stride: 1,
    }
}

/// The transpose of a row-major `(count, units)` buffer, as the left operand of `Xᵀ dZ`.
fn transposed<F>(data: &[F], count: usize, units: usize) -> StridedMatrix<'_, F> {
    StridedMatrix {
        data,
        rows: units,
        cols: count,
        row_stride: 1,
        col_stride: units,
    }
}

/// Whether step `at` (a `row * steps + step` index) runs; without a mask every step does.
#[inline(always)]
fn runs(step_mask: &[bool], at: usize) -> bool {
    step_mask.is_empty() || step_mask[at]
}

/// Columns `cols` of the recurrent kernel `(units, width)`, as the right operand of `h_prev @ U`.
fn kernel_columns<F>(
    kernel: &[F],
    units: usize,
    width: usize,
    cols: std::ops::Range<usize>,
) -> StridedMatrix<'_, F> {
    StridedMatrix {
        data: &kernel[cols.start..],
        rows: units,
        cols: cols.len(),
        row_stride: width,
        col_stride: 1,
    }
}

/// Rows `rows` of `Uᵀ` (columns of `U`), as the right operand of `dZ @ Uᵀ`.
fn kernel_transposed_rows<F>(
    kernel: &[F],
    units: usize,
    width: usize,
    rows: std::ops::Range<usize>,
) -> StridedMatrix<'_, F> {
    StridedMatrix {
        data: &kernel[rows.start..],
        rows: rows.len(),
        cols: units,
        row_stride: 1,
        col_stride: width,
    }
}

/// The parts of the op that every batch chunk shares, read-only.
struct Recurrence<'a, F> {
    spec: RnnSpec,
    steps: usize,
    units: usize,
    /// `gates * units`.
    width: usize,
    /// The recurrent kernel `(units, width)`, row-major.
    kernel: &'a [F],
    recurrent_bias: Option<&'a [F]>,
    /// The kernel's direct gate blocks, packed for this pass's per-step product (`h U` forward,
    /// `dZ Uᵀ` backward), and the GRU candidate block's; see [`Recurrence::new`].
    direct_rhs: PackedRhs<'a, F>,
    candidate_rhs: PackedRhs<'a, F>,
}

/// Which per-step product a [`Recurrence`] packs the kernel for.
#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Forward,
    Backward,
}

/// One chunk of batch rows of every forward buffer; rows never interact in the recurrence, so
/// chunks run on different threads without synchronising between steps.
struct ForwardChunk<'a, F> {
    rows: usize,
    /// `(rows, units)` initial states.
    h0: &'a [F],
    c0: &'a [F],
    /// `(rows, steps)` in processing order, false where the step is masked; empty: no mask.
    step_mask: &'a [bool],
    /// `(rows, gates, units)` recurrent dropout masks; empty: no recurrent dropout.
    dropout: &'a [F],
    /// `(rows, steps, width)`: the projected inputs in processing order on entry; the gate
    /// activations on exit (LSTM i, f, g, o; GRU z, r, ĥ; SimpleRNN h).
    gates: &'a mut [F],
    /// `(rows, steps, units)`: LSTM `act(c)`; GRU `m_h = h̃ U_h + b_h` (reset after) or
    /// `r ⊙ h̃` (reset before), with `h̃` the state the candidate block reads (`h_prev`, or
    /// `h_prev ⊙ m_h` under recurrent dropout); empty for SimpleRNN.
    extra: &'a mut [F],
    /// `(rows, steps, units)`: the state each step started from (the left operand of dU).
    h_prev: &'a mut [F],
    /// `(rows, steps, states * units)`: the op's output.
    out: &'a mut [F],
}

impl<'a, F: Element> Recurrence<'a, F> {
    /// The shared state of one pass. The kernel is packed once here for the pass's per-step
    /// products (50 steps reuse it); under recurrent dropout each gate block is multiplied
    /// apart on its own dropped state, and nothing is packed.
    #[allow(clippy::too_many_arguments)]
    fn new(
        spec: RnnSpec,
        steps: usize,
        units: usize,
        width: usize,
        kernel: &'a [F],
        recurrent_bias: Option<&'a [F]>,
        pass: Pass,
        pack: bool,
    ) -> Recurrence<'a, F> {
        let direct = spec.direct_blocks() * units;
        let operand = |range: std::ops::Range<usize>| match pass {
            Pass::Forward => kernel_columns(kernel, units, width, range),
            Pass::Backward => kernel_transposed_rows(kernel, units, width, range),
        };
        let packed = |range: std::ops::Range<usize>, wanted: bool| {
            if wanted {
                PackedRhs::new(operand(range))
            } else {
                PackedRhs::plain(operand(range))
            }
        };
        let has_candidate = spec.cell == RnnCell::Gru;
        Recurrence {
            spec,
            steps,
            units,
            width,
            kernel,
            recurrent_bias,
            direct_rhs: packed(0..direct, pack),
            candidate_rhs: packed(
                if has_candidate {
                    2 * units..width
                } else {
                    0..0
                },
                pack && has_candidate,
            ),
        }
    }

    fn out_width(&self) -> usize {
        self.spec.cell.states() * self.units
    }

    /// Columns `cols` of the recurrent kernel, as the right operand of `h_prev @ U`.
    fn kernel_columns(&self, cols: std::ops::Range<usize>) -> StridedMatrix<'_, F> {
        kernel_columns(self.kernel, self.units, self.width, cols)
    }

    /// Rows `rows` of `Uᵀ` (columns of `U`), as the right operand of `dZ @ Uᵀ`.
    fn kernel_transposed_rows(&self, rows: std::ops::Range<usize>) -> StridedMatrix<'_, F> {
        kernel_transposed_rows(self.kernel, self.units, self.width, rows)
    }

    /// The columns of gate block `block` of the recurrent kernel.
    fn block(&self, block: usize) -> std::ops::Range<usize> {
        block * self.units..(block + 1) * self.units
    }

    /// `dst[b] = h_prev[b, step] ⊙ m[b, block]` for every row: the state gate block `block`
    /// reads under recurrent dropout.
    fn dropped_state(
        &self,
        dst: &mut [F],
        h_prev: &[F],
        dropout: &[F],
        rows: usize,
        step: usize,
        block: usize,
    ) {
        let (steps, units, gates) = (self.steps, self.units, self.spec.cell.gates());
        for b in 0..rows {
            map2(
                &mut dst[b * units..][..units],
                &h_prev[(b * steps + step) * units..],
                &dropout[(b * gates + block) * units..],
                |h, m| h * m,
            );
        }
    }

    /// `dh[b] += product[b] ⊙ m[b, block]`: the gradient a dropped state passes back.
    fn add_dropped(&self, dh: &mut [F], product: &[F], dropout: &[F], rows: usize, block: usize) {
        let (units, gates) = (self.units, self.spec.cell.gates());
        for b in 0..rows {
            update2(
                &mut dh[b * units..][..units],
                &product[b * units..],
                &dropout[(b * gates + block) * units..],
                |x, p, m| x + p * m,
            );
        }
    }

    /// The time loop for one chunk of rows: per step the recurrent products (one GEMM for the
    /// blocks that add onto the projected input, one per block under recurrent dropout, where
    /// each block reads its own dropped state; the GRU's candidate block apart) accumulated
    /// onto the projected input in place, then one pass over each row's gates.
    #[inline(always)]
    fn forward_chunk(&self, chunk: ForwardChunk<'_, F>) {
        let ForwardChunk {
            rows,
            h0,
            c0,
            step_mask,
            dropout,
            gates,
            extra,
            h_prev,
            out,
        } = chunk;
        let (steps, units, width) = (self.steps, self.units, self.width);
        let out_width = self.out_width();
        let RnnSpec {
            cell,
            activation,
            recurrent_activation: ract,
            ..
        } = self.spec;
        let reset_before = self.spec.reset_before();
        let direct = self.spec.direct_blocks();
        let gate_count = cell.gates();
        // One gate block's dropped state: allocated once per call, refilled every step.
        let mut dropped = if dropout.is_empty() {
            Vec::new()
        } else {
            vec![F::zero(); rows * units]
        };
        for b in 0..rows {
            h_prev[b * steps * units..][..units].copy_from_slice(&h0[b * units..][..units]);
        }
        for step in 0..steps {
            if dropout.is_empty() {
                let h_rows = rows_of(&h_prev[step * units..], rows, units, steps * units);
                gemm_packed(
                    &mut gates[step * width..],
                    steps * width,
                    true,
                    h_rows,
                    &self.direct_rhs,
                );
                if cell == RnnCell::Gru && !reset_before {
                    gemm_packed(
                        &mut extra[step * units..],
                        steps * units,
                        false,
                        h_rows,
                        &self.candidate_rhs,
                    );
                }
            } else {
                for block in 0..direct {
                    self.dropped_state(&mut dropped, h_prev, dropout, rows, step, block);
                    gemm_serial(
                        &mut gates[step * width + block * units..],
                        steps * width,
                        true,
                        rows_of(&dropped, rows, units, units),
                        self.kernel_columns(self.block(block)),
                    );
                }
                if cell == RnnCell::Gru && !reset_before {
                    self.dropped_state(&mut dropped, h_prev, dropout, rows, step, 2);
                    gemm_serial(
                        &mut extra[step * units..],
                        steps * units,
                        false,
                        rows_of(&dropped, rows, units, units),
                        self.kernel_columns(2 * units..width),
                    );
                }
            }
            for b in 0..rows {
                let at = b * steps + step;
                let (done, rest) = out.split_at_mut(at * out_width);
                let out_row = &mut rest[..out_width];
                if !runs(step_mask, at) {
                    // Keras's masked step: the states carry over and the output is the
                    // carried h.
                    if step == 0 {
                        out_row[..units].copy_from_slice(&h0[b * units..][..units]);
                        if cell == RnnCell::Lstm {
                            out_row[units..].copy_from_slice(&c0[b * units..][..units]);
                        }
                    } else {
                        out_row.copy_from_slice(&done[(at - 1) * out_width..][..out_width]);
                    }
                    if step + 1 < steps {
                        h_prev[(at + 1) * units..][..units].copy_from_slice(&out_row[..units]);
                    }
                    continue;
                }
                let z = &mut gates[at * width..][..width];
                let (h_out, c_out) = out_row.split_at_mut(units);
                match cell {
                    RnnCell::Simple => {
                        if let Some(bias) = self.recurrent_bias {
                            update1(z, bias, |v, b| v + b);
                        }
                        activate(activation, z);
                        h_out.copy_from_slice(z);
                    }
                    RnnCell::Lstm => {
                        if let Some(bias) = self.recurrent_bias {
                            update1(z, bias, |v, b| v + b);
                        }
                        let (i, rest) = z.split_at_mut(units);
                        let (f, rest) = rest.split_at_mut(units);
                        let (g, o) = rest.split_at_mut(units);
                        activate(ract, i);
                        activate(ract, f);
                        activate(activation, g);
                        activate(ract, o);
                        let c_prev = if step == 0 {
                            &c0[b * units..][..units]
                        } else {
                            &done[(at - 1) * out_width + units..][..units]
                        };
                        let c_act = &mut extra[at * units..][..units];
                        map4(c_out, f, c_prev, i, g, |f, c, i, g| f * c + i * g);
                        c_act.copy_from_slice(c_out);
                        activate(activation, c_act);
                        map2(h_out, o, c_act, |o, a| o * a);
                    }
                    RnnCell::Gru if reset_before => {
                        let zr = &mut z[..2 * units];
                        activate(ract, zr);
                        let reset = &zr[units..];
                        let hp = &h_prev[at * units..][..units];
                        let rh = &mut extra[at * units..][..units];
                        if dropout.is_empty() {
                            map2(rh, reset, hp, |r, h| r * h);
                        } else {
                            let m = &dropout[(b * gate_count + 2) * units..];
                            map3(rh, reset, hp, m, |r, h, m| r * h * m);
                        }
                        // The candidate needs (r h̃) U_h: one GEMM for all rows, below.
                        continue;
                    }
                    RnnCell::Gru => {
                        let m = &mut extra[at * units..][..units];
                        let (zr, candidate) = z.split_at_mut(2 * units);
                        if let Some(bias) = self.recurrent_bias {
                            update1(zr, bias, |v, b| v + b);
                            update1(m, &bias[2 * units..], |v, b| v + b);
                        }
                        activate(ract, zr);
                        let (update, reset) = zr.split_at(units);
                        update2(candidate, reset, m, |x, r, m| x + r * m);
                        activate(activation, candidate);
                        let hp = &h_prev[at * units..][..units];
                        map3(h_out, update, hp, candidate, |z, h, c| {
                            z * h + (F::one() - z) * c
                        });
                    }
                }
                if step + 1 < steps {
                    h_prev[(at + 1) * units..][..units].copy_from_slice(h_out);
                }
            }
            if reset_before {
                gemm_packed(
                    &mut gates[step * width + 2 * units..],
                    steps * width,
                    true,
                    rows_of(&extra[step * units..], rows, units, steps * units),
                    &self.candidate_rhs,
                );
                for b in 0..rows {
                    let at = b * steps + step;
                    if !runs(step_mask, at) {
                        continue;
                    }
                    let (zr, candidate) = gates[at * width..][..width].split_at_mut(2 * units);
                    activate(activation, candidate);
                    let h_out = &mut out[at * out_width..][..units];
                    let hp = &h_prev[at * units..][..units];
                    map3(h_out, &zr[..units], hp, candidate, |z, h, c| {
                        z * h + (F::one() - z) * c
                    });
                    if step + 1 < steps {
                        h_prev[(at + 1) * units..][..units].copy_from_slice(h_out);
                    }
                }
            }
        }
    }
}

impl<F: Element> Recurrence<'_, F> {
    /// [`Self::forward_chunk`] compiled for AVX2 + FMA when the CPU has them (see
    /// [`with_simd`]: the wheel targets baseline x86-64).
    fn forward(&self, chunk: ForwardChunk<'_, F>) {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: the CPU has the features the copy is compiled for.
            return unsafe { self.forward_avx2(chunk) };
        }
        self.forward_chunk(chunk)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(&self, chunk: ForwardChunk<'_, F>) {
        self.forward_chunk(chunk)
    }

    /// [`Self::backward_chunk`], dispatched as [`Self::forward`].
    fn backward(&self, chunk: BackwardChunk<'_, F>) -> WeightGrads<F> {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: the CPU has the features the copy is compiled for.
            return unsafe { self.backward_avx2(chunk) };
        }
        self.backward_chunk(chunk)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn backward_avx2(&self, chunk: BackwardChunk<'_, F>) -> WeightGrads<F> {
        self.backward_chunk(chunk)
    }
}

/// One chunk of batch rows of every backward buffer.
struct BackwardChunk<'a, F> {
    rows: usize,
    /// `(rows, steps, states * units)`: the gradient of the output.
    grad: &'a [F],
    c0: &'a [F],
    step_mask: &'a [bool],
    dropout: &'a [F],
    gates: &'a [F],
    extra: &'a [F],
    h_prev: &'a [F],
    out: &'a [F],
    /// `(rows, steps, width)`, written: the gradient of the projected input, processing order
    /// (for the gate blocks that add `h_prev U` directly, also the gradient of that product);
    /// zero at masked steps.
    d_input: &'a mut [F],
    /// `(rows, steps, units)`, written for the GRU: the gradient of `m_h` (reset after) or of
    /// `r ⊙ h̃` (reset before).
    d_m: &'a mut [F],
    /// `(rows, units)`, written: the gradients of the initial states.
    d_h0: &'a mut [F],
    d_c0: &'a mut [F],
}

/// A chunk's share of the weight gradients: summed over chunks by the caller.
struct WeightGrads<F> {
    kernel: Vec<F>,
    bias: Vec<F>,
}

impl<F: Element> Recurrence<'_, F> {
    /// Backpropagation through time for one chunk of rows, then this chunk's part of `dU`
    /// (one GEMM over all its steps per block) and of the recurrent bias's gradient.
    #[inline(always)]
    fn backward_chunk(&self, chunk: BackwardChunk<'_, F>) -> WeightGrads<F> {
        let BackwardChunk {
            rows,
            grad,
            c0,
            step_mask,
            dropout,
            gates,
            extra,
            h_prev,
            out,
            d_input,
            d_m,
            d_h0,
            d_c0,
        } = chunk;
        let (steps, units, width) = (self.steps, self.units, self.width);
        let out_width = self.out_width();
        let RnnSpec {
            cell,
            activation,
            recurrent_activation: ract,
            ..
        } = self.spec;
        let reset_before = self.spec.reset_before();
        let direct = self.spec.direct_blocks();
        let gate_count = cell.gates();
        // d_h0/d_c0 carry dh/dc from step to step and end as the initial states' gradients.
        let dh_next = d_h0;
        let dc_next = d_c0;
        dh_next.fill(F::zero());
        dc_next.fill(F::zero());
        let mut dh_rows = vec![F::zero(); rows * units];
        let mut scratch = vec![F::zero(); units];
        // One gate block's `dZ_k U_kᵀ` under recurrent dropout, before its mask.
        let mut product = if dropout.is_empty() {
            Vec::new()
        } else {
            vec![F::zero(); rows * units]
        };
        for step in (0..steps).rev() {
            for b in 0..rows {
                let at = b * steps + step;
                let grad_row = &grad[at * out_width..][..out_width];
                let dh = &mut dh_rows[b * units..][..units];
                map2(dh, grad_row, &dh_next[b * units..], |g, d| g + d);
                if !runs(step_mask, at) {
                    // A masked step hands the states' gradients straight back; its input and
                    // gates get none.
                    if cell == RnnCell::Lstm {
                        update1(
                            &mut dc_next[b * units..][..units],
                            &grad_row[units..],
                            |c, g| c + g,
                        );
                    }
                    continue;
                }
                let gate = &gates[at * width..][..width];
                let dz = &mut d_input[at * width..][..width];
                match cell {
                    RnnCell::Simple => {
                        dz.copy_from_slice(dh);
                        times_derivative(activation, dz, gate);
                    }
                    RnnCell::Lstm => {
                        let (i, f, g, o) = (
                            &gate[..units],
                            &gate[units..2 * units],
                            &gate[2 * units..3 * units],
                            &gate[3 * units..],
                        );
                        let c_act = &extra[at * units..][..units];
                        let c_prev = if step == 0 {
                            &c0[b * units..][..units]
                        } else {
                            &out[(at - 1) * out_width + units..][..units]
                        };
                        let dc_carry = &mut dc_next[b * units..][..units];
                        // dc = ∂L/∂c_t + dc_{t+1} f_{t+1} (carried) + dh o act'(c).
                        let dc = &mut scratch[..];
                        map2(dc, dh, o, |d, o| d * o);
                        times_derivative(activation, dc, c_act);
                        update2(dc, &grad_row[units..], dc_carry, |d, g, c| d + g + c);
                        let (dz_i, rest) = dz.split_at_mut(units);
                        let (dz_f, rest) = rest.split_at_mut(units);
                        let (dz_g, dz_o) = rest.split_at_mut(units);
                        map2(dz_i, dc, g, |d, g| d * g);
                        map2(dz_f, dc, c_prev, |d, c| d * c);
                        map2(dz_g, dc, i, |d, i| d * i);
                        map2(dz_o, dh, c_act, |d, a| d * a);
                        map2(dc_carry, dc, f, |d, f| d * f);
                        times_derivative(ract, dz_i, i);
                        times_derivative(ract, dz_f, f);
                        times_derivative(activation, dz_g, g);
                        times_derivative(ract, dz_o, o);
                    }
                    RnnCell::Gru => {
                        let (update, reset, candidate) =
                            (&gate[..units], &gate[units..2 * units], &gate[2 * units..]);
                        let hp = &h_prev[at * units..][..units];
                        let (dz_zr, dz_h) = dz.split_at_mut(2 * units);
                        let (dz_z, dz_r) = dz_zr.split_at_mut(units);
                        // h = z h_prev + (1 - z) ĥ, ĥ = act(x_h + r m) or act(x_h + (r h̃) U_h).
                        map2(dz_h, dh, update, |d, z| d * (F::one() - z));
                        map3(dz_z, dh, hp, candidate, |d, h, c| d * (h - c));
                        times_derivative(activation, dz_h, candidate);
                        times_derivative(ract, dz_z, update);
                        if !reset_before {
                            let m = &extra[at * units..][..units];
                            let dm = &mut d_m[at * units..][..units];
                            map2(dz_r, dz_h, m, |d, m| d * m);
                            map2(dm, dz_h, reset, |d, r| d * r);
                            times_derivative(ract, dz_r, reset);
                        }
                        // Reset before: dz_r needs d(r h̃) = dz_h U_hᵀ, one GEMM below.
                    }
                }
            }
            if reset_before {
                gemm_packed(
                    &mut d_m[step * units..],
                    steps * units,
                    false,
                    rows_of(
                        &d_input[step * width + 2 * units..],
                        rows,
                        units,
                        steps * width,
                    ),
                    &self.candidate_rhs,
                );
                for b in 0..rows {
                    let at = b * steps + step;
                    if !runs(step_mask, at) {
                        continue;
                    }
                    let reset = &gates[at * width + units..][..units];
                    let hp = &h_prev[at * units..][..units];
                    let d_rh = &d_m[at * units..][..units];
                    let dz_r = &mut d_input[at * width + units..][..units];
                    // d r = d(r h̃) ⊙ h̃, with h̃ = h_prev (⊙ m_h).
                    map2(dz_r, d_rh, hp, |d, h| d * h);
                    if !dropout.is_empty() {
                        update1(dz_r, &dropout[(b * gate_count + 2) * units..], |d, m| d * m);
                    }
                    times_derivative(ract, dz_r, reset);
                }
            }
            // dh_prev = Σ_k (dZ_k U_kᵀ) (⊙ m_k), plus the GRU's direct paths.
            if dropout.is_empty() {
                gemm_packed(
                    dh_next,
                    units,
                    false,
                    rows_of(
                        &d_input[step * width..],
                        rows,
                        direct * units,
                        steps * width,
                    ),
                    &self.direct_rhs,
                );
                if cell == RnnCell::Gru && !reset_before {
                    gemm_packed(
                        dh_next,
                        units,
                        true,
                        rows_of(&d_m[step * units..], rows, units, steps * units),
                        &self.candidate_rhs,
                    );
                }
            } else {
                dh_next.fill(F::zero());
                for block in 0..direct {
                    gemm_serial(
                        &mut product,
                        units,
                        false,
                        rows_of(
                            &d_input[step * width + block * units..],
                            rows,
                            units,
                            steps * width,
                        ),
                        self.kernel_transposed_rows(self.block(block)),
                    );
                    self.add_dropped(dh_next, &product, dropout, rows, block);
                }
                if cell == RnnCell::Gru && !reset_before {
                    gemm_serial(
                        &mut product,
                        units,
                        false,
                        rows_of(&d_m[step * units..], rows, units, steps * units),
                        self.kernel_transposed_rows(2 * units..width),
                    );
                    self.add_dropped(dh_next, &product, dropout, rows, 2);
                }
            }
            if cell == RnnCell::Gru {
                for b in 0..rows {
                    let at = b * steps + step;
                    if !runs(step_mask, at) {
                        continue;
                    }
                    let update = &gates[at * width..][..units];
                    let dh = &dh_rows[b * units..][..units];
                    let d = &mut dh_next[b * units..][..units];
                    update2(d, dh, update, |x, d, z| x + d * z);
                    if reset_before {
                        let reset = &gates[at * width + units..][..units];
                        let d_rh = &d_m[at * units..][..units];
                        if dropout.is_empty() {
                            update2(d, d_rh, reset, |x, g, r| x + g * r);
                        } else {
                            let m = &dropout[(b * gate_count + 2) * units..];
                            update3(d, d_rh, reset, m, |x, g, r, m| x + g * r * m);
                        }
                    }
                }
            }
            if !step_mask.is_empty() {
                for b in 0..rows {
                    if !step_mask[b * steps + step] {
                        dh_next[b * units..][..units]
                            .copy_from_slice(&dh_rows[b * units..][..units]);
                    }
                }
            }
        }

        // This chunk's dU = H̃ᵀ dZ with all (row, step) pairs stacked: one GEMM per block (per
        // gate block under recurrent dropout, whose H̃ differs per block).
        let all = rows * steps;
        let mut kernel = vec![F::zero(); units * width];
        let mut bias = vec![F::zero(); width];
        if dropout.is_empty() {
            gemm_serial(
                &mut kernel,
                width,
                false,
                transposed(h_prev, all, units),
                rows_of(d_input, all, direct * units, width),
            );
            if cell == RnnCell::Gru && !reset_before {
                gemm_serial(
                    &mut kernel[2 * units..],
                    width,
                    false,
                    transposed(h_prev, all, units),
                    rows_of(d_m, all, units, units),
                );
            }
        } else {
            let mut dropped_states = vec![F::zero(); all * units];
            let candidate_reads_h = cell == RnnCell::Gru && !reset_before;
            for block in 0..direct + usize::from(candidate_reads_h) {
                for b in 0..rows {
                    let m = &dropout[(b * gate_count + block) * units..][..units];
                    for step in 0..steps {
                        let at = (b * steps + step) * units;
                        map2(
                            &mut dropped_states[at..at + units],
                            &h_prev[at..],
                            m,
                            |h, m| h * m,
                        );
                    }
                }
                let (source, stride) = if block < direct {
                    (&d_input[block * units..], width)
                } else {
                    (&d_m[..], units)
                };
                gemm_serial(
                    &mut kernel[block * units..],
                    width,
                    false,
                    transposed(&dropped_states, all, units),
                    rows_of(source, all, units, stride),
                );
            }
        }
        if reset_before {
            // The candidate block's left operand is r ⊙ h̃, kept in `extra`.
            gemm_serial(
                &mut kernel[2 * units..],
                width,
                false,
                transposed(extra, all, units),
                rows_of(&d_input[2 * units..], all, units, width),
            );
        }
        for row in d_input.chunks_exact(width) {
            bias[..direct * units]
                .iter_mut()
                .zip(&row[..direct * units])
                .for_each(|(s, &v)| *s += v);
        }
        if cell == RnnCell::Gru && !reset_before {
            for row in d_m.chunks_exact(units) {
                bias[2 * units..]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(s, &v)| *s += v);
            }
        }
        WeightGrads { kernel, bias }
    }
}

/// Rows per batch chunk: one chunk per thread, but no chunk under [`MIN_CHUNK_ROWS`] rows and
/// no split at all when the whole op is too small to repay waking the pool.
fn chunk_rows(batch: usize, steps: usize, units: usize, width: usize) -> usize {
    let threads = threads::num_threads();
    if threads <= 1 || batch * steps * units * width < PARALLEL_MIN_FLOPS {
        return batch.max(1);
    }
    batch.div_ceil(threads).max(MIN_CHUNK_ROWS)
}

/// Below this many rows a chunk's GEMMs get too thin to run well.
const MIN_CHUNK_ROWS: usize = 8;
/// Below this many multiply-adds in the whole time loop, run on the calling thread.
const PARALLEL_MIN_FLOPS: usize = 1 << 20;

/// Splits a `(batch, ...)` buffer with `per_row` elements a row into `count` chunks of `rows`
/// rows (the last may be shorter); a buffer the cell does not use (`per_row == 0`) gives
/// `count` empty slices.
fn split_rows<F>(data: &mut [F], per_row: usize, rows: usize, count: usize) -> Vec<&mut [F]> {
    if per_row == 0 {
        return (0..count).map(|_| &mut [][..]).collect();
    }
    data.chunks_mut(per_row * rows).collect()
}

fn slice_of<F>(a: &mut Array3<F>) -> &mut [F] {
    a.as_slice_mut().expect("standard layout")
}

fn slice_ref<F>(a: &Array3<F>) -> &[F] {
    a.as_slice().expect("standard layout")
}

/// [`split_rows`] for a read-only buffer.
fn split_rows_ref<F>(data: &[F], per_row: usize, rows: usize, count: usize) -> Vec<&[F]> {
    if per_row == 0 || data.is_empty() {
        return vec![&[][..]; count];
    }
    data.chunks(per_row * rows).collect()
}

/// The step mask as booleans in processing order, `(batch, steps)`; empty without a mask.
fn step_mask_in_order(mask: Option<&Tensor>, go_backwards: bool) -> Vec<bool> {
    let Some(mask) = mask else {
        return Vec::new();
    };
    let values = mask.to_f64();
    let values = if go_backwards {
        values.slice(s![.., ..;-1]).to_owned().into_dyn()
    } else {
        values
    };
    values
        .as_standard_layout()
        .iter()
        .map(|&v| v != 0.0)
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn rnn_typed<F: Element>(
    spec: RnnSpec,
    x_proj: &Tensor,
    recurrent_kernel: &Tensor,
    h0: &Tensor,
    c0: Option<&Tensor>,
    recurrent_bias: Option<&Tensor>,
    masks: RnnMasks<'_>,
    rows_per_chunk: Option<usize>,
) -> Result<Tensor> {
    let xp = x_proj
        .array::<F>()?
        .into_dimensionality::<Ix3>()
        .expect("checked rank 3");
    let (batch, steps, width) = xp.dim();
    let units = recurrent_kernel.shape()[0];
    let cell = spec.cell;
    let contiguous = |t: &Tensor| -> Result<Vec<F>> {
        let a = t.array::<F>()?;
        Ok(match a.as_slice() {
            Some(values) => values.to_vec(),
            None => a.as_standard_layout().iter().copied().collect(),
        })
    };
    let kernel = contiguous(recurrent_kernel)?;
    let h0a = contiguous(h0)?;
    let c0a = c0.map(contiguous).transpose()?.unwrap_or_default();
    let bias = recurrent_bias.map(contiguous).transpose()?;
    let step_mask = step_mask_in_order(masks.step_mask, spec.go_backwards);
    let dropout = masks
        .recurrent_dropout
        .map(contiguous)
        .transpose()?
        .unwrap_or_default();
    let rows = rows_per_chunk.unwrap_or_else(|| chunk_rows(batch, steps, units, width));
    let rows = rows.clamp(1, batch.max(1));
    let chunk_count = batch.div_ceil(rows);

    // The projected inputs in processing order become the gates buffer, in place. The buffers
    // are made on the pool (see `buffers`): filled serially they cost ~3% of an LSTM step.
    let mut gates = if spec.go_backwards {
        xp.slice(s![.., ..;-1, ..])
            .as_standard_layout()
            .into_owned()
    } else if let Some(values) = xp.as_slice() {
        Array3::from_shape_vec(xp.dim(), buffers::copied(values)).expect("same size")
    } else {
        xp.as_standard_layout().into_owned()
    };
    let zeros = |shape: (usize, usize, usize)| {
        Array3::from_shape_vec(
            shape,
            buffers::filled(shape.0 * shape.1 * shape.2, F::zero()),
        )
        .expect("sized for the shape")
    };
    let has_extra = cell != RnnCell::Simple;
    let mut extra = zeros((batch, if has_extra { steps } else { 0 }, units));
    let mut h_prev = zeros((batch, steps, units));
    let out_width = cell.states() * units;
    let mut out = zeros((batch, steps, out_width));
    let dropout_per = cell.gates() * units;
    let recurrence = Recurrence::new(
        spec,
        steps,
        units,
        width,
        &kernel,
        bias.as_deref(),
        Pass::Forward,
        dropout.is_empty(),
    );
    {
        let per_step = if has_extra { steps * units } else { 0 };
        let chunks: Vec<ForwardChunk<'_, F>> =
            split_rows(slice_of(&mut gates), steps * width, rows, chunk_count)
                .into_iter()
                .zip(split_rows(
                    slice_of(&mut extra),
                    per_step,
                    rows,
                    chunk_count,
                ))
                .zip(split_rows(
                    slice_of(&mut h_prev),
                    steps * units,
                    rows,
                    chunk_count,
                ))
                .zip(split_rows(
                    slice_of(&mut out),
                    steps * out_width,
                    rows,
                    chunk_count,
                ))
                .zip(split_rows_ref(&step_mask, steps, rows, chunk_count))
                .zip(split_rows_ref(&dropout, dropout_per, rows, chunk_count))
                .enumerate()
                .map(
                    |(index, (((((gates, extra), h_prev), out), step_mask), dropout))| {
                        let first = index * rows;
                        let count = out.len() / (steps * out_width);
                        let states = first * units..(first + count) * units;
                        ForwardChunk {
                            rows: count,
                            h0: &h0a[states.clone()],
                            c0: if c0a.is_empty() { &[] } else { &c0a[states] },
                            step_mask,
                            dropout,
                            gates,
                            extra,
                            h_prev,
                            out,
                        }
                    },
                )
                .collect();
        run_chunks(chunks, |chunk| recurrence.forward(chunk));
    }
    let out = out.into_dyn().into_shared();

    let mut inputs = vec![x_proj, recurrent_kernel, h0];
    inputs.extend(c0);
    inputs.extend(recurrent_bias);
    let needs: Vec<bool> = inputs.iter().map(|t| t.requires_grad()).collect();
    let has_c0 = c0.is_some();
    let saved_out = out.clone();
    Ok(Tensor::from_op(
        F::wrap(out),
        cell.name(),
        &inputs,
        move || {
            Box::new(move |grad: &Storage| {
                let grad = typed_grad::<F>(cell.name(), grad)?;
                if grad.shape() != saved_out.shape() {
                    return Err(Error::shape(cell.name(), "gradient of an unexpected shape"));
                }
                let grad = grad.as_standard_layout();
                let grad = grad.as_slice().expect("standard layout");
                let recurrence = Recurrence::new(
                    spec,
                    steps,
                    units,
                    width,
                    &kernel,
                    bias.as_deref(),
                    Pass::Backward,
                    dropout.is_empty(),
                );
                let mut d_input = buffers::filled(batch * steps * width, F::zero());
                let d_m_per = if cell == RnnCell::Gru {
                    steps * units
                } else {
                    0
                };
                let mut d_m = vec![F::zero(); batch * d_m_per];
                let mut d_h0 = vec![F::zero(); batch * units];
                let d_c0_per = if cell == RnnCell::Lstm { units } else { 0 };
                let mut d_c0 = vec![F::zero(); batch * d_c0_per];
                let saved_out = saved_out.as_slice().expect("standard layout");
                let extra_per = if has_extra { steps * units } else { 0 };
                let chunks: Vec<BackwardChunk<'_, F>> =
                    split_rows_ref(grad, steps * out_width, rows, chunk_count)
                        .into_iter()
                        .zip(split_rows_ref(&c0a, d_c0_per, rows, chunk_count))
                        .zip(split_rows_ref(&step_mask, steps, rows, chunk_count))
                        .zip(split_rows_ref(&dropout, dropout_per, rows, chunk_count))
                        .zip(split_rows_ref(
                            slice_ref(&gates),
                            steps * width,
                            rows,
                            chunk_count,
                        ))
                        .zip(split_rows_ref(
                            slice_ref(&extra),
                            extra_per,
                            rows,
                            chunk_count,
                        ))
                        .zip(split_rows_ref(
                            slice_ref(&h_prev),
                            steps * units,
                            rows,
                            chunk_count,
                        ))
                        .zip(split_rows_ref(
                            saved_out,
                            steps * out_width,
                            rows,
                            chunk_count,
                        ))
                        .zip(split_rows(&mut d_input, steps * width, rows, chunk_count))
                        .zip(split_rows(&mut d_m, d_m_per, rows, chunk_count))
                        .zip(split_rows(&mut d_h0, units, rows, chunk_count))
                        .zip(split_rows(&mut d_c0, d_c0_per, rows, chunk_count))
                        .map(
                            |(
                                (
                                    (
                                        (
                                            (
                                                (
                                                    (
                                                        ((((grad, c0), step_mask), dropout), gates),
                                                        extra,
                                                    ),
                                                    h_prev,
                                                ),
                                                out,
                                            ),
                                            d_input,
                                        ),
                                        d_m,
                                    ),
                                    d_h0,
                                ),
                                d_c0,
                            )| {
                                BackwardChunk {
                                    rows: d_h0.len() / units,
                                    grad,
                                    c0,
                                    step_mask,
                                    dropout,
                                    gates,
                                    extra,
                                    h_prev,
                                    out,
                                    d_input,
                                    d_m,
                                    d_h0,
                                    d_c0,
                                }
                            },
                        )
                        .collect();
                let parts = run_chunks(chunks, |chunk| recurrence.backward(chunk));
                let mut weight_grads = WeightGrads {
                    kernel: vec![F::zero(); units * width],
                    bias: vec![F::zero(); width],
                };
                for part in parts {
                    weight_grads
                        .kernel
                        .iter_mut()
                        .zip(&part.kernel)
                        .for_each(|(s, &v)| *s += v);
                    weight_grads
                        .bias
                        .iter_mut()
                        .zip(&part.bias)
                        .for_each(|(s, &v)| *s += v);
                }

                let as_array = |shape: &[usize], data: Vec<F>| {
                    ArrayD::from_shape_vec(IxDyn(shape), data).expect("sizes match")
                };
                let mut grads = Vec::with_capacity(needs.len());
                grads.push(needs[0].then(|| {
                    let d_input = as_array(&[batch, steps, width], d_input);
                    if spec.go_backwards {
                        // Back to the input's time order.
                        Storage::from_array(
                            d_input
                                .slice(s![.., ..;-1, ..])
                                .as_standard_layout()
                                .into_owned()
                                .into_dyn(),
                        )
                    } else {
                        Storage::from_array(d_input)
                    }
                }));
                grads.push(
                    needs[1].then(|| {
                        Storage::from_array(as_array(&[units, width], weight_grads.kernel))
                    }),
                );
                grads.push(needs[2].then(|| Storage::from_array(as_array(&[batch, units], d_h0))));
                let mut next = 3;
                if has_c0 {
                    grads.push(
                        needs[next].then(|| Storage::from_array(as_array(&[batch, units], d_c0))),
                    );
                    next += 1;
                }
                if next < needs.len() {
                    grads.push(
                        needs[next]
                            .then(|| Storage::from_array(as_array(&[width], weight_grads.bias))),
                    );
                }
                Ok(grads)
            })
        },
    ))
}

/// Runs one closure per chunk, in parallel on the pool when there is more than one chunk.
fn run_chunks<C: Send, R: Send>(chunks: Vec<C>, work: impl Fn(C) -> R + Sync) -> Vec<R> {
    if chunks.len() <= 1 {
        return chunks.into_iter().map(work).collect();
    }
    threads::install(|| chunks.into_par_iter().map(&work).collect())
}

impl Tensor {
    /// Runs a recurrent cell over `self`, the projected inputs `(batch, time, gates * units)`
    /// (`x @ kernel + bias` for all steps at once), with `recurrent_kernel` `(units, gates *
    /// units)`, initial state `initial_h` `(batch, units)` (and `initial_c` for the LSTM) and,
    /// for the GRU with `reset_after`, the recurrent bias `(3 * units,)`. Returns `(batch,
    /// time, states * units)`: every step's `h` (and the LSTM's `c` after it), in processing
    /// order.
    pub fn rnn_sequence(
        &self,
        recurrent_kernel: &Tensor,
        initial_h: &Tensor,
        initial_c: Option<&Tensor>,
        recurrent_bias: Option<&Tensor>,
        spec: RnnSpec,
    ) -> Result<Tensor> {
        self.rnn_sequence_masked(
            recurrent_kernel,
            initial_h,
            initial_c,
            recurrent_bias,
            spec,
            RnnMasks::default(),
        )
    }

    /// [`Tensor::rnn_sequence`] with a step mask and recurrent dropout masks ([`RnnMasks`]).
    pub fn rnn_sequence_masked(
        &self,
        recurrent_kernel: &Tensor,
        initial_h: &Tensor,
        initial_c: Option<&Tensor>,
        recurrent_bias: Option<&Tensor>,
        spec: RnnSpec,
        masks: RnnMasks<'_>,
    ) -> Result<Tensor> {
        let op = spec.cell.name();
        let (xs, ks) = (self.shape(), recurrent_kernel.shape());
        let gates = spec.cell.gates();
        if ks.len() != 2 || ks[1] != gates * ks[0] {
            return Err(Error::shape(
                op,
                format!("recurrent kernel of shape {ks:?} is not (units, {gates} * units)"),
            ));
        }
        let units = ks[0];
        if xs.len() != 3 || xs[2] != ks[1] {
            return Err(Error::shape(
                op,
                format!(
                    "projected input of shape {xs:?} is not (batch, time, {})",
                    ks[1]
                ),
            ));
        }
        if xs[1] == 0 {
            return Err(Error::shape(op, "the sequence has no time steps"));
        }
        let (batch, steps) = (xs[0], xs[1]);
        let state_shape = [batch, units];
        for (name, state) in [("h", Some(initial_h)), ("c", initial_c)] {
            if let Some(state) = state {
                if state.shape() != state_shape {
                    return Err(Error::shape(
                        op,
                        format!(
                            "initial state {name} of shape {:?} does not fit: it needs {state_shape:?} (batch, units)",
                            state.shape()
                        ),
                    ));
                }
            }
        }
        if (spec.cell == RnnCell::Lstm) != initial_c.is_some() {
            return Err(Error::argument(
                op,
                "an initial cell state c is given exactly for the LSTM",
            ));
        }
        if let Some(b) = recurrent_bias {
            if spec.reset_before() {
                return Err(Error::argument(
                    op,
                    "a GRU with reset_after=False has no recurrent bias (its bias is (3 * units,), all on the input side)",
                ));
            }
            if b.shape() != [ks[1]] {
                return Err(Error::shape(
                    op,
                    format!(
                        "recurrent bias of shape {:?} does not fit: it needs ({},)",
                        b.shape(),
                        ks[1]
                    ),
                ));
            }
        }
        if let Some(mask) = masks.step_mask {
            if mask.shape() != [batch, steps] {
                return Err(Error::shape(
                    op,
                    format!(
                        "mask of shape {:?} does not fit inputs of shape {xs:?}: it needs (batch, time) = ({batch}, {steps})",
                        mask.shape()
                    ),
                ));
            }
        }
        if let Some(dropout) = masks.recurrent_dropout {
            if dropout.shape() != [batch, gates, units] {
                return Err(Error::shape(
                    op,
                    format!(
                        "recurrent dropout masks of shape {:?} do not fit: they need (batch, gates, units) = ({batch}, {gates}, {units})",
                        dropout.shape()
                    ),
                ));
            }
        }
        let dtype = self.dtype().promote(recurrent_kernel.dtype());
        let x = self.cast(dtype)?;
        let k = recurrent_kernel.cast(dtype)?;
        let h = initial_h.cast(dtype)?;
        let c = initial_c.map(|c| c.cast(dtype)).transpose()?;
        let b = recurrent_bias.map(|b| b.cast(dtype)).transpose()?;
        let dropout = masks.recurrent_dropout.map(|d| d.cast(dtype)).transpose()?;
        let masks = RnnMasks {
            step_mask: masks.step_mask,
            recurrent_dropout: dropout.as_ref(),
        };
        match dtype {
            DType::F32 => rnn_typed::<f32>(spec, &x, &k, &h, c.as_ref(), b.as_ref(), masks, None),
            DType::F64 => rnn_typed::<f64>(spec, &x, &k, &h, c.as_ref(), b.as_ref(), masks, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn spec(cell: RnnCell) -> RnnSpec {
        RnnSpec::new(cell)
    }

    /// What a test runs besides the plain recurrence.
    #[derive(Clone, Copy, Default)]
    struct Variant {
        go_backwards: bool,
        /// GRU with `reset_after=False`.
        reset_before: bool,
        /// A step mask with a step masked in the middle of row 0, the first and last steps
        /// of row 1, and every step of row 2.
        masked: bool,
        /// Recurrent dropout masks with zeros and scaled ones.
        dropout: bool,
    }

    const BATCH: usize = 3;
    const STEPS: usize = 4;

    fn step_mask() -> Tensor {
        t64(
            &[BATCH, STEPS],
            &[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        )
    }

    fn dropout_masks(cell: RnnCell, units: usize) -> Tensor {
        let n = BATCH * cell.gates() * units;
        let v: Vec<f64> = (0..n).map(|i| if i % 3 == 1 { 0.0 } else { 1.5 }).collect();
        t64(&[BATCH, cell.gates(), units], &v)
    }

    fn filled(shape: &[usize], seed: f64, requires_grad: bool) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|i| ((i as f64 + 1.0) * seed).sin() * 0.8)
            .collect();
        if requires_grad {
            var64(shape, &v)
        } else {
            t64(shape, &v)
        }
    }

    /// Every input's gradient against central differences of `sum(out * weights)`.
    fn check_gradients(cell: RnnCell, variant: Variant) {
        let (batch, steps, units) = (BATCH, STEPS, 3);
        let width = cell.gates() * units;
        let x = filled(&[batch, steps, width], 0.37, true);
        let k = filled(&[units, width], 0.91, true);
        let h0 = filled(&[batch, units], 1.3, true);
        let c0 = (cell == RnnCell::Lstm).then(|| filled(&[batch, units], 2.1, true));
        let b =
            (cell == RnnCell::Gru && !variant.reset_before).then(|| filled(&[width], 0.53, true));
        let spec = RnnSpec {
            go_backwards: variant.go_backwards,
            reset_after: !variant.reset_before,
            ..spec(cell)
        };
        let mask = variant.masked.then(step_mask);
        let dropout = variant.dropout.then(|| dropout_masks(cell, units));
        let masks = RnnMasks {
            step_mask: mask.as_ref(),
            recurrent_dropout: dropout.as_ref(),
        };
        let out_width = cell.states() * units;
        let weights = filled(&[batch, steps, out_width], 0.77, false);
        let mut params = vec![x.clone(), k.clone(), h0.clone()];
        params.extend(c0.clone());
        params.extend(b.clone());
        let loss = |p: &[Tensor]| {
            let (c, b) = match cell {
                RnnCell::Lstm => (Some(&p[3]), None),
                _ => (None, p.get(3)),
            };
            p[0].rnn_sequence_masked(&p[1], &p[2], c, b, spec, masks)
                .unwrap()
                .mul(&weights)
                .unwrap()
                .sum(None, false)
                .unwrap()
        };
        let grads =
            crate::autodiff::grad(&loss(&params), &params, None, Default::default()).unwrap();
        let eps = 1e-6;
        for (index, param) in params.iter().enumerate() {
            let base = values(param);
            let analytic = values(grads[index].as_ref().unwrap());
            let mut numeric = Vec::new();
            for e in 0..base.len() {
                let at = |delta: f64| {
                    let mut v = base.clone();
                    v[e] += delta;
                    let mut p = params.clone();
                    p[index] = t64(&param.shape(), &v);
                    loss(&p).item().unwrap()
                };
                numeric.push((at(eps) - at(-eps)) / (2.0 * eps));
            }
            assert_close(&analytic, &numeric, 1e-6);
        }
    }

    /// Every combination of direction, step mask and recurrent dropout for `cell` (and both
    /// GRU forms).
    fn variants(cell: RnnCell) -> Vec<Variant> {
        let mut out = Vec::new();
        let forms: &[bool] = if cell == RnnCell::Gru {
            &[false, true]
        } else {
            &[false]
        };
        for &reset_before in forms {
            for go_backwards in [false, true] {
                for masked in [false, true] {
                    for dropout in [false, true] {
                        out.push(Variant {
                            go_backwards,
                            reset_before,
                            masked,
                            dropout,
                        });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn recurrent_simple_gradients_match_finite_differences() {
        for variant in variants(RnnCell::Simple) {
            check_gradients(RnnCell::Simple, variant);
        }
    }

    #[test]
    fn recurrent_lstm_gradients_match_finite_differences() {
        for variant in variants(RnnCell::Lstm) {
            check_gradients(RnnCell::Lstm, variant);
        }
    }

    #[test]
    fn recurrent_gru_gradients_match_finite_differences() {
        for variant in variants(RnnCell::Gru) {
            check_gradients(RnnCell::Gru, variant);
        }
    }

    /// Output and every gradient with the batch split into chunks of `rows` rows.
    fn run_in_chunks(cell: RnnCell, variant: Variant, rows: usize) -> Vec<Vec<f64>> {
        let (batch, steps, units) = (5, 3, 4);
        let width = cell.gates() * units;
        let mut params = vec![
            filled(&[batch, steps, width], 0.29, true),
            filled(&[units, width], 0.61, true),
            filled(&[batch, units], 1.7, true),
        ];
        if cell == RnnCell::Lstm {
            params.push(filled(&[batch, units], 2.3, true));
        }
        if !variant.reset_before {
            params.push(filled(&[width], 0.43, true));
        }
        let (c0, bias) = match cell {
            RnnCell::Lstm => (Some(&params[3]), params.get(4)),
            _ => (None, params.get(3)),
        };
        let spec = RnnSpec {
            go_backwards: variant.go_backwards,
            reset_after: !variant.reset_before,
            ..spec(cell)
        };
        let mask = variant.masked.then(|| {
            t64(
                &[batch, steps],
                &[1., 0., 1., 0., 0., 0., 1., 1., 0., 0., 1., 1., 1., 1., 1.],
            )
        });
        let dropout = variant.dropout.then(|| {
            let v: Vec<f64> = (0..batch * width)
                .map(|i| if i % 4 == 2 { 0.0 } else { 4.0 / 3.0 })
                .collect();
            t64(&[batch, cell.gates(), units], &v)
        });
        let masks = RnnMasks {
            step_mask: mask.as_ref(),
            recurrent_dropout: dropout.as_ref(),
        };
        let out = rnn_typed::<f64>(
            spec,
            &params[0],
            &params[1],
            &params[2],
            c0,
            bias,
            masks,
            Some(rows),
        )
        .unwrap();
        let weights = filled(&out.shape(), 0.83, false);
        let loss = out.mul(&weights).unwrap().sum(None, false).unwrap();
        let grads = crate::autodiff::grad(&loss, &params, None, Default::default()).unwrap();
        let mut all = vec![values(&out)];
        all.extend(grads.iter().map(|g| values(g.as_ref().unwrap())));
        all
    }

    #[test]
    fn recurrent_batch_chunks_change_nothing() {
        // Chunks run on different threads; rows never interact, and the weight gradients are
        // the sum of the chunks' parts.
        for cell in [RnnCell::Simple, RnnCell::Lstm, RnnCell::Gru] {
            for variant in variants(cell) {
                let whole = run_in_chunks(cell, variant, 5);
                for rows in [1, 2, 3] {
                    for (a, b) in whole.iter().zip(run_in_chunks(cell, variant, rows)) {
                        assert_close(a, &b, 1e-12);
                    }
                }
            }
        }
    }

    #[test]
    fn recurrent_masked_steps_carry_the_state_and_output() {
        // Keras's backend.rnn with zero_output_for_mask=False: a masked step repeats the
        // previous output and states; a row masked throughout keeps its initial state.
        for cell in [RnnCell::Simple, RnnCell::Lstm, RnnCell::Gru] {
            let units = 2;
            let width = cell.gates() * units;
            let x = filled(&[BATCH, STEPS, width], 0.41, false);
            let k = filled(&[units, width], 0.73, false);
            let h0 = filled(&[BATCH, units], 1.1, false);
            let c0 = (cell == RnnCell::Lstm).then(|| filled(&[BATCH, units], 1.9, false));
            let mask = step_mask();
            let masks = RnnMasks {
                step_mask: Some(&mask),
                recurrent_dropout: None,
            };
            let out = x
                .rnn_sequence_masked(&k, &h0, c0.as_ref(), None, spec(cell), masks)
                .unwrap();
            let out = values(&out);
            let row_width = STEPS * cell.states() * units;
            let step = |b: usize, t: usize| {
                let at = b * row_width + t * cell.states() * units;
                out[at..at + cell.states() * units].to_vec()
            };
            let mut initial = values(&h0)[..units].to_vec();
            if let Some(c0) = &c0 {
                initial.extend(&values(c0)[..units]);
            }
            assert_eq!(step(0, 1), step(0, 0));
            assert_ne!(step(0, 2), step(0, 1));
            let mut row1_initial = values(&h0)[units..2 * units].to_vec();
            if let Some(c0) = &c0 {
                row1_initial.extend(&values(c0)[units..2 * units]);
            }
            assert_eq!(step(1, 0), row1_initial);
            assert_eq!(step(1, 3), step(1, 2));
            let mut row2_initial = values(&h0)[2 * units..3 * units].to_vec();
            if let Some(c0) = &c0 {
                row2_initial.extend(&values(c0)[2 * units..3 * units]);
            }
            for t in 0..STEPS {
                assert_eq!(step(2, t), row2_initial);
            }
            assert_ne!(step(0, 0), initial);
        }
    }

    #[test]
    fn recurrent_mask_and_dropout_shapes_are_checked() {
        let x = t64(&[2, 3, 1], &[0.0; 6]);
        let k = t64(&[1, 1], &[0.0]);
        let h0 = t64(&[2, 1], &[0.0; 2]);
        let bad_mask = t64(&[2, 4], &[1.0; 8]);
        let masks = RnnMasks {
            step_mask: Some(&bad_mask),
            recurrent_dropout: None,
        };
        let err = x
            .rnn_sequence_masked(&k, &h0, None, None, spec(RnnCell::Simple), masks)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[2, 4]") && err.contains("(2, 3)"), "{err}");
        let bad_dropout = t64(&[2, 2, 1], &[1.0; 4]);
        let masks = RnnMasks {
            step_mask: None,
            recurrent_dropout: Some(&bad_dropout),
        };
        let err = x
            .rnn_sequence_masked(&k, &h0, None, None, spec(RnnCell::Simple), masks)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(2, 1, 1)"), "{err}");
    }

    #[test]
    fn recurrent_simple_forward_is_the_textbook_recurrence() {
        // h1 = tanh(x0 + h0 u), h2 = tanh(x1 + h1 u), one unit, one sample.
        let x = t64(&[1, 2, 1], &[0.5, -0.25]);
        let k = t64(&[1, 1], &[0.8]);
        let h0 = t64(&[1, 1], &[0.1]);
        let out = x
            .rnn_sequence(&k, &h0, None, None, spec(RnnCell::Simple))
            .unwrap();
        let h1 = (0.5f64 + 0.08).tanh();
        let h2 = (-0.25 + 0.8 * h1).tanh();
        assert_close(&values(&out), &[h1, h2], 1e-12);
    }

    #[test]
    fn recurrent_shapes_are_checked() {
        let x = t64(&[1, 2, 3], &[0.0; 6]);
        let k = t64(&[1, 1], &[0.0]);
        let h0 = t64(&[1, 1], &[0.0]);
        let err = x
            .rnn_sequence(&k, &h0, None, None, spec(RnnCell::Simple))
            .unwrap_err();
        assert!(err.to_string().contains("(batch, time, 1)"), "{err}");
    }
}
