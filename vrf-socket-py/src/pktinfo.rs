//! One UDP socket serving every VRF: the core of `vrf_socket.PktInfoSocket`.
//!
//! The socket is unbound from any device; with `net.ipv4.udp_l3mdev_accept=1` the kernel delivers to it
//! datagrams from every VRF. `IP_PKTINFO` / `IPV6_RECVPKTINFO` (the library's `pktinfo::enable`) make the
//! kernel report each datagram's destination address and ingress device; a reply sent with that device
//! and source address (`RecvMeta::reply`) is routed through the same VRF.
//!
//! Waiting is bounded by `SO_RCVTIMEO`/`SO_SNDTIMEO` (the Python timeout), or the socket is non-blocking
//! (timeout 0). Every wait runs detached from the interpreter. `close` shuts the socket down first, which
//! wakes a `recv` blocked in another thread; the descriptor is closed when the last user lets go of it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use vrf_socket::VrfMap;
use vrf_socket::pktinfo::{self, RecvMeta, Transmit};

use crate::errors::{Error, context, os_error, timed_out};
use crate::vrf::VrfHandle;

/// The largest datagram `recv` takes: UDP's length field is 16 bits.
const MAX_DATAGRAM: usize = 65535;

/// How a wait ends: never, at once, or after a time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wait {
    Blocking,
    NonBlocking,
    Timeout(Duration),
}

/// The metadata of one received datagram, kept for `reply`.
#[pyclass(frozen, module = "vrf_socket._native")]
#[derive(Debug)]
pub(crate) struct Meta(RecvMeta);

/// The UDP socket of a `vrf_socket.PktInfoSocket`, with pktinfo on.
#[pyclass(frozen, module = "vrf_socket._native")]
#[derive(Debug)]
pub(crate) struct PktInfoCore {
    /// `None` once closed.
    socket: RwLock<Option<Arc<Socket>>>,
    wait: Mutex<Wait>,
    vrfs: Mutex<VrfMap>,
    ipv6: bool,
    /// The port the socket is bound to (what the kernel chose for port 0).
    port: u16,
}

impl PktInfoCore {
    fn socket(&self) -> PyResult<Arc<Socket>> {
        self.socket
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(closed)
    }

    fn is_closed(&self) -> bool {
        self.socket
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn wait(&self) -> Wait {
        *self.wait.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the system call `f` detached, again after a signal whose handler did not raise (PEP 475),
    /// and turns a timeout into `socket.timeout` and a use after `close` into EBADF.
    fn io<T: Send>(
        &self,
        py: Python<'_>,
        what: &str,
        f: impl Fn(&Socket) -> io::Result<T> + Send + Sync,
    ) -> PyResult<T> {
        let socket = self.socket()?;
        loop {
            let r = py.detach(|| f(&socket));
            if self.is_closed() {
                return Err(closed());
            }
            match r {
                Ok(v) => return Ok(v),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => py.check_signals()?,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && matches!(self.wait(), Wait::Timeout(_)) =>
                {
                    return Err(timed_out(py));
                }
                Err(e) => return Err(os_error(py, &e, Some(what))),
            }
        }
    }

    /// The local address a datagram was sent to, in the shape of its source: the socket's port, an IPv4
    /// address of an IPv6 socket IPv4-mapped, a link-local IPv6 address scoped to the ingress device.
    fn destination(&self, ip: IpAddr, ifindex: Option<NonZeroU32>) -> SocketAddr {
        match ip {
            IpAddr::V6(v6) => {
                let scope = if v6.is_unicast_link_local() {
                    ifindex.map_or(0, NonZeroU32::get)
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(v6, self.port, 0, scope))
            }
            IpAddr::V4(v4) => self.for_socket(SocketAddr::V4(SocketAddrV4::new(v4, self.port))),
        }
    }

    /// `addr` as the socket's family wants it: an IPv4 destination of an IPv6 socket becomes IPv4-mapped.
    fn for_socket(&self, addr: SocketAddr) -> SocketAddr {
        match addr {
            SocketAddr::V4(a) if self.ipv6 => {
                SocketAddr::V6(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0))
            }
            a => a,
        }
    }
}

fn closed() -> PyErr {
    PyOSError::new_err((libc::EBADF, "the PktInfoSocket is closed"))
}

fn parse_ip(what: &str, s: &str) -> PyResult<IpAddr> {
    s.parse()
        .map_err(|_| PyValueError::new_err(format!("{what} {s:?} is not an IP address")))
}

/// A socket address as Python's socket module gives it: `(host, port)` or `(host, port, flowinfo,
/// scope_id)`.
fn sockaddr<'py>(py: Python<'py>, addr: SocketAddr) -> PyResult<Bound<'py, PyTuple>> {
    match addr {
        SocketAddr::V4(a) => (a.ip().to_string(), a.port()).into_pyobject(py),
        SocketAddr::V6(a) => {
            (a.ip().to_string(), a.port(), a.flowinfo(), a.scope_id()).into_pyobject(py)
        }
    }
}

