//! One UDP socket serving many VRFs: `IP_PKTINFO` / `IPV6_PKTINFO`.
//!
//! With `net.ipv4.udp_l3mdev_accept=1` an unbound UDP socket receives datagrams from every VRF. Turned on
//! with [`enable`], the kernel attaches to each datagram its destination address and its ingress device.
//! For traffic in a VRF that device is the **enslaved** port (`eth1`), not the VRF: [`VrfMap`] maps it to
//! its VRF. A reply sent with [`send`] (or [`send_batch`]) and the same device index and source address
//! (see [`RecvMeta::reply`]) is routed through that VRF, so it reaches the right peer even when several
//! VRFs use the same addresses.
//!
//! [`VrfMap`]: crate::VrfMap
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use vrf_socket::{VrfMap, pktinfo};
//!
//! let socket = UdpSocket::bind("0.0.0.0:5353")?; // with udp_l3mdev_accept=1
//! pktinfo::enable(&socket)?;
//! let mut vrfs = VrfMap::default();
//! let mut buf = [0u8; 2048];
//! loop {
//!     let meta = pktinfo::recv(&socket, &mut buf)?;
//!     match vrfs.vrf_of(meta.ifindex)? {
//!         Some(vrf) => println!("{} bytes from {} in VRF {vrf}", meta.len, meta.src),
//!         None => println!("{} bytes from {} in the default VRF", meta.len, meta.src),
//!     }
//!     pktinfo::send(&socket, &meta.reply(&buf[..meta.len]))?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsFd;

use socket2::{Domain, SockAddr, SockRef};

use crate::cmsg::{self, Cmsg, CmsgBuf, CmsgError, CmsgWriter, Received};
use crate::sys;

/// Control buffer size for sending: one pktinfo message of either family.
const SEND_SPACE: usize = cmsg::space(20);

/// Metadata of one received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvMeta {
    /// Bytes of payload received into the buffer.
    pub len: usize,
    /// The datagram was larger than the buffer and was cut (`MSG_TRUNC`).
    pub truncated: bool,
    /// The sender.
    pub src: SocketAddr,
    /// The address the datagram was sent to (`ipi_addr` / `ipi6_addr`).
    pub dst: Option<IpAddr>,
    /// The ingress device (`ipi_ifindex`): for VRF traffic the enslaved port, not the VRF;
    /// [`VrfMap::vrf_of`](crate::VrfMap::vrf_of) takes it as it is.
    pub ifindex: Option<NonZeroU32>,
}

impl RecvMeta {
    /// A reply to this datagram: to its sender, from the address it was sent to, out of the device it came
    /// in on, so it leaves through the same VRF.
    pub fn reply<'a>(&self, payload: &'a [u8]) -> Transmit<'a> {
        Transmit {
            payload,
            dst: self.src,
            src: self.dst.filter(|a| !a.is_multicast()),
            ifindex: self.ifindex,
        }
    }

    fn from_received(r: &Received, buf_len: usize, control: &[u8]) -> io::Result<RecvMeta> {
        let src = r.src.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
        })?;
        let mut meta = RecvMeta {
            len: r.len.min(buf_len),
            truncated: r.flags & libc::MSG_TRUNC != 0,
            src,
            dst: None,
            ifindex: None,
        };
        for c in r.cmsgs(control) {
            match c.map_err(cmsg_error)? {
                Cmsg::PktInfoV4 { ifindex, addr, .. } => {
                    meta.dst = Some(IpAddr::V4(addr));
                    meta.ifindex = NonZeroU32::new(ifindex);
                }
                Cmsg::PktInfoV6 { ifindex, addr } => {
                    meta.dst = Some(IpAddr::V6(addr));
                    meta.ifindex = NonZeroU32::new(ifindex);
                }
                _ => {}
            }
        }
        Ok(meta)
    }
}

