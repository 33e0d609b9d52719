//! Engine errors as Python exceptions: shapes and values → `ValueError`, dtypes → `TypeError`,
//! autodiff misuse → `RuntimeError`, a failed gradient check → `ferrograd.GradcheckError`.

use ferrograd::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;

create_exception!(
    ferrograd,
    GradcheckError,
    PyRuntimeError,
    "An analytic gradient disagrees with central finite differences (as torch.autograd.GradcheckError)."
);

/// The Python exception for an engine error.
pub fn to_py_err(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Shape { .. } | Error::Argument { .. } => PyValueError::new_err(message),
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
