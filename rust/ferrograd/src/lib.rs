//! # ferrograd
//!
//! A deep-learning engine: n-dimensional `f32`/`f64` tensors with numpy broadcasting,
//! reverse-mode automatic differentiation and multi-threaded kernels. It has no Python in it;
//! the `ferrograd-py` crate exposes it to Python with a Keras-style API.
//!
//! ```
//! use ferrograd::Tensor;
//!
//! // y = sum(tanh(x @ w)), dy/dw by backpropagation.
//! let x = Tensor::from_vec(&[2, 3], vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
//! let w = Tensor::from_vec(&[3, 1], vec![0.1f64, -0.2, 0.05]).unwrap();
//! w.set_requires_grad(true).unwrap();
//! let y = x.matmul(&w).unwrap().tanh().unwrap().sum(None, false).unwrap();
//! y.backward().unwrap();
//! assert_eq!(w.grad().unwrap().shape(), vec![3, 1]);
//! ```

#[macro_use]
mod macros;
pub mod allocator;
pub mod autodiff;
pub mod config;
pub mod error;
pub mod gradcheck;
pub mod init;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod regularizers;
pub mod saving;
pub mod tensor;
pub mod threads;

pub use autodiff::{backward, grad, no_grad, BackwardOptions};
pub use error::{Error, Result};
pub use gradcheck::{gradcheck, GradcheckOptions, GradcheckReport};
pub use tensor::{DType, Element, Storage, Tensor};