fn cmsg_error(e: CmsgError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// One datagram to send, with the source address and output device to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The payload.
    pub payload: &'a [u8],
    /// The destination.
    pub dst: SocketAddr,
    /// Source address (`ipi_spec_dst` / `ipi6_addr`); `None` lets the kernel choose.
    pub src: Option<IpAddr>,
    /// Output device (`ipi_ifindex` / `ipi6_ifindex`): a VRF or a device enslaved to one routes the packet
    /// through that VRF's table. `None` routes as the socket's binding says.
    pub ifindex: Option<NonZeroU32>,
}

impl Transmit<'_> {
    /// Encodes the pktinfo control message for `self` into `buf`; returns the bytes used.
    ///
    /// The socket's family follows from the destination, with no system call: an IPv4 socket can only
    /// send to IPv4 addresses, and an IPv6 socket takes IPv4 destinations as IPv4-mapped IPv6 ones.
    fn encode(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.src.is_none() && self.ifindex.is_none() {
            return Ok(0);
        }
        let ifindex = self.ifindex.map_or(0, NonZeroU32::get);
        let mut w = CmsgWriter::new(buf);
        match self.dst {
            SocketAddr::V4(_) => {
                let src = match self.src {
                    Some(IpAddr::V4(a)) => a,
                    None => Ipv4Addr::UNSPECIFIED,
                    Some(IpAddr::V6(a)) => return Err(mismatch(a.into(), self.dst)),
                };
                w.pktinfo_v4(ifindex, src)
            }
            SocketAddr::V6(_) => {
                let src = match self.src {
                    Some(IpAddr::V6(a)) => a,
                    Some(IpAddr::V4(a)) => a.to_ipv6_mapped(),
                    None => Ipv6Addr::UNSPECIFIED,
                };
                w.pktinfo_v6(ifindex, src)
            }
        }
        .map_err(cmsg_error)?;
        Ok(w.len())
    }
}

fn mismatch(src: IpAddr, dst: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("source {src} and destination {dst} are of different families"),
    )
}

fn is_ipv6(socket: &impl AsFd) -> io::Result<bool> {
    Ok(SockRef::from(socket).domain()? == Domain::IPV6)
}

