//! Where the training loop reads its samples from: [`Data`], a set of [`Column`]s with samples on
//! axis 0. A column is an engine [`Tensor`] or any [`RowSource`] — memory the engine does not
//! own, such as a front end's numpy array, read batch by batch. The loop only ever asks a column
//! for the rows of one batch, so a source that is not a tensor is never copied whole: training
//! on a 60,000×784 float32 array from Python then costs no 188 MB copy (PyTorch's `from_numpy`
//! and Keras's data adapters do not copy either).

use std::fmt;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use crate::error::{Error, Result};
use crate::tensor::{DType, Element, Tensor};

/// Samples on axis 0 that the engine reads a batch of rows at a time without owning them.
///
/// The engine calls [`gather`](RowSource::gather) and [`range`](RowSource::range) only with
/// rows in `0..shape()[0]`, from any thread, possibly with several calls at once (hence
/// `Send + Sync`). An implementation must keep its memory alive and unchanged for as long as it
/// lives; [`gather_rows`] and [`copy_rows`] do the copying for a row-major buffer.
pub trait RowSource: Send + Sync {
    /// The full shape; axis 0 holds the samples.
    fn shape(&self) -> &[usize];

    /// The dtype of the tensors [`gather`](RowSource::gather) returns.
    fn dtype(&self) -> DType;

    /// The rows `rows`, in that order (repeats allowed), as a new tensor of shape
    /// `[rows.len(), shape[1..]...]`.
    fn gather(&self, rows: &[usize]) -> Result<Tensor>;

    /// The rows `start..stop` (a batch of an unshuffled epoch, or all of the data). The default
    /// gathers them one by one; a source in row-major memory copies the block at once.
    fn range(&self, start: usize, stop: usize) -> Result<Tensor> {
        self.gather(&(start..stop).collect::<Vec<_>>())
    }
}

/// Copies the rows `rows` of the row-major `data` of shape `shape` into a new tensor. Checks
/// that `data` holds `shape` and that every row exists, so a [`RowSource`] built on it never
/// reads out of bounds.
pub fn gather_rows<F: Element>(data: &[F], shape: &[usize], rows: &[usize]) -> Result<Tensor> {
    let row = row_len(data, shape)?;
    let n = shape[0];
    if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
        return Err(Error::argument(
            "fit",
            format!("row {bad} is out of bounds for data of {n} samples"),
        ));
    }
    let mut out = Vec::with_capacity(rows.len() * row);
    for &r in rows {
        out.extend_from_slice(&data[r * row..(r + 1) * row]);
    }
    batch_tensor(out, shape, rows.len())
}

/// Copies the rows `start..stop` of the row-major `data` of shape `shape` into a new tensor
/// (one block copy), checking bounds as [`gather_rows`] does.
pub fn copy_rows<F: Element>(
    data: &[F],
    shape: &[usize],
    start: usize,
    stop: usize,
) -> Result<Tensor> {
    let row = row_len(data, shape)?;
    if start > stop || stop > shape[0] {
        return Err(Error::argument(
            "fit",
            format!(
                "rows {start}..{stop} are out of bounds for data of {} samples",
                shape[0]
            ),
        ));
    }
    batch_tensor(data[start * row..stop * row].to_vec(), shape, stop - start)
}

/// The number of elements in one sample, after checking `data` fills `shape`.
fn row_len<F>(data: &[F], shape: &[usize]) -> Result<usize> {
    if shape.is_empty() {
        return Err(Error::shape(
            "fit",
            "a row source needs a batch axis, got a 0-d shape",
        ));
    }
    let total: usize = shape.iter().product();
    if total != data.len() {
        return Err(Error::shape(
            "fit",
            format!(
                "a row source of shape {shape:?} needs {total} values but has {}",
                data.len()
            ),
        ));
    }
    Ok(shape[1..].iter().product())
}

fn batch_tensor<F: Element>(values: Vec<F>, shape: &[usize], rows: usize) -> Result<Tensor> {
    let mut out_shape = shape.to_vec();
    out_shape[0] = rows;
    Tensor::from_vec(&out_shape, values)
}

/// One array of the data: an engine tensor, or rows the engine reads from somewhere else.
#[derive(Clone)]
pub enum Column {
    Tensor(Tensor),
    Rows(Arc<dyn RowSource>),
}

impl From<Tensor> for Column {
    fn from(t: Tensor) -> Column {
        Column::Tensor(t)
    }
}

impl fmt::Debug for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Column::Tensor(_) => "Tensor",
            Column::Rows(_) => "Rows",
        };
        write!(f, "Column::{kind}({:?}, {})", self.shape(), self.dtype())
    }
}

