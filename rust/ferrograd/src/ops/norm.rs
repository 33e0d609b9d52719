//! Normalization ops: batch, layer and group normalization, each one fused op with its analytic
//! backward.
//!
//! All three normalize groups of elements by the group's mean and biased variance, then scale
//! and shift per feature: `y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`. They differ
//! only in which elements share statistics, so one kernel serves them, over the input permuted
//! to a contiguous `(n, s, g, k)` array: statistics per `(n, g)` over the `m = s * k` elements of
//! `(s, k)`, `gamma` and `beta` per `(g, k)`.
//!
//! | op                              | n         | s           | g        | k                  |
//! |---------------------------------|-----------|-------------|----------|--------------------|
//! | batch norm (features on `axes`) | 1         | other elems | features | 1                  |
//! | layer norm (over `axes`)        | other elems | 1         | 1        | normalized elems   |
//! | group norm (channels on `axis`) | batch     | other axes  | groups   | channels per group |
//!
//! The permutation moves the feature (or normalized) axes last, so Keras's default `axis=-1`
//! needs no copy.
//!
//! Backward (Ioffe & Szegedy 2015, §3, with `x̂ = (x - mean) / σ` and `σ = sqrt(var + ε)`):
//! `dβ = Σ dy`, `dγ = Σ dy·x̂` (over everything but `(g, k)`), and per statistic group
//! `dx = (1/σ) · (γ·dy − (Σ γ·dy + x̂ · Σ γ·dy·x̂) / m)`, sums over the group's `m` elements.
//! With given statistics (inference) the mean and variance are constants: `dx = γ·dy / σ`.
//! Sums accumulate in f64 whatever the dtype.

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::{normalize_axes, normalize_axis, some_grad, typed_grad};
use crate::error::{Error, Result};
use crate::tensor::{Array, DType, Element, Storage, Tensor};
use crate::threads;

/// What a training-mode [`Tensor::batch_norm`] returns: the output and the batch statistics it
/// normalized with (not recorded in the graph), for the moving averages.
pub struct BatchNormOutput {
    pub output: Tensor,
    /// The batch mean per feature, shaped like `gamma`.
    pub mean: Tensor,
    /// The biased batch variance per feature (divisor N), shaped like `gamma`.
    pub variance: Tensor,
}

/// Elements handled by one serial task of a parallel pass.
const TASK_ELEMENTS: usize = 1 << 14;

/// How a normalization groups its input: permuted by `perm`, the input is a contiguous
/// `(n, s, g, k)` array (see the module doc).
#[derive(Debug, Clone)]
struct Grouping {
    perm: Vec<usize>,
    n: usize,
    s: usize,
    g: usize,
    k: usize,
    /// The shape of `gamma`, `beta` and (for batch norm) the statistics.
    param_shape: Vec<usize>,
}

impl Grouping {
    /// Features (`gamma`'s axes) last, other axes first, each in order.
    fn moving_last(ndim: usize, last: &[usize]) -> Vec<usize> {
        let mut perm: Vec<usize> = (0..ndim).filter(|a| !last.contains(a)).collect();
        perm.extend_from_slice(last);
        perm
    }

    fn batch(op: &'static str, shape: &[usize], axes: &[isize]) -> Result<Grouping> {
        let features = feature_axes(op, shape, axes)?;
        let param_shape: Vec<usize> = features.iter().map(|&a| shape[a]).collect();
        let g: usize = param_shape.iter().product();
        let total: usize = shape.iter().product();
        Ok(Grouping {
            perm: Grouping::moving_last(shape.len(), &features),
            n: 1,
            s: total.checked_div(g).unwrap_or(0),
            g,
            k: 1,
            param_shape,
        })
    }

    fn layer(op: &'static str, shape: &[usize], axes: &[isize]) -> Result<Grouping> {
        let normalized = feature_axes(op, shape, axes)?;
        let param_shape: Vec<usize> = normalized.iter().map(|&a| shape[a]).collect();
        let k: usize = param_shape.iter().product();
        let total: usize = shape.iter().product();
        Ok(Grouping {
            perm: Grouping::moving_last(shape.len(), &normalized),
            n: total.checked_div(k).unwrap_or(0),
            s: 1,
            g: 1,
            k,
            param_shape,
        })
    }

