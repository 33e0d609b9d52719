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

use ndarray::{s, Array1, Array2, Array3, ArrayView2, Axis, Ix1, Ix2, Ix3};

use super::{some_grad, typed_grad, FusedActivation};
use crate::error::{Error, Result};
use crate::tensor::{DType, Element, Storage, Tensor};

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

#[inline]
fn act<F: Element>(activation: FusedActivation, v: F) -> F {
    match activation {
        FusedActivation::Linear => v,
        FusedActivation::Relu => v.max(F::zero()),
        FusedActivation::Sigmoid => {
            // The stable form: never exponentiate a large positive number.
            if v >= F::zero() {
                F::one() / (F::one() + (-v).exp())
            } else {
                let e = v.exp();
                e / (F::one() + e)
            }
        }
        FusedActivation::Tanh => v.tanh(),
    }
}

/// The derivative at the point whose output is `y`.
#[inline]
fn act_derivative<F: Element>(activation: FusedActivation, y: F) -> F {
    match activation {
        FusedActivation::Linear => F::one(),
        FusedActivation::Relu => {
            if y > F::zero() {
                F::one()
            } else {
                F::zero()
            }
        }
        FusedActivation::Sigmoid => y * (F::one() - y),
        FusedActivation::Tanh => F::one() - y * y,
    }
}

fn mm<F: Element>(a: ArrayView2<'_, F>, b: ArrayView2<'_, F>) -> Result<Array2<F>> {
    Ok(super::matmul_arrays(a.into_dyn(), b.into_dyn())?
        .into_dimensionality::<Ix2>()
        .expect("2-D product"))
}

fn to2<F: Element>(t: &Tensor) -> Result<Array2<F>> {
    Ok(t.array::<F>()?
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape("rnn_sequence", "expected a 2-D tensor"))?
        .to_owned())
}

