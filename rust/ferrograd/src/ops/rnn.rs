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
//!
//! The output packs every step's state in processing order: `(batch, time, states * units)`
//! with `h` first and, for the LSTM, `c` after it; the layer slices what it returns.

use ndarray::{s, Array3, ArrayD, Ix3, IxDyn};
use rayon::prelude::*;

use super::fast_math::{sigmoid, simd_available, tanh};
use super::matmul::{gemm_serial, StridedMatrix};
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
    /// Keras's `GRU` with `reset_after=True`: gates z, r, h; the recurrent bias is separate.
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
}

/// One chunk of batch rows of every forward buffer; rows never interact in the recurrence, so
/// chunks run on different threads without synchronising between steps.
struct ForwardChunk<'a, F> {
    rows: usize,
    /// `(rows, units)` initial states.
    h0: &'a [F],
    c0: &'a [F],
    /// `(rows, steps, width)`: the projected inputs in processing order on entry; the gate
    /// activations on exit (LSTM i, f, g, o; GRU z, r, ĥ; SimpleRNN h).
    gates: &'a mut [F],
    /// `(rows, steps, units)`: LSTM `act(c)`, GRU `m_h = h_prev U_h + b_h`; empty otherwise.
    extra: &'a mut [F],
    /// `(rows, steps, units)`: the state each step started from (the left operand of dU).
    h_prev: &'a mut [F],
    /// `(rows, steps, states * units)`: the op's output.
    out: &'a mut [F],
}

