//! Engine errors as Python exceptions: shapes and values → `ValueError`, dtypes → `TypeError`,
//! autodiff misuse → `RuntimeError`, file errors → `OSError` (`FileNotFoundError`, ...), damaged
//! files → `ValueError`, a failed gradient check → `ferrograd.GradcheckError`.

use ferrograd::Error;
use pyo3::create_exception;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError,
    PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::PyErr;
use std::io::ErrorKind;

create_exception!(
    ferrograd,
    GradcheckError,
    PyRuntimeError,
    "An analytic gradient disagrees with central finite differences (as torch.autograd.GradcheckError)."
);

thread_local! {
    /// The Python exception raised inside a Python layer or hook that the engine called; the
    /// engine sees `Error::External` and the binding re-raises this one.
    static PENDING: std::cell::RefCell<Option<PyErr>> = const { std::cell::RefCell::new(None) };
}

/// Keeps `err` to be re-raised when the engine's error reaches Python, and returns the engine
/// error that carries it there.
pub fn stash(err: PyErr) -> Error {
    let message = err.to_string();
    PENDING.with(|p| *p.borrow_mut() = Some(err));
    Error::External(message)
}

/// The Python exception for an engine error.
pub fn to_py_err(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::External(_) => PENDING
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| PyRuntimeError::new_err(message)),
        Error::Shape { .. } | Error::Argument { .. } | Error::Format(_) => {
            PyValueError::new_err(message)
        }
        Error::Io { kind, .. } => match kind {
            ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            ErrorKind::AlreadyExists => PyFileExistsError::new_err(message),
            ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        Error::DType { .. } => PyTypeError::new_err(message),
        Error::Autograd(_) => PyRuntimeError::new_err(message),
        Error::GradcheckFailed(_) => GradcheckError::new_err(message),
    }
}

/// `?`-friendly conversion of engine results.
pub trait IntoPy<T> {
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for ferrograd::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py_err)
    }
}