/// What `recv` returns: `(data, source, destination, ifindex, truncated, meta)`.
type Received<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyTuple>,
    Option<Bound<'py, PyTuple>>,
    Option<u32>,
    bool,
    Meta,
);

#[pymethods]
impl PktInfoCore {
    /// A UDP socket of `family` (`AF_INET` or `AF_INET6`) bound to `host` (an IP address; empty: any) and
    /// `port`, with pktinfo on.
    #[new]
    fn new(py: Python<'_>, family: i32, host: &str, port: u16) -> PyResult<Self> {
        let ipv6 = match family {
            libc::AF_INET => false,
            libc::AF_INET6 => true,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "PktInfoSocket takes AF_INET or AF_INET6, not family {family}"
                )));
            }
        };
        let ip = match host {
            "" if ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            h => parse_ip("PktInfoSocket address", h)?,
        };
        let addr = match (ip, ipv6) {
            (IpAddr::V4(v4), true) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port),
            (IpAddr::V6(_), false) => {
                return Err(PyValueError::new_err(format!(
                    "{ip} is an IPv6 address: pass family=AF_INET6"
                )));
            }
            (ip, _) => SocketAddr::new(ip, port),
        };
        let (socket, port) = py.detach(|| -> Result<(Socket, u16), Error> {
            let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
            let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
            s.bind(&SockAddr::from(addr))
                .map_err(|e| context(e, format!("binding {addr}")))?;
            pktinfo::enable(&s)?;
            let port = s.local_addr()?.as_socket().map_or(port, |a| a.port());
            Ok((s, port))
        })?;
        Ok(PktInfoCore {
            socket: RwLock::new(Some(Arc::new(socket))),
            wait: Mutex::new(Wait::Blocking),
            vrfs: Mutex::new(VrfMap::default()),
            ipv6,
            port,
        })
    }

    /// The descriptor, -1 once closed.
    fn fileno(&self) -> i32 {
        self.socket
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(-1, |s| s.as_raw_fd())
    }

    /// The local address, as `getsockname()` gives it.
    fn getsockname<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let addr = self
            .socket()?
            .local_addr()
            .map_err(|e| os_error(py, &e, Some("getsockname")))?;
        let addr = addr
            .as_socket()
            .ok_or_else(|| PyOSError::new_err("the socket has no IP address"))?;
        sockaddr(py, addr)
    }

    /// `None`: block; 0: non-blocking; otherwise every wait gives up after this many seconds.
    #[pyo3(signature = (timeout))]
    fn settimeout(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let wait = match timeout {
            None => Wait::Blocking,
            Some(0.0) => Wait::NonBlocking,
            Some(t) => Wait::Timeout(
                Duration::try_from_secs_f64(t)
                    .map_err(|_| PyValueError::new_err("Timeout value out of range"))?
                    // SO_RCVTIMEO counts in microseconds, and 0 means forever.
                    .max(Duration::from_micros(1)),
            ),
        };
        let socket = self.socket()?;
        let timeout = match wait {
            Wait::Timeout(t) => Some(t),
            _ => None,
        };
        socket
            .set_nonblocking(wait == Wait::NonBlocking)
            .and_then(|()| socket.set_read_timeout(timeout))
            .and_then(|()| socket.set_write_timeout(timeout))
            .map_err(|e| os_error(py, &e, Some("settimeout")))?;
        *self.wait.lock().unwrap_or_else(PoisonError::into_inner) = wait;
        Ok(())
    }

    /// Receives one datagram of at most `bufsize` bytes with its metadata.
    fn recv<'py>(&self, py: Python<'py>, bufsize: usize) -> PyResult<Received<'py>> {
        let size = bufsize.min(MAX_DATAGRAM);
        let (buf, meta) = self.io(py, "receiving", |s| {
            let mut buf = vec![0u8; size];
            let meta = pktinfo::recv(s, &mut buf)?;
            Ok((buf, meta))
        })?;
        let data = PyBytes::new(py, &buf[..meta.len]);
        Ok((
            data,
            sockaddr(py, meta.src)?,
            meta.dst
                .map(|ip| sockaddr(py, self.destination(ip, meta.ifindex)))
                .transpose()?,
            meta.ifindex.map(NonZeroU32::get),
            meta.truncated,
            Meta(meta),
        ))
    }

    /// Sends `data` back to the sender of the datagram `meta` describes, from the address it was sent to,
    /// through the device it came in on (so through its VRF). Returns the bytes sent.
    fn reply(&self, py: Python<'_>, meta: PyRef<'_, Meta>, data: &[u8]) -> PyResult<usize> {
        let t = meta.0.reply(data);
        let t = Transmit {
            dst: self.for_socket(t.dst),
            ..t
        };
        self.io(py, "replying", |s| pktinfo::send(s, &t))
    }

    /// Sends `data` to `host` (an IP address) and `port`; from `source` (an IP address) and out of
    /// device `ifindex` (a VRF or a device in one) when given. Returns the bytes sent.
    #[pyo3(signature = (data, host, port, flowinfo=0, scope_id=0, source=None, ifindex=None))]
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        py: Python<'_>,
        data: &[u8],
        host: &str,
        port: u16,
        flowinfo: u32,
        scope_id: u32,
        source: Option<&str>,
        ifindex: Option<u32>,
    ) -> PyResult<usize> {
        let dst = match parse_ip("destination", host)? {
            IpAddr::V4(ip) => SocketAddr::V4(SocketAddrV4::new(ip, port)),
            IpAddr::V6(ip) => SocketAddr::V6(SocketAddrV6::new(ip, port, flowinfo, scope_id)),
        };
        if dst.is_ipv6() && !self.ipv6 {
            return Err(PyValueError::new_err(format!(
                "{host} is an IPv6 address and this PktInfoSocket is AF_INET"
            )));
        }
        let src = match source {
            None | Some("") => None,
            Some(s) => Some(parse_ip("source", s)?),
        };
        let t = Transmit {
            payload: data,
            dst: self.for_socket(dst),
            src,
            ifindex: ifindex.and_then(NonZeroU32::new),
        };
        self.io(py, "sending", |s| pktinfo::send(s, &t))
    }

    /// The VRF of device `ifindex` (`None`: the default VRF), asked once per device and remembered.
    #[pyo3(signature = (ifindex))]
    fn vrf_of(&self, py: Python<'_>, ifindex: Option<u32>) -> PyResult<Option<VrfHandle>> {
        let vrf = py
            .detach(|| {
                let mut map = self.vrfs.lock().unwrap_or_else(PoisonError::into_inner);
                map.vrf_of(ifindex.and_then(NonZeroU32::new))
                    .map(|v| v.cloned())
            })
            .map_err(Error::from)?;
        Ok(vrf.map(VrfHandle::new))
    }

    /// Forgets which VRF each device is in (after devices moved between VRFs).
    fn clear_cache(&self) {
        self.vrfs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Shuts the socket down (waking a `recv` blocked in another thread) and lets go of it; the
    /// descriptor is closed when no call uses it any more. Closing twice is allowed.
    fn close(&self) {
        let socket = self
            .socket
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(s) = socket {
            // ENOTCONN on an unconnected socket, but the kernel marks it shut down and wakes readers.
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}