impl<F: Element> Recurrence<'_, F> {
    fn out_width(&self) -> usize {
        self.spec.cell.states() * self.units
    }

    /// Columns `cols` of the recurrent kernel, as the right operand of `h_prev @ U`.
    fn kernel_columns(&self, cols: std::ops::Range<usize>) -> StridedMatrix<'_, F> {
        StridedMatrix {
            data: &self.kernel[cols.start..],
            rows: self.units,
            cols: cols.len(),
            row_stride: self.width,
            col_stride: 1,
        }
    }

    /// Rows `rows` of `Uᵀ` (columns of `U`), as the right operand of `dZ @ Uᵀ`.
    fn kernel_transposed_rows(&self, rows: std::ops::Range<usize>) -> StridedMatrix<'_, F> {
        StridedMatrix {
            data: &self.kernel[rows.start..],
            rows: rows.len(),
            cols: self.units,
            row_stride: 1,
            col_stride: self.width,
        }
    }

    /// The time loop for one chunk of rows: per step one GEMM (two for the GRU, whose
    /// candidate block needs `h_prev U_h` apart) accumulated onto the projected input in place,
    /// then one pass over each row's gates.
    #[inline(always)]
    fn forward_chunk(&self, chunk: ForwardChunk<'_, F>) {
        let ForwardChunk {
            rows,
            h0,
            c0,
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
        for b in 0..rows {
            h_prev[b * steps * units..][..units].copy_from_slice(&h0[b * units..][..units]);
        }
        for step in 0..steps {
            let h_prev_rows = StridedMatrix {
                data: &h_prev[step * units..],
                rows,
                cols: units,
                row_stride: steps * units,
                col_stride: 1,
            };
            match cell {
                RnnCell::Simple | RnnCell::Lstm => gemm_serial(
                    &mut gates[step * width..],
                    steps * width,
                    true,
                    h_prev_rows,
                    self.kernel_columns(0..width),
                ),
                RnnCell::Gru => {
                    gemm_serial(
                        &mut gates[step * width..],
                        steps * width,
                        true,
                        h_prev_rows,
                        self.kernel_columns(0..2 * units),
                    );
                    gemm_serial(
                        &mut extra[step * units..],
                        steps * units,
                        false,
                        h_prev_rows,
                        self.kernel_columns(2 * units..width),
                    );
                }
            }
            for b in 0..rows {
                let at = b * steps + step;
                let z = &mut gates[at * width..][..width];
                let (done, rest) = out.split_at_mut(at * out_width);
                let out_row = &mut rest[..out_width];
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
    gates: &'a [F],
    extra: &'a [F],
    h_prev: &'a [F],
    out: &'a [F],
    /// `(rows, steps, width)`, written: the gradient of the projected input, processing order
    /// (for the LSTM and SimpleRNN also the gradient of `h_prev U`; the GRU's differs in the
    /// candidate block, which goes to `d_m`).
    d_input: &'a mut [F],
    /// `(rows, steps, units)`, written for the GRU: the gradient of `m_h`.
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
    /// (one GEMM over all its steps) and of the recurrent bias's gradient.
    #[inline(always)]
    fn backward_chunk(&self, chunk: BackwardChunk<'_, F>) -> WeightGrads<F> {
        let BackwardChunk {
            rows,
            grad,
            c0,
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
        // d_h0/d_c0 carry dh/dc from step to step and end as the initial states' gradients.
        let dh_next = d_h0;
        let dc_next = d_c0;
        dh_next.fill(F::zero());
        dc_next.fill(F::zero());
        let mut dh_rows = vec![F::zero(); rows * units];
        let mut scratch = vec![F::zero(); units];
        for step in (0..steps).rev() {
            for b in 0..rows {
                let at = b * steps + step;
                let grad_row = &grad[at * out_width..][..out_width];
                let dh = &mut dh_rows[b * units..][..units];
                map2(dh, grad_row, &dh_next[b * units..], |g, d| g + d);
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
                        let m = &extra[at * units..][..units];
                        let hp = &h_prev[at * units..][..units];
                        let (dz_zr, dz_h) = dz.split_at_mut(2 * units);
                        let (dz_z, dz_r) = dz_zr.split_at_mut(units);
                        // h = z h_prev + (1 - z) ĥ, ĥ = act(x_h + r m).
                        map2(dz_h, dh, update, |d, z| d * (F::one() - z));
                        map3(dz_z, dh, hp, candidate, |d, h, c| d * (h - c));
                        times_derivative(activation, dz_h, candidate);
                        times_derivative(ract, dz_z, update);
                        let dm = &mut d_m[at * units..][..units];
                        map2(dz_r, dz_h, m, |d, m| d * m);
                        map2(dm, dz_h, reset, |d, r| d * r);
                        times_derivative(ract, dz_r, reset);
                    }
                }
            }
            // dh_prev = dZ Uᵀ (+ the GRU's direct path z ⊙ dh).
            let dz_rows = |cols: usize| StridedMatrix {
                data: &d_input[step * width..],
                rows,
                cols,
                row_stride: steps * width,
                col_stride: 1,
            };
            match cell {
                RnnCell::Simple | RnnCell::Lstm => gemm_serial(
                    dh_next,
                    units,
                    false,
                    dz_rows(width),
                    self.kernel_transposed_rows(0..width),
                ),
                RnnCell::Gru => {
                    gemm_serial(
                        dh_next,
                        units,
                        false,
                        dz_rows(2 * units),
                        self.kernel_transposed_rows(0..2 * units),
                    );
                    gemm_serial(
                        dh_next,
                        units,
                        true,
                        StridedMatrix {
                            data: &d_m[step * units..],
                            rows,
                            cols: units,
                            row_stride: steps * units,
                            col_stride: 1,
                        },
                        self.kernel_transposed_rows(2 * units..width),
                    );
                    for b in 0..rows {
                        let update = &gates[(b * steps + step) * width..][..units];
                        let dh = &dh_rows[b * units..][..units];
                        let d = &mut dh_next[b * units..][..units];
                        update2(d, dh, update, |x, d, z| x + d * z);
                    }
                }
            }
        }

        // This chunk's dU = H_prevᵀ dZ with all (row, step) pairs stacked: one GEMM per block.
        let all = rows * steps;
        let h_prev_t = StridedMatrix {
            data: h_prev,
            rows: units,
            cols: all,
            row_stride: 1,
            col_stride: units,
        };
        let mut kernel = vec![F::zero(); units * width];
        let mut bias = vec![F::zero(); width];
        let (recurrent_input, recurrent_cols) = match cell {
            RnnCell::Gru => (2 * units, 2 * units),
            _ => (width, width),
        };
        gemm_serial(
            &mut kernel,
            width,
            false,
            h_prev_t,
            StridedMatrix {
                data: d_input,
                rows: all,
                cols: recurrent_cols,
                row_stride: width,
                col_stride: 1,
            },
        );
        for row in d_input.chunks_exact(width) {
            bias[..recurrent_input]
                .iter_mut()
                .zip(&row[..recurrent_input])
                .for_each(|(s, &v)| *s += v);
        }
        if cell == RnnCell::Gru {
            gemm_serial(
                &mut kernel[2 * units..],
                width,
                false,
                h_prev_t,
                StridedMatrix {
                    data: d_m,
                    rows: all,
                    cols: units,
                    row_stride: units,
                    col_stride: 1,
                },
            );
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

fn rnn_typed<F: Element>(
    spec: RnnSpec,
    x_proj: &Tensor,
    recurrent_kernel: &Tensor,
    h0: &Tensor,
    c0: Option<&Tensor>,
    recurrent_bias: Option<&Tensor>,
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
        Ok(a.as_standard_layout().iter().copied().collect())
    };
    let kernel = contiguous(recurrent_kernel)?;
    let h0a = contiguous(h0)?;
    let c0a = c0.map(contiguous).transpose()?.unwrap_or_default();
    let bias = recurrent_bias.map(contiguous).transpose()?;
    let rows = rows_per_chunk.unwrap_or_else(|| chunk_rows(batch, steps, units, width));
    let rows = rows.clamp(1, batch.max(1));
    let chunk_count = batch.div_ceil(rows);

    // The projected inputs in processing order become the gates buffer, in place.
    let mut gates = if spec.go_backwards {
        xp.slice(s![.., ..;-1, ..])
            .as_standard_layout()
            .into_owned()
    } else {
        xp.as_standard_layout().into_owned()
    };
    let has_extra = cell != RnnCell::Simple;
    let mut extra = Array3::<F>::zeros((batch, if has_extra { steps } else { 0 }, units));
    let mut h_prev = Array3::<F>::zeros((batch, steps, units));
    let out_width = cell.states() * units;
    let mut out = Array3::<F>::zeros((batch, steps, out_width));
    let recurrence = Recurrence {
        spec,
        steps,
        units,
        width,
        kernel: &kernel,
        recurrent_bias: bias.as_deref(),
    };
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
                .enumerate()
                .map(|(index, (((gates, extra), h_prev), out))| {
                    let first = index * rows;
                    let count = out.len() / (steps * out_width);
                    let states = first * units..(first + count) * units;
                    ForwardChunk {
                        rows: count,
                        h0: &h0a[states.clone()],
                        c0: if c0a.is_empty() { &[] } else { &c0a[states] },
                        gates,
                        extra,
                        h_prev,
                        out,
                    }
                })
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
                let recurrence = Recurrence {
                    spec,
                    steps,
                    units,
                    width,
                    kernel: &kernel,
                    recurrent_bias: bias.as_deref(),
                };
                let mut d_input = vec![F::zero(); batch * steps * width];
                let mut d_m = vec![
                    F::zero();
                    if cell == RnnCell::Gru {
                        batch * steps * units
                    } else {
                        0
                    }
                ];
                let mut d_h0 = vec![F::zero(); batch * units];
                let mut d_c0 = vec![
                    F::zero();
                    if cell == RnnCell::Lstm {
                        batch * units
                    } else {
                        0
                    }
                ];
                let saved_out = saved_out.as_slice().expect("standard layout");
                let d_m_per = if cell == RnnCell::Gru {
                    steps * units
                } else {
                    0
                };
                let d_c0_per = if cell == RnnCell::Lstm { units } else { 0 };
                let extra_per = if has_extra { steps * units } else { 0 };
                let chunks: Vec<BackwardChunk<'_, F>> =
                    split_rows_ref(grad, steps * out_width, rows, chunk_count)
                        .into_iter()
                        .zip(split_rows_ref(&c0a, d_c0_per, rows, chunk_count))
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
                                    (((((((grad, c0), gates), extra), h_prev), out), d_input), d_m),
                                    d_h0,
                                ),
                                d_c0,
                            )| {
                                BackwardChunk {
                                    rows: d_h0.len() / units,
                                    grad,
                                    c0,
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
    /// for the GRU, the recurrent bias `(3 * units,)`. Returns `(batch, time, states * units)`:
    /// every step's `h` (and the LSTM's `c` after it), in processing order.
    pub fn rnn_sequence(
        &self,
        recurrent_kernel: &Tensor,
        initial_h: &Tensor,
        initial_c: Option<&Tensor>,
        recurrent_bias: Option<&Tensor>,
        spec: RnnSpec,
    ) -> Result<Tensor> {
        let op = spec.cell.name();
        let (xs, ks) = (self.shape(), recurrent_kernel.shape());
        if ks.len() != 2 || ks[1] != spec.cell.gates() * ks[0] {
            return Err(Error::shape(
                op,
                format!(
                    "recurrent kernel of shape {ks:?} is not (units, {} * units)",
                    spec.cell.gates()
                ),
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
        let state_shape = [xs[0], units];
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
        let dtype = self.dtype().promote(recurrent_kernel.dtype());
        let x = self.cast(dtype)?;
        let k = recurrent_kernel.cast(dtype)?;
        let h = initial_h.cast(dtype)?;
        let c = initial_c.map(|c| c.cast(dtype)).transpose()?;
        let b = recurrent_bias.map(|b| b.cast(dtype)).transpose()?;
        match dtype {
            DType::F32 => rnn_typed::<f32>(spec, &x, &k, &h, c.as_ref(), b.as_ref(), None),
            DType::F64 => rnn_typed::<f64>(spec, &x, &k, &h, c.as_ref(), b.as_ref(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn spec(cell: RnnCell) -> RnnSpec {
        RnnSpec {
            cell,
            activation: FusedActivation::Tanh,
            recurrent_activation: FusedActivation::Sigmoid,
            go_backwards: false,
        }
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
    fn check_gradients(cell: RnnCell, go_backwards: bool) {
        let (batch, steps, units) = (2, 4, 3);
        let width = cell.gates() * units;
        let x = filled(&[batch, steps, width], 0.37, true);
        let k = filled(&[units, width], 0.91, true);
        let h0 = filled(&[batch, units], 1.3, true);
        let c0 = (cell == RnnCell::Lstm).then(|| filled(&[batch, units], 2.1, true));
        let b = (cell == RnnCell::Gru).then(|| filled(&[width], 0.53, true));
        let spec = RnnSpec {
            go_backwards,
            ..spec(cell)
        };
        let out_width = cell.states() * units;
        let weights = filled(&[batch, steps, out_width], 0.77, false);
        let mut params = vec![x.clone(), k.clone(), h0.clone()];
        params.extend(c0.clone());
        params.extend(b.clone());
        let loss = |p: &[Tensor]| {
            let (c, b) = match cell {
                RnnCell::Lstm => (Some(&p[3]), None),
                RnnCell::Gru => (None, Some(&p[3])),
                RnnCell::Simple => (None, None),
            };
            p[0].rnn_sequence(&p[1], &p[2], c, b, spec)
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

    #[test]
    fn recurrent_simple_gradients_match_finite_differences() {
        check_gradients(RnnCell::Simple, false);
        check_gradients(RnnCell::Simple, true);
    }

    #[test]
    fn recurrent_lstm_gradients_match_finite_differences() {
        check_gradients(RnnCell::Lstm, false);
        check_gradients(RnnCell::Lstm, true);
    }

    #[test]
    fn recurrent_gru_gradients_match_finite_differences() {
        check_gradients(RnnCell::Gru, false);
        check_gradients(RnnCell::Gru, true);
    }

    /// Output and every gradient with the batch split into chunks of `rows` rows.
    fn run_in_chunks(cell: RnnCell, go_backwards: bool, rows: usize) -> Vec<Vec<f64>> {
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
        params.push(filled(&[width], 0.43, true));
        let (c0, bias) = match cell {
            RnnCell::Lstm => (Some(&params[3]), &params[4]),
            _ => (None, &params[3]),
        };
        let spec = RnnSpec {
            go_backwards,
            ..spec(cell)
        };
        let out = rnn_typed::<f64>(
            spec,
            &params[0],
            &params[1],
            &params[2],
            c0,
            Some(bias),
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
            for go_backwards in [false, true] {
                let whole = run_in_chunks(cell, go_backwards, 5);
                for rows in [1, 2, 3] {
                    for (a, b) in whole.iter().zip(run_in_chunks(cell, go_backwards, rows)) {
                        assert_close(a, &b, 1e-12);
                    }
                }
            }
        }
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
