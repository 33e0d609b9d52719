//! Whether ops record graph nodes. A thread-local switch, as in PyTorch: `no_grad` in one thread
//! does not affect another.

use std::cell::Cell;

thread_local! {
    static NO_GRAD_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// True unless a [`NoGradGuard`] is alive on this thread.
pub fn is_grad_enabled() -> bool {
    NO_GRAD_DEPTH.with(|d| d.get() == 0)
}

/// Turns graph recording off on this thread until the guard is dropped (nestable).
#[must_use = "recording resumes as soon as the guard is dropped"]
pub struct NoGradGuard {
    _private: (),
}

/// Starts a no-grad region: inference and optimizer updates record no graph.
pub fn no_grad() -> NoGradGuard {
    NO_GRAD_DEPTH.with(|d| d.set(d.get() + 1));
    NoGradGuard { _private: () }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        NO_GRAD_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}
