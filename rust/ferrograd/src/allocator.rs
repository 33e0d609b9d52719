//! Keeps freed memory in the process instead of returning it to the OS after every step.
//!
//! A training step allocates and frees the same large buffers (activations, gradients, patch
//! matrices) again and again. glibc's malloc serves blocks above its mmap threshold with fresh
//! `mmap`s and gives the top of the heap back once more than its trim threshold is free, so every
//! step pays page faults and kernel zeroing for memory it had a moment ago. Measured on the
//! LeNet benchmark: 112k page faults per epoch and a fifth of the CPU time; with the settings
//! below, 13k. (PyTorch's CPU training has the same loss, see DESIGN.md.)

/// Raises glibc's mmap threshold to its maximum (32 MiB) and its trim threshold to 512 MiB, so
/// that freed buffers are reused by the next step. Respects a user's own `MALLOC_MMAP_THRESHOLD_`
/// or `MALLOC_TRIM_THRESHOLD_`, and does nothing on other platforms or C libraries. Returns
/// whether the settings were applied.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::raw::c_int;
        extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_MMAP_THRESHOLD: c_int = -3;
        let user_set = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
            .iter()
            .any(|name| std::env::var_os(name).is_some());
        if user_set {
            return false;
        }
        // SAFETY: mallopt only changes malloc's tuning parameters; both values are in range.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Allocations from this size up are advised to use transparent huge pages: glibc's largest mmap
/// threshold, so only the blocks that come fresh from the kernel each time. Smaller blocks are
/// reused by malloc without faults (see [`keep_freed_memory`]); advising them as well (numpy's
/// threshold is 4 MiB) made a small MLP's `fit` 5% slower and its peak RSS 28% larger (186 ->
/// 239 MB): huge pages in the heap stay resident when only part of them is in use.
pub const HUGE_PAGE_THRESHOLD: usize = 32 << 20;

/// The global allocator of the Python extension: the system allocator, plus `madvise(MADV_HUGEPAGE)`
/// on the 2 MiB-aligned interior of every allocation of [`HUGE_PAGE_THRESHOLD`] bytes or more.
///
/// Why: glibc serves blocks above its mmap threshold (at most 32 MiB, see [`keep_freed_memory`])
/// with fresh `mmap`s, so every large op output (an `x + y` of 2^24 floats) paid a page fault and
/// kernel zeroing per 4 KiB page, which made large elementwise ops run at a fifth of memory
/// bandwidth. With transparent huge pages in `madvise` mode (the usual default), the advice makes
/// those faults one per 2 MiB. numpy does the same for its arrays. A library must not choose its
/// users' allocator, so the engine only provides this type; the Python extension installs it:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: ferrograd::allocator::HugePageAlloc = ferrograd::allocator::HugePageAlloc;
/// ```
pub struct HugePageAlloc;

