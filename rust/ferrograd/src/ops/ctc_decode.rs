//! Decoding CTC outputs into label sequences, as `keras.ops.ctc_decode`: greedy (best path) and
//! prefix beam search. Neither is differentiable; both return plain arrays.
//!
//! Output layout is Keras 3's: `paths` is `(top_paths, batch, max_time)` with each decoded
//! sequence left-aligned and padded with `-1`; `scores` is `(batch, top_paths)`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::ctc_common::{blank_index, lengths, log_add, logits_dims};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::threads;

/// Decoded sequences and their scores (see the module docs for the layout).
#[derive(Debug, Clone, PartialEq)]
pub struct CtcDecoded {
    /// `(top_paths, batch, max_time)` class ids, `-1` after each sequence's end.
    pub paths: ArrayD<i64>,
    /// `(batch, top_paths)`: for greedy decoding, minus the sum over the valid frames of each
    /// frame's largest input (Keras's `neg_sum_logits`); for beam search, the log-probability of
    /// each decoded sequence (summed over its alignments) under `log_softmax(inputs)`.
    pub scores: ArrayD<f64>,
}

/// Runs `decode` for every sample, in parallel when the batch is large enough to pay for it.
fn per_sample<T: Send>(
    batch: usize,
    work: usize,
    decode: impl Fn(usize) -> T + Sync + Send,
) -> Vec<T> {
    if batch > 1 && work >= threads::PARALLEL_MIN_ELEMENTS {
        threads::install(|| (0..batch).into_par_iter().map(decode).collect())
    } else {
        (0..batch).map(decode).collect()
    }
}

/// Lays decoded sequences out as Keras does: `(top_paths, batch, max_time)` padded with -1.
fn assemble(decoded: Vec<Vec<(Vec<usize>, f64)>>, top_paths: usize, max_time: usize) -> CtcDecoded {
    let batch = decoded.len();
    let mut paths = ArrayD::from_elem(IxDyn(&[top_paths, batch, max_time]), -1i64);
    let mut scores = ArrayD::from_elem(IxDyn(&[batch, top_paths]), f64::NEG_INFINITY);
    for (sample, candidates) in decoded.into_iter().enumerate() {
        for (rank, (sequence, score)) in candidates.into_iter().enumerate() {
            for (position, class) in sequence.into_iter().enumerate() {
                paths[[rank, sample, position]] = class as i64;
            }
            scores[[sample, rank]] = score;
        }
    }
    CtcDecoded { paths, scores }
}

/// Greedy (best path) decoding, as Keras: the highest-scoring class of each of the first
/// `sequence_lengths[b]` frames, with runs of one class merged when `merge_repeated` (so
/// `a a _ a` gives `a a`), then blanks (`mask_index`) removed. The score is minus the sum of the
/// chosen inputs, so it is a negative log-probability when `inputs` are log-probabilities. Ties
/// go to the lowest class, as numpy's `argmax`.
pub fn ctc_greedy_decode(
    inputs: &Tensor,
    sequence_lengths: &ArrayD<i64>,
    merge_repeated: bool,
    mask_index: i64,
) -> Result<CtcDecoded> {
    const OP: &str = "ctc_decode";
    let [batch, max_time, classes] = logits_dims(OP, "inputs", &inputs.shape())?;
    let blank = blank_index(OP, mask_index, classes)?;
    let frames = lengths(
        OP,
        "sequence_lengths",
        sequence_lengths,
        batch,
        max_time,
        "inputs.shape[1]",
    )?;
    let scores = inputs.to_f64();
    let scores = scores.as_standard_layout();
    let scores = scores.as_slice().expect("standard layout is contiguous");
    let decode = |sample: usize| {
        let mut sequence = Vec::new();
        let mut total = 0.0;
        let mut previous = None;
        for t in 0..frames[sample] {
            let offset = (sample * max_time + t) * classes;
            let row = &scores[offset..offset + classes];
            let (best, value) =
                row.iter().enumerate().fold(
                    (0, row[0]),
                    |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
                );
            total += value;
            let repeat = merge_repeated && previous == Some(best);
            previous = Some(best);
            if best != blank && !repeat {
                sequence.push(best);
            }
        }
        vec![(sequence, -total)]
    };
    let decoded = per_sample(batch, scores.len(), decode);
    Ok(assemble(decoded, 1, max_time))
}

