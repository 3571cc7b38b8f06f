//! Control messages (ancillary data) for `recvmsg`/`sendmsg`: one codec for every kind the workspace
//! reads or writes, and [`recvmsg`] to receive a message with them.
//!
//! Kinds decoded: `IP_PKTINFO`/`IPV6_PKTINFO` (destination and ingress device), `SCM_TIMESTAMPNS`
//! (receive time), `IP_TTL`/`IPV6_HOPLIMIT` (the received packet's TTL or hop limit) and
//! `IP_RECVERR`/`IPV6_RECVERR` (an error from the socket's error queue and the host that reported it);
//! anything else comes back raw as [`Cmsg::Other`]. Kinds encoded (for `sendmsg`): the pktinfos.
//!
//! A control buffer is a sequence of `struct cmsghdr { size_t cmsg_len; int cmsg_level; int
//! cmsg_type; }` headers, each followed by its payload. The header is padded to `CMSG_ALIGN`
//! (the alignment of `size_t`), `cmsg_len` counts the aligned header plus the unpadded payload, and
//! the next header starts `CMSG_ALIGN(cmsg_len)` bytes after the current one. Everything is native
//! endian, except the port and address fields of socket addresses (network order).
//!
//! This module reads and writes that layout over plain byte slices, so it never assumes the buffer
//! is aligned; C's `CMSG_*` macros do, and [`CmsgBuf`] gives a buffer aligned for them.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use vrf_socket::cmsg::{self, Cmsg, CmsgBuf, CmsgWriter};
//!
//! let mut buf = CmsgBuf::<{ cmsg::RECV_SPACE }>::default();
//! let mut w = CmsgWriter::new(&mut buf.0);
//! w.pktinfo_v4(7, Ipv4Addr::new(192, 0, 2, 1)).unwrap();
//! let n = w.len();
//!
//! let msgs: Vec<_> = cmsg::decode(&buf.0[..n], 0).collect();
//! assert_eq!(
//!     msgs,
//!     [Ok(Cmsg::PktInfoV4 {
//!         ifindex: 7,
//!         spec_dst: Ipv4Addr::new(192, 0, 2, 1),
//!         addr: Ipv4Addr::UNSPECIFIED,
//!     })]
//! );
//! ```

use std::io;
use std::iter::FusedIterator;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsFd;
use std::time::Duration;

use crate::sys;
pub use crate::sys::Received;

/// `CMSG_ALIGN`: headers and payloads are padded to the alignment of `size_t`.
const ALIGN: usize = size_of::<usize>();
/// Bytes of `cmsg_len` (a `size_t` in the kernel's `struct cmsghdr`).
const LEN_FIELD: usize = size_of::<usize>();
/// `sizeof(struct cmsghdr)`: `cmsg_len`, `cmsg_level`, `cmsg_type`.
const HDR_LEN: usize = LEN_FIELD + 2 * size_of::<i32>();
/// `CMSG_ALIGN(sizeof(struct cmsghdr))`: where the payload starts.
const HDR_SPACE: usize = align(HDR_LEN);
/// `sizeof(struct in_pktinfo)`.
const IN_PKTINFO_LEN: usize = 12;
/// `sizeof(struct in6_pktinfo)`.
const IN6_PKTINFO_LEN: usize = 20;
/// `sizeof(int)`: the payload of `IP_TTL` and `IPV6_HOPLIMIT`.
const INT_LEN: usize = 4;
/// `sizeof(time_t)` and `sizeof(long)`: the fields of `struct timespec` (`SCM_TIMESTAMPNS`).
const TIME_T_LEN: usize = size_of::<libc::time_t>();
const LONG_LEN: usize = size_of::<libc::c_long>();
/// `sizeof(struct timespec)`: `tv_sec`, then `tv_nsec`, no padding on Linux targets.
const TIMESPEC_LEN: usize = TIME_T_LEN + LONG_LEN;
/// `sizeof(struct sock_extended_err)`: `ee_errno` (u32), `ee_origin`, `ee_type`, `ee_code`, `ee_pad`
/// (u8 each), `ee_info`, `ee_data` (u32 each).
const EXTENDED_ERR_LEN: usize = 16;
/// `sizeof(struct sockaddr_in)`: family (native), port (network order), address, 8 bytes of zero.
const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`: family, port, flow info (network order), address, scope id (native).
const SOCKADDR_IN6_LEN: usize = 28;

const fn align(len: usize) -> usize {
    (len + ALIGN - 1) & !(ALIGN - 1)
}

/// Space (bytes) one control message with `data_len` payload bytes takes in a control buffer,
/// padding included: `CMSG_SPACE(data_len)`.
pub const fn space(data_len: usize) -> usize {
    HDR_SPACE + align(data_len)
}

/// The `cmsg_len` value for a payload of `data_len` bytes: the aligned header plus the unpadded
/// payload, `CMSG_LEN(data_len)`.
pub const fn len(data_len: usize) -> usize {
    HDR_SPACE + data_len
}

/// A receive control buffer size big enough for one message of each kind this module decodes (both
/// pktinfos, a timestamp, a TTL, a hop limit, an extended error with an IPv6 offender) plus one
/// unknown message of up to 64 bytes.
///
/// If the buffer is too small, the kernel drops what does not fit and sets `MSG_CTRUNC`, which
/// [`decode`] reports as [`CmsgError::Truncated`].
pub const RECV_SPACE: usize = space(IN_PKTINFO_LEN)
    + space(IN6_PKTINFO_LEN)
    + space(TIMESPEC_LEN)
    + 2 * space(INT_LEN)
    + space(EXTENDED_ERR_LEN + SOCKADDR_IN6_LEN)
    + space(64);

/// A control buffer aligned for `struct cmsghdr`, as `recvmsg` and `sendmsg` require.
///
/// ```
/// use vrf_socket::cmsg::{CmsgBuf, RECV_SPACE};
/// let buf = CmsgBuf::<RECV_SPACE>::default();
/// assert_eq!(buf.0.as_ptr() as usize % align_of::<usize>(), 0);
/// ```
#[derive(Debug, Clone)]
#[repr(C, align(8))]
pub struct CmsgBuf<const N: usize>(pub [u8; N]);

const _: () = assert!(align_of::<CmsgBuf<0>>() >= ALIGN);

impl<const N: usize> Default for CmsgBuf<N> {
    fn default() -> Self {
        Self([0; N])
    }
}