/// Asks the kernel to report each datagram's destination address and ingress device: `IP_PKTINFO` on an
/// IPv4 socket; `IPV6_RECVPKTINFO` on an IPv6 one (plus `IP_PKTINFO` for its IPv4-mapped traffic).
pub fn enable(socket: impl AsFd) -> io::Result<()> {
    let fd = socket.as_fd();
    if is_ipv6(&socket)? {
        sys::setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        if !SockRef::from(&socket).only_v6()? {
            sys::setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        }
        Ok(())
    } else {
        sys::setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

/// Receives one datagram into `buf` with its metadata (blocking unless the socket is non-blocking).
pub fn recv(socket: impl AsFd, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let mut control = CmsgBuf::<{ cmsg::RECV_SPACE }>::default();
    let len = buf.len();
    let r = cmsg::recvmsg(socket, buf, &mut control.0, libc::MSG_TRUNC)?;
    RecvMeta::from_received(&r, len, &control.0)
}

/// Sends one datagram from the source address and through the device that `t` names.
pub fn send(socket: impl AsFd, t: &Transmit<'_>) -> io::Result<usize> {
    let mut control = CmsgBuf::<SEND_SPACE>::default();
    let used = t.encode(&mut control.0)?;
    let dst = SockAddr::from(t.dst);
    sys::sendmsg(
        socket.as_fd(),
        &sys::SendMsg {
            payload: t.payload,
            dst: &dst,
            control: &control.0[..used],
        },
    )
}

/// Receives up to `bufs.len()` datagrams with one `recvmmsg(2)`, waiting only for the first. Returns the
/// metadata of each, in order; datagram `i` is in `bufs[i][..meta[i].len]`.
pub fn recv_batch(socket: impl AsFd, bufs: &mut [&mut [u8]]) -> io::Result<Vec<RecvMeta>> {
    let mut controls: Vec<CmsgBuf<{ cmsg::RECV_SPACE }>> =
        bufs.iter().map(|_| CmsgBuf::default()).collect();
    let lens: Vec<usize> = bufs.iter().map(|b| b.len()).collect();
    let mut msgs: Vec<sys::RecvMsg<'_>> = bufs
        .iter_mut()
        .zip(controls.iter_mut())
        .map(|(b, c)| sys::RecvMsg {
            payload: b,
            control: &mut c.0,
        })
        .collect();
    let got = sys::recvmmsg(socket.as_fd(), &mut msgs)?;
    drop(msgs);
    got.iter()
        .zip(lens)
        .zip(&controls)
        .map(|((r, len), c)| RecvMeta::from_received(r, len, &c.0))
        .collect()
}

/// Sends the datagrams with one `sendmmsg(2)`; returns how many the kernel took, in order.
pub fn send_batch(socket: impl AsFd, ts: &[Transmit<'_>]) -> io::Result<usize> {
    if ts.is_empty() {
        return Ok(0);
    }
    let mut controls: Vec<CmsgBuf<SEND_SPACE>> = ts.iter().map(|_| CmsgBuf::default()).collect();
    let mut used = Vec::with_capacity(ts.len());
    for (t, c) in ts.iter().zip(controls.iter_mut()) {
        used.push(t.encode(&mut c.0)?);
    }
    let dsts: Vec<SockAddr> = ts.iter().map(|t| SockAddr::from(t.dst)).collect();
    let msgs: Vec<sys::SendMsg<'_>> = ts
        .iter()
        .zip(&dsts)
        .zip(controls.iter().zip(used))
        .map(|((t, dst), (c, n))| sys::SendMsg {
            payload: t.payload,
            dst,
            control: &c.0[..n],
        })
        .collect();
    sys::sendmmsg(socket.as_fd(), &msgs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_one(buf: &[u8]) -> Cmsg<'_> {
        let mut it = cmsg::decode(buf, 0);
        let c = it.next().expect("one cmsg").expect("valid");
        assert!(it.next().is_none());
        c
    }

    #[test]
    fn the_destination_chooses_the_pktinfo_family() {
        let idx = NonZeroU32::new(7);
        let mut buf = CmsgBuf::<SEND_SPACE>::default();
        let v4 = Transmit {
            payload: b"",
            dst: "10.0.0.2:53".parse().unwrap(),
            src: Some("10.0.0.1".parse().unwrap()),
            ifindex: idx,
        };
        let n = v4.encode(&mut buf.0).unwrap();
        assert_eq!(
            decode_one(&buf.0[..n]),
            Cmsg::PktInfoV4 {
                ifindex: 7,
                spec_dst: "10.0.0.1".parse().unwrap(),
                addr: Ipv4Addr::UNSPECIFIED
            }
        );
        // An IPv4 peer of a dual-stack IPv6 socket: mapped source in IPV6_PKTINFO.
        let mapped = Transmit {
            dst: "[::ffff:10.0.0.2]:53".parse().unwrap(),
            ..v4
        };
        let n = mapped.encode(&mut buf.0).unwrap();
        assert_eq!(
            decode_one(&buf.0[..n]),
            Cmsg::PktInfoV6 {
                ifindex: 7,
                addr: "::ffff:10.0.0.1".parse().unwrap()
            }
        );
        let bad = Transmit {
            src: Some("fd00::1".parse().unwrap()),
            ..v4
        };
        assert_eq!(
            bad.encode(&mut buf.0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let plain = Transmit {
            src: None,
            ifindex: None,
            ..v4
        };
        assert_eq!(
            plain.encode(&mut buf.0).unwrap(),
            0,
            "nothing to say: no control message"
        );
    }
}