/// The log-probabilities of a prefix ending in a blank and ending in its last label.
#[derive(Clone, Copy)]
struct PrefixScore {
    blank: f64,
    label: f64,
}

impl PrefixScore {
    const ZERO: PrefixScore = PrefixScore {
        blank: f64::NEG_INFINITY,
        label: f64::NEG_INFINITY,
    };

    fn total(&self) -> f64 {
        log_add(self.blank, self.label)
    }
}

/// FxHash (rustc's hasher): one multiply per word. The keys here are small integers made by this
/// module, so the DoS resistance of the default SipHash buys nothing and costs most of the time
/// of a beam-search step.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    #[inline(always)]
    fn write_u64(&mut self, word: u64) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }

    #[inline(always)]
    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Label prefixes as a trie, so that extending a prefix by one label is a lookup rather than a
/// copy of the sequence: beam search extends every beam by every class on every frame.
struct PrefixTrie {
    /// `(parent, last label)` of each prefix but the empty one.
    nodes: Vec<(usize, usize)>,
    children: FastMap<(usize, usize), usize>,
}

impl PrefixTrie {
    /// The empty prefix.
    const EMPTY: usize = 0;

    fn new() -> PrefixTrie {
        PrefixTrie {
            nodes: vec![(0, usize::MAX)],
            children: FastMap::default(),
        }
    }

    /// `prefix` followed by `label`.
    fn child(&mut self, prefix: usize, label: usize) -> usize {
        let next = self.nodes.len();
        let node = *self.children.entry((prefix, label)).or_insert(next);
        if node == next {
            self.nodes.push((prefix, label));
        }
        node
    }

    fn last(&self, prefix: usize) -> Option<usize> {
        (prefix != Self::EMPTY).then(|| self.nodes[prefix].1)
    }

    fn sequence(&self, mut prefix: usize) -> Vec<usize> {
        let mut labels = Vec::new();
        while prefix != Self::EMPTY {
            let (parent, label) = self.nodes[prefix];
            labels.push(label);
            prefix = parent;
        }
        labels.reverse();
        labels
    }
}

