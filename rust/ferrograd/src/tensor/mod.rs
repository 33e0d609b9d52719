//! The tensor handle and its storage.

mod element;
mod handle;
mod storage;

pub use element::{Array, DType, Element};
pub use handle::Tensor;
pub use storage::Storage;
