//! Crate-internal macros.

/// Calls a generic function on the typed array inside a [`Storage`]:
/// `dispatch!(storage, |a| expr)` where `a: &Array<F>` inside `expr`.
macro_rules! dispatch {
    ($storage:expr, |$a:ident| $body:expr) => {
        match $storage {
            $crate::tensor::Storage::F32($a) => $body,
            $crate::tensor::Storage::F64($a) => $body,
        }
    };
}
