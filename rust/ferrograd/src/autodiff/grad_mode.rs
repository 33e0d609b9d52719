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

/// Enters a no-grad region without a guard, for callers that cannot hold a Rust value across
/// the region (the Python context manager). Pair every call with [`pop_no_grad`].
pub fn push_no_grad() {
    NO_GRAD_DEPTH.with(|d| d.set(d.get() + 1));
}

/// Leaves a region entered with [`push_no_grad`].
pub fn pop_no_grad() {
    NO_GRAD_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_nest_and_restore() {
        assert!(is_grad_enabled());
        {
            let _outer = no_grad();
            {
                let _inner = no_grad();
                assert!(!is_grad_enabled());
            }
            assert!(!is_grad_enabled());
        }
        assert!(is_grad_enabled());
        push_no_grad();
        assert!(!is_grad_enabled());
        pop_no_grad();
        assert!(is_grad_enabled());
    }
}
