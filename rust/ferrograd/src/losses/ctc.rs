//! Connectionist Temporal Classification (Graves et al., 2006, "Connectionist Temporal
//! Classification: Labelling Unsegmented Sequence Data with Recurrent Neural Networks"), with
//! Keras 3's semantics (`keras.ops.ctc_loss`, `keras.losses.ctc`).
//!
//! CTC scores a label sequence `l` (length `L`) against per-frame class scores of length `T`
//! without an alignment: it sums the probability of every frame-level path that collapses to `l`
//! once repeats are merged and blanks (`mask_index`) removed. The sum runs over the extended
//! sequence `l'` = blank, l₁, blank, l₂, …, blank (`2L + 1` states) with the forward (alpha) and
//! backward (beta) recursions of the paper's section 4.1, in log space so that long sequences do
//! not underflow. The logits are turned into log-probabilities with a log-softmax over classes,
//! as every Keras backend does, and the gradient with respect to the logits is the paper's
//! eq. 16: `softmax(x)[t, k] − Σ_{s: l'ₛ = k} P(state s at t | l)`.
//!
//! Everything runs in float64 whatever the logits' dtype (the recursions are O(T·L) per sample,
//! cheap next to the network that produced the logits) and the batch is split over the thread
//! pool. An alignment that cannot exist (fewer frames than `L` plus the number of adjacent
//! repeats, each of which needs a blank between) gives a loss of `+inf`, as Keras's TensorFlow
//! and PyTorch backends do, and a gradient of exactly 0 for that sample, so one impossible sample
//! shows up in the reported loss without turning the weights into NaN.

use ndarray::{ArrayD, Axis, IxDyn, Zip};
use rayon::prelude::*;

use crate::autodiff;
use crate::error::{Error, Result};
use crate::ops::ctc_common::{blank_index, lengths, log_add, logits_dims};
use crate::ops::typed_grad;
use crate::tensor::{Array, Element, Storage, Tensor};
use crate::threads;

/// Below this many cells of recursion over the whole batch the work stays on the calling thread.
const PARALLEL_MIN_CELLS: usize = 1 << 14;

/// The log-softmax of one frame, shifted by its maximum so that nothing overflows.
fn log_softmax_row(logits: &[f64], out: &mut [f64]) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // A frame of -inf only: shift by 0 so that exp gives 0s, not NaN (as ops::softmax).
    let shift = if max.is_finite() { max } else { 0.0 };
    let log_sum = logits.iter().map(|&x| (x - shift).exp()).sum::<f64>().ln();
    for (o, &x) in out.iter_mut().zip(logits) {
        *o = (x - shift) - log_sum;
    }
}

/// The CTC problem of one sample: its log-probabilities (`time × classes`, row-major, only the
/// valid frames) and its labels.
struct Sample<'a> {
    log_probs: &'a [f64],
    time: usize,
    classes: usize,
    labels: &'a [usize],
    blank: usize,
}