    fn group(op: &'static str, shape: &[usize], groups: usize, axis: isize) -> Result<Grouping> {
        if shape.len() < 2 {
            return Err(Error::shape(
                op,
                format!("needs an input of rank >= 2 (batch, ..., channels), got shape {shape:?}"),
            ));
        }
        let axis = normalize_axis(op, axis, shape.len())?;
        if axis == 0 {
            return Err(Error::argument(
                op,
                "axis 0 is the batch axis; the channel axis must be another one",
            ));
        }
        let channels = shape[axis];
        if groups == 0 || groups > channels || channels % groups != 0 {
            return Err(Error::argument(
                op,
                format!(
                    "the number of channels ({channels}, axis {axis} of shape {shape:?}) must be a \
                     multiple of the number of groups ({groups}), and groups at most channels"
                ),
            ));
        }
        let mut perm = vec![0];
        perm.extend((1..shape.len()).filter(|&a| a != axis));
        perm.push(axis);
        let total: usize = shape.iter().product();
        Ok(Grouping {
            perm,
            n: shape[0],
            s: total.checked_div(shape[0] * channels).unwrap_or(0),
            g: groups,
            k: channels / groups,
            param_shape: vec![channels],
        })
    }

    fn is_identity(&self) -> bool {
        self.perm.iter().enumerate().all(|(i, &p)| i == p)
    }

    fn row_len(&self) -> usize {
        self.g * self.k
    }

    fn block_len(&self) -> usize {
        self.s * self.g * self.k
    }
}

/// Resolved, sorted, non-empty axes.
fn feature_axes(op: &'static str, shape: &[usize], axes: &[isize]) -> Result<Vec<usize>> {
    let resolved = normalize_axes(op, Some(axes), shape.len())?;
    if resolved.is_empty() {
        return Err(Error::argument(op, "needs at least one axis"));
    }
    Ok(resolved)
}

#[inline]
fn wide<F: Element>(v: F) -> f64 {
    v.to_f64().unwrap_or(f64::NAN)
}

#[inline]
fn narrow<F: Element>(v: f64) -> F {
    F::from_f64(v).unwrap_or_else(F::nan)
}

/// `array` permuted to the grouping's layout, contiguous (free when already in place).
fn grouped<F: Element>(array: &Array<F>, grouping: &Grouping) -> Array<F> {
    if grouping.is_identity() && array.is_standard_layout() {
        return array.clone();
    }
    array
        .view()
        .permuted_axes(IxDyn(&grouping.perm))
        .as_standard_layout()
        .into_owned()
        .into_shared()
}

/// Grouped-layout values back in the original axis order, as a standard-layout array.
fn ungrouped<F: Element>(values: Vec<F>, grouping: &Grouping, shape: &[usize]) -> ArrayD<F> {
    let grouped_shape: Vec<usize> = grouping.perm.iter().map(|&p| shape[p]).collect();
    let array = ArrayD::from_shape_vec(IxDyn(&grouped_shape), values).expect("same size");
    if grouping.is_identity() {
        return array;
    }
    let mut inverse = vec![0; grouping.perm.len()];
    for (i, &p) in grouping.perm.iter().enumerate() {
        inverse[p] = i;
    }
    array
        .permuted_axes(IxDyn(&inverse))
        .as_standard_layout()
        .into_owned()
}

/// `f(i)` for `i` in `0..count`, on the pool when `parallel`.
fn map_indices<T: Send>(
    count: usize,
    parallel: bool,
    f: impl Fn(usize) -> T + Sync + Send,
) -> Vec<T> {
    if parallel && count > 1 {
        threads::install(|| (0..count).into_par_iter().map(f).collect())
    } else {
        (0..count).map(f).collect()
    }
}

