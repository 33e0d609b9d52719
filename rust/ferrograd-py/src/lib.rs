//! `ferrograd._core`: the PyO3 bindings of the ferrograd engine. Conversions and error mapping
//! only; every computation happens in the `ferrograd` crate.

use pyo3::prelude::*;

mod clipping;
mod convert;
mod ctc;
mod data;
mod errors;
mod functions;
mod indexing;
mod initializers;
mod insight;
mod json;
mod layers;
mod losses;
mod metrics;
mod models;
mod optimizers;
mod saving;
mod tensor;
mod tensor_methods;
mod variable;

/// Large buffers get transparent huge pages, as numpy's: see [`ferrograd::allocator::HugePageAlloc`].
#[global_allocator]
static ALLOC: ferrograd::allocator::HugePageAlloc = ferrograd::allocator::HugePageAlloc;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Training reuses the same large buffers every step: keep them out of the OS's hands.
    ferrograd::allocator::keep_freed_memory();
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<variable::PyVariable>()?;
    m.add_class::<convert::Buffer>()?;
    m.add(
        "GradcheckError",
        m.py().get_type::<errors::GradcheckError>(),
    )?;
    functions::register(m)?;
    optimizers::register(m)?;
    losses::register(m)?;
    initializers::register(m)?;
    metrics::register(m)?;
    layers::register(m)?;
    models::register(m)?;
    insight::register(m)?;
    ctc::register(m)?;
    saving::register(m)?;
    clipping::register(m)?;
    Ok(())
}
