//! Large scratch and output buffers made on the pool.
//!
//! `vec![0.0; n]` and `slice.to_vec()` fill their buffer on the calling thread while the pool
//! waits: for the buffers of a recurrent layer's time loop (several MB per batch) that serial
//! fill was ~6% of an LSTM training step on two cores. These fill the fresh buffer in parallel
//! chunks instead; small buffers stay on the calling thread.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::threads;

/// Elements per parallel task: a few pages, so the tasks balance and each one streams.
const CHUNK: usize = 1 << 14;

/// Writes `fill(offset, chunk)` into every chunk of `len` fresh elements, in parallel when
/// large. `fill` must write all of its chunk.
fn build<F: Copy + Send + Sync>(
    len: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<F>]) + Sync + Send,
) -> Vec<F> {
    let mut out: Vec<F> = Vec::with_capacity(len);
    let dst = &mut out.spare_capacity_mut()[..len];
    if len >= threads::PARALLEL_MIN_ELEMENTS && threads::num_threads() > 1 {
        threads::install(|| {
            dst.par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(i, chunk)| fill(i * CHUNK, chunk))
        });
    } else {
        fill(0, dst);
    }
    // SAFETY: the chunks cover `..len` and `fill` writes every element of its chunk.
    unsafe { out.set_len(len) };
    out
}

/// `len` copies of `value`.
pub(crate) fn filled<F: Copy + Send + Sync>(len: usize, value: F) -> Vec<F> {
    build(len, |_, chunk| {
        for v in chunk {
            v.write(value);
        }
    })
}

/// A copy of `src`.
pub(crate) fn copied<F: Copy + Send + Sync>(src: &[F]) -> Vec<F> {
    build(src.len(), |offset, chunk| {
        let src = &src[offset..offset + chunk.len()];
        for (v, &s) in chunk.iter_mut().zip(src) {
            v.write(s);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_hold_what_they_were_made_from_at_every_size() {
        // Below the parallel threshold, at it, and across a ragged last chunk.
        for len in [0, 1, 5, threads::PARALLEL_MIN_ELEMENTS, 3 * CHUNK + 7] {
            assert_eq!(filled(len, 2.5f32), vec![2.5f32; len]);
            let src: Vec<f64> = (0..len).map(|i| i as f64 * 0.5 - 3.0).collect();
            assert_eq!(copied(&src), src);
        }
    }
}