/// `f(index, chunk)` over consecutive chunks of `data`, on the pool when `parallel` (with
/// enough chunks per task that each task has work worth a thread).
fn for_each_chunk<T: Send>(
    data: &mut [T],
    chunk: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let chunk = chunk.max(1);
    if parallel && data.len() > chunk {
        let min_len = (TASK_ELEMENTS / chunk).max(1);
        threads::install(|| {
            data.par_chunks_mut(chunk)
                .with_min_len(min_len)
                .enumerate()
                .for_each(|(i, c)| f(i, c))
        });
    } else {
        data.chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}

/// Two column sums over `rows` rows of `row_len` columns: `add_row(r, sums)` adds row `r`'s two
/// terms per column. Split over row ranges on the pool when the rows hold enough elements.
fn column_sums(
    rows: usize,
    row_len: usize,
    add_row: impl Fn(usize, &mut [[f64; 2]]) + Sync + Send,
) -> Vec<[f64; 2]> {
    let rows_per_task = (TASK_ELEMENTS / row_len.max(1)).max(1);
    let tasks = rows.div_ceil(rows_per_task);
    let parallel = rows * row_len >= threads::PARALLEL_MIN_ELEMENTS;
    let partials = map_indices(tasks, parallel, |t| {
        let mut sums = vec![[0.0f64; 2]; row_len];
        for r in t * rows_per_task..((t + 1) * rows_per_task).min(rows) {
            add_row(r, &mut sums);
        }
        sums
    });
    let mut total = vec![[0.0f64; 2]; row_len];
    for partial in partials {
        for (t, p) in total.iter_mut().zip(partial) {
            t[0] += p[0];
            t[1] += p[1];
        }
    }
    total
}

/// The mean and biased variance of each `(n, g)` group (two passes, for accuracy).
fn batch_statistics<F: Element>(x: &[F], gr: &Grouping) -> (Vec<f64>, Vec<f64>) {
    let (row_len, block, k) = (gr.row_len().max(1), gr.block_len(), gr.k.max(1));
    let count = (gr.s * gr.k) as f64;
    let mut stats = vec![[0.0f64; 2]; gr.n * gr.g];
    let parallel = gr.n > 1 && x.len() >= threads::PARALLEL_MIN_ELEMENTS;
    for_each_chunk(&mut stats, gr.g, parallel, |ni, stat| {
        let xb = &x[ni * block..(ni + 1) * block];
        if block >= threads::PARALLEL_MIN_ELEMENTS {
            let sums = column_sums(gr.s, row_len, |r, sums| {
                for (s, &v) in sums.iter_mut().zip(&xb[r * row_len..(r + 1) * row_len]) {
                    s[0] += wide(v);
                }
            });
            for (c, s) in sums.iter().enumerate() {
                stat[c / k][0] += s[0] / count;
            }
            let mean_per_column: Vec<f64> = (0..row_len).map(|c| stat[c / k][0]).collect();
            let sums = column_sums(gr.s, row_len, |r, sums| {
                let row = &xb[r * row_len..(r + 1) * row_len];
                for ((s, &v), m) in sums.iter_mut().zip(row).zip(&mean_per_column) {
                    let d = wide(v) - m;
                    s[0] += d * d;
                }
            });
            for (c, s) in sums.iter().enumerate() {
                stat[c / k][1] += s[0] / count;
            }
        } else {
            for row in xb.chunks_exact(row_len) {
                for (st, segment) in stat.iter_mut().zip(row.chunks_exact(k)) {
                    st[0] += segment.iter().map(|&v| wide(v)).sum::<f64>();
                }
            }
            stat.iter_mut().for_each(|st| st[0] /= count);
            for row in xb.chunks_exact(row_len) {
                for (st, segment) in stat.iter_mut().zip(row.chunks_exact(k)) {
                    let mean = st[0];
                    st[1] += segment
                        .iter()
                        .map(|&v| (wide(v) - mean) * (wide(v) - mean))
                        .sum::<f64>();
                }
            }
            stat.iter_mut().for_each(|st| st[1] /= count);
        }
    });
    stats.into_iter().map(|[m, v]| (m, v)).unzip()
}

/// A tensor's values in standard order, as `F`.
fn flat<F: Element>(t: &Tensor) -> Result<Vec<F>> {
    Ok(t.array::<F>()?.iter().copied().collect())
}

/// The fused normalization: returns the output and the `(n, g)` statistics used.
fn normalize_typed<F: Element>(
    op: &'static str,
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    gr: Grouping,
    epsilon: f64,
    given: Option<(Vec<f64>, Vec<f64>)>,
) -> Result<(Tensor, Vec<f64>, Vec<f64>)> {
    let shape = x.shape();
    let xg = grouped(&x.array::<F>()?, &gr);
    let xs = xg.as_slice().expect("grouped arrays are contiguous");
    let (row_len, block, k) = (gr.row_len().max(1), gr.block_len(), gr.k.max(1));
    let rows_per_task = (TASK_ELEMENTS / row_len).max(1);
    let gamma_v: Vec<F> = match gamma {
        Some(t) => flat(t)?,
        None => vec![F::one(); gr.row_len()],
    };
    let beta_v: Vec<F> = match beta {
        Some(t) => flat(t)?,
        None => vec![F::zero(); gr.row_len()],
    };
    let fixed = given.is_some();
    let (mean, variance) = given.unwrap_or_else(|| batch_statistics(xs, &gr));
    // x̂ = x · inv_std + shift per (n, g), with shift = -mean · inv_std.
    let inv_std: Vec<F> = variance
        .iter()
        .map(|v| narrow(1.0 / (v + epsilon).sqrt()))
        .collect();
    let shift: Vec<F> = mean
        .iter()
        .zip(&variance)
        .map(|(m, v)| narrow(-m / (v + epsilon).sqrt()))
        .collect();
    let parallel_over_n = gr.n > 1 && xs.len() >= threads::PARALLEL_MIN_ELEMENTS;
    let mut out = vec![F::zero(); xs.len()];
    for_each_chunk(&mut out, block, parallel_over_n, |ni, out_block| {
        let xb = &xs[ni * block..(ni + 1) * block];
        let (inv_std, shift) = (&inv_std[ni * gr.g..], &shift[ni * gr.g..]);
        if gr.s == 1 {
            // One row per statistic group (layer norm): straight through its g segments.
            for (gi, ((ys, xs), (gs, bs))) in out_block
                .chunks_exact_mut(k)
                .zip(xb.chunks_exact(k))
                .zip(gamma_v.chunks_exact(k).zip(beta_v.chunks_exact(k)))
                .enumerate()
            {
                let (a, b) = (inv_std[gi], shift[gi]);
                for (((y, &x), &gm), &bt) in ys.iter_mut().zip(xs).zip(gs).zip(bs) {
                    *y = (x * a + b) * gm + bt;
                }
            }
            return;
        }
        // y = x · scale + offset per column: scale = γ/σ, offset = β − γ·mean/σ.
        let scale: Vec<F> = (0..row_len).map(|c| gamma_v[c] * inv_std[c / k]).collect();
        let offset: Vec<F> = (0..row_len)
            .map(|c| gamma_v[c] * shift[c / k] + beta_v[c])
            .collect();
        let inner_parallel = block >= threads::PARALLEL_MIN_ELEMENTS;
        for_each_chunk(
            out_block,
            rows_per_task * row_len,
            inner_parallel,
            |t, chunk| {
                let start = t * rows_per_task * row_len;
                let xc = &xb[start..start + chunk.len()];
                for (yr, xr) in chunk
                    .chunks_exact_mut(row_len)
                    .zip(xc.chunks_exact(row_len))
                {
                    for (((y, &x), &a), &b) in yr.iter_mut().zip(xr).zip(&scale).zip(&offset) {
                        *y = x * a + b;
                    }
                }
            },
        );
    });
    let output = Storage::from_array(ungrouped(out, &gr, &shape));
    let x_needs = x.requires_grad();
    let gamma_needs = gamma.is_some_and(|t| t.requires_grad());
    let beta_needs = beta.is_some_and(|t| t.requires_grad());
    let mut inputs = vec![x];
    inputs.extend(gamma);
    inputs.extend(beta);
    let (has_gamma, has_beta) = (gamma.is_some(), beta.is_some());
    let param_shape = gr.param_shape.clone();
    let tensor = Tensor::from_op(output, op, &inputs, move || {
        Box::new(move |grad: &Storage| {
            let gg = grouped(typed_grad::<F>(op, grad)?, &gr);
            let dy = gg.as_slice().expect("grouped arrays are contiguous");
            let xs = xg.as_slice().expect("grouped arrays are contiguous");
            // Σ dy and Σ dy·x̂ per column over rows `first..first + rows`.
            let sums_over = |first: usize, rows: usize| {
                column_sums(rows, row_len, |r, sums| {
                    let r = first + r;
                    let base = (r / gr.s.max(1)) * gr.g;
                    let dyr = &dy[r * row_len..(r + 1) * row_len];
                    let xr = &xs[r * row_len..(r + 1) * row_len];
                    for (gi, ((ds, xsg), ss)) in dyr
                        .chunks_exact(k)
                        .zip(xr.chunks_exact(k))
                        .zip(sums.chunks_exact_mut(k))
                        .enumerate()
                    {
                        let (a, b) = (inv_std[base + gi], shift[base + gi]);
                        for ((&d, &x), s) in ds.iter().zip(xsg).zip(ss) {
                            s[0] += wide(d);
                            s[1] += wide(d * (x * a + b));
                        }
                    }
                })
            };
            let need_all = gamma_needs || beta_needs || (x_needs && !fixed && gr.n == 1);
            let all_sums = if need_all {
                sums_over(0, gr.n * gr.s)
            } else {
                Vec::new()
            };
            let dx = if x_needs {
                let m = (gr.s * gr.k) as f64;
                let mut dx = vec![F::zero(); dy.len()];
                let parallel = gr.n > 1 && dy.len() >= threads::PARALLEL_MIN_ELEMENTS;
                for_each_chunk(&mut dx, block, parallel, |ni, dx_block| {
                    let (inv_std, shift) = (&inv_std[ni * gr.g..], &shift[ni * gr.g..]);
                    let xb = &xs[ni * block..(ni + 1) * block];
                    let dyb = &dy[ni * block..(ni + 1) * block];
                    // Per group of this n: (Σ γ·dy, Σ γ·dy·x̂) / m (zero for given statistics).
                    let mut group_terms = vec![[0.0f64; 2]; gr.g];
                    if !fixed {
                        if gr.n == 1 || block >= threads::PARALLEL_MIN_ELEMENTS {
                            let owned;
                            let sums = if gr.n == 1 {
                                &all_sums
                            } else {
                                owned = sums_over(ni * gr.s, gr.s);
                                &owned
                            };
                            for (c, s) in sums.iter().enumerate() {
                                let gamma_c = wide(gamma_v[c]);
                                group_terms[c / k][0] += gamma_c * s[0];
                                group_terms[c / k][1] += gamma_c * s[1];
                            }
                        } else {
                            for (dyr, xr) in dyb.chunks_exact(row_len).zip(xb.chunks_exact(row_len))
                            {
                                for (gi, ((ds, xsg), gs)) in dyr
                                    .chunks_exact(k)
                                    .zip(xr.chunks_exact(k))
                                    .zip(gamma_v.chunks_exact(k))
                                    .enumerate()
                                {
                                    let (a, b) = (inv_std[gi], shift[gi]);
                                    let t = &mut group_terms[gi];
                                    for ((&d, &x), &gm) in ds.iter().zip(xsg).zip(gs) {
                                        let scaled = gm * d;
                                        t[0] += wide(scaled);
                                        t[1] += wide(scaled * (x * a + b));
                                    }
                                }
                            }
                        }
                    }
                    let terms: Vec<[F; 2]> = group_terms
                        .iter()
                        .map(|t| [narrow(t[0] / m), narrow(t[1] / m)])
                        .collect();
                    if gr.s == 1 {
                        for (gi, ((out, (ds, xsg)), gs)) in dx_block
                            .chunks_exact_mut(k)
                            .zip(dyb.chunks_exact(k).zip(xb.chunks_exact(k)))
                            .zip(gamma_v.chunks_exact(k))
                            .enumerate()
                        {
                            let (a, b) = (inv_std[gi], shift[gi]);
                            let [mean_dy, mean_dy_xhat] = terms[gi];
                            for (((o, &d), &x), &gm) in out.iter_mut().zip(ds).zip(xsg).zip(gs) {
                                *o = a * (gm * d - mean_dy - (x * a + b) * mean_dy_xhat);
                            }
                        }
                        return;
                    }
                    // dx = p·dy + q·x + r per column, from
                    // dx = σ⁻¹ (γ·dy − t0 − x̂·t1) with x̂ = x·σ⁻¹ + shift.
                    let column = |c: usize| {
                        let (a, b, [t0, t1]) = (inv_std[c / k], shift[c / k], terms[c / k]);
                        (a * gamma_v[c], -a * t1 * a, -a * (t0 + b * t1))
                    };
                    let coefficients: Vec<(F, F, F)> = (0..row_len).map(column).collect();
                    let inner_parallel = block >= threads::PARALLEL_MIN_ELEMENTS;
                    for_each_chunk(
                        dx_block,
                        rows_per_task * row_len,
                        inner_parallel,
                        |t, chunk| {
                            let start = t * rows_per_task * row_len;
                            let rows = dyb[start..start + chunk.len()]
                                .chunks_exact(row_len)
                                .zip(xb[start..start + chunk.len()].chunks_exact(row_len));
                            for (out, (dyr, xr)) in chunk.chunks_exact_mut(row_len).zip(rows) {
                                for (((o, &d), &x), &(p, q, r)) in
                                    out.iter_mut().zip(dyr).zip(xr).zip(&coefficients)
                                {
                                    *o = p * d + q * x + r;
                                }
                            }
                        },
                    );
                });
                Some(ungrouped(dx, &gr, &shape))
            } else {
                None
            };
            let param_grad = |which: usize| -> ArrayD<F> {
                let values: Vec<F> = all_sums.iter().map(|s| narrow(s[which])).collect();
                ArrayD::from_shape_vec(IxDyn(&param_shape), values).expect("param size")
            };
            let mut grads = vec![dx.and_then(some_grad)];
            if has_gamma {
                grads.push(if gamma_needs {
                    some_grad(param_grad(1))
                } else {
                    None
                });
            }
            if has_beta {
                grads.push(if beta_needs {
                    some_grad(param_grad(0))
                } else {
                    None
                });
            }
            Ok(grads)
        })
    });
    Ok((tensor, mean, variance))
}

/// Checks `gamma`/`beta` (and given statistics) against the parameter shape, casts everything
/// to one dtype, and runs the kernel for it.
#[allow(clippy::too_many_arguments)]
fn normalize(
    op: &'static str,
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    grouping: Grouping,
    epsilon: f64,
    given: Option<(&Tensor, &Tensor)>,
) -> Result<(Tensor, Vec<f64>, Vec<f64>, DType)> {
    if epsilon.is_nan() || epsilon < 0.0 {
        return Err(Error::argument(
            op,
            format!("epsilon must be >= 0, got {epsilon}"),
        ));
    }
    let named = [("gamma", gamma), ("beta", beta)];
    let stats = given.map(|(m, v)| [("mean", m), ("variance", v)]);
    let mut dtype = x.dtype();
    for (name, t) in named
        .iter()
        .filter_map(|(n, t)| t.map(|t| (*n, t)))
        .chain(stats.iter().flatten().map(|(n, t)| (*n, *t)))
    {
        if t.shape() != grouping.param_shape {
            return Err(Error::shape(
                op,
                format!(
                    "{name} of shape {:?} does not fit an input of shape {:?}: it needs {:?}",
                    t.shape(),
                    x.shape(),
                    grouping.param_shape
                ),
            ));
        }
        if name == "gamma" || name == "beta" {
            dtype = dtype.promote(t.dtype());
        }
    }
    let x = x.cast(dtype)?;
    let gamma = gamma.map(|t| t.cast(dtype)).transpose()?;
    let beta = beta.map(|t| t.cast(dtype)).transpose()?;
    let given = given.map(|(m, v)| {
        (
            m.to_f64().iter().copied().collect::<Vec<_>>(),
            v.to_f64().iter().copied().collect::<Vec<_>>(),
        )
    });
    let (out, mean, variance) = match dtype {
        DType::F32 => normalize_typed::<f32>(
            op,
            &x,
            gamma.as_ref(),
            beta.as_ref(),
            grouping,
            epsilon,
            given,
        )?,
        DType::F64 => normalize_typed::<f64>(
            op,
            &x,
            gamma.as_ref(),
            beta.as_ref(),
            grouping,
            epsilon,
            given,
        )?,
    };
    Ok((out, mean, variance, dtype))
}

impl Tensor {
    /// Batch normalization with the batch's statistics (training): each feature (an index into
    /// the `axes`, Keras's `axis`) is normalized by the mean and biased variance over every
    /// other axis, then scaled by `gamma` and shifted by `beta` (shaped as the `axes`' sizes).
    /// Returns the statistics too, for the moving averages.
    pub fn batch_norm(
        &self,
        gamma: Option<&Tensor>,
        beta: Option<&Tensor>,
        axes: &[isize],
        epsilon: f64,
    ) -> Result<BatchNormOutput> {
        let grouping = Grouping::batch("batch_norm", &self.shape(), axes)?;
        let param_shape = grouping.param_shape.clone();
        let (output, mean, variance, dtype) =
            normalize("batch_norm", self, gamma, beta, grouping, epsilon, None)?;
        let stat = |values: Vec<f64>| -> Result<Tensor> {
            Tensor::from_array(
                ArrayD::from_shape_vec(IxDyn(&param_shape), values)
                    .map_err(|e| Error::shape("batch_norm", e.to_string()))?,
            )
            .cast(dtype)
        };
        Ok(BatchNormOutput {
            output,
            mean: stat(mean)?,
            variance: stat(variance)?,
        })
    }

    /// Batch normalization with given statistics (inference, Keras's moving mean and variance):
    /// `gamma * (x - mean) / sqrt(variance + epsilon) + beta` per feature along `axes`.
    pub fn batch_norm_inference(
        &self,
        gamma: Option<&Tensor>,
        beta: Option<&Tensor>,
        mean: &Tensor,
        variance: &Tensor,
        axes: &[isize],
        epsilon: f64,
    ) -> Result<Tensor> {
        let op = "batch_norm_inference";
        let grouping = Grouping::batch(op, &self.shape(), axes)?;
        Ok(normalize(
            op,
            self,
            gamma,
            beta,
            grouping,
            epsilon,
            Some((mean, variance)),
        )?
        .0)
    }

    /// Layer normalization: each sample normalized over `axes` (Keras's `axis`), then scaled and
    /// shifted elementwise by `gamma` and `beta` shaped as those axes' sizes.
    pub fn layer_norm(
        &self,
        gamma: Option<&Tensor>,
        beta: Option<&Tensor>,
        axes: &[isize],
        epsilon: f64,
    ) -> Result<Tensor> {
        let grouping = Grouping::layer("layer_norm", &self.shape(), axes)?;
        Ok(normalize("layer_norm", self, gamma, beta, grouping, epsilon, None)?.0)
    }

    /// Group normalization (Wu & He 2018): the channels on `axis` split into `groups`
    /// consecutive groups; each sample's group is normalized over its channels and all other
    /// non-batch axes, then scaled and shifted per channel by `gamma`, `beta` of shape
    /// `(channels,)`.
    pub fn group_norm(
        &self,
        gamma: Option<&Tensor>,
        beta: Option<&Tensor>,
        groups: usize,
        axis: isize,
        epsilon: f64,
    ) -> Result<Tensor> {
        let grouping = Grouping::group("group_norm", &self.shape(), groups, axis)?;
        Ok(normalize("group_norm", self, gamma, beta, grouping, epsilon, None)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    const EPS: f64 = 1e-3;

    fn sample(shape: &[usize], seed: u64) -> Vec<f64> {
        let n: usize = shape.iter().product();
        // A fixed pseudo-random pattern with distinct values.
        (0..n)
            .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64) / 250.0 - 2.0)
            .collect()
    }

    /// The unfused definition from the engine's small ops: (x - mean) / sqrt(var + eps) over
    /// `reduce`, then `* gamma + beta` broadcast with `param_shape`.
    fn reference(
        x: &Tensor,
        reduce: &[isize],
        gamma: &Tensor,
        beta: &Tensor,
        broadcast: &[isize],
    ) -> Tensor {
        let mean = x.mean(Some(reduce), true).unwrap();
        let var = x.var(Some(reduce), true).unwrap();
        let std = var.add(&Tensor::scalar(EPS)).unwrap().sqrt().unwrap();
        let x_hat = x.sub(&mean).unwrap().div(&std).unwrap();
        x_hat
            .mul(&gamma.reshape(broadcast).unwrap())
            .unwrap()
            .add(&beta.reshape(broadcast).unwrap())
            .unwrap()
    }

    fn grads(y: &Tensor, weights: &Tensor, inputs: &[Tensor]) -> Vec<Vec<f64>> {
        crate::autodiff::grad(
            &y.mul(weights).unwrap().sum(None, false).unwrap(),
            inputs,
            None,
            Default::default(),
        )
        .unwrap()
        .into_iter()
        .map(|g| values(&g.unwrap()))
        .collect()
    }

    fn check(fused: &Tensor, unfused: &Tensor, inputs: &[Tensor]) {
        assert_close(&values(fused), &values(unfused), 1e-10);
        let weights = t64(&fused.shape(), &sample(&fused.shape(), 7));
        for (f, u) in grads(fused, &weights, inputs)
            .iter()
            .zip(grads(unfused, &weights, inputs))
        {
            assert_close(f, &u, 1e-9);
        }
    }

    #[test]
    fn batch_norm_matches_the_unfused_definition_on_any_axis() {
        let shape = [3, 2, 4];
        for (axes, reduce, broadcast) in [
            (vec![-1isize], vec![0isize, 1], vec![1isize, 1, 4]),
            (vec![1], vec![0, 2], vec![1, 2, 1]),
            (vec![1, 2], vec![0], vec![1, 2, 4]),
        ] {
            let x = var64(&shape, &sample(&shape, 1));
            let pshape: Vec<usize> = axes.iter().map(|&a| shape[(a + 3) as usize % 3]).collect();
            let gamma = var64(&pshape, &sample(&pshape, 2));
            let beta = var64(&pshape, &sample(&pshape, 3));
            let out = x.batch_norm(Some(&gamma), Some(&beta), &axes, EPS).unwrap();
            let unfused = reference(&x, &reduce, &gamma, &beta, &broadcast);
            check(
                &out.output,
                &unfused,
                &[x.clone(), gamma.clone(), beta.clone()],
            );
            let mean = x.mean(Some(&reduce), false).unwrap();
            assert_close(&values(&out.mean), &values(&mean), 1e-12);
            let var = x.var(Some(&reduce), false).unwrap();
            assert_close(&values(&out.variance), &values(&var), 1e-12);
        }
    }

    #[test]
    fn batch_norm_inference_uses_the_given_statistics() {
        let x = var64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let gamma = var64(&[3], &[1.0, 2.0, 0.5]);
        let beta = var64(&[3], &[0.0, 1.0, -1.0]);
        let mean = t64(&[3], &[0.5, 1.0, 2.0]);
        let var = t64(&[3], &[1.0, 4.0, 0.25]);
        let y = x
            .batch_norm_inference(Some(&gamma), Some(&beta), &mean, &var, &[-1], EPS)
            .unwrap();
        let std = var.add(&Tensor::scalar(EPS)).unwrap().sqrt().unwrap();
        let unfused = x
            .sub(&mean)
            .unwrap()
            .div(&std)
            .unwrap()
            .mul(&gamma)
            .unwrap()
            .add(&beta)
            .unwrap();
        check(&y, &unfused, &[x.clone(), gamma.clone(), beta.clone()]);
    }

    #[test]
    fn layer_norm_matches_the_unfused_definition() {
        let shape = [2, 3, 4];
        for (axes, broadcast) in [
            (vec![-1isize], vec![1isize, 1, 4]),
            (vec![1, 2], vec![1, 3, 4]),
            (vec![1], vec![1, 3, 1]),
        ] {
            let x = var64(&shape, &sample(&shape, 4));
            let pshape: Vec<usize> = axes.iter().map(|&a| shape[(a + 3) as usize % 3]).collect();
            let gamma = var64(&pshape, &sample(&pshape, 5));
            let beta = var64(&pshape, &sample(&pshape, 6));
            let y = x.layer_norm(Some(&gamma), Some(&beta), &axes, EPS).unwrap();
            let unfused = reference(&x, &axes, &gamma, &beta, &broadcast);
            check(&y, &unfused, &[x.clone(), gamma.clone(), beta.clone()]);
        }
    }

    #[test]
    fn group_norm_matches_the_unfused_definition() {
        // (batch 2, 3 positions, 6 channels) in 3 groups of 2 channels.
        let shape = [2, 3, 6];
        let x = var64(&shape, &sample(&shape, 8));
        let gamma = var64(&[6], &sample(&[6], 9));
        let beta = var64(&[6], &sample(&[6], 10));
        let y = x.group_norm(Some(&gamma), Some(&beta), 3, -1, EPS).unwrap();
        let grouped = x.reshape(&[2, 3, 3, 2]).unwrap();
        let unfused = reference(&grouped, &[1, 3], &gamma, &beta, &[1, 1, 3, 2])
            .reshape(&[2, 3, 6])
            .unwrap();
        check(&y, &unfused, &[x.clone(), gamma.clone(), beta.clone()]);
    }

    #[test]
    fn norms_without_gamma_or_beta_and_large_inputs_in_parallel() {
        // Large enough for the parallel paths; compared with the serial reference ops.
        let shape = [300, 130];
        let x = var64(&shape, &sample(&shape, 11));
        let ones = t64(&[130], &[1.0; 130]);
        let zeros = t64(&[130], &[0.0; 130]);
        let bn = x.batch_norm(None, None, &[-1], EPS).unwrap().output;
        check(
            &bn,
            &reference(&x, &[0], &ones, &zeros, &[1, 130]),
            std::slice::from_ref(&x),
        );
        let ln = x.layer_norm(None, None, &[-1], EPS).unwrap();
        check(
            &ln,
            &reference(&x, &[1], &ones, &zeros, &[1, 130]),
            std::slice::from_ref(&x),
        );
    }

    #[test]
    fn group_norm_on_large_samples_in_parallel() {
        // Each sample's block exceeds the parallel threshold: per-block parallel sums.
        let shape = [2, 400, 100];
        let x = var64(&shape, &sample(&shape, 12));
        let gamma = var64(&[100], &sample(&[100], 13));
        let beta = var64(&[100], &sample(&[100], 14));
        let y = x.group_norm(Some(&gamma), Some(&beta), 4, -1, EPS).unwrap();
        let unfused = reference(
            &x.reshape(&[2, 400, 4, 25]).unwrap(),
            &[1, 3],
            &gamma,
            &beta,
            &[1, 1, 4, 25],
        )
        .reshape(&[2, 400, 100])
        .unwrap();
        check(&y, &unfused, &[x.clone(), gamma.clone(), beta.clone()]);
    }

    #[test]
    fn norm_errors_name_the_problem() {
        let x = t64(&[2, 6], &[0.0; 12]);
        let err = x.batch_norm(None, None, &[2], EPS).err().unwrap();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = x.group_norm(None, None, 4, -1, EPS).err().unwrap();
        assert!(
            err.to_string().contains("multiple of the number of groups"),
            "{err}"
        );
        let gamma = t64(&[5], &[1.0; 5]);
        let err = x.layer_norm(Some(&gamma), None, &[-1], EPS).err().unwrap();
        assert!(err.to_string().contains("[6]"), "{err}");
    }
}
