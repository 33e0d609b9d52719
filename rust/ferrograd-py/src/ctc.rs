//! Bindings of CTC (`ferrograd::losses::{ctc_loss, ctc}` and `ferrograd::ops::ctc_*_decode`):
//! `ctc_loss` and `ctc_decode` with `keras.ops`'s signatures, and `loss_ctc`, the per-sample form
//! behind `keras.losses.ctc`/`CTC`. Labels and lengths must be integers (whole-number floats are
//! accepted, since `fit` hands labels over as floats); anything else is a `TypeError`.

use ferrograd::losses;
use ferrograd::ops::{ctc_beam_search_decode, ctc_greedy_decode};
use ferrograd::{DType, Storage, Tensor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{indices_to_numpy, to_indices, to_tensor};
use crate::errors::IntoPy;
use crate::tensor::{run, wrap, PyTensor};

/// Per-sample CTC negative log-likelihoods `(batch,)` of integer `target` `(batch, max_length)`
/// against logits `output` `(batch, max_time, num_classes)`, reading `target_length[b]` labels
/// and `output_length[b]` frames of sample `b`; `mask_index` is the blank.
#[pyfunction]
fn ctc_loss(
    py: Python<'_>,
    target: &Bound<'_, PyAny>,
    output: &Bound<'_, PyAny>,
    target_length: &Bound<'_, PyAny>,
    output_length: &Bound<'_, PyAny>,
    mask_index: i64,
) -> PyResult<PyTensor> {
    let target = to_indices(target, "ctc_loss: target")?;
    let target_length = to_indices(target_length, "ctc_loss: target_length")?;
    let output_length = to_indices(output_length, "ctc_loss: output_length")?;
    let output = to_tensor(output)?;
    wrap(run(py, output.len(), || {
        losses::ctc_loss(&target, &output, &target_length, &output_length, mask_index)
    }))
}

/// Per-sample `keras.losses.ctc`: labels `(batch, max_length)` padded at the end with the blank
/// 0, every frame of `y_pred` used.
#[pyfunction]
fn loss_ctc(
    py: Python<'_>,
    y_true: &Bound<'_, PyAny>,
    y_pred: &Bound<'_, PyAny>,
) -> PyResult<PyTensor> {
    let labels = to_indices(y_true, "ctc: y_true")?;
    let y_pred = to_tensor(y_pred)?;
    wrap(run(py, y_pred.len(), || losses::ctc(&labels, &y_pred)))
}

/// A non-negative integer argument, or a `ValueError` naming it.
fn count(name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| {
        PyValueError::new_err(format!(
            "ctc_decode: {name} must be a positive integer, got {name}={value}"
        ))
    })
}

/// `keras.ops.ctc_decode`: `(decoded, scores)` with `decoded` an int32 numpy array
/// `(top_paths, batch, max_time)` padded with -1 (`top_paths` is 1 for greedy decoding) and
/// `scores` a `(batch, top_paths)` tensor in the inputs' dtype. `mask_index=None` makes the last
/// class the blank, as Keras's backends do.
#[pyfunction]
#[pyo3(signature = (
    inputs,
    sequence_lengths,
    strategy="greedy",
    beam_width=100,
    top_paths=1,
    merge_repeated=true,
    mask_index=0,
))]
#[allow(clippy::too_many_arguments)]
fn ctc_decode<'py>(
    py: Python<'py>,
    inputs: &Bound<'py, PyAny>,
    sequence_lengths: &Bound<'py, PyAny>,
    strategy: &str,
    beam_width: i64,
    top_paths: i64,
    merge_repeated: bool,
    mask_index: Option<i64>,
) -> PyResult<(Bound<'py, PyAny>, PyTensor)> {
    let inputs = to_tensor(inputs)?;
    let mask_index =
        mask_index.unwrap_or_else(|| inputs.shape().last().map_or(0, |&c| c as i64 - 1));
    let sequence_lengths = to_indices(sequence_lengths, "ctc_decode: sequence_lengths")?;
    let decoded = match strategy {
        "greedy" => run(py, inputs.len(), || {
            ctc_greedy_decode(&inputs, &sequence_lengths, merge_repeated, mask_index)
        }),
        "beam_search" => {
            let beam_width = count("beam_width", beam_width)?;
            let top_paths = count("top_paths", top_paths)?;
            run(py, inputs.len(), || {
                ctc_beam_search_decode(
                    &inputs,
                    &sequence_lengths,
                    beam_width,
                    top_paths,
                    mask_index,
                )
            })
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "Invalid strategy {other}. Supported values are 'greedy' and 'beam_search'."
            )))
        }
    }
    .py()?;
    let paths = indices_to_numpy(py, decoded.paths).call_method1("astype", ("int32",))?;
    let dtype: DType = inputs.dtype();
    let scores = Tensor::from_storage(Storage::from_array(decoded.scores).cast(dtype), false);
    Ok((paths, PyTensor::new(scores)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ctc_loss, m)?)?;
    m.add_function(wrap_pyfunction!(loss_ctc, m)?)?;
    m.add_function(wrap_pyfunction!(ctc_decode, m)?)?;
    Ok(())
}
