//! The engine's error type. Every fallible entry point returns [`Result`]; the bindings map the
//! variants onto Python exceptions (`Shape`/`Argument` → `ValueError`, `Index` → `IndexError`,
//! `DType` → `TypeError`, `Autograd` → `RuntimeError`, `Io` → `OSError` and its subclasses,
//! `Format` → `ValueError`), so messages name the op and the shapes involved.

use std::any::Any;
use std::sync::{Arc, Mutex};

use thiserror::Error;

/// Errors raised by tensor operations, autodiff and gradient checking.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum Error {
    /// Shapes that do not fit the operation (broadcasting, matmul, reshape, concatenate, ...).
    #[error("{op}: {message}")]
    Shape { op: &'static str, message: String },
    /// A bad argument value (an axis out of range, a negative size, an index out of bounds, ...).
    #[error("{op}: {message}")]
    Argument { op: &'static str, message: String },
    /// An indexing key that does not fit the tensor (an index out of bounds, too many indices,
    /// index arrays that do not broadcast): numpy's `IndexError`.
    #[error("{op}: {message}")]
    Index { op: &'static str, message: String },
    /// A dtype the operation cannot take.
    #[error("{op}: {message}")]
    DType { op: &'static str, message: String },
    /// Misuse of the autodiff graph (backward on a tensor that needs no gradient, a released graph).
    #[error("{0}")]
    Autograd(String),
    /// `gradcheck` found an analytic gradient that disagrees with central differences.
    #[error("{0}")]
    GradcheckFailed(String),
    /// An error raised by code outside the engine that the engine called (a layer or callback
    /// written in a front end's language); the front end keeps the original error.
    #[error("{0}")]
    External(External),
    /// A file could not be read or written (the operating system's error, with the path).
    #[error("{path}: {message}")]
    Io {
        path: String,
        kind: std::io::ErrorKind,
        message: String,
    },
    /// A saved model or weights file that is damaged, not a ferrograd file, or does not fit the
    /// model it is loaded into.
    #[error("{0}")]
    Format(String),
}

/// The error of [`Error::External`]: its message, and the front end's original error object,
/// carried inside the error rather than kept aside per thread, because the code that raised it
/// may run on a pool thread (a training step runs on the pool) while the error reaches the
/// front end on the calling thread.
#[derive(Clone)]
pub struct External {
    message: String,
    payload: Arc<Mutex<Option<Box<dyn Any + Send>>>>,
}

impl External {
    pub fn new(message: impl Into<String>, payload: Box<dyn Any + Send>) -> External {
        External {
            message: message.into(),
            payload: Arc::new(Mutex::new(Some(payload))),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The original error object: `Some` the first time it is asked for (clones of an error
    /// share it), `None` after.
    pub fn take_payload(&self) -> Option<Box<dyn Any + Send>> {
        self.payload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl std::fmt::Display for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("External").field(&self.message).finish()
    }
}

/// Two external errors are equal when their messages are.
impl PartialEq for External {
    fn eq(&self, other: &External) -> bool {
        self.message == other.message
    }
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, err: &std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }
    pub(crate) fn shape(op: &'static str, message: impl Into<String>) -> Self {
        Error::Shape {
            op,
            message: message.into(),
        }
    }
    pub(crate) fn argument(op: &'static str, message: impl Into<String>) -> Self {
        Error::Argument {
            op,
            message: message.into(),
        }
    }
    pub(crate) fn index(op: &'static str, message: impl Into<String>) -> Self {
        Error::Index {
            op,
            message: message.into(),
        }
    }
    pub(crate) fn dtype(op: &'static str, message: impl Into<String>) -> Self {
        Error::DType {
            op,
            message: message.into(),
        }
    }
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