/// Prefix beam search over `log_softmax(inputs)` (Hannun et al., 2014, "First-Pass Large
/// Vocabulary Continuous Speech Recognition using Bi-Directional Recurrent DNNs", without a
/// language model): after every frame the `beam_width` label prefixes with the highest
/// probability (summed over all their alignments so far) are kept, each tracked as "ends in a
/// blank" and "ends in its last label" so that a repeated label is only extended across a blank.
/// The `top_paths` best prefixes after the last valid frame are returned, best first, with their
/// log-probabilities; when fewer prefixes exist their rows stay -1 with a score of `-inf`.
///
/// Repeats are always merged, as CTC defines; Keras's `merge_repeated` applies to greedy
/// decoding only. Ties go to the prefix reached first, so results are deterministic.
pub fn ctc_beam_search_decode(
    inputs: &Tensor,
    sequence_lengths: &ArrayD<i64>,
    beam_width: usize,
    top_paths: usize,
    mask_index: i64,
) -> Result<CtcDecoded> {
    const OP: &str = "ctc_decode";
    let [batch, max_time, classes] = logits_dims(OP, "inputs", &inputs.shape())?;
    let blank = blank_index(OP, mask_index, classes)?;
    if beam_width == 0 {
        return Err(Error::argument(OP, "beam_width must be at least 1, got 0"));
    }
    if top_paths == 0 || top_paths > beam_width {
        return Err(Error::argument(
            OP,
            format!("top_paths must be in [1, beam_width={beam_width}], got top_paths={top_paths}"),
        ));
    }
    let frames = lengths(
        OP,
        "sequence_lengths",
        sequence_lengths,
        batch,
        max_time,
        "inputs.shape[1]",
    )?;
    let log_probs = inputs.log_softmax(-1)?.to_f64();
    let log_probs = log_probs.as_standard_layout();
    let log_probs = log_probs.as_slice().expect("standard layout is contiguous");
    let decode = |sample: usize| {
        let mut prefixes = PrefixTrie::new();
        let mut beams: Vec<(usize, PrefixScore)> = vec![(
            PrefixTrie::EMPTY,
            PrefixScore {
                blank: 0.0,
                label: f64::NEG_INFINITY,
            },
        )];
        for t in 0..frames[sample] {
            let offset = (sample * max_time + t) * classes;
            let row = &log_probs[offset..offset + classes];
            let mut next: FastMap<usize, PrefixScore> = FastMap::default();
            next.reserve(beams.len() * classes);
            for &(prefix, score) in &beams {
                let total = score.total();
                let last = prefixes.last(prefix);
                // Staying on the same prefix: a blank, or the last label again.
                let stay = next.entry(prefix).or_insert(PrefixScore::ZERO);
                stay.blank = log_add(stay.blank, total + row[blank]);
                if let Some(last) = last {
                    stay.label = log_add(stay.label, score.label + row[last]);
                }
                for (class, &lp) in row.iter().enumerate() {
                    if class == blank {
                        continue;
                    }
                    // A repeat of the last label extends the prefix only after a blank.
                    let reach = if last == Some(class) {
                        score.blank
                    } else {
                        total
                    };
                    if reach == f64::NEG_INFINITY {
                        continue;
                    }
                    let extended = prefixes.child(prefix, class);
                    let grown = next.entry(extended).or_insert(PrefixScore::ZERO);
                    grown.label = log_add(grown.label, reach + lp);
                }
            }
            beams = next.into_iter().collect();
            // Ties go to the prefix created first, so results do not depend on hashing.
            beams.sort_unstable_by(|a, b| b.1.total().total_cmp(&a.1.total()).then(a.0.cmp(&b.0)));
            beams.truncate(beam_width);
        }
        beams
            .into_iter()
            .take(top_paths)
            .map(|(prefix, score)| (prefixes.sequence(prefix), score.total()))
            .collect::<Vec<_>>()
    };
    let work = log_probs.len().saturating_mul(beam_width);
    let decoded = per_sample(batch, work, decode);
    Ok(assemble(decoded, top_paths, max_time))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use ndarray::arr1;

    fn lens(values: &[i64]) -> ArrayD<i64> {
        arr1(values).into_dyn()
    }

    /// One-hot-ish logits: `10` on the given class of each frame, `0` elsewhere.
    fn peaked(batch_paths: &[&[usize]], classes: usize) -> Tensor {
        let time = batch_paths[0].len();
        let mut values = vec![0.0; batch_paths.len() * time * classes];
        for (b, path) in batch_paths.iter().enumerate() {
            for (t, &c) in path.iter().enumerate() {
                values[(b * time + t) * classes + c] = 10.0;
            }
        }
        t64(&[batch_paths.len(), time, classes], &values)
    }

    #[test]
    fn greedy_merges_repeats_drops_blanks_and_respects_lengths() {
        let x = peaked(&[&[1, 1, 0, 1, 2, 2], &[2, 0, 0, 1, 1, 1]], 3);
        let out = ctc_greedy_decode(&x, &lens(&[6, 4]), true, 0).unwrap();
        assert_eq!(out.paths.shape(), &[1, 2, 6]);
        let rows: Vec<Vec<i64>> = out
            .paths
            .outer_iter()
            .next()
            .unwrap()
            .outer_iter()
            .map(|r| r.iter().copied().collect())
            .collect();
        assert_eq!(rows[0], vec![1, 1, 2, -1, -1, -1]);
        assert_eq!(rows[1], vec![2, 1, -1, -1, -1, -1]);
        assert_eq!(out.scores.as_slice().unwrap(), &[-60.0, -40.0]);
        let unmerged = ctc_greedy_decode(&x, &lens(&[6, 4]), false, 0).unwrap();
        assert_eq!(unmerged.paths.as_slice().unwrap()[..6], [1, 1, 1, 2, 2, -1]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let x = t64(&[1, 2, 3], &[0.0; 6]);
        assert!(ctc_beam_search_decode(&x, &lens(&[2]), 2, 3, 0).is_err());
        assert!(ctc_beam_search_decode(&x, &lens(&[2]), 0, 1, 0).is_err());
        assert!(ctc_greedy_decode(&x, &lens(&[3]), true, 0).is_err());
        assert!(ctc_greedy_decode(&x, &lens(&[2]), true, -1).is_err());
    }
}
