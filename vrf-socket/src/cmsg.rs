//! Control messages (ancillary data) for `recvmsg`/`sendmsg`: `IP_PKTINFO` and `IPV6_PKTINFO`.
//!
//! A control buffer is a sequence of `struct cmsghdr { size_t cmsg_len; int cmsg_level; int
//! cmsg_type; }` headers, each followed by its payload. The header is padded to `CMSG_ALIGN`
//! (the alignment of `size_t`), `cmsg_len` counts the aligned header plus the unpadded payload, and
//! the next header starts `CMSG_ALIGN(cmsg_len)` bytes after the current one. Everything is native
//! endian.
//!
//! This module reads and writes that layout over plain byte slices, so it never assumes the buffer
//! is aligned. The kernel, however, wants aligned buffers: hand it a [`CmsgBuf`].
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

use std::iter::FusedIterator;
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// A receive control buffer size big enough for an `IP_PKTINFO` and an `IPV6_PKTINFO` message
/// plus one unknown message of up to 64 bytes.
///
/// If the buffer is too small, the kernel drops what does not fit and sets `MSG_CTRUNC`, which
/// [`decode`] reports as [`CmsgError::Truncated`].
pub const RECV_SPACE: usize = space(IN_PKTINFO_LEN) + space(IN6_PKTINFO_LEN) + space(64);

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
            _ => None,
        };
        known.unwrap_or(Cmsg::Other { level, kind, data })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
            let _ = match rng.below(3) {
                0 => w.pktinfo_v4(ifindex, Ipv4Addr::from(rng.next_u64() as u32)),
                1 => w.pktinfo_v6(ifindex, Ipv6Addr::from(u128::from(rng.next_u64()))),
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
        // Outcomes seen: v4, v6, other, malformed, truncated; each must come up.
        let mut seen = [0; 5];
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
