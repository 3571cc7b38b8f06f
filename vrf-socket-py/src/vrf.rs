//! VRF lookup, sockets bound to a VRF, connect and resolve by name inside it, and the VRF of a socket.
//!
//! Every function that asks the kernel or the network runs detached from the interpreter
//! (`Python::detach`), so other Python threads run meanwhile. Sockets leave as plain descriptors
//! (`into_raw_fd`): the Python layer makes `socket.socket` objects of them.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use socket2::{Domain, Protocol, SockRef, Type};
use vrf_socket::{ConnectOptions, Vrf, VrfError, VrfResolver};

use crate::errors::{Error, context};

/// A slave device as `(name, index, kind or None, is_up)`.
type SlaveTuple = (String, u32, Option<String>, bool);

/// A VRF as the kernel described it at lookup time, with the resolver of its name servers (made on first
/// use and kept). The Python class `vrf_socket.Vrf` wraps it.
#[pyclass(frozen, module = "vrf_socket._native")]
#[derive(Debug)]
pub(crate) struct VrfHandle {
    vrf: Vrf,
    resolver: OnceLock<VrfResolver>,
}

impl VrfHandle {
    pub(crate) fn new(vrf: Vrf) -> Self {
        VrfHandle {
            vrf,
            resolver: OnceLock::new(),
        }
    }

    /// This VRF's resolver: `/etc/vrf/NAME/resolv.conf` (else `/etc/resolv.conf`) and `/etc/hosts`, read
    /// once. Two threads may race to make it; the loser's is dropped.
    fn resolver(&self) -> Result<&VrfResolver, Error> {
        if let Some(r) = self.resolver.get() {
            return Ok(r);
        }
        let made = self.vrf.resolver().map_err(|e| {
            context(
                e,
                format!(
                    "making the resolver of VRF {} from its resolv.conf",
                    self.vrf
                ),
            )
        })?;
        Ok(self.resolver.get_or_init(|| made))
    }
}

#[pymethods]
impl VrfHandle {
    /// The device name.
    #[getter]
    fn name(&self) -> &str {
        self.vrf.name()
    }

    /// The interface index.
    #[getter]
    fn index(&self) -> u32 {
        self.vrf.index().get()
    }

    /// The routing table of the VRF.
    #[getter]
    fn table(&self) -> u32 {
        self.vrf.table()
    }

    /// Administratively up (`IFF_UP`) at lookup time.
    #[getter]
    fn is_up(&self) -> bool {
        self.vrf.is_up()
    }

    /// The devices enslaved to the VRF now: `(name, index, kind or None, is_up)` each, in ifindex order.
    fn slaves(&self, py: Python<'_>) -> PyResult<Vec<SlaveTuple>> {
        let slaves = py.detach(|| self.vrf.slaves()).map_err(Error::from)?;
        Ok(slaves
            .into_iter()
            .map(|s| (s.name, s.index.get(), s.kind, s.up))
            .collect())
    }

