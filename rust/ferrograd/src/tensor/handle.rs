//! [`Tensor`]: a cheap, thread-safe handle to an array and, when it was computed by an op that
//! needs a gradient, the graph node that made it (define-by-run, as in micrograd and candle).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use ndarray::{ArrayD, IxDyn};

use super::element::{Array, DType, Element};
use super::storage::Storage;
use crate::autodiff;
use crate::error::{Error, Result};

/// A backward rule: maps the gradient of an op's output to the gradients of its inputs (`None`
/// for an input that needs none). The rule owns whatever it saved from the forward pass.
pub(crate) type BackwardFn = Box<dyn Fn(&Storage) -> Result<Vec<Option<Storage>>> + Send + Sync>;

/// The record of the op that produced a tensor.
pub(crate) struct Node {
    pub op: &'static str,
    pub inputs: Vec<Tensor>,
    pub backward: BackwardFn,
}

struct Inner {
    /// Unique for the life of the process; keys the gradient map during backward.
    id: u64,
    /// Behind a lock so that variables can be updated in place by optimizers.
    data: RwLock<Storage>,
    requires_grad: AtomicBool,
    /// The accumulated gradient of a leaf after `backward()`.
    grad: Mutex<Option<Storage>>,
    /// `None` for leaves and for outputs whose graph was released by a backward pass.
    node: Mutex<Option<Arc<Node>>>,
    /// Set when backward released this output's graph, so a second backward fails clearly.
    released: AtomicBool,
}

impl Drop for Inner {
    /// Unlinks the graph iteratively: dropping the output of a 100,000-op chain would otherwise
    /// recurse once per op and overflow the stack.
    fn drop(&mut self) {
        let node = self
            .node
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut pending: Vec<Arc<Node>> = node.into_iter().collect();
        while let Some(node) = pending.pop() {
            let Ok(node) = Arc::try_unwrap(node) else {
                continue;
            };
            for input in node.inputs {
                if let Ok(mut inner) = Arc::try_unwrap(input.inner) {
                    let next = inner
                        .node
                        .get_mut()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    pending.extend(next);
                    // `inner` drops here with no node left, so this does not recurse.
                }
            }
        }
    }
}