impl Sample<'_> {
    #[inline(always)]
    fn lp(&self, t: usize, class: usize) -> f64 {
        self.log_probs[t * self.classes + class]
    }

    /// `l'ₛ`: even states are blanks, odd state `2i + 1` is label `i`.
    #[inline(always)]
    fn state_class(&self, s: usize) -> usize {
        if s % 2 == 0 {
            self.blank
        } else {
            self.labels[s / 2]
        }
    }

    /// Whether a path may jump from state `s − 2` straight to `s`: only onto a label that
    /// differs from the label before the blank in between (a repeat needs the blank).
    #[inline(always)]
    fn can_skip_into(&self, s: usize) -> bool {
        s >= 2 && s % 2 == 1 && self.labels[s / 2] != self.labels[s / 2 - 1]
    }

    /// `log α_t(s)`: the log-probability of the first `t + 1` frames ending in state `s`,
    /// emission at `t` included (Graves et al., eqs. 6–7). Row-major `time × states`.
    fn alpha(&self) -> Vec<f64> {
        let states = 2 * self.labels.len() + 1;
        let mut alpha = vec![f64::NEG_INFINITY; self.time * states];
        alpha[0] = self.lp(0, self.blank);
        if states > 1 {
            alpha[1] = self.lp(0, self.labels[0]);
        }
        for t in 1..self.time {
            let (done, rest) = alpha.split_at_mut(t * states);
            let previous = &done[(t - 1) * states..];
            let current = &mut rest[..states];
            for s in 0..states {
                let mut sum = previous[s];
                if s >= 1 {
                    sum = log_add(sum, previous[s - 1]);
                }
                if self.can_skip_into(s) {
                    sum = log_add(sum, previous[s - 2]);
                }
                current[s] = sum + self.lp(t, self.state_class(s));
            }
        }
        alpha
    }

    /// `log β_t(s)`: the log-probability of frames `t + 1 ..` given state `s` at `t`, emission at
    /// `t` excluded, so that `α_t(s) β_t(s) / P(l)` is the posterior of state `s` at `t` without
    /// dividing by the emission probability (which may underflow to 0).
    fn beta(&self) -> Vec<f64> {
        let states = 2 * self.labels.len() + 1;
        let last = self.time - 1;
        let mut beta = vec![f64::NEG_INFINITY; self.time * states];
        beta[last * states + states - 1] = 0.0;
        if states > 1 {
            beta[last * states + states - 2] = 0.0;
        }
        for t in (0..last).rev() {
            let (head, tail) = beta.split_at_mut((t + 1) * states);
            let next = &tail[..states];
            let current = &mut head[t * states..];
            for s in 0..states {
                let mut sum = next[s] + self.lp(t + 1, self.state_class(s));
                if s + 1 < states {
                    sum = log_add(sum, next[s + 1] + self.lp(t + 1, self.state_class(s + 1)));
                }
                if s + 2 < states && self.can_skip_into(s + 2) {
                    sum = log_add(sum, next[s + 2] + self.lp(t + 1, self.state_class(s + 2)));
                }
                current[s] = sum;
            }
        }
        beta
    }

    /// The negative log-likelihood `−log P(l | x)` and, when asked, its gradient with respect to
    /// the logits of the valid frames (`time × classes`). An impossible alignment gives `+inf`
    /// and a zero gradient.
    fn loss_and_grad(&self, want_grad: bool) -> (f64, Option<Vec<f64>>) {
        let labels = self.labels.len();
        if self.time == 0 {
            // No frames: only the empty labelling has an (empty) path.
            let loss = if labels == 0 { 0.0 } else { f64::INFINITY };
            return (loss, want_grad.then(Vec::new));
        }
        let states = 2 * labels + 1;
        let alpha = self.alpha();
        let final_row = &alpha[(self.time - 1) * states..];
        let mut log_likelihood = final_row[states - 1];
        if states > 1 {
            log_likelihood = log_add(log_likelihood, final_row[states - 2]);
        }
        let loss = -log_likelihood;
        if !want_grad {
            return (loss, None);
        }
        let mut grad = vec![0.0; self.time * self.classes];
        if !log_likelihood.is_finite() {
            return (loss, Some(grad));
        }
        let beta = self.beta();
        for t in 0..self.time {
            let row = &mut grad[t * self.classes..(t + 1) * self.classes];
            for (class, g) in row.iter_mut().enumerate() {
                *g = self.lp(t, class).exp();
            }
            for s in 0..states {
                let log_occupancy = alpha[t * states + s] + beta[t * states + s] - log_likelihood;
                row[self.state_class(s)] -= log_occupancy.exp();
            }
        }
        (loss, Some(grad))
    }
}