    /// Fails with `VrfDown` unless the VRF is up now (asks the kernel again, by index).
    fn ensure_up(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| Vrf::by_index(self.vrf.index())?.ensure_up())
            .map_err(Error::from)?;
        Ok(())
    }

    /// A new socket of `socket(2)`'s `family`, `type` and `proto` (0: the default), bound to the VRF
    /// (`SO_BINDTOIFINDEX`) before anything else; close-on-exec. Returns its descriptor, which the caller
    /// owns.
    #[pyo3(signature = (family, r#type, proto))]
    fn open_socket(&self, py: Python<'_>, family: i32, r#type: i32, proto: i32) -> PyResult<RawFd> {
        let fd = py
            .detach(|| {
                let protocol = (proto != 0).then(|| Protocol::from(proto));
                self.vrf
                    .socket(Domain::from(family), Type::from(r#type), protocol)
                    .map_err(|e| context(e, format!("opening a socket in VRF {}", self.vrf)))
            })
            .map(OwnedFd::from)?;
        Ok(fd.into_raw_fd())
    }

    /// Connects over TCP to `port` of `host` through the VRF and returns `(descriptor, family)` of the
    /// connected, blocking socket.
    ///
    /// An IP literal (`10.0.0.1`, `2001:db8::1`, `[2001:db8::1]`) is used as it is; a name is resolved
    /// by the VRF's resolver (a failure is `socket.gaierror`). The addresses are tried happy-eyeballs
    /// style by the library (`vrf_socket::tokio::connect_ips` on a runtime of this call's own; one address
    /// with a timeout is a plain blocking connect), from
    /// `source` (an IP address; the kernel picks the port), within `timeout` seconds for all attempts.
    /// Python's signal handlers run meanwhile (Ctrl-C is `KeyboardInterrupt`, as in the stdlib).
    #[pyo3(signature = (host, port, timeout=None, source=None))]
    fn connect(
        &self,
        py: Python<'_>,
        host: &str,
        port: u16,
        timeout: Option<f64>,
        source: Option<&str>,
    ) -> PyResult<(RawFd, i32)> {
        let mut opts = ConnectOptions::default();
        if let Some(t) = timeout {
            let t = Duration::try_from_secs_f64(t)
                .ok()
                .filter(|t| !t.is_zero())
                .ok_or_else(|| {
                    PyValueError::new_err(format!("timeout must be > 0 and finite, not {t}"))
                })?;
            opts = opts.timeout(t);
        }
        if let Some(s) = source {
            let ip = ip_literal(s).ok_or_else(|| {
                PyValueError::new_err(format!("source address {s:?} is not an IP address"))
            })?;
            opts = opts.source(ip);
        }
        let stream = py.detach(|| -> Result<std::net::TcpStream, Error> {
            let ips = match ip_literal(host) {
                Some(ip) => vec![ip],
                None => self
                    .resolver()?
                    .lookup_ip_blocking(host)
                    .map_err(Error::Lookup)?,
            };
            // One address and a bound on the wait: a plain blocking connect, as the library's own
            // blocking connect-by-name does, without a runtime to build for the call (that doubled the
            // cost of a connect). Without a timeout the race below runs even for one address: it is the
            // path that Ctrl-C interrupts.
            if let ([ip], Some(_)) = (&ips[..], opts.timeout)
                && opts.source.is_none_or(|s| s.is_ipv4() == ip.is_ipv4())
            {
                return Ok(self
                    .vrf
                    .tcp_connect_with(std::net::SocketAddr::new(*ip, port), &opts)?);
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let race = vrf_socket::tokio::connect_ips(&self.vrf, host, port, &ips, &opts);
            let stream = runtime.block_on(interruptible(race))?;
            let stream = stream.into_std()?;
            stream.set_nonblocking(false)?;
            Ok(stream)
        })?;
        let family = SockRef::from(&stream).domain().map_err(Error::from)?;
        Ok((OwnedFd::from(stream).into_raw_fd(), family.into()))
    }

    /// The addresses of `host` by the VRF's resolver, IPv6 first: an IP literal as it is, a name of the
    /// hosts file from there, else A and AAAA queries sent through the VRF to its name servers. A failure
    /// is `socket.gaierror`.
    fn resolve(&self, py: Python<'_>, host: &str) -> PyResult<Vec<String>> {
        let ips = py.detach(|| -> Result<Vec<IpAddr>, Error> {
            self.resolver()?
                .lookup_ip_blocking(host)
                .map_err(Error::Lookup)
        })?;
        Ok(ips.iter().map(IpAddr::to_string).collect())
    }

    fn __repr__(&self) -> String {
        format!(
            "VrfHandle(name={:?}, index={}, table={})",
            self.vrf.name(),
            self.vrf.index(),
            self.vrf.table()
        )
    }
}

/// How often a connect that runs detached from the interpreter lets Python's signal handlers run.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs `fut`, letting Python's signal handlers run every [`SIGNAL_CHECK`] (they run in the main
/// thread only): Ctrl-C stops a connect as it stops the standard library's, with `KeyboardInterrupt`.
async fn interruptible<T>(fut: impl Future<Output = io::Result<T>>) -> Result<T, Error> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => return r.map_err(Error::from),
            () = tokio::time::sleep(SIGNAL_CHECK) => {
                Python::attach(|py| py.check_signals()).map_err(Error::Python)?;
            }
        }
    }
}