fn rnn_typed<F: Element>(
    spec: RnnSpec,
    x_proj: &Tensor,
    recurrent_kernel: &Tensor,
    h0: &Tensor,
    c0: Option<&Tensor>,
    recurrent_bias: Option<&Tensor>,
) -> Result<Tensor> {
    let xp = x_proj
        .array::<F>()?
        .into_dimensionality::<Ix3>()
        .expect("checked rank 3");
    let (batch, steps, width) = xp.dim();
    let units = recurrent_kernel.shape()[0];
    let kernel = to2::<F>(recurrent_kernel)?;
    let h0a = to2::<F>(h0)?;
    let c0a = c0.map(to2::<F>).transpose()?;
    let bias: Option<Array1<F>> = recurrent_bias
        .map(|b| {
            b.array::<F>().map(|a| {
                a.into_dimensionality::<Ix1>()
                    .expect("checked rank 1")
                    .to_owned()
            })
        })
        .transpose()?;
    let RnnSpec {
        cell,
        activation,
        recurrent_activation: ract,
        go_backwards,
    } = spec;
    let time_of = move |step: usize| {
        if go_backwards {
            steps - 1 - step
        } else {
            step
        }
    };

    // Saved for the backward pass, per step in processing order.
    let mut hs = Array3::<F>::zeros((steps, batch, units));
    let mut cs = Array3::<F>::zeros((if cell == RnnCell::Lstm { steps } else { 0 }, batch, units));
    // LSTM: i, f, g, o after their activations; GRU: z, r, ĥ.
    let mut gates = Array3::<F>::zeros((
        if cell == RnnCell::Simple { 0 } else { steps },
        batch,
        width,
    ));
    // LSTM: act(c); GRU: the recurrent part of the candidate, m_h.
    let mut extra = Array3::<F>::zeros((
        if cell == RnnCell::Simple { 0 } else { steps },
        batch,
        units,
    ));

    let mut h_prev = h0a.clone();
    let mut c_prev = c0a.clone().unwrap_or_else(|| Array2::zeros((batch, units)));
    for step in 0..steps {
        let xt = xp.index_axis(Axis(1), time_of(step));
        let mut z = mm(h_prev.view(), kernel.view())?;
        if let Some(b) = &bias {
            z += b;
        }
        let mut h = hs.index_axis_mut(Axis(0), step);
        match cell {
            RnnCell::Simple => {
                ndarray::Zip::from(&mut h)
                    .and(&z)
                    .and(&xt)
                    .for_each(|h, &z, &x| *h = act(activation, z + x));
            }
            RnnCell::Lstm => {
                let mut c = cs.index_axis_mut(Axis(0), step);
                let mut g = gates.index_axis_mut(Axis(0), step);
                let mut ac = extra.index_axis_mut(Axis(0), step);
                for b in 0..batch {
                    for j in 0..units {
                        let pre = |k: usize| z[[b, k * units + j]] + xt[[b, k * units + j]];
                        let i = act(ract, pre(0));
                        let f = act(ract, pre(1));
                        let gg = act(activation, pre(2));
                        let o = act(ract, pre(3));
                        let cv = f * c_prev[[b, j]] + i * gg;
                        let acv = act(activation, cv);
                        g[[b, j]] = i;
                        g[[b, units + j]] = f;
                        g[[b, 2 * units + j]] = gg;
                        g[[b, 3 * units + j]] = o;
                        c[[b, j]] = cv;
                        ac[[b, j]] = acv;
                        h[[b, j]] = o * acv;
                    }
                }
                c_prev.assign(&c);
            }
            RnnCell::Gru => {
                let mut g = gates.index_axis_mut(Axis(0), step);
                let mut mh = extra.index_axis_mut(Axis(0), step);
                for b in 0..batch {
                    for j in 0..units {
                        let zg = act(ract, xt[[b, j]] + z[[b, j]]);
                        let r = act(ract, xt[[b, units + j]] + z[[b, units + j]]);
                        let m = z[[b, 2 * units + j]];
                        let hh = act(activation, xt[[b, 2 * units + j]] + r * m);
                        g[[b, j]] = zg;
                        g[[b, units + j]] = r;
                        g[[b, 2 * units + j]] = hh;
                        mh[[b, j]] = m;
                        h[[b, j]] = zg * h_prev[[b, j]] + (F::one() - zg) * hh;
                    }
                }
            }
        }
        h_prev.assign(&h);
    }

    let state_count = cell.states();
    let mut out = Array3::<F>::zeros((batch, steps, state_count * units));
    out.slice_mut(s![.., .., 0..units])
        .assign(&hs.view().permuted_axes([1, 0, 2]));
    if cell == RnnCell::Lstm {
        out.slice_mut(s![.., .., units..2 * units])
            .assign(&cs.view().permuted_axes([1, 0, 2]));
    }

    let needs: Vec<bool> = {
        let mut v = vec![
            x_proj.requires_grad(),
            recurrent_kernel.requires_grad(),
            h0.requires_grad(),
        ];
        if let Some(c) = c0 {
            v.push(c.requires_grad());
        }
        if let Some(b) = recurrent_bias {
            v.push(b.requires_grad());
        }
        v
    };
    let mut inputs = vec![x_proj, recurrent_kernel, h0];
    if let Some(c) = c0 {
        inputs.push(c);
    }
    if let Some(b) = recurrent_bias {
        inputs.push(b);
    }
    let has_c0 = c0.is_some();
    let has_bias = bias.is_some();
    Ok(Tensor::from_op(
        Storage::from_array(out.into_dyn()),
        cell.name(),
        &inputs,
        move || {
            Box::new(move |grad: &Storage| {
                let g = typed_grad::<F>(cell.name(), grad)?
                    .view()
                    .into_dimensionality::<Ix3>()
                    .map_err(|_| Error::shape(cell.name(), "gradient of an unexpected rank"))?;
                // Gradient of the projected input, in the input's time order.
                let mut dx = Array3::<F>::zeros((batch, steps, width));
                // Gradient of `h_prev U (+ b_rec)` per step (processing order), and the h_prev
                // it multiplied: the recurrent kernel's gradient is one GEMM over both.
                let mut d_inner = Array3::<F>::zeros((steps, batch, width));
                let mut h_prevs = Array3::<F>::zeros((steps, batch, units));
                let mut dh_next = Array2::<F>::zeros((batch, units));
                let mut dc_next = Array2::<F>::zeros((batch, units));
                for step in (0..steps).rev() {
                    let h_prev = if step == 0 {
                        h0a.view()
                    } else {
                        hs.index_axis(Axis(0), step - 1)
                    };
                    h_prevs.index_axis_mut(Axis(0), step).assign(&h_prev);
                    let mut dh = g.slice(s![.., step, 0..units]).to_owned();
                    dh += &dh_next;
                    let mut dz = d_inner.index_axis_mut(Axis(0), step);
                    let mut dxt = dx.index_axis_mut(Axis(1), time_of(step));
                    match cell {
                        RnnCell::Simple => {
                            let h = hs.index_axis(Axis(0), step);
                            ndarray::Zip::from(&mut dz)
                                .and(&dh)
                                .and(&h)
                                .for_each(|d, &dh, &h| *d = dh * act_derivative(activation, h));
                            dxt.assign(&dz);
                        }
                        RnnCell::Lstm => {
                            let gs = gates.index_axis(Axis(0), step);
                            let ac = extra.index_axis(Axis(0), step);
                            let c_prev = if step == 0 {
                                c0a.as_ref().map(|c| c.view())
                            } else {
                                Some(cs.index_axis(Axis(0), step - 1))
                            };
                            for b in 0..batch {
                                for j in 0..units {
                                    let i = gs[[b, j]];
                                    let f = gs[[b, units + j]];
                                    let gg = gs[[b, 2 * units + j]];
                                    let o = gs[[b, 3 * units + j]];
                                    let acv = ac[[b, j]];
                                    let dhv = dh[[b, j]];
                                    let dc = g[[b, step, units + j]]
                                        + dc_next[[b, j]]
                                        + dhv * o * act_derivative(activation, acv);
                                    let cp = c_prev.as_ref().map_or(F::zero(), |c| c[[b, j]]);
                                    dz[[b, j]] = dc * gg * act_derivative(ract, i);
                                    dz[[b, units + j]] = dc * cp * act_derivative(ract, f);
                                    dz[[b, 2 * units + j]] =
                                        dc * i * act_derivative(activation, gg);
                                    dz[[b, 3 * units + j]] = dhv * acv * act_derivative(ract, o);
                                    dc_next[[b, j]] = dc * f;
                                }
                            }
                            dxt.assign(&dz);
                        }
                        RnnCell::Gru => {
                            let gs = gates.index_axis(Axis(0), step);
                            let mh = extra.index_axis(Axis(0), step);
                            for b in 0..batch {
                                for j in 0..units {
                                    let zg = gs[[b, j]];
                                    let r = gs[[b, units + j]];
                                    let hh = gs[[b, 2 * units + j]];
                                    let m = mh[[b, j]];
                                    let dhv = dh[[b, j]];
                                    let d_hh =
                                        dhv * (F::one() - zg) * act_derivative(activation, hh);
                                    let d_z =
                                        dhv * (h_prev[[b, j]] - hh) * act_derivative(ract, zg);
                                    let d_r = d_hh * m * act_derivative(ract, r);
                                    dxt[[b, j]] = d_z;
                                    dxt[[b, units + j]] = d_r;
                                    dxt[[b, 2 * units + j]] = d_hh;
                                    dz[[b, j]] = d_z;
                                    dz[[b, units + j]] = d_r;
                                    dz[[b, 2 * units + j]] = d_hh * r;
                                }
                            }
                        }
                    }
                    // dh_prev = dZ Uᵀ (+ the GRU's direct path z ⊙ dh).
                    let mut dh_prev = mm(dz.view(), kernel.t())?;
                    if cell == RnnCell::Gru {
                        let gs = gates.index_axis(Axis(0), step);
                        ndarray::Zip::from(&mut dh_prev)
                            .and(&dh)
                            .and(gs.slice(s![.., 0..units]))
                            .for_each(|d, &dh, &zg| *d += dh * zg);
                    }
                    dh_next = dh_prev;
                }
                let mut grads = vec![if needs[0] {
                    some_grad(dx.into_dyn())
                } else {
                    None
                }];
                let rows = steps * batch;
                let d_inner2 = d_inner
                    .into_shape_with_order((rows, width))
                    .expect("contiguous");
                grads.push(if needs[1] {
                    let h2 = h_prevs
                        .into_shape_with_order((rows, units))
                        .expect("contiguous");
                    some_grad(mm(h2.t(), d_inner2.view())?.into_dyn())
                } else {
                    None
                });
                grads.push(if needs[2] {
                    some_grad(dh_next.into_dyn())
                } else {
                    None
                });
                let mut next = 3;
                if has_c0 {
                    grads.push(if needs[next] {
                        some_grad(dc_next.into_dyn())
                    } else {
                        None
                    });
                    next += 1;
                }
                if has_bias {
                    grads.push(if needs[next] {
                        some_grad(d_inner2.sum_axis(Axis(0)).into_dyn())
                    } else {
                        None
                    });
                }
                Ok(grads)
            })
        },
    ))
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
            DType::F32 => rnn_typed::<f32>(spec, &x, &k, &h, c.as_ref(), b.as_ref()),
            DType::F64 => rnn_typed::<f64>(spec, &x, &k, &h, c.as_ref(), b.as_ref()),
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