impl HugePageAlloc {
    #[inline]
    fn advise(ptr: *mut u8, size: usize) {
        #[cfg(target_os = "linux")]
        if size >= HUGE_PAGE_THRESHOLD && !ptr.is_null() {
            use std::os::raw::{c_int, c_void};
            extern "C" {
                fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
            }
            const MADV_HUGEPAGE: c_int = 14;
            const HUGE_PAGE: usize = 2 << 20;
            let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
            let end = (ptr as usize + size) / HUGE_PAGE * HUGE_PAGE;
            if end > start {
                // SAFETY: the range lies inside the allocation just made; the advice changes no
                // contents, and failure (THP disabled, old kernel) only loses the speed-up.
                unsafe {
                    madvise(start as *mut c_void, end - start, MADV_HUGEPAGE);
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (ptr, size);
    }
}

/// Freed blocks of [`HUGE_PAGE_THRESHOLD`] bytes or more kept for the next allocation of the
/// same layout: at most [`CACHE_SLOTS`] blocks and [`CACHE_BYTES`] in all.
///
/// Why: glibc unmaps such blocks on free, so a loop over large arrays (`y = x + y` on 64 MiB,
/// an epoch's large activations) faulted in and zeroed a fresh output every call, which held
/// large elementwise ops to 60% of memory bandwidth where a reused block runs at 90%. The bound
/// keeps the memory held after a burst small and comparable to the 512 MiB of freed heap
/// [`keep_freed_memory`] already lets malloc keep; blocks below the threshold never come here.
const CACHE_SLOTS: usize = 4;
/// See [`CACHE_SLOTS`].
const CACHE_BYTES: usize = 256 << 20;

/// `(address, size, align)` of each cached block; `size == 0` marks an empty slot. A fixed array
/// behind a mutex: the allocator must not allocate to remember a block.
static CACHE: std::sync::Mutex<[(usize, usize, usize); CACHE_SLOTS]> =
    std::sync::Mutex::new([(0, 0, 0); CACHE_SLOTS]);

impl HugePageAlloc {
    /// A cached block with exactly this layout, taken out of the cache.
    fn take_cached(layout: std::alloc::Layout) -> Option<*mut u8> {
        let mut cache = CACHE.lock().ok()?;
        let slot = cache
            .iter_mut()
            .find(|(_, size, align)| *size == layout.size() && *align == layout.align())?;
        let ptr = slot.0 as *mut u8;
        *slot = (0, 0, 0);
        Some(ptr)
    }

    /// Keeps a freed block if a slot and the byte budget allow; false when it must be freed.
    fn keep(ptr: *mut u8, layout: std::alloc::Layout) -> bool {
        let Ok(mut cache) = CACHE.lock() else {
            return false;
        };
        let held: usize = cache.iter().map(|&(_, size, _)| size).sum();
        if held + layout.size() > CACHE_BYTES {
            return false;
        }
        match cache.iter_mut().find(|(_, size, _)| *size == 0) {
            Some(slot) => {
                *slot = (ptr as usize, layout.size(), layout.align());
                true
            }
            None => false,
        }
    }
}

// SAFETY: every block comes from `System` with the layout it is later freed with (a cached
// block is handed out again only for an identical layout, and is owned by nobody while
// cached); `advise` does not touch the memory's contents.
unsafe impl std::alloc::GlobalAlloc for HugePageAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() >= HUGE_PAGE_THRESHOLD {
            if let Some(ptr) = Self::take_cached(layout) {
                return ptr;
            }
        }
        let ptr = std::alloc::System.alloc(layout);
        Self::advise(ptr, layout.size());
        ptr
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let ptr = std::alloc::System.alloc_zeroed(layout);
        Self::advise(ptr, layout.size());
        ptr
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if layout.size() >= HUGE_PAGE_THRESHOLD && Self::keep(ptr, layout) {
            return;
        }
        std::alloc::System.dealloc(ptr, layout)
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let new = std::alloc::System.realloc(ptr, layout, new_size);
        Self::advise(new, new_size);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout};

    /// A freed large block comes back for the same layout (not for another), and the cache
    /// never holds more than its budget.
    #[test]
    fn large_blocks_are_reused_within_the_budget() {
        let alloc = HugePageAlloc;
        // A size no other test uses, so a parallel test cannot take the block in between.
        let layout = Layout::from_size_align(HUGE_PAGE_THRESHOLD + 4096 * 3, 64).unwrap();
        let other = Layout::from_size_align(HUGE_PAGE_THRESHOLD + 4096 * 3, 128).unwrap();
        // SAFETY: valid non-zero layouts; every block is freed with the layout it came with.
        unsafe {
            let p = alloc.alloc(layout);
            p.write_bytes(1, layout.size());
            alloc.dealloc(p, layout);
            let q = alloc.alloc(layout);
            assert_eq!(p, q, "the freed block is handed out again");
            let r = alloc.alloc(other);
            assert_ne!(r, q);
            alloc.dealloc(q, layout);
            alloc.dealloc(r, other);
            let held: usize = CACHE.lock().unwrap().iter().map(|&(_, size, _)| size).sum();
            assert!(held <= CACHE_BYTES);
            // Drain what this test left so the cache is as it was.
            for l in [layout, other] {
                if let Some(ptr) = HugePageAlloc::take_cached(l) {
                    std::alloc::System.dealloc(ptr, l);
                }
            }
        }
    }

    #[test]
    fn huge_page_alloc_hands_out_usable_memory() {
        let alloc = HugePageAlloc;
        for size in [64, HUGE_PAGE_THRESHOLD - 1, HUGE_PAGE_THRESHOLD, 40 << 20] {
            let layout = Layout::from_size_align(size, 64).unwrap();
            // SAFETY: the layouts are valid and non-zero; every block is freed with its layout.
            unsafe {
                let p = alloc.alloc(layout);
                assert!(!p.is_null() && p as usize % 64 == 0);
                p.write_bytes(7, size);
                let z = alloc.alloc_zeroed(layout);
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                alloc.dealloc(z, layout);
                let q = alloc.realloc(p, layout, 2 * size);
                assert!(std::slice::from_raw_parts(q, size).iter().all(|&b| b == 7));
                alloc.dealloc(q, Layout::from_size_align(2 * size, 64).unwrap());
            }
        }
    }
}