/// One decoded control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cmsg<'a> {
    /// `IP_PKTINFO` on a received IPv4 datagram (`struct in_pktinfo`).
    ///
    /// `ifindex` is the device the packet came in on (for VRF traffic: the enslaved device, not the
    /// VRF), `spec_dst` the local address the kernel would reply from, and `addr` the destination
    /// address in the IP header.
    PktInfoV4 {
        /// `ipi_ifindex`: ingress device.
        ifindex: u32,
        /// `ipi_spec_dst`: local address a reply would come from.
        spec_dst: Ipv4Addr,
        /// `ipi_addr`: destination address in the IP header.
        addr: Ipv4Addr,
    },
    /// `IPV6_PKTINFO` on a received IPv6 datagram (`struct in6_pktinfo`): the destination address
    /// and the device the packet came in on.
    PktInfoV6 {
        /// `ipi6_ifindex`: ingress device.
        ifindex: u32,
        /// `ipi6_addr`: destination address in the IPv6 header.
        addr: Ipv6Addr,
    },
    /// `SCM_TIMESTAMPNS` (`SO_TIMESTAMPNS` turned on): when the kernel received the packet, as time
    /// since the Unix epoch (`struct timespec`, the clock of `CLOCK_REALTIME`).
    TimestampNs(Duration),
    /// `IP_TTL` (`IP_RECVTTL` turned on): the TTL in the received packet's IPv4 header.
    Ttl(u8),
    /// `IPV6_HOPLIMIT` (`IPV6_RECVHOPLIMIT` turned on): the hop limit in the received packet's IPv6
    /// header.
    HopLimit(u8),
    /// `IP_RECVERR` or `IPV6_RECVERR`, read from the error queue (`MSG_ERRQUEUE`) of a socket with that
    /// option on: an ICMP error or a local error about a packet this socket sent.
    RecvErr(ExtendedError),
    /// Any other (level, type), or a known one whose payload has the wrong length, carried raw.
    Other {
        /// `cmsg_level`, e.g. `libc::SOL_SOCKET`.
        level: i32,
        /// `cmsg_type`, e.g. `libc::SCM_TIMESTAMP`.
        kind: i32,
        /// The payload, without padding.
        data: &'a [u8],
    },
}

impl<'a> Cmsg<'a> {
    fn parse(level: i32, kind: i32, data: &'a [u8]) -> Self {
        let known = match (level, kind) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => in_pktinfo(data),
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => in6_pktinfo(data),
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => timespec(data).map(Cmsg::TimestampNs),
            (libc::IPPROTO_IP, libc::IP_TTL) => byte_int(data).map(Cmsg::Ttl),
            (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => byte_int(data).map(Cmsg::HopLimit),
            (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => {
                ExtendedError::parse(data).map(Cmsg::RecvErr)
            }
            _ => None,
        };
        known.unwrap_or(Cmsg::Other { level, kind, data })
    }
}

/// An error from a socket's error queue: `struct sock_extended_err` and the offender address the
/// kernel puts right after it (`SO_EE_OFFENDER` in linux/errqueue.h).
///
/// For an ICMP error, `kind` and `code` are the ICMP type and code, `offender` the host that sent the
/// ICMP message (a router, or the local host for errors it generated itself, e.g. "host unreachable"
/// after a failed neighbour lookup), and the message's `msg_name` ([`Received::src`]) the destination of
/// the packet the error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtendedError {
    /// `ee_errno`: the error (`EHOSTUNREACH`, `ECONNREFUSED`, `EMSGSIZE` …).
    pub errno: u32,
    /// `ee_origin`: who reported it, `libc::SO_EE_ORIGIN_LOCAL` (this host's stack),
    /// `SO_EE_ORIGIN_ICMP`, `SO_EE_ORIGIN_ICMP6` …
    pub origin: u8,
    /// `ee_type`: the ICMP type, for an ICMP origin.
    pub kind: u8,
    /// `ee_code`: the ICMP code, for an ICMP origin.
    pub code: u8,
    /// `ee_info`: e.g. the MTU of "fragmentation needed" or "packet too big", or the pointer of a
    /// parameter problem.
    pub info: u32,
    /// `ee_data`.
    pub data: u32,
    /// `SO_EE_OFFENDER`: who sent the error; `None` when the kernel names nobody (family `AF_UNSPEC`,
    /// as for local errors).
    pub offender: Option<SocketAddr>,
}

impl ExtendedError {
    /// `ee_errno` as an `io::Error` (`No route to host`, `Message too long` …).
    pub fn error(&self) -> io::Error {
        io::Error::from_raw_os_error(i32::try_from(self.errno).unwrap_or(i32::MAX))
    }

    fn parse(data: &[u8]) -> Option<ExtendedError> {
        let (ee, offender) = data.split_first_chunk::<EXTENDED_ERR_LEN>()?;
        let u32_at = |at: usize| u32::from_ne_bytes([ee[at], ee[at + 1], ee[at + 2], ee[at + 3]]);
        Some(ExtendedError {
            errno: u32_at(0),
            origin: ee[4],
            kind: ee[5],
            code: ee[6],
            info: u32_at(8),
            data: u32_at(12),
            offender: sockaddr(offender)?,
        })
    }
}

/// An IPv4 or IPv6 socket address as the kernel writes it (`struct sockaddr_in` / `sockaddr_in6`):
/// `Some(None)` for family `AF_UNSPEC` or no bytes at all, `None` for anything cut short or of another
/// family.
fn sockaddr(data: &[u8]) -> Option<Option<SocketAddr>> {
    if data.is_empty() {
        return Some(None);
    }
    let (family, rest) = data.split_first_chunk::<2>()?;
    match i32::from(u16::from_ne_bytes(*family)) {
        libc::AF_UNSPEC => Some(None),
        libc::AF_INET if data.len() >= SOCKADDR_IN_LEN => {
            let (port, rest) = rest.split_first_chunk::<2>()?;
            let (addr, _) = rest.split_first_chunk::<4>()?;
            let a = SocketAddrV4::new(Ipv4Addr::from(*addr), u16::from_be_bytes(*port));
            Some(Some(a.into()))
        }
        libc::AF_INET6 if data.len() >= SOCKADDR_IN6_LEN => {
            let (port, rest) = rest.split_first_chunk::<2>()?;
            let (flow, rest) = rest.split_first_chunk::<4>()?;
            let (addr, rest) = rest.split_first_chunk::<16>()?;
            let (scope, _) = rest.split_first_chunk::<4>()?;
            let a = SocketAddrV6::new(
                Ipv6Addr::from(*addr),
                u16::from_be_bytes(*port),
                u32::from_be_bytes(*flow),
                u32::from_ne_bytes(*scope),
            );
            Some(Some(a.into()))
        }
        _ => None,
    }
}

/// A `struct timespec` that is a valid time after the epoch.
fn timespec(data: &[u8]) -> Option<Duration> {
    if data.len() != TIMESPEC_LEN {
        return None;
    }
    let (sec, nsec) = data.split_at(TIME_T_LEN);
    let sec = u64::try_from(signed_ne(sec)?).ok()?;
    let nsec = u32::try_from(signed_ne(nsec)?).ok()?;
    (nsec < 1_000_000_000).then(|| Duration::new(sec, nsec))
}

