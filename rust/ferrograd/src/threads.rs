//! The one thread pool that every parallel kernel runs in, sized by [`set_num_threads`].
//!
//! Rayon's global pool can be configured only once per process, so the engine keeps its own pool
//! and swaps it when the size changes. Work small enough that threading costs more than it saves
//! stays on the calling thread (see [`PARALLEL_MIN_ELEMENTS`]).

use std::sync::{Arc, OnceLock, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};

/// Elementwise kernels below this many elements run serially: at ~1 ns an element, a smaller
/// array finishes before the pool could wake its threads.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

fn pool_cell() -> &'static RwLock<Arc<ThreadPool>> {
    static POOL: OnceLock<RwLock<Arc<ThreadPool>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        RwLock::new(Arc::new(
            build_pool(n).expect("the default thread pool must start"),
        ))
    })
}

fn build_pool(n: usize) -> std::result::Result<ThreadPool, rayon::ThreadPoolBuildError> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("ferrograd-{i}"))
        .build()
}

/// The pool the kernels use.
pub fn pool() -> Arc<ThreadPool> {
    pool_cell()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// The number of threads kernels may use (default: all cores).
pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Resizes the pool. Work already running finishes on the old pool.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::argument(
            "set_num_threads",
            "the number of threads must be at least 1",
        ));
    }
    if num_threads() == n {
        return Ok(());
    }
    let new_pool = build_pool(n).map_err(|e| {
        Error::argument(
            "set_num_threads",
            format!("could not start {n} threads: {e}"),
        )
    })?;
    *pool_cell().write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new_pool);
    Ok(())
}

/// Runs `work` inside the pool, so that rayon calls in it (and gemm's) use its threads. Already
/// inside the pool, it just runs `work`.
pub fn install<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return work();
    }
    pool().install(work)
}
