//! Rust errors as Python exceptions.
//!
//! - [`VrfError`] → the classes of `vrf_socket._errors` (`VrfNotFound`, `NotAVrf`, `VrfDown`,
//!   `InvalidVrfName`, all `OSError`s with an errno), carrying the library's message.
//! - [`io::Error`] → `OSError(errno, message)`, which Python turns into the matching subclass
//!   (`ConnectionRefusedError`, `PermissionError` …). The library's own errors (a happy-eyeballs race that
//!   failed, a timeout) carry a kind but no errno: the errno is the kind's. A timeout is `socket.timeout`
//!   (`TimeoutError` from Python 3.10 on), as the standard library raises.
//! - A failed lookup → `socket.gaierror(EAI_*, message)`.

use std::io;

use pyo3::BoundObject;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use vrf_socket::VrfError;

/// The module that defines the exception classes (plain Python, so they pickle and document well).
const ERRORS: &str = "vrf_socket._errors";

/// What failed, to become the right Python exception once the interpreter is attached again.
#[derive(Debug)]
pub(crate) enum Error {
    /// A VRF lookup.
    Vrf(VrfError),
    /// A system call (or the library's connect), optionally with what was being done.
    Io(io::Error, Option<String>),
    /// A name lookup: `socket.gaierror`.
    Lookup(io::Error),
    /// Raised by Python meanwhile (a signal handler's `KeyboardInterrupt`).
    Python(PyErr),
}

impl From<VrfError> for Error {
    fn from(e: VrfError) -> Self {
        Error::Vrf(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e, None)
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| match e {
            Error::Vrf(e) => vrf_error(py, e),
            Error::Io(e, context) => os_error(py, &e, context.as_deref()),
            Error::Lookup(e) => gai_error(py, &e),
            Error::Python(e) => e,
        })
    }
}

/// Adds what was being done to an I/O error.
pub(crate) fn context(e: io::Error, what: impl Into<String>) -> Error {
    Error::Io(e, Some(what.into()))
}

/// `module.name(*args)`: a new exception of a class imported once.
fn new_exception<'py, A>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    module: &str,
    name: &str,
    args: A,
) -> PyResult<Bound<'py, PyAny>>
where
    A: pyo3::call::PyCallArgs<'py>,
{
    cell.import(py, module, name)?.call1(args)
}

/// `v` as a Python object, for an exception's attribute.
fn value<'py>(py: Python<'py>, v: impl IntoPyObject<'py>) -> Option<Py<PyAny>> {
    v.into_pyobject(py).ok().map(|o| o.into_any().unbind())
}