impl Column {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Column::Tensor(t) => t.shape(),
            Column::Rows(r) => r.shape().to_vec(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Column::Tensor(t) => t.dtype(),
            Column::Rows(r) => r.dtype(),
        }
    }

    /// The whole column as a tensor: the tensor itself, or all the rows of a source copied
    /// (for a front end's single-batch calls such as `train_on_batch`).
    pub fn to_tensor(&self) -> Result<Tensor> {
        match self {
            Column::Tensor(t) => Ok(t.clone()),
            Column::Rows(r) => r.range(0, r.shape()[0]),
        }
    }

    /// The rows of one batch; `contiguous` says they are `start..stop` in order.
    fn select(
        &self,
        rows: &[usize],
        contiguous: Option<(usize, usize)>,
        len: usize,
    ) -> Result<Tensor> {
        match (self, contiguous) {
            (Column::Tensor(t), Some((0, stop))) if stop == len => Ok(t.clone()),
            (Column::Tensor(t), _) => {
                let indices: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
                let indices =
                    ArrayD::from_shape_vec(IxDyn(&[rows.len()]), indices).expect("1-d indices");
                t.take(&indices, Some(0))
            }
            (Column::Rows(r), Some((start, stop))) => r.range(start, stop),
            (Column::Rows(r), None) => r.gather(rows),
        }
    }
}

/// Training data: inputs, targets (one per output) and optional per-sample weights, each a
/// [`Column`] with samples on axis 0.
pub struct Data {
    x: Vec<Column>,
    y: Vec<Column>,
    sample_weight: Option<Column>,
    len: usize,
}

/// The arrays of one batch.
pub(crate) struct Batch {
    pub x: Vec<Tensor>,
    pub y: Vec<Tensor>,
    pub sample_weight: Option<Tensor>,
}

impl Data {
    /// Data held in engine tensors. Checks that every array has the same number of samples.
    pub fn new(x: Vec<Tensor>, y: Vec<Tensor>, sample_weight: Option<Tensor>) -> Result<Data> {
        Data::from_columns(
            x.into_iter().map(Column::from).collect(),
            y.into_iter().map(Column::from).collect(),
            sample_weight.map(Column::from),
        )
    }

    /// Data from columns, any of which may be a [`RowSource`]. Checks that every array has a
    /// batch axis and the same number of samples.
    pub fn from_columns(
        x: Vec<Column>,
        y: Vec<Column>,
        sample_weight: Option<Column>,
    ) -> Result<Data> {
        let mut len = None;
        let all = x.iter().map(|t| ("x", t)).chain(y.iter().map(|t| ("y", t)));
        let all = all.chain(sample_weight.iter().map(|t| ("sample_weight", t)));
        for (what, t) in all {
            let n = *t.shape().first().ok_or_else(|| Error::Shape {
                op: "fit",
                message: format!("{what} needs a batch axis, got a 0-d array"),
            })?;
            match len {
                None => len = Some((what, n)),
                Some((first, m)) if m != n => {
                    return Err(Error::Shape {
                        op: "fit",
                        message: format!(
                            "data cardinality is ambiguous: {first} has {m} samples but {what} has {n}; make sure all arrays contain the same number of samples"
                        ),
                    })
                }
                _ => {}
            }
        }
        Ok(Data {
            x,
            y,
            sample_weight,
            len: len.map_or(0, |(_, n)| n),
        })
    }

    pub fn x(&self) -> &[Column] {
        &self.x
    }

    pub fn y(&self) -> &[Column] {
        &self.y
    }