/// A native-endian signed integer of 4 or 8 bytes (`time_t`, `long`).
fn signed_ne(b: &[u8]) -> Option<i64> {
    if let Ok(b) = <[u8; 8]>::try_from(b) {
        Some(i64::from_ne_bytes(b))
    } else {
        <[u8; 4]>::try_from(b)
            .ok()
            .map(|b| i64::from(i32::from_ne_bytes(b)))
    }
}

/// An `int` payload holding a TTL or hop limit (0 to 255).
fn byte_int(data: &[u8]) -> Option<u8> {
    let v = i32::from_ne_bytes(data.try_into().ok()?);
    u8::try_from(v).ok()
}

fn in_pktinfo(data: &[u8]) -> Option<Cmsg<'_>> {
    let (ifindex, rest) = data.split_first_chunk::<4>()?;
    let (spec_dst, addr) = rest.split_first_chunk::<4>()?;
    let addr: [u8; 4] = addr.try_into().ok()?;
    Some(Cmsg::PktInfoV4 {
        ifindex: u32::from_ne_bytes(*ifindex),
        spec_dst: Ipv4Addr::from(*spec_dst),
        addr: Ipv4Addr::from(addr),
    })
}

fn in6_pktinfo(data: &[u8]) -> Option<Cmsg<'_>> {
    let (addr, ifindex) = data.split_first_chunk::<16>()?;
    let ifindex: [u8; 4] = ifindex.try_into().ok()?;
    Some(Cmsg::PktInfoV6 {
        ifindex: u32::from_ne_bytes(ifindex),
        addr: Ipv6Addr::from(*addr),
    })
}

/// Errors from decoding or encoding a control buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsgError {
    /// `msg_flags` had `MSG_CTRUNC`: the kernel dropped control data because the buffer was too
    /// small.
    #[error("control data truncated by the kernel (MSG_CTRUNC): the control buffer is too small")]
    Truncated,
    /// A header whose `cmsg_len` is smaller than the header or runs past the buffer.
    #[error("malformed control message at offset {offset}: cmsg_len {len}")]
    Malformed {
        /// Offset of the header in the buffer.
        offset: usize,
        /// Its `cmsg_len`.
        len: usize,
    },
    /// [`CmsgWriter`] has no room left for the message.
    #[error("control buffer too small: {needed} bytes needed, {available} available")]
    NoSpace {
        /// `CMSG_SPACE` of the message.
        needed: usize,
        /// Bytes left in the buffer.
        available: usize,
    },
}

/// Decodes the control messages in `buf`, which is the control buffer cut to the `msg_controllen`
/// that `recvmsg` returned; `msg_flags` is the returned `msg_flags`.
///
/// If `msg_flags` has `MSG_CTRUNC`, the first and only item is [`CmsgError::Truncated`]: the kernel
/// dropped messages, so the rest cannot be trusted to be complete. Trailing bytes shorter than a
/// header are ignored (the kernel may leave padding).
pub fn decode(buf: &[u8], msg_flags: i32) -> CmsgIter<'_> {
    CmsgIter {
        rest: buf,
        offset: 0,
        truncated: msg_flags & libc::MSG_CTRUNC != 0,
    }
}

/// Iterator over the control messages in a buffer; see [`decode`].
///
/// After yielding an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct CmsgIter<'a> {
    rest: &'a [u8],
    offset: usize,
    truncated: bool,
}

impl<'a> Iterator for CmsgIter<'a> {
    type Item = Result<Cmsg<'a>, CmsgError>;

    fn next(&mut self) -> Option<Self::Item> {
        if std::mem::take(&mut self.truncated) {
            self.rest = &[];
            return Some(Err(CmsgError::Truncated));
        }
        let buf = std::mem::take(&mut self.rest);
        let (len, level, kind) = header(buf)?;
        if len < HDR_SPACE || len > buf.len() {
            return Some(Err(CmsgError::Malformed {
                offset: self.offset,
                len,
            }));
        }
        // msg_controllen may end before the last message's padding.
        let step = align(len).min(buf.len());
        self.rest = &buf[step..];
        self.offset += step;
        Some(Ok(Cmsg::parse(level, kind, &buf[HDR_SPACE..len])))
    }
}

impl FusedIterator for CmsgIter<'_> {}

/// Reads `cmsg_len`, `cmsg_level` and `cmsg_type`, or `None` if `buf` is shorter than a header.
fn header(buf: &[u8]) -> Option<(usize, i32, i32)> {
    let (len, rest) = buf.split_first_chunk::<LEN_FIELD>()?;
    let (level, rest) = rest.split_first_chunk::<4>()?;
    let (kind, _) = rest.split_first_chunk::<4>()?;
    Some((
        usize::from_ne_bytes(*len),
        i32::from_ne_bytes(*level),
        i32::from_ne_bytes(*kind),
    ))
}

/// Writes control messages for `sendmsg` into a caller-supplied buffer, zeroing the padding.
///
/// Each message takes [`space`] bytes; [`CmsgWriter::len`] is the `msg_controllen` to pass.
#[derive(Debug)]
pub struct CmsgWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> CmsgWriter<'a> {
    /// Starts writing at the beginning of `buf`. Pass the kernel an aligned buffer ([`CmsgBuf`]).
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends an `IP_PKTINFO` message (`struct in_pktinfo`) for `sendmsg` on an IPv4 socket.
    ///
    /// A non-zero `ifindex` selects the output device (for VRFs: sending via an enslaved device or
    /// the VRF device itself routes the packet through the VRF's table); 0 leaves it to the
    /// socket's binding and the routing table. `spec_dst` is the source address; `0.0.0.0` lets the
    /// kernel pick one. `ipi_addr` is written as 0 (the kernel ignores it on send).
    ///
    /// Fails with [`CmsgError::NoSpace`], writing nothing, if the message does not fit.
    pub fn pktinfo_v4(&mut self, ifindex: u32, spec_dst: Ipv4Addr) -> Result<(), CmsgError> {
        let mut data = [0; IN_PKTINFO_LEN];
        data[..4].copy_from_slice(&ifindex.to_ne_bytes());
        data[4..8].copy_from_slice(&spec_dst.octets());
        self.push(libc::IPPROTO_IP, libc::IP_PKTINFO, &data)
    }

    /// Appends an `IPV6_PKTINFO` message (`struct in6_pktinfo`) for `sendmsg` on an IPv6 socket.
    ///
    /// A non-zero `ifindex` selects the output device, as for [`CmsgWriter::pktinfo_v4`]; `src` is
    /// the source address, `::` to let the kernel pick one.
    ///
    /// Fails with [`CmsgError::NoSpace`], writing nothing, if the message does not fit.
    pub fn pktinfo_v6(&mut self, ifindex: u32, src: Ipv6Addr) -> Result<(), CmsgError> {
        let mut data = [0; IN6_PKTINFO_LEN];
        data[..16].copy_from_slice(&src.octets());
        data[16..].copy_from_slice(&ifindex.to_ne_bytes());
        self.push(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &data)
    }

    /// Bytes written so far: the `msg_controllen` to pass to `sendmsg`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written (then pass a null `msg_control` and 0 `msg_controllen`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one message, or writes nothing if it does not fit.
    fn push(&mut self, level: i32, kind: i32, data: &[u8]) -> Result<(), CmsgError> {
        let needed = space(data.len());
        let free = &mut self.buf[self.len..];
        let available = free.len();
        let Some(out) = free.get_mut(..needed) else {
            return Err(CmsgError::NoSpace { needed, available });
        };
        out.fill(0);
        out[..LEN_FIELD].copy_from_slice(&len(data.len()).to_ne_bytes());
        out[LEN_FIELD..][..4].copy_from_slice(&level.to_ne_bytes());
        out[LEN_FIELD + 4..][..4].copy_from_slice(&kind.to_ne_bytes());
        out[HDR_SPACE..][..data.len()].copy_from_slice(data);
        self.len += needed;
        Ok(())
    }
}