/// An n-dimensional array of `f32` or `f64` that records the ops applied to it when a gradient
/// is needed. Cloning a `Tensor` clones the handle, not the data.
#[derive(Clone)]
pub struct Tensor {
    inner: Arc<Inner>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-update of a plain value; the value
    // itself is still a valid state, so keep going rather than propagate the panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tensor {
    fn build(data: Storage, requires_grad: bool, node: Option<Arc<Node>>) -> Tensor {
        Tensor {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                data: RwLock::new(data),
                requires_grad: AtomicBool::new(requires_grad),
                grad: Mutex::new(None),
                node: Mutex::new(node),
                released: AtomicBool::new(false),
            }),
        }
    }

    /// A leaf tensor holding `data`.
    pub fn from_storage(data: Storage, requires_grad: bool) -> Tensor {
        Tensor::build(data, requires_grad, None)
    }

    /// A leaf tensor from an owned ndarray array (no copy).
    pub fn from_array<F: Element>(array: ArrayD<F>) -> Tensor {
        Tensor::from_storage(Storage::from_array(array), false)
    }

    /// A leaf tensor from a flat vector and a shape.
    pub fn from_vec<F: Element>(shape: &[usize], values: Vec<F>) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != values.len() {
            return Err(Error::shape(
                "from_vec",
                format!(
                    "{} values cannot fill shape {shape:?} ({n} elements)",
                    values.len()
                ),
            ));
        }
        let array = ArrayD::from_shape_vec(IxDyn(shape), values)
            .map_err(|e| Error::shape("from_vec", e.to_string()))?;
        Ok(Tensor::from_array(array))
    }

    /// A 0-d tensor.
    pub fn scalar<F: Element>(value: F) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(&[]), value))
    }

    /// A scalar of the given dtype (Python numbers adopt the dtype of the tensor they meet).
    pub fn scalar_of(value: f64, dtype: DType) -> Tensor {
        Tensor::from_storage(Storage::full(&[], value, dtype), false)
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::from_storage(Storage::zeros(shape, dtype), false)
    }

    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        Tensor::from_storage(Storage::full(shape, value, dtype), false)
    }

    /// The output of an op. A graph node is recorded only when gradients are enabled (see
    /// [`autodiff::no_grad`]) and some input requires a gradient; `backward` is built lazily so
    /// that inference pays nothing for it.
    pub(crate) fn from_op(
        data: Storage,
        op: &'static str,
        inputs: &[&Tensor],
        backward: impl FnOnce() -> BackwardFn,
    ) -> Tensor {
        if autodiff::is_grad_enabled() && inputs.iter().any(|t| t.requires_grad()) {
            let node = Node {
                op,
                inputs: inputs.iter().map(|t| (*t).clone()).collect(),
                backward: backward(),
            };
            Tensor::build(data, true, Some(Arc::new(node)))
        } else {
            Tensor::build(data, false, None)
        }
    }

    /// A process-unique id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Whether two handles refer to the same tensor.
    pub fn same(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A cheap clone of the data (an `Arc` increment).
    pub fn storage(&self) -> Storage {
        self.inner
            .data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The data as a typed array (a cheap clone), or a dtype error.
    pub fn array<F: Element>(&self) -> Result<Array<F>> {
        let storage = self.storage();
        F::unwrap(&storage).cloned().ok_or_else(|| {
            Error::dtype(
                "array",
                format!("tensor is {}, asked for {}", storage.dtype(), F::DTYPE),
            )
        })
    }

    /// The data as an owned `f64` array, whatever the dtype.
    pub fn to_f64(&self) -> ArrayD<f64> {
        self.storage().to_f64()
    }

    pub fn shape(&self) -> Vec<usize> {
        self.inner
            .data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .shape()
            .to_vec()
    }

    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    pub fn len(&self) -> usize {
        self.inner
            .data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> DType {
        self.inner
            .data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .dtype()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f64> {
        let values = self.to_f64();
        if values.len() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "only a tensor with one element has an item; shape is {:?}",
                    values.shape()
                ),
            ));
        }
        Ok(values.iter().next().copied().unwrap_or(f64::NAN))
    }

    pub fn requires_grad(&self) -> bool {
        self.inner.requires_grad.load(Ordering::Relaxed)
    }

    /// Marks a leaf as needing a gradient (or not). Outputs of ops get theirs from their inputs.
    pub fn set_requires_grad(&self, requires_grad: bool) -> Result<()> {
        if !self.is_leaf() && !requires_grad {
            return Err(Error::Autograd(
                "requires_grad can only be turned off on a leaf tensor; use detach() instead"
                    .into(),
            ));
        }
        self.inner
            .requires_grad
            .store(requires_grad, Ordering::Relaxed);
        Ok(())
    }

    /// True for tensors made directly from data (and for released op outputs).
    pub fn is_leaf(&self) -> bool {
        lock(&self.inner.node).is_none() && !self.inner.released.load(Ordering::Relaxed)
    }

    pub(crate) fn node(&self) -> Option<Arc<Node>> {
        lock(&self.inner.node).clone()
    }

    /// Drops the graph link so saved activations are freed; a later backward through this
    /// tensor reports that the graph was released.
    pub(crate) fn release_node(&self) {
        if lock(&self.inner.node).take().is_some() {
            self.inner.released.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_released(&self) -> bool {
        self.inner.released.load(Ordering::Relaxed)
    }

    /// The name of the op that produced this tensor, if it is recorded.
    pub fn grad_fn(&self) -> Option<&'static str> {
        self.node().map(|n| n.op)
    }

    /// The gradient accumulated by `backward()` (leaves only).
    pub fn grad(&self) -> Option<Tensor> {
        lock(&self.inner.grad)
            .clone()
            .map(|g| Tensor::from_storage(g, false))
    }

    /// Sets or clears the stored gradient.
    pub fn set_grad(&self, grad: Option<Storage>) -> Result<()> {
        if let Some(g) = &grad {
            if g.shape() != self.shape().as_slice() || g.dtype() != self.dtype() {
                return Err(Error::shape(
                    "set_grad",
                    format!(
                        "gradient of shape {:?} ({}) does not match tensor of shape {:?} ({})",
                        g.shape(),
                        g.dtype(),
                        self.shape(),
                        self.dtype()
                    ),
                ));
            }
        }
        *lock(&self.inner.grad) = grad;
        Ok(())
    }

    /// Adds `grad` into the stored gradient.
    pub(crate) fn accumulate_grad(&self, grad: Storage) -> Result<()> {
        let mut slot = lock(&self.inner.grad);
        *slot = Some(match slot.take() {
            None => grad,
            Some(previous) => previous.add_same_shape(&grad)?,
        });
        Ok(())
    }

    /// Clears the stored gradient.
    pub fn zero_grad(&self) {
        *lock(&self.inner.grad) = None;
    }

    /// A new leaf sharing this tensor's data, cut from the graph.
    pub fn detach(&self) -> Tensor {
        Tensor::from_storage(self.storage(), false)
    }

    /// Replaces the data in place (optimizer updates, `Variable.assign`). Shape and dtype must
    /// stay the same, so graphs that saved the old data stay valid: they hold their own clone.
    pub fn assign(&self, value: Storage) -> Result<()> {
        let mut data = self.inner.data.write().unwrap_or_else(|e| e.into_inner());
        if value.shape() != data.shape() {
            return Err(Error::shape(
                "assign",
                format!(
                    "cannot assign a value of shape {:?} to a variable of shape {:?}",
                    value.shape(),
                    data.shape()
                ),
            ));
        }
        *data = value.cast(data.dtype());
        Ok(())
    }

    /// Runs `update` on the data in place (copy-on-write if a graph still shares it).
    pub fn update_in_place<F: Element>(&self, update: impl FnOnce(&mut Array<F>)) -> Result<()> {
        let mut data = self.inner.data.write().unwrap_or_else(|e| e.into_inner());
        let dtype = data.dtype();
        // Take the array out so that this handle holds no second reference: the update then
        // mutates the buffer in place unless a recorded graph still shares it.
        match F::unwrap_owned(std::mem::replace(&mut *data, Storage::zeros(&[], dtype))) {
            Err(original) => {
                *data = original;
                Err(Error::dtype(
                    "update_in_place",
                    format!("tensor is {dtype}, update is {}", F::DTYPE),
                ))
            }
            Ok(mut array) => {
                update(&mut array);
                *data = F::wrap(array);
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let storage = self.storage();
        write!(f, "Tensor(")?;
        dispatch!(&storage, |a| write!(f, "{a}"))?;
        write!(f, ", dtype={}", storage.dtype())?;
        if let Some(op) = self.grad_fn() {
            write!(f, ", grad_fn={op}")?;
        } else if self.requires_grad() {
            write!(f, ", requires_grad=True")?;
        }
        write!(f, ")")
    }
}