    pub fn sample_weight(&self) -> Option<&Column> {
        self.sample_weight.as_ref()
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of batches of `batch_size` (the last one may be smaller).
    pub fn batches(&self, batch_size: usize) -> usize {
        self.len.div_ceil(batch_size.max(1))
    }

    /// All of the data as one batch of tensors `(x, y, sample_weight)`: tensor columns as they
    /// are, sources copied (see [`Column::to_tensor`]).
    #[allow(clippy::type_complexity)]
    pub fn to_tensors(&self) -> Result<(Vec<Tensor>, Vec<Tensor>, Option<Tensor>)> {
        Ok((
            self.x
                .iter()
                .map(Column::to_tensor)
                .collect::<Result<_>>()?,
            self.y
                .iter()
                .map(Column::to_tensor)
                .collect::<Result<_>>()?,
            self.sample_weight
                .as_ref()
                .map(Column::to_tensor)
                .transpose()?,
        ))
    }

    /// The rows of one batch; `contiguous` says they are `start..stop` in order, which lets a
    /// tensor column be passed whole when the batch is all of the data and a source copy a
    /// block.
    pub(crate) fn select(
        &self,
        rows: &[usize],
        contiguous: Option<(usize, usize)>,
    ) -> Result<Batch> {
        let pick = |c: &Column| c.select(rows, contiguous, self.len);
        Ok(Batch {
            x: self.x.iter().map(pick).collect::<Result<_>>()?,
            y: self.y.iter().map(pick).collect::<Result<_>>()?,
            sample_weight: self.sample_weight.as_ref().map(pick).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row-major buffer the engine does not own, as a front end's array would be.
    struct Borrowed {
        values: Vec<f32>,
        shape: Vec<usize>,
    }

    impl RowSource for Borrowed {
        fn shape(&self) -> &[usize] {
            &self.shape
        }
        fn dtype(&self) -> DType {
            DType::F32
        }
        fn gather(&self, rows: &[usize]) -> Result<Tensor> {
            gather_rows(&self.values, &self.shape, rows)
        }
        fn range(&self, start: usize, stop: usize) -> Result<Tensor> {
            copy_rows(&self.values, &self.shape, start, stop)
        }
    }

    fn borrowed(shape: &[usize]) -> (Tensor, Arc<Borrowed>) {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|v| v as f32 * 0.5 - 3.0).collect();
        let tensor = Tensor::from_vec(shape, values.clone()).unwrap();
        let source = Borrowed {
            values,
            shape: shape.to_vec(),
        };
        (tensor, Arc::new(source))
    }

    #[test]
    fn a_source_gives_the_same_rows_as_take_on_a_tensor() {
        let (tensor, source) = borrowed(&[7, 3, 2]);
        let tensor = Column::from(tensor);
        let source = Column::Rows(source);
        for (rows, contiguous) in [
            (vec![4, 0, 6, 6, 1], None),
            (vec![2, 3, 4], Some((2, 5))),
            ((0..7).collect(), Some((0, 7))),
            (vec![], None),
        ] {
            let a = tensor.select(&rows, contiguous, 7).unwrap();
            let b = source.select(&rows, contiguous, 7).unwrap();
            assert_eq!(a.shape(), b.shape(), "{rows:?}");
            assert_eq!(a.shape(), vec![rows.len(), 3, 2]);
            assert_eq!(a.to_f64(), b.to_f64(), "{rows:?}");
        }
    }

    #[test]
    fn gather_and_copy_refuse_rows_out_of_bounds_and_wrong_sizes() {
        let values = vec![0.0f64; 6];
        assert!(gather_rows(&values, &[3, 2], &[0, 3]).is_err());
        assert!(copy_rows(&values, &[3, 2], 1, 4).is_err());
        assert!(copy_rows(&values, &[3, 2], 2, 1).is_err());
        assert!(gather_rows(&values, &[4, 2], &[0]).is_err());
        assert!(gather_rows(&values, &[], &[]).is_err());
        assert_eq!(
            copy_rows(&values, &[3, 2], 1, 3).unwrap().shape(),
            vec![2, 2]
        );
    }

    #[test]
    fn sources_and_tensors_must_agree_on_the_number_of_samples() {
        let (_, source) = borrowed(&[5, 2]);
        let y = Tensor::from_vec(&[4], vec![0.0f32; 4]).unwrap();
        let err = Data::from_columns(vec![Column::Rows(source)], vec![y.into()], None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("x has 5 samples but y has 4"), "{err}");
    }

    #[test]
    fn to_tensors_copies_a_source_whole() {
        let (tensor, source) = borrowed(&[5, 2]);
        let data = Data::from_columns(vec![Column::Rows(source)], Vec::new(), None).unwrap();
        let (x, y, w) = data.to_tensors().unwrap();
        assert_eq!(x[0].to_f64(), tensor.to_f64());
        assert!(y.is_empty() && w.is_none());
        assert_eq!(
            format!("{:?}", data.x()[0]),
            "Column::Rows([5, 2], float32)"
        );
    }

    /// Trains a fresh 2-layer classifier (fixed initial weights, SGD) for two shuffled epochs and
    /// returns its weights and the last epoch's logs.
    fn train(data: &Data) -> (Vec<ndarray::ArrayD<f64>>, crate::model::Logs) {
        let mut model = crate::model::test_support::small_classifier();
        let mut logs = Vec::new();
        for epoch in 0..2 {
            logs = model
                .fit_epoch(data, 4, true, 17 + epoch, &mut |_, _| true)
                .unwrap()
                .0;
        }
        let weights = model
            .graph()
            .weights()
            .iter()
            .map(|w| w.value.to_f64())
            .collect();
        (weights, logs)
    }

    #[test]
    fn training_from_a_source_matches_training_from_tensors() {
        let (x, x_source) = borrowed(&[22, 6]);
        let labels: Vec<f32> = (0..22).map(|i| (i * 7 % 3) as f32).collect();
        let y = Tensor::from_vec(&[22], labels).unwrap();
        let (w, w_source) = {
            let shape = vec![22];
            let values: Vec<f32> = (0..22).map(|i| 0.5 + (i % 4) as f32 * 0.25).collect();
            let t = Tensor::from_vec(&shape, values.clone()).unwrap();
            (t, Arc::new(Borrowed { values, shape }))
        };
        let tensors = Data::new(vec![x], vec![y.clone()], Some(w)).unwrap();
        let sources = Data::from_columns(
            vec![Column::Rows(x_source)],
            vec![y.into()],
            Some(Column::Rows(w_source)),
        )
        .unwrap();
        let (expected, expected_logs) = train(&tensors);
        let (got, got_logs) = train(&sources);
        assert_eq!(expected, got, "same seed, same batches: the same weights");
        assert_eq!(expected_logs, got_logs);
        let model_input = sources.to_tensors().unwrap().0;
        assert_eq!(model_input[0].shape(), vec![22, 6]);
    }
}