/// The CTC negative log-likelihood of each sample, as `keras.ops.ctc_loss`.
///
/// - `targets`: `(batch, max_label_length)` integer labels; only the first `target_lengths[b]`
///   of row `b` are read, and each must be a class in `[0, num_classes)` other than
///   `mask_index`.
/// - `logits`: `(batch, max_time, num_classes)` unnormalized scores (a log-softmax is applied
///   over the classes); only the first `output_lengths[b]` frames of sample `b` are read.
/// - `target_lengths`, `output_lengths`: `(batch,)` lengths, in `[0, max_label_length]` and
///   `[0, max_time]`.
/// - `mask_index`: the blank class.
///
/// Returns the `(batch,)` losses in the logits' dtype, differentiable with respect to the logits
/// (frames past a sample's length get a zero gradient). A sample that no alignment can produce
/// gets `+inf` and a zero gradient.
///
/// ```
/// use ferrograd::losses::ctc_loss;
/// use ferrograd::Tensor;
/// use ndarray::{arr1, arr2};
///
/// // Uniform scores over {blank, a} for 2 frames: the paths "a a", "a _", "_ a" give "a".
/// let logits = Tensor::from_vec(&[1, 2, 2], vec![0.0f64; 4]).unwrap();
/// let targets = arr2(&[[1i64]]).into_dyn();
/// let lengths = arr1(&[1i64]).into_dyn();
/// let frames = arr1(&[2i64]).into_dyn();
/// let loss = ctc_loss(&targets, &logits, &lengths, &frames, 0).unwrap();
/// assert!((loss.item().unwrap() - (4.0f64 / 3.0).ln()).abs() < 1e-12);
/// ```
pub fn ctc_loss(
    targets: &ArrayD<i64>,
    logits: &Tensor,
    target_lengths: &ArrayD<i64>,
    output_lengths: &ArrayD<i64>,
    mask_index: i64,
) -> Result<Tensor> {
    const OP: &str = "ctc_loss";
    let [batch, max_time, classes] = logits_dims(OP, "output", &logits.shape())?;
    let blank = blank_index(OP, mask_index, classes)?;
    let (target_batch, max_labels) = match *targets.shape() {
        [b, s] => (b, s),
        _ => {
            return Err(Error::shape(
                OP,
                format!(
                    "target must have shape (batch_size, max_length) of integer labels, got \
                     target.shape={:?}",
                    targets.shape()
                ),
            ))
        }
    };
    if target_batch != batch {
        return Err(Error::shape(
            OP,
            format!(
                "target and output must have the same batch size, got target.shape={:?} and \
                 output.shape={:?}",
                targets.shape(),
                logits.shape()
            ),
        ));
    }
    let label_counts = lengths(
        OP,
        "target_length",
        target_lengths,
        batch,
        max_labels,
        "target.shape[1]",
    )?;
    let frame_counts = lengths(
        OP,
        "output_length",
        output_lengths,
        batch,
        max_time,
        "output.shape[1]",
    )?;
    let mut labels: Vec<Vec<usize>> = Vec::with_capacity(batch);
    for (sample, &count) in label_counts.iter().enumerate() {
        let mut row = Vec::with_capacity(count);
        for position in 0..count {
            let label = targets[[sample, position]];
            if label < 0 || label >= classes as i64 {
                return Err(Error::argument(
                    OP,
                    format!(
                        "target[{sample}, {position}]={label} is not a class: labels must be in \
                         [0, {classes}) for output.shape={:?}",
                        logits.shape()
                    ),
                ));
            }
            if label as usize == blank {
                return Err(Error::argument(
                    OP,
                    format!(
                        "target[{sample}, {position}]={label} is the blank (mask_index={blank}); \
                         the blank cannot be a label within target_length[{sample}]={count}"
                    ),
                ));
            }
            row.push(label as usize);
        }
        labels.push(row);
    }

    let needs_grad = autodiff::is_grad_enabled() && logits.requires_grad();
    let scores = logits.to_f64();
    let scores = scores.as_standard_layout();
    let scores = scores.as_slice().expect("standard layout is contiguous");
    let frame_size = max_time * classes;
    let solve = |sample: usize| -> (f64, Option<Vec<f64>>) {
        let time = frame_counts[sample];
        let start = sample * frame_size;
        let mut log_probs = vec![0.0; time * classes];
        for t in 0..time {
            let offset = start + t * classes;
            log_softmax_row(
                &scores[offset..offset + classes],
                &mut log_probs[t * classes..(t + 1) * classes],
            );
        }
        Sample {
            log_probs: &log_probs,
            time,
            classes,
            labels: &labels[sample],
            blank,
        }
        .loss_and_grad(needs_grad)
    };
    let cells: usize = (0..batch)
        .map(|b| frame_counts[b] * (2 * labels[b].len() + 1 + classes))
        .sum();
    let results: Vec<(f64, Option<Vec<f64>>)> = if batch > 1 && cells >= PARALLEL_MIN_CELLS {
        threads::install(|| (0..batch).into_par_iter().map(solve).collect())
    } else {
        (0..batch).map(solve).collect()
    };

    let dtype = logits.dtype();
    let losses = ArrayD::from_shape_vec(
        IxDyn(&[batch]),
        results.iter().map(|(loss, _)| *loss).collect(),
    )
    .expect("one loss per sample");
    let out = Storage::from_array(losses).cast(dtype);
    if !needs_grad {
        return Ok(Tensor::from_storage(out, false));
    }
    let mut grad = ArrayD::<f64>::zeros(IxDyn(&[batch, max_time, classes]));
    for (sample, (_, sample_grad)) in results.into_iter().enumerate() {
        let sample_grad = sample_grad.expect("gradients were requested");
        let frames = sample_grad.len();
        let mut target = grad.index_axis_mut(Axis(0), sample);
        let target = target
            .as_slice_mut()
            .expect("standard layout is contiguous");
        target[..frames].copy_from_slice(&sample_grad);
    }
    let grad = Storage::from_array(grad).cast(dtype);
    Ok(Tensor::from_op(out, OP, &[logits], move || {
        Box::new(move |g: &Storage| {
            let scaled = dispatch!(&grad, |saved| scale_by_sample(saved, g)?);
            Ok(vec![Some(scaled)])
        })
    }))
}