/// The exception to raise: the new one, or what went wrong making it.
fn into_err(r: PyResult<Bound<'_, PyAny>>) -> PyErr {
    match r {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

/// A [`VrfError`] as `VrfNotFound`, `NotAVrf`, `VrfDown`, `InvalidVrfName` or `OSError`. The exception's
/// `device` attribute is the name or index that was asked about, when there is one.
pub(crate) fn vrf_error(py: Python<'_>, e: VrfError) -> PyErr {
    static NOT_FOUND: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static NOT_A_VRF: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static DOWN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static INVALID: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static OTHER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let msg = e.to_string();
    let (cell, class, errno, device) = match e {
        VrfError::Io(io) => return os_error(py, &io, None),
        VrfError::InvalidName(_) => (&INVALID, "InvalidVrfName", libc::EINVAL, None),
        VrfError::NotFound(name) | VrfError::NoSuchDevice(name) => {
            (&NOT_FOUND, "VrfNotFound", libc::ENODEV, value(py, name))
        }
        VrfError::NoSuchIndex(index) => (
            &NOT_FOUND,
            "VrfNotFound",
            libc::ENODEV,
            value(py, index.get()),
        ),
        VrfError::NotAVrf { name, kind, master } => {
            let r = new_exception(py, &NOT_A_VRF, ERRORS, "NotAVrf", (libc::EINVAL, msg)).and_then(
                |exc| {
                    exc.setattr("device", name)?;
                    exc.setattr("kind", kind)?;
                    exc.setattr("master", master)?;
                    Ok(exc)
                },
            );
            return into_err(r);
        }
        VrfError::Down(name) => (&DOWN, "VrfDown", libc::ENETDOWN, value(py, name)),
        // The enum is non-exhaustive: a variant added later is still a VrfError.
        _ => (&OTHER, "VrfError", libc::EINVAL, None),
    };
    let r = new_exception(py, cell, ERRORS, class, (errno, msg)).and_then(|exc| {
        if let Some(device) = device {
            exc.setattr("device", device)?;
        }
        Ok(exc)
    });
    into_err(r)
}

/// The errno of an error the library made itself (a kind, no system call behind it).
fn errno_of_kind(kind: io::ErrorKind) -> Option<i32> {
    use io::ErrorKind as K;
    Some(match kind {
        K::NotFound => libc::ENOENT,
        K::PermissionDenied => libc::EACCES,
        K::ConnectionRefused => libc::ECONNREFUSED,
        K::ConnectionReset => libc::ECONNRESET,
        K::HostUnreachable => libc::EHOSTUNREACH,
        K::NetworkUnreachable => libc::ENETUNREACH,
        K::ConnectionAborted => libc::ECONNABORTED,
        K::NotConnected => libc::ENOTCONN,
        K::AddrInUse => libc::EADDRINUSE,
        K::AddrNotAvailable => libc::EADDRNOTAVAIL,
        K::NetworkDown => libc::ENETDOWN,
        K::BrokenPipe => libc::EPIPE,
        K::AlreadyExists => libc::EEXIST,
        K::WouldBlock => libc::EAGAIN,
        K::InvalidInput => libc::EINVAL,
        K::TimedOut => libc::ETIMEDOUT,
        K::Interrupted => libc::EINTR,
        K::Unsupported => libc::EOPNOTSUPP,
        K::OutOfMemory => libc::ENOMEM,
        _ => return None,
    })
}

/// `e` as `OSError(errno, message)`: Python picks the subclass from the errno. The message of a system
/// call's error is its `strerror` (as Python's own), with `context` after it.
pub(crate) fn os_error(py: Python<'_>, e: &io::Error, context: Option<&str>) -> PyErr {
    static TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let (errno, text) = match e.raw_os_error() {
        Some(n) => {
            let text = e.to_string();
            let text = text
                .strip_suffix(&format!(" (os error {n})"))
                .map(str::to_string)
                .unwrap_or(text);
            (Some(n), text)
        }
        None => (errno_of_kind(e.kind()), e.to_string()),
    };
    let text = match context {
        Some(c) => format!("{text} ({c})"),
        None => text,
    };
    if e.kind() == io::ErrorKind::TimedOut {
        let errno = errno.unwrap_or(libc::ETIMEDOUT);
        return into_err(new_exception(
            py,
            &TIMEOUT,
            "socket",
            "timeout",
            (errno, text),
        ));
    }
    match errno {
        Some(n) => PyOSError::new_err((n, text)),
        None => PyOSError::new_err(text),
    }
}

/// A failed name lookup as `socket.gaierror`: `EAI_NONAME` when the name does not exist, has no
/// address or is not a valid name; `EAI_AGAIN` when no server answered or none could be asked, or one
/// answered with an error (SERVFAIL, REFUSED), as glibc says for these.
pub(crate) fn gai_error(py: Python<'_>, e: &io::Error) -> PyErr {
    static GAIERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let code = match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::InvalidInput => libc::EAI_NONAME,
        _ => libc::EAI_AGAIN,
    };
    into_err(new_exception(
        py,
        &GAIERROR,
        "socket",
        "gaierror",
        (code, e.to_string()),
    ))
}

/// `socket.timeout("timed out")`, as a socket with a timeout raises.
pub(crate) fn timed_out(py: Python<'_>) -> PyErr {
    static TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    into_err(new_exception(
        py,
        &TIMEOUT,
        "socket",
        "timeout",
        ("timed out",),
    ))
}
