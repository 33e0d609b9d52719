//! Engine errors as Python exceptions: shapes and values → `ValueError`, indexing keys →
//! `IndexError`, dtypes → `TypeError`, autodiff misuse → `RuntimeError`, file errors → `OSError`
//! (`FileNotFoundError`, ...), damaged files → `ValueError`, a failed gradient check →
//! `ferrograd.GradcheckError`.

use ferrograd::error::External;
use ferrograd::Error;
use pyo3::create_exception;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIndexError, PyIsADirectoryError, PyOSError,
    PyPermissionError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::PyErr;
use std::io::ErrorKind;

create_exception!(
    ferrograd,
    GradcheckError,
    PyRuntimeError,
    "An analytic gradient disagrees with central finite differences (as torch.autograd.GradcheckError)."
);

/// Carries `err` inside the engine error that takes it back to Python, where
/// [`to_py_err`] re-raises it unchanged (whichever thread the engine raised it on).
pub fn stash(err: PyErr) -> Error {
    Error::External(External::new(err.to_string(), Box::new(err)))
}

/// The Python exception for an engine error.
pub fn to_py_err(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::External(external) => external
            .take_payload()
            .and_then(|payload| payload.downcast::<PyErr>().ok())
            .map(|err| *err)
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
        Error::Index { .. } => PyIndexError::new_err(message),
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
