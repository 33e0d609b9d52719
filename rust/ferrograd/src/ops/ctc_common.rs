//! What CTC's loss (`losses::ctc`) and its decoders (`ops::ctc_decode`) share: the checks of
//! their `(batch, max_time, num_classes)` inputs, blank index and per-sample lengths, with the
//! same messages, and addition in log space. It lives in `ops` so that the loss, one layer up,
//! imports it and the decoders need nothing from `losses`.

use ndarray::ArrayD;

use crate::error::{Error, Result};

/// `log(exp(a) + exp(b))` without overflow; `-inf` is the log of 0 and absorbs nothing.
#[inline(always)]
pub(crate) fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (high, low) = if a > b { (a, b) } else { (b, a) };
    high + (low - high).exp().ln_1p()
}

/// The `(batch, max_time, num_classes)` of CTC logits, or an error naming the shape.
pub(crate) fn logits_dims(op: &'static str, name: &str, shape: &[usize]) -> Result<[usize; 3]> {
    match *shape {
        [batch, time, classes] if classes > 0 => Ok([batch, time, classes]),
        [_, _, 0] => Err(Error::shape(
            op,
            format!("{name} must have at least one class, got {name}.shape={shape:?}"),
        )),
        _ => Err(Error::shape(
            op,
            format!(
                "{name} must have shape (batch_size, max_length, num_classes), got \
                 {name}.shape={shape:?}"
            ),
        )),
    }
}

/// `mask_index` as a class index, or an error: it must name one of the `num_classes` classes.
pub(crate) fn blank_index(op: &'static str, mask_index: i64, num_classes: usize) -> Result<usize> {
    if mask_index < 0 || mask_index >= num_classes as i64 {
        return Err(Error::argument(
            op,
            format!(
                "mask_index must be a class index in [0, {num_classes}), got mask_index={mask_index}"
            ),
        ));
    }
    Ok(mask_index as usize)
}

/// One length per sample, each in `[0, max]`. `(batch,)` as Keras 3, or `(batch, 1)` as the
/// Keras 2 `ctc_batch_cost` lengths.
pub(crate) fn lengths(
    op: &'static str,
    name: &str,
    values: &ArrayD<i64>,
    batch: usize,
    max: usize,
    max_name: &str,
) -> Result<Vec<usize>> {
    let shape = values.shape();
    if !(shape == [batch] || shape == [batch, 1]) {
        return Err(Error::shape(
            op,
            format!("{name} must have shape ({batch},), one length per sample, got {name}.shape={shape:?}"),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(sample, &length)| {
            if length < 0 || length > max as i64 {
                Err(Error::argument(
                    op,
                    format!(
                        "{name}[{sample}]={length} is out of range: lengths must be in [0, {max}] \
                         ({max_name})"
                    ),
                ))
            } else {
                Ok(length as usize)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn log_add_is_the_log_of_a_sum_and_absorbs_log_zero() {
        // log(e^1 + e^2), computed directly in f64.
        let direct = (1f64.exp() + 2f64.exp()).ln();
        assert!((log_add(1.0, 2.0) - direct).abs() < 1e-15);
        assert_eq!(log_add(f64::NEG_INFINITY, 3.0), 3.0);
        assert_eq!(log_add(3.0, f64::NEG_INFINITY), 3.0);
        // 1000 would overflow exp: log(2 e^1000) = 1000 + ln 2.
        assert!((log_add(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn input_checks_name_the_argument() {
        assert_eq!(logits_dims("op", "x", &[2, 3, 4]).unwrap(), [2, 3, 4]);
        let err = logits_dims("op", "x", &[2, 3]).unwrap_err().to_string();
        assert!(err.contains("x.shape=[2, 3]"), "{err}");
        assert!(logits_dims("op", "x", &[2, 3, 0]).is_err());
        assert_eq!(blank_index("op", 2, 3).unwrap(), 2);
        assert!(blank_index("op", 3, 3).is_err());
        assert!(blank_index("op", -1, 3).is_err());
        let column = arr2(&[[1i64], [3]]).into_dyn();
        assert_eq!(lengths("op", "n", &column, 2, 3, "T").unwrap(), [1, 3]);
        let err = lengths("op", "n", &column, 2, 2, "T")
            .unwrap_err()
            .to_string();
        assert!(err.contains("n[1]=3"), "{err}");
        assert!(lengths("op", "n", &column, 3, 3, "T").is_err());
    }
}