/// `saved[b, t, k] · g[b]`: the chain rule through the per-sample losses.
fn scale_by_sample<F: Element>(saved: &Array<F>, g: &Storage) -> Result<Storage> {
    let g = typed_grad::<F>("ctc_loss", g)?;
    let per_sample = g
        .to_shape(IxDyn(&[g.len(), 1, 1]))
        .expect("one gradient per sample");
    let scaled = Zip::from(saved)
        .and_broadcast(&per_sample)
        .map_collect(|&s, &g| s * g);
    Ok(Storage::from_array(scaled))
}

/// `keras.losses.ctc(y_true, y_pred)`: the per-sample CTC loss of integer labels `y_true`
/// `(batch, max_length)` against logits `y_pred` `(batch, max_time, num_classes)`, with class 0
/// as the blank and every frame used.
///
/// Keras passes `target_length = y_true.shape[1]` for every sample, which makes padding
/// meaningless there; here a row may end in padding 0s (the blank, never a label), and its
/// length is the number of labels before them. Rows without padding get exactly Keras's loss.
/// A 0 followed by a label is an error, since the blank cannot be a label.
pub fn ctc(y_true: &ArrayD<i64>, y_pred: &Tensor) -> Result<Tensor> {
    const OP: &str = "ctc";
    const BLANK: i64 = 0;
    if y_true.ndim() != 2 {
        return Err(Error::shape(
            OP,
            format!(
                "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` \
                 in integer format. Received: y_true.shape={:?}",
                y_true.shape()
            ),
        ));
    }
    if y_pred.ndim() != 3 {
        return Err(Error::shape(
            OP,
            format!(
                "Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, \
                 num_classes)`. Received: y_pred.shape={:?}",
                y_pred.shape()
            ),
        ));
    }
    let (batch, width) = (y_true.shape()[0], y_true.shape()[1]);
    let mut target_lengths = Vec::with_capacity(batch);
    for (sample, row) in y_true.outer_iter().enumerate() {
        let length = row.iter().position(|&v| v == BLANK).unwrap_or(width);
        if let Some(offset) = row.iter().skip(length).position(|&v| v != BLANK) {
            return Err(Error::argument(
                OP,
                format!(
                    "y_true[{sample}] has the blank label 0 at position {length} followed by \
                     label {} at position {}: 0 is the blank and may only pad the end of a row",
                    row[length + offset],
                    length + offset
                ),
            ));
        }
        target_lengths.push(length as i64);
    }
    let target_lengths =
        ArrayD::from_shape_vec(IxDyn(&[batch]), target_lengths).expect("one length per sample");
    let output_lengths = ArrayD::from_elem(IxDyn(&[y_pred.shape()[0]]), y_pred.shape()[1] as i64);
    ctc_loss(y_true, y_pred, &target_lengths, &output_lengths, BLANK)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::gradcheck::{gradcheck, GradcheckOptions};
    use ndarray::{arr1, arr2};

    fn ids(rows: &[&[i64]]) -> ArrayD<i64> {
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut out = ArrayD::zeros(IxDyn(&[rows.len(), width]));
        for (b, row) in rows.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                out[[b, i]] = v;
            }
        }
        out
    }

    fn lens(values: &[i64]) -> ArrayD<i64> {
        arr1(values).into_dyn()
    }

    /// The collapse of a frame-level path: merge repeats, then drop blanks.
    fn collapse(path: &[usize], blank: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut previous = None;
        for &c in path {
            if Some(c) != previous && c != blank {
                out.push(c);
            }
            previous = Some(c);
        }
        out
    }

    /// −log Σ over all `classes^time` paths that collapse to `labels`: the definition of CTC,
    /// independent of any recursion.
    fn brute_force(logits: &[f64], time: usize, classes: usize, labels: &[usize]) -> f64 {
        let probs: Vec<f64> = (0..time)
            .flat_map(|t| {
                let row = &logits[t * classes..(t + 1) * classes];
                let z: f64 = row.iter().map(|v| v.exp()).sum();
                row.iter().map(move |v| v.exp() / z).collect::<Vec<_>>()
            })
            .collect();
        let mut total = 0.0;
        let mut path = vec![0usize; time];
        for code in 0..classes.pow(time as u32) {
            let mut rest = code;
            let mut p = 1.0;
            for (t, slot) in path.iter_mut().enumerate() {
                *slot = rest % classes;
                rest /= classes;
                p *= probs[t * classes + *slot];
            }
            if collapse(&path, 0) == labels {
                total += p;
            }
        }
        -total.ln()
    }

    #[test]
    fn matches_brute_force_enumeration() {
        let time = 4;
        let classes = 3;
        let logits: Vec<f64> = (0..time * classes)
            .map(|i| ((i * 7 % 5) as f64) * 0.3 - 0.5)
            .collect();
        for labels in [&[][..], &[1], &[2, 1], &[1, 1], &[1, 2, 1], &[2, 2, 2]] {
            let x = t64(&[1, time, classes], &logits);
            let targets = ids(&[labels]);
            let target = if labels.is_empty() {
                ArrayD::zeros(IxDyn(&[1, 1]))
            } else {
                targets
            };
            let loss = ctc_loss(&target, &x, &lens(&[labels.len() as i64]), &lens(&[4]), 0)
                .unwrap()
                .item()
                .unwrap();
            let labels: Vec<usize> = labels.iter().map(|&v| v as usize).collect();
            let expected = brute_force(&logits, time, classes, &labels);
            if expected.is_finite() {
                assert!(
                    (loss - expected).abs() < 1e-12,
                    "{labels:?}: {loss} vs {expected}"
                );
            } else {
                assert_eq!(loss, f64::INFINITY, "{labels:?}");
            }
        }
    }

    #[test]
    fn lengths_cut_frames_and_labels() {
        // Sample 1 uses 2 of its 3 frames and 1 of its 2 labels: the same as a cut problem.
        let logits = [0.2, -0.1, 0.7, 1.0, 0.0, -2.0, 0.3, 0.3, 0.3];
        let mut both = logits.to_vec();
        both.extend_from_slice(&logits);
        let x = t64(&[2, 3, 3], &both);
        let targets = ids(&[&[1, 2], &[2, 1]]);
        let losses = values(&ctc_loss(&targets, &x, &lens(&[2, 1]), &lens(&[3, 2]), 0).unwrap());
        assert!((losses[0] - brute_force(&logits, 3, 3, &[1, 2])).abs() < 1e-12);
        assert!((losses[1] - brute_force(&logits[..6], 2, 3, &[2])).abs() < 1e-12);
    }

    #[test]
    fn gradient_matches_finite_differences_and_padding_gets_none() {
        let logits: Vec<f64> = (0..2 * 4 * 3)
            .map(|i| ((i * 5 % 7) as f64) * 0.4 - 1.0)
            .collect();
        let x = var64(&[2, 4, 3], &logits);
        let targets = ids(&[&[1, 1], &[2, 1]]);
        let f = |inputs: &[Tensor]| {
            let per_sample = ctc_loss(&targets, &inputs[0], &lens(&[2, 2]), &lens(&[4, 3]), 0)?;
            per_sample.mul(&t64(&[2], &[0.7, -1.3]))?.sum(None, false)
        };
        gradcheck(&f, std::slice::from_ref(&x), GradcheckOptions::default()).unwrap();
        f(std::slice::from_ref(&x)).unwrap().backward().unwrap();
        let g = values(&x.grad().unwrap());
        // Frame 3 of sample 1 is past its length.
        assert!(g[(4 + 3) * 3..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn impossible_alignment_is_infinite_with_zero_gradient() {
        // "1 1" needs 3 frames (1, blank, 1); 2 are given.
        let x = var64(&[1, 2, 2], &[0.1, 0.2, 0.3, 0.4]);
        let loss = ctc_loss(&ids(&[&[1, 1]]), &x, &lens(&[2]), &lens(&[2]), 0).unwrap();
        assert_eq!(loss.item().unwrap(), f64::INFINITY);
        loss.backward().unwrap();
        assert!(values(&x.grad().unwrap()).iter().all(|&g| g == 0.0));
    }

    #[test]
    fn extreme_logits_stay_finite() {
        let x = var64(
            &[1, 3, 3],
            &[500.0, -500.0, 0.0, -500.0, 500.0, 0.0, 0.0, 0.0, 800.0],
        );
        let loss = ctc_loss(&ids(&[&[1, 2]]), &x, &lens(&[2]), &lens(&[3]), 0).unwrap();
        assert!((loss.item().unwrap()).abs() < 1e-9);
        loss.backward().unwrap();
        assert!(values(&x.grad().unwrap()).iter().all(|g| g.is_finite()));
    }

    #[test]
    fn float32_logits_give_float32_losses() {
        let x = Tensor::from_vec(&[1, 2, 2], vec![0.0f32; 4]).unwrap();
        let loss = ctc_loss(&arr2(&[[1i64]]).into_dyn(), &x, &lens(&[1]), &lens(&[2]), 0).unwrap();
        assert_eq!(loss.dtype(), crate::DType::F32);
        assert!((loss.item().unwrap() - (4.0f64 / 3.0).ln()).abs() < 1e-6);
    }

    #[test]
    fn blank_may_be_any_class() {
        // With the blank moved to class 2 and classes 0 and 2 swapped, the loss is unchanged.
        let logits = [0.2, -0.1, 0.7, 1.0, 0.0, -2.0, 0.3, 0.9, 0.3];
        let swapped: Vec<f64> = logits.chunks(3).flat_map(|r| [r[2], r[1], r[0]]).collect();
        let a = ctc_loss(
            &ids(&[&[1, 2]]),
            &t64(&[1, 3, 3], &logits),
            &lens(&[2]),
            &lens(&[3]),
            0,
        );
        let b = ctc_loss(
            &ids(&[&[1, 0]]),
            &t64(&[1, 3, 3], &swapped),
            &lens(&[2]),
            &lens(&[3]),
            2,
        );
        assert_close(&values(&a.unwrap()), &values(&b.unwrap()), 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_problem() {
        let x = t64(&[1, 2, 3], &[0.0; 6]);
        let err = |r: Result<Tensor>| r.expect_err("an error").to_string();
        let t = ids(&[&[1, 2]]);
        assert!(err(ctc_loss(&t, &x, &lens(&[3]), &lens(&[2]), 0)).contains("target_length[0]=3"));
        assert!(err(ctc_loss(&t, &x, &lens(&[2]), &lens(&[-1]), 0)).contains("output_length[0]=-1"));
        assert!(err(ctc_loss(&t, &x, &lens(&[2]), &lens(&[2, 2]), 0)).contains("shape"));
        assert!(
            err(ctc_loss(&ids(&[&[1, 3]]), &x, &lens(&[2]), &lens(&[2]), 0))
                .contains("not a class")
        );
        assert!(err(ctc_loss(&ids(&[&[0, 1]]), &x, &lens(&[2]), &lens(&[2]), 0)).contains("blank"));
        assert!(err(ctc_loss(&t, &x, &lens(&[2]), &lens(&[2]), 3)).contains("mask_index"));
        assert!(
            err(ctc_loss(&lens(&[1]), &x, &lens(&[1]), &lens(&[2]), 0)).contains("target.shape")
        );
        let flat = t64(&[2, 3], &[0.0; 6]);
        assert!(err(ctc_loss(&t, &flat, &lens(&[2]), &lens(&[2]), 0)).contains("output.shape"));
        assert!(err(ctc(&ids(&[&[1, 0, 2]]), &x)).contains("may only pad"));
    }

    #[test]
    fn keras_ctc_function_uses_every_frame_and_trailing_padding() {
        let logits: Vec<f64> = (0..2 * 4 * 3).map(|i| ((i * 3 % 5) as f64) * 0.5).collect();
        let x = t64(&[2, 4, 3], &logits);
        let padded = ids(&[&[1, 2, 0], &[2, 2, 1]]);
        let losses = values(&ctc(&padded, &x).unwrap());
        assert!((losses[0] - brute_force(&logits[..12], 4, 3, &[1, 2])).abs() < 1e-12);
        assert!((losses[1] - brute_force(&logits[12..], 4, 3, &[2, 2, 1])).abs() < 1e-12);
    }

    #[test]
    fn beam_search_with_a_wide_beam_is_exact() {
        // With a beam wider than every prefix, the best prefix and its probability are exact:
        // its score is minus its CTC loss. (Here, beside the loss, because `losses` sits above
        // `ops`: the decoder's own tests do not reach up to the loss.)
        let values: Vec<f64> = (0..4 * 3)
            .map(|i| ((i * 7 % 5) as f64) * 0.6 - 1.0)
            .collect();
        let x = t64(&[1, 4, 3], &values);
        let out = crate::ops::ctc_beam_search_decode(&x, &lens(&[4]), 100, 3, 0).unwrap();
        let mut previous = f64::INFINITY;
        for rank in 0..3 {
            let path: Vec<i64> = (0..4)
                .map(|t| out.paths[[rank, 0, t]])
                .take_while(|&c| c >= 0)
                .collect();
            let n = path.len();
            let mut target = ArrayD::zeros(IxDyn(&[1, n.max(1)]));
            for (i, &c) in path.iter().enumerate() {
                target[[0, i]] = c;
            }
            let loss = ctc_loss(&target, &x, &lens(&[n as i64]), &lens(&[4]), 0).unwrap();
            let score = out.scores[[0, rank]];
            assert!((score + loss.item().unwrap()).abs() < 1e-12, "{path:?}");
            assert!(score <= previous);
            previous = score;
        }
    }
}
