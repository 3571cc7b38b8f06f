//! The one `unsafe` of the extension module.

use std::os::fd::{BorrowedFd, RawFd};

use pyo3::Python;

/// Calls `f` with `fd` borrowed, for the length of the call, while the caller holds the interpreter
/// (`_py`). `fd` must not be negative.
///
/// The descriptor comes from a Python socket object (or an int) that the caller holds. As long as this
/// thread holds the interpreter and `f` never detaches from it, no Python code runs, so nothing closes
/// `fd` meanwhile (the module declares `gil_used`, and an abi3 module only loads into interpreters with
/// a GIL). Were `fd` not an open descriptor at all, the kernel answers what `f` asks of it (a socket
/// option) with EBADF or ENOTSOCK: nothing else is done through it.
pub(crate) fn with_borrowed_fd<R>(
    _py: Python<'_>,
    fd: RawFd,
    f: impl FnOnce(BorrowedFd<'_>) -> R,
) -> R {
    debug_assert!(fd >= 0);
    // SAFETY: `fd` is not negative, and the borrow ends with `f`, during which the interpreter is held
    // (the `Python` token), so no Python code can close the descriptor (see above).
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    f(fd)
}