impl Received {
    /// The control messages in `control`, the buffer that [`recvmsg`] filled: [`decode`] of its first
    /// `control_len` bytes with these `flags` (so `MSG_CTRUNC` comes first, as an error).
    pub fn cmsgs<'a>(&self, control: &'a [u8]) -> CmsgIter<'a> {
        decode(&control[..self.control_len.min(control.len())], self.flags)
    }
}

/// Receives one message and its control data: `recvmsg(2)` into `buf` and `control`, with `flags`
/// (`libc::MSG_DONTWAIT`, `MSG_ERRQUEUE` to read the error queue, `MSG_TRUNC` to learn a datagram's
/// full size, `MSG_PEEK` …). Read the control messages with [`Received::cmsgs`].
///
/// `control` may have any alignment ([`decode`] needs none; a [`CmsgBuf`] suits C code too). What
/// does not fit in it is dropped by the kernel, and reported by [`Received::cmsgs`] as
/// [`CmsgError::Truncated`]; [`RECV_SPACE`] bytes hold one message of every kind decoded here.
///
/// ```no_run
/// use vrf_socket::cmsg::{self, Cmsg, CmsgBuf};
///
/// # fn f(socket: &std::net::UdpSocket) -> std::io::Result<()> {
/// // With IP_RECVERR on: the errors about what this socket sent, without waiting.
/// let mut buf = [0u8; 576];
/// let mut control = CmsgBuf::<{ cmsg::RECV_SPACE }>::default();
/// let r = cmsg::recvmsg(socket, &mut buf, &mut control.0, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT)?;
/// for c in r.cmsgs(&control.0) {
///     if let Ok(Cmsg::RecvErr(e)) = c {
///         println!("to {:?}: {} (from {:?})", r.src, e.error(), e.offender);
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub fn recvmsg(
    socket: impl AsFd,
    buf: &mut [u8],
    control: &mut [u8],
    flags: i32,
) -> io::Result<Received> {
    sys::recvmsg(
        socket.as_fd(),
        sys::RecvMsg {
            payload: buf,
            control,
        },
        flags,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    fn decode_all(buf: &[u8], flags: i32) -> Vec<Result<Cmsg<'_>, CmsgError>> {
        decode(buf, flags).collect()
    }

    /// A raw header followed by `data`, padded with zeroes to `total` bytes.
    fn raw(cmsg_len: usize, level: i32, kind: i32, data: &[u8], total: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(total);
        v.extend(cmsg_len.to_ne_bytes());
        v.extend(level.to_ne_bytes());
        v.extend(kind.to_ne_bytes());
        v.resize(HDR_SPACE, 0);
        v.extend(data);
        v.resize(total, 0);
        v
    }

    #[test]
    fn header_layout_matches_libc() {
        assert_eq!(HDR_LEN, size_of::<libc::cmsghdr>());
        assert_eq!(LEN_FIELD, std::mem::offset_of!(libc::cmsghdr, cmsg_level));
        assert_eq!(
            LEN_FIELD + 4,
            std::mem::offset_of!(libc::cmsghdr, cmsg_type)
        );
        assert_eq!(IN_PKTINFO_LEN, size_of::<libc::in_pktinfo>());
        assert_eq!(IN6_PKTINFO_LEN, size_of::<libc::in6_pktinfo>());
        assert!(align_of::<CmsgBuf<1>>() >= align_of::<libc::cmsghdr>());
    }

    #[test]
    fn payload_layouts_match_libc() {
        use std::mem::offset_of;
        assert_eq!(INT_LEN, size_of::<libc::c_int>());
        assert_eq!(TIMESPEC_LEN, size_of::<libc::timespec>());
        assert_eq!(TIME_T_LEN, offset_of!(libc::timespec, tv_nsec));
        assert_eq!(EXTENDED_ERR_LEN, size_of::<libc::sock_extended_err>());
        assert_eq!(
            [0, 4, 5, 6, 7, 8, 12],
            [
                offset_of!(libc::sock_extended_err, ee_errno),
                offset_of!(libc::sock_extended_err, ee_origin),
                offset_of!(libc::sock_extended_err, ee_type),
                offset_of!(libc::sock_extended_err, ee_code),
                offset_of!(libc::sock_extended_err, ee_pad),
                offset_of!(libc::sock_extended_err, ee_info),
                offset_of!(libc::sock_extended_err, ee_data),
            ]
        );
        assert_eq!(SOCKADDR_IN_LEN, size_of::<libc::sockaddr_in>());
        assert_eq!(
            [0, 2, 4],
            [
                offset_of!(libc::sockaddr_in, sin_family),
                offset_of!(libc::sockaddr_in, sin_port),
                offset_of!(libc::sockaddr_in, sin_addr),
            ]
        );
        assert_eq!(SOCKADDR_IN6_LEN, size_of::<libc::sockaddr_in6>());
        assert_eq!(
            [0, 2, 4, 8, 24],
            [
                offset_of!(libc::sockaddr_in6, sin6_family),
                offset_of!(libc::sockaddr_in6, sin6_port),
                offset_of!(libc::sockaddr_in6, sin6_flowinfo),
                offset_of!(libc::sockaddr_in6, sin6_addr),
                offset_of!(libc::sockaddr_in6, sin6_scope_id),
            ]
        );
        assert!(RECV_SPACE >= space(EXTENDED_ERR_LEN + SOCKADDR_IN6_LEN) + space(TIMESPEC_LEN));
    }

    /// `bytes` written at `offset` of `out` (grown as needed): payloads laid out by libc's offsets.
    fn put(out: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
        if out.len() < offset + bytes.len() {
            out.resize(offset + bytes.len(), 0);
        }
        out[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// A `struct sock_extended_err`, field by field at libc's offsets.
    fn extended_err(errno: u32, origin: u8, kind: u8, code: u8, info: u32) -> Vec<u8> {
        use std::mem::offset_of;
        let mut v = vec![0; size_of::<libc::sock_extended_err>()];
        put(
            &mut v,
            offset_of!(libc::sock_extended_err, ee_errno),
            &errno.to_ne_bytes(),
        );
        put(
            &mut v,
            offset_of!(libc::sock_extended_err, ee_origin),
            &[origin],
        );
        put(
            &mut v,
            offset_of!(libc::sock_extended_err, ee_type),
            &[kind],
        );
        put(
            &mut v,
            offset_of!(libc::sock_extended_err, ee_code),
            &[code],
        );
        put(
            &mut v,
            offset_of!(libc::sock_extended_err, ee_info),
            &info.to_ne_bytes(),
        );
        put(
            &mut v,
            offset_of!(libc::sock_extended_err, ee_data),
            &7u32.to_ne_bytes(),
        );
        v
    }

    /// A `struct sockaddr_in` or `sockaddr_in6`, field by field at libc's offsets.
    fn sockaddr_bytes(a: SocketAddr) -> Vec<u8> {
        use std::mem::offset_of;
        let mut v = Vec::new();
        match a {
            SocketAddr::V4(a) => {
                v.resize(size_of::<libc::sockaddr_in>(), 0);
                let family = libc::AF_INET as libc::sa_family_t;
                put(
                    &mut v,
                    offset_of!(libc::sockaddr_in, sin_family),
                    &family.to_ne_bytes(),
                );
                put(
                    &mut v,
                    offset_of!(libc::sockaddr_in, sin_port),
                    &a.port().to_be_bytes(),
                );
                put(
                    &mut v,
                    offset_of!(libc::sockaddr_in, sin_addr),
                    &a.ip().octets(),
                );
            }
            SocketAddr::V6(a) => {
                v.resize(size_of::<libc::sockaddr_in6>(), 0);
                let family = libc::AF_INET6 as libc::sa_family_t;
                put(
                    &mut v,
                    offset_of!(libc::sockaddr_in6, sin6_family),
                    &family.to_ne_bytes(),
                );
                put(
                    &mut v,
                    offset_of!(libc::sockaddr_in6, sin6_port),
                    &a.port().to_be_bytes(),
                );
                let flow = a.flowinfo().to_be_bytes();
                put(&mut v, offset_of!(libc::sockaddr_in6, sin6_flowinfo), &flow);
                put(
                    &mut v,
                    offset_of!(libc::sockaddr_in6, sin6_addr),
                    &a.ip().octets(),
                );
                let scope = a.scope_id().to_ne_bytes();
                put(
                    &mut v,
                    offset_of!(libc::sockaddr_in6, sin6_scope_id),
                    &scope,
                );
            }
        }
        v
    }

    /// A `struct timespec` at libc's offsets.
    fn timespec_bytes(sec: i64, nsec: i64) -> Vec<u8> {
        let mut v = vec![0; size_of::<libc::timespec>()];
        put(&mut v, 0, &(sec as libc::time_t).to_ne_bytes());
        let at = std::mem::offset_of!(libc::timespec, tv_nsec);
        put(&mut v, at, &(nsec as libc::c_long).to_ne_bytes());
        v
    }

    /// One message of each new kind, in a buffer made by the writer.
    fn encoded(msgs: &[(i32, i32, Vec<u8>)]) -> Vec<u8> {
        let mut buf = [0; 512];
        let mut w = CmsgWriter::new(&mut buf);
        for (level, kind, data) in msgs {
            w.push(*level, *kind, data).unwrap();
        }
        let n = w.len();
        buf[..n].to_vec()
    }

    #[test]
    fn decodes_timestamps_ttls_and_errors() {
        let router: SocketAddr = "10.99.0.1:0".parse().unwrap();
        let router6 = SocketAddr::V6(SocketAddrV6::new(V6, 0, 0x12345, 3));
        let mut err4 = extended_err(libc::EHOSTUNREACH as u32, libc::SO_EE_ORIGIN_ICMP, 3, 1, 0);
        err4.extend(sockaddr_bytes(router));
        let mut err6 = extended_err(libc::EMSGSIZE as u32, libc::SO_EE_ORIGIN_ICMP6, 2, 0, 1280);
        err6.extend(sockaddr_bytes(router6));
        // A local error: the offender's family is AF_UNSPEC (all zero).
        let mut local = extended_err(libc::EMSGSIZE as u32, libc::SO_EE_ORIGIN_LOCAL, 0, 0, 1500);
        local.extend([0; 16]);
        let buf = encoded(&[
            (
                libc::SOL_SOCKET,
                libc::SCM_TIMESTAMPNS,
                timespec_bytes(1_700_000_000, 999_999_999),
            ),
            (
                libc::IPPROTO_IP,
                libc::IP_TTL,
                101i32.to_ne_bytes().to_vec(),
            ),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_HOPLIMIT,
                255i32.to_ne_bytes().to_vec(),
            ),
            (libc::IPPROTO_IP, libc::IP_RECVERR, err4),
            (libc::IPPROTO_IPV6, libc::IPV6_RECVERR, err6),
            (libc::IPPROTO_IP, libc::IP_RECVERR, local),
        ]);
        let want_err = |errno: i32, origin, kind, code, info, offender| {
            Ok(Cmsg::RecvErr(ExtendedError {
                errno: errno as u32,
                origin,
                kind,
                code,
                info,
                data: 7,
                offender,
            }))
        };
        assert_eq!(
            decode_all(&buf, 0),
            [
                Ok(Cmsg::TimestampNs(Duration::new(1_700_000_000, 999_999_999))),
                Ok(Cmsg::Ttl(101)),
                Ok(Cmsg::HopLimit(255)),
                want_err(
                    libc::EHOSTUNREACH,
                    libc::SO_EE_ORIGIN_ICMP,
                    3,
                    1,
                    0,
                    Some(router)
                ),
                want_err(
                    libc::EMSGSIZE,
                    libc::SO_EE_ORIGIN_ICMP6,
                    2,
                    0,
                    1280,
                    Some(router6)
                ),
                want_err(libc::EMSGSIZE, libc::SO_EE_ORIGIN_LOCAL, 0, 0, 1500, None),
            ]
        );
        let Ok(Cmsg::RecvErr(e)) = decode(&buf, 0).nth(3).unwrap() else {
            unreachable!()
        };
        assert_eq!(e.error().raw_os_error(), Some(libc::EHOSTUNREACH));
    }

    #[test]
    fn invalid_payloads_of_the_new_kinds_come_back_raw() {
        let err = extended_err(1, 2, 3, 4, 5);
        let mut err_cut = err.clone();
        err_cut.extend(&sockaddr_bytes("10.0.0.1:0".parse().unwrap())[..8]);
        let mut err_v6_cut = err.clone();
        err_v6_cut.extend(&sockaddr_bytes("[::1]:0".parse().unwrap())[..16]);
        let mut err_family = err.clone();
        err_family.extend((libc::AF_UNIX as u16).to_ne_bytes());
        err_family.extend([0; 14]);
        let cases: Vec<(i32, i32, Vec<u8>)> = vec![
            (
                libc::SOL_SOCKET,
                libc::SCM_TIMESTAMPNS,
                timespec_bytes(1, 1_000_000_000),
            ),
            (
                libc::SOL_SOCKET,
                libc::SCM_TIMESTAMPNS,
                timespec_bytes(-1, 0),
            ),
            (
                libc::SOL_SOCKET,
                libc::SCM_TIMESTAMPNS,
                timespec_bytes(1, -1),
            ),
            (
                libc::SOL_SOCKET,
                libc::SCM_TIMESTAMPNS,
                vec![0; TIMESPEC_LEN - 1],
            ),
            (
                libc::IPPROTO_IP,
                libc::IP_TTL,
                256i32.to_ne_bytes().to_vec(),
            ),
            (
                libc::IPPROTO_IP,
                libc::IP_TTL,
                (-1i32).to_ne_bytes().to_vec(),
            ),
            (libc::IPPROTO_IP, libc::IP_TTL, vec![64]),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_HOPLIMIT,
                vec![64, 0, 0, 0, 0],
            ),
            (
                libc::IPPROTO_IP,
                libc::IP_RECVERR,
                err[..EXTENDED_ERR_LEN - 1].to_vec(),
            ),
            (libc::IPPROTO_IP, libc::IP_RECVERR, err_cut),
            (libc::IPPROTO_IPV6, libc::IPV6_RECVERR, err_v6_cut),
            (libc::IPPROTO_IP, libc::IP_RECVERR, err_family),
            (
                libc::IPPROTO_IP,
                libc::IP_RECVERR,
                [err.clone(), vec![2]].concat(),
            ),
        ];
        for (level, kind, data) in &cases {
            let buf = encoded(&[(*level, *kind, data.clone())]);
            assert_eq!(
                decode_all(&buf, 0),
                [Ok(Cmsg::Other {
                    level: *level,
                    kind: *kind,
                    data
                })],
                "{level} {kind} {data:?}"
            );
        }
        // The same TTL at another level is someone else's option.
        let buf = encoded(&[(
            libc::IPPROTO_IPV6,
            libc::IP_TTL,
            5i32.to_ne_bytes().to_vec(),
        )]);
        assert!(matches!(decode_all(&buf, 0)[..], [Ok(Cmsg::Other { .. })]));
        // An error with no offender at all is still an error.
        let buf = encoded(&[(libc::IPPROTO_IP, libc::IP_RECVERR, err)]);
        assert!(matches!(
            decode_all(&buf, 0)[..],
            [Ok(Cmsg::RecvErr(ExtendedError {
                offender: None,
                errno: 1,
                ..
            }))]
        ));
    }

    /// [`recvmsg`] of the error queue of `socket`, retried for up to 5 s while it is empty (reading
    /// the error queue dequeues, even with `MSG_PEEK`).
    fn recv_error(socket: &std::net::UdpSocket, buf: &mut [u8], control: &mut [u8]) -> Received {
        let start = std::time::Instant::now();
        loop {
            match recvmsg(
                socket,
                buf,
                control,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            ) {
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock && start.elapsed().as_secs() < 5 =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                r => return r.unwrap(),
            }
        }
    }

    /// The kernel's own messages through [`recvmsg`]: a datagram over loopback with its TTL (or hop
    /// limit) and receive time, and the ICMP "port unreachable" that a datagram to a closed port earns.
    #[test]
    fn loopback_round_trip_through_the_kernel() {
        use std::net::UdpSocket;
        use std::os::fd::AsFd;
        use std::time::SystemTime;
        for (localhost, ttl_opt, err_opt) in [
            (
                "127.0.0.1",
                (libc::IPPROTO_IP, libc::IP_RECVTTL),
                (libc::IPPROTO_IP, libc::IP_RECVERR),
            ),
            (
                "[::1]",
                (libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT),
                (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
            ),
        ] {
            let v6 = localhost.starts_with('[');
            let rx = UdpSocket::bind(format!("{localhost}:0")).unwrap();
            sys::setsockopt_int(rx.as_fd(), ttl_opt.0, ttl_opt.1, 1).unwrap();
            sys::setsockopt_int(rx.as_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).unwrap();
            let tx = UdpSocket::bind(format!("{localhost}:0")).unwrap();
            let s = socket2::SockRef::from(&tx);
            if v6 {
                s.set_unicast_hops_v6(43).unwrap();
            } else {
                s.set_ttl_v4(42).unwrap();
            }
            sys::setsockopt_int(tx.as_fd(), err_opt.0, err_opt.1, 1).unwrap();

            let before = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap();
            tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
            let mut buf = [0u8; 64];
            let mut control = CmsgBuf::<RECV_SPACE>::default();
            let r = recvmsg(&rx, &mut buf, &mut control.0, 0).unwrap();
            let after = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap();
            assert_eq!(
                (&buf[..r.len], r.src),
                (&b"hello"[..], Some(tx.local_addr().unwrap()))
            );
            let got: Vec<_> = r.cmsgs(&control.0).map(Result::unwrap).collect();
            assert_eq!(got.len(), 2, "{got:?}");
            for c in got {
                match c {
                    Cmsg::TimestampNs(t) => assert!(before <= t && t <= after, "{t:?}"),
                    Cmsg::Ttl(ttl) => assert!(!v6 && ttl == 42),
                    Cmsg::HopLimit(hops) => assert!(v6 && hops == 43),
                    other => panic!("{other:?}"),
                }
            }

            // A closed port: the port of a socket that is gone.
            let closed = UdpSocket::bind(format!("{localhost}:0"))
                .unwrap()
                .local_addr()
                .unwrap();
            tx.send_to(b"anyone?", closed).unwrap();
            let r = recv_error(&tx, &mut buf, &mut control.0);
            assert_eq!((&buf[..r.len], r.src), (&b"anyone?"[..], Some(closed)));
            assert_ne!(r.flags & libc::MSG_ERRQUEUE, 0);
            let errs: Vec<_> = r
                .cmsgs(&control.0)
                .filter_map(|c| match c.unwrap() {
                    Cmsg::RecvErr(e) => Some(e),
                    _ => None,
                })
                .collect();
            let (origin, kind, code) = if v6 {
                (libc::SO_EE_ORIGIN_ICMP6, 1, 4)
            } else {
                (libc::SO_EE_ORIGIN_ICMP, 3, 3)
            };
            assert_eq!(
                errs,
                [ExtendedError {
                    errno: libc::ECONNREFUSED as u32,
                    origin,
                    kind,
                    code,
                    info: 0,
                    data: 0,
                    offender: Some(SocketAddr::new(closed.ip(), 0)),
                }]
            );
            // Nothing more: the queue was drained, and the call did not wait.
            let flags = libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT;
            let e = recvmsg(&tx, &mut buf, &mut control.0, flags).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        }
    }

    #[test]
    fn sizes_match_libc() {
        for n in [0, 1, 12, 16, 20, 64] {
            let c = u32::try_from(n).unwrap();
            // SAFETY: CMSG_SPACE and CMSG_LEN only do arithmetic on their argument.
            let (want_space, want_len) = unsafe { (libc::CMSG_SPACE(c), libc::CMSG_LEN(c)) };
            assert_eq!(space(n), want_space as usize, "space({n})");
            assert_eq!(len(n), want_len as usize, "len({n})");
        }
        assert!(RECV_SPACE >= space(IN_PKTINFO_LEN) + space(IN6_PKTINFO_LEN));
    }

    #[test]
    fn round_trip_v4_and_v6() {
        let mut buf = CmsgBuf::<RECV_SPACE>::default();
        buf.0.fill(0xaa); // padding must come out zeroed
        let mut w = CmsgWriter::new(&mut buf.0);
        assert!(w.is_empty());
        w.pktinfo_v4(3, V4).unwrap();
        assert_eq!(w.len(), space(IN_PKTINFO_LEN));
        w.pktinfo_v6(u32::MAX, V6).unwrap();
        let n = w.len();
        assert_eq!(n, space(IN_PKTINFO_LEN) + space(IN6_PKTINFO_LEN));

        assert_eq!(
            decode_all(&buf.0[..n], 0),
            [
                Ok(Cmsg::PktInfoV4 {
                    ifindex: 3,
                    spec_dst: V4,
                    addr: Ipv4Addr::UNSPECIFIED,
                }),
                Ok(Cmsg::PktInfoV6 {
                    ifindex: u32::MAX,
                    addr: V6,
                }),
            ]
        );
        // Header padding and the v4 payload padding are zero.
        assert!(buf.0[HDR_LEN..HDR_SPACE].iter().all(|&b| b == 0));
        let pad = len(IN_PKTINFO_LEN)..space(IN_PKTINFO_LEN);
        assert!(buf.0[pad].iter().all(|&b| b == 0));
    }

    #[test]
    fn decodes_received_v4_layout() {
        // ifindex 5, spec_dst 10.0.0.1, addr 10.0.0.255: addresses in network order.
        let mut data = 5u32.to_ne_bytes().to_vec();
        data.extend([10, 0, 0, 1, 10, 0, 0, 255]);
        let buf = raw(len(12), libc::SOL_IP, libc::IP_PKTINFO, &data, space(12));
        assert_eq!(
            decode_all(&buf, 0),
            [Ok(Cmsg::PktInfoV4 {
                ifindex: 5,
                spec_dst: Ipv4Addr::new(10, 0, 0, 1),
                addr: Ipv4Addr::new(10, 0, 0, 255),
            })]
        );
    }

    #[test]
    fn unknown_and_wrong_length_come_back_raw() {
        let ts: Vec<u8> = (1..=16).collect();
        let mut buf = raw(
            len(16),
            libc::SOL_SOCKET,
            libc::SCM_TIMESTAMP,
            &ts,
            space(16),
        );
        buf.extend(raw(
            len(8),
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            &[7; 8],
            space(8),
        ));
        buf.extend(raw(
            len(21),
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            &[9; 21],
            space(21),
        ));
        assert_eq!(
            decode_all(&buf, 0),
            [
                Ok(Cmsg::Other {
                    level: libc::SOL_SOCKET,
                    kind: libc::SCM_TIMESTAMP,
                    data: &ts,
                }),
                Ok(Cmsg::Other {
                    level: libc::IPPROTO_IP,
                    kind: libc::IP_PKTINFO,
                    data: &[7; 8],
                }),
                Ok(Cmsg::Other {
                    level: libc::IPPROTO_IPV6,
                    kind: libc::IPV6_PKTINFO,
                    data: &[9; 21],
                }),
            ]
        );
    }

    #[test]
    fn last_message_without_padding_and_trailing_bytes() {
        // msg_controllen may end right after the last payload, or carry padding shorter than a header.
        let buf = raw(len(1), libc::SOL_SOCKET, 99, &[42], len(1));
        let one = [Ok(Cmsg::Other {
            level: libc::SOL_SOCKET,
            kind: 99,
            data: &[42][..],
        })];
        assert_eq!(decode_all(&buf, 0), one);
        let buf = raw(len(1), libc::SOL_SOCKET, 99, &[42], space(1) + HDR_LEN - 1);
        assert_eq!(decode_all(&buf, 0), one);
        assert_eq!(decode_all(&[0; HDR_LEN - 1], 0), []);
        assert_eq!(decode_all(&[], 0), []);
    }

    #[test]
    fn ctrunc_is_reported_first() {
        let mut buf = [0; 64];
        let mut w = CmsgWriter::new(&mut buf);
        w.pktinfo_v4(1, V4).unwrap();
        let n = w.len();
        let mut it = decode(&buf[..n], libc::MSG_CTRUNC | libc::MSG_TRUNC);
        assert_eq!(it.next(), Some(Err(CmsgError::Truncated)));
        assert_eq!(it.next(), None);
        assert_eq!(
            decode_all(&[], libc::MSG_CTRUNC),
            [Err(CmsgError::Truncated)]
        );
    }

    #[test]
    fn malformed_headers_are_errors() {
        let total = space(16);
        for bad in [0, 1, HDR_SPACE - 1, total + 1, usize::MAX] {
            let buf = raw(bad, libc::SOL_SOCKET, 1, &[0; 16], total);
            let mut it = decode(&buf, 0);
            assert_eq!(
                it.next(),
                Some(Err(CmsgError::Malformed {
                    offset: 0,
                    len: bad
                })),
                "cmsg_len {bad}"
            );
            assert_eq!(it.next(), None, "fused after cmsg_len {bad}");
        }
        // A bad second header reports its own offset, after the good first one.
        let mut buf = [0; 64];
        let mut w = CmsgWriter::new(&mut buf);
        w.pktinfo_v4(1, V4).unwrap();
        let n = w.len();
        let mut buf = buf[..n].to_vec();
        buf.extend(raw(usize::MAX, 0, 0, &[], HDR_SPACE));
        let got = decode_all(&buf, 0);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert_eq!(
            got[1],
            Err(CmsgError::Malformed {
                offset: n,
                len: usize::MAX
            })
        );
    }

    #[test]
    fn writer_no_space_writes_nothing() {
        let mut buf = [0xaa; 2 * space(IN_PKTINFO_LEN)];
        let mut w = CmsgWriter::new(&mut buf);
        w.pktinfo_v4(1, V4).unwrap();
        assert_eq!(
            w.pktinfo_v6(1, V6),
            Err(CmsgError::NoSpace {
                needed: space(IN6_PKTINFO_LEN),
                available: space(IN_PKTINFO_LEN),
            })
        );
        assert_eq!(w.len(), space(IN_PKTINFO_LEN));
        w.pktinfo_v4(2, V4).unwrap();
        assert_eq!(
            w.pktinfo_v4(3, V4),
            Err(CmsgError::NoSpace {
                needed: space(IN_PKTINFO_LEN),
                available: 0,
            })
        );
        assert_eq!(w.len(), buf.len());
        assert_eq!(decode_all(&buf, 0).len(), 2);

        let mut small = [0xaa; 8];
        let mut w = CmsgWriter::new(&mut small);
        assert!(matches!(
            w.pktinfo_v4(1, V4),
            Err(CmsgError::NoSpace { available: 8, .. })
        ));
        assert!(w.is_empty());
        assert_eq!(small, [0xaa; 8]);
    }

    /// xorshift64: enough randomness for a smoke fuzz, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Random messages: pktinfos, raw unknowns, and headers with random lengths.
    fn valid_messages(rng: &mut Rng) -> Vec<u8> {
        let mut buf = [0; 255];
        let mut w = CmsgWriter::new(&mut buf);
        for _ in 0..rng.below(6) {
            let ifindex = rng.next_u64() as u32;
            // Mostly valid values, now and then out of range.
            let small = |rng: &mut Rng| rng.below(300) as i32;
            let _ = match rng.below(7) {
                0 => w.pktinfo_v4(ifindex, Ipv4Addr::from(rng.next_u64() as u32)),
                1 => w.pktinfo_v6(ifindex, Ipv6Addr::from(u128::from(rng.next_u64()))),
                2 => {
                    let ts =
                        timespec_bytes(rng.below(1 << 33) as i64, rng.below(1_100_000_000) as i64);
                    w.push(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts)
                }
                3 => w.push(libc::IPPROTO_IP, libc::IP_TTL, &small(rng).to_ne_bytes()),
                4 => w.push(
                    libc::IPPROTO_IPV6,
                    libc::IPV6_HOPLIMIT,
                    &small(rng).to_ne_bytes(),
                ),
                5 => {
                    let mut e = extended_err(rng.next_u64() as u32, rng.below(6) as u8, 3, 1, 0);
                    let ip = match rng.below(3) {
                        0 => IpAddr::from(Ipv4Addr::from(rng.next_u64() as u32)),
                        1 => IpAddr::from(Ipv6Addr::from(u128::from(rng.next_u64()))),
                        _ => {
                            e.extend([0; SOCKADDR_IN_LEN]);
                            IpAddr::from(Ipv4Addr::UNSPECIFIED)
                        }
                    };
                    if e.len() == EXTENDED_ERR_LEN {
                        e.extend(sockaddr_bytes(SocketAddr::new(ip, 0)));
                    }
                    let (level, kind) = if ip.is_ipv6() {
                        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
                    } else {
                        (libc::IPPROTO_IP, libc::IP_RECVERR)
                    };
                    w.push(level, kind, &e)
                }
                _ => {
                    let data = vec![rng.next_u64() as u8; rng.below(40)];
                    w.push(rng.next_u64() as i32, rng.next_u64() as i32, &data)
                }
            };
        }
        let n = w.len();
        buf[..n].to_vec()
    }

    #[test]
    fn random_buffers_never_panic_or_escape() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut backing = CmsgBuf::<257>::default();
        // Outcomes seen: pktinfo v4, v6, other, malformed, truncated, timestamp, TTL, hop limit, error;
        // each must come up.
        let mut seen = [0; 9];
        for round in 0..20_000 {
            // Misalign the buffer half the time: the codec must not care.
            let start = round / 2 % 2;
            let content = &mut backing.0[start..start + 256];
            let n = if round % 2 == 0 {
                let n = rng.below(256);
                content[..n].fill_with(|| rng.next_u64() as u8);
                // Small lengths hit the interesting cases far more often than random words.
                if n >= LEN_FIELD && rng.below(2) == 0 {
                    let small = rng.below(3 * HDR_SPACE + 48);
                    content[..LEN_FIELD].copy_from_slice(&small.to_ne_bytes());
                }
                n
            } else {
                let msgs = valid_messages(&mut rng);
                content[..msgs.len()].copy_from_slice(&msgs);
                if !msgs.is_empty() {
                    for _ in 0..rng.below(4) {
                        content[rng.below(msgs.len())] ^= 1 << rng.below(8);
                    }
                }
                // Sometimes cut the buffer short, like a small msg_controllen.
                if rng.below(4) == 0 {
                    rng.below(msgs.len() + 1)
                } else {
                    msgs.len()
                }
            };
            let buf = &content[..n];
            let flags = if rng.below(16) == 0 {
                libc::MSG_CTRUNC
            } else {
                0
            };

            let range = buf.as_ptr_range();
            let mut it = decode(buf, flags);
            let mut used = 0;
            let mut items = 0;
            for item in it.by_ref() {
                items += 1;
                match item {
                    Ok(Cmsg::PktInfoV4 { .. }) => {
                        seen[0] += 1;
                        used += space(IN_PKTINFO_LEN);
                    }
                    Ok(Cmsg::PktInfoV6 { .. }) => {
                        seen[1] += 1;
                        used += space(IN6_PKTINFO_LEN);
                    }
                    Ok(Cmsg::Other { data, .. }) => {
                        seen[2] += 1;
                        let d = data.as_ptr_range();
                        assert!(
                            range.start <= d.start && d.end <= range.end,
                            "round {round}"
                        );
                        used += space(data.len());
                    }
                    Err(CmsgError::Malformed { .. }) => seen[3] += 1,
                    Err(CmsgError::Truncated) => seen[4] += 1,
                    Ok(Cmsg::TimestampNs(t)) => {
                        seen[5] += 1;
                        assert!(t.subsec_nanos() < 1_000_000_000);
                        used += space(TIMESPEC_LEN);
                    }
                    Ok(Cmsg::Ttl(_)) => {
                        seen[6] += 1;
                        used += space(INT_LEN);
                    }
                    Ok(Cmsg::HopLimit(_)) => {
                        seen[7] += 1;
                        used += space(INT_LEN);
                    }
                    Ok(Cmsg::RecvErr(_)) => {
                        seen[8] += 1;
                        // The offender is optional: count the least an error takes.
                        used += space(EXTENDED_ERR_LEN);
                    }
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            assert_eq!(it.next(), None, "round {round}: not fused");
            // Every message but the last is followed by its padding.
            assert!(
                used <= align(buf.len()),
                "round {round}: {used} > {}",
                buf.len()
            );
            if flags != 0 {
                assert_eq!(items, 1, "round {round}: CTRUNC must stop after Truncated");
            }
        }
        assert!(seen.iter().all(|&k| k > 0), "outcomes {seen:?}");
    }
}