/// `host` as an IP address: `10.0.0.1`, `2001:db8::1` or `[2001:db8::1]`.
fn ip_literal(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

fn index(index: u32) -> PyResult<NonZeroU32> {
    NonZeroU32::new(index).ok_or_else(|| {
        PyValueError::new_err("interface index 0 names no device (indexes start at 1)")
    })
}

/// The VRF called `name` (`VrfNotFound`, `NotAVrf`, `InvalidVrfName` otherwise).
#[pyfunction]
pub(crate) fn lookup_name(py: Python<'_>, name: &str) -> PyResult<VrfHandle> {
    let vrf = py.detach(|| Vrf::by_name(name)).map_err(Error::from)?;
    Ok(VrfHandle::new(vrf))
}

/// The VRF with interface index `index`.
#[pyfunction]
pub(crate) fn lookup_index(py: Python<'_>, index: u32) -> PyResult<VrfHandle> {
    let index = self::index(index)?;
    let vrf = py.detach(|| Vrf::by_index(index)).map_err(Error::from)?;
    Ok(VrfHandle::new(vrf))
}

/// Every VRF of the network namespace, in ifindex order.
#[pyfunction]
pub(crate) fn list_vrfs(py: Python<'_>) -> PyResult<Vec<VrfHandle>> {
    let vrfs = py.detach(Vrf::list).map_err(Error::from)?;
    Ok(vrfs.into_iter().map(VrfHandle::new).collect())
}

/// A device by name or by interface index.
#[derive(Debug, FromPyObject)]
pub(crate) enum DeviceArg {
    /// By name.
    Name(String),
    /// By index.
    Index(u32),
}

/// The VRF of a device (the device itself when it is a VRF, else its master when that is a VRF), or
/// `None` for a device in the default VRF.
#[pyfunction]
pub(crate) fn vrf_of_device(py: Python<'_>, device: DeviceArg) -> PyResult<Option<VrfHandle>> {
    let vrf = match device {
        DeviceArg::Name(name) => py.detach(|| Vrf::of_device(name.as_str())),
        DeviceArg::Index(i) => {
            let i = index(i)?;
            py.detach(|| Vrf::of_device(i))
        }
    }
    .map_err(Error::from)?;
    Ok(vrf.map(VrfHandle::new))
}

/// The VRF the socket with descriptor `fd` is bound to (or the VRF of the device it is bound to), or
/// `None`: `SO_BINDTOIFINDEX` read back, then the device looked up.
///
/// Runs attached to the interpreter, so that no Python code can close `fd` meanwhile.
#[pyfunction]
pub(crate) fn bound_vrf(py: Python<'_>, fd: RawFd) -> PyResult<Option<VrfHandle>> {
    if fd < 0 {
        return Err(PyOSError::new_err((
            libc::EBADF,
            format!("bound_vrf: {fd} is not a file descriptor (a closed socket?)"),
        )));
    }
    let vrf =
        crate::sys::with_borrowed_fd(py, fd, |s| vrf_socket::bound_vrf(s)).map_err(
            |e| match e {
                VrfError::Io(e) => context(e, format!("bound_vrf of descriptor {fd}")),
                e => Error::from(e),
            },
        )?;
    Ok(vrf.map(VrfHandle::new))
}
