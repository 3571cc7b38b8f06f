//! Everything before the first echo request: the VRF, the destination, the source address and the ICMP
//! socket, each failure with a message that names the object and the fix.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsFd;

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use vrf_socket::{IcmpKind, Vrf, bind_to_index};

use crate::icmp::{self, Ident};
use crate::resolve::{self, Family};
use crate::sys;

/// How to choose the ICMP socket (`--socket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SocketChoice {
    /// A datagram socket where `net.ipv4.ping_group_range` allows it, a raw socket otherwise.
    Auto,
    /// Only an ICMP datagram socket.
    Dgram,
    /// Only a raw socket (root or CAP_NET_RAW).
    Raw,
}

/// Where and whom to ping, as resolved.
#[derive(Debug)]
pub struct Target {
    /// The VRF.
    pub vrf: Vrf,
    /// The destination as the user wrote it (header and summary).
    pub host: String,
    /// The destination address.
    pub addr: IpAddr,
    /// The destination was an address: print addresses only.
    pub numeric_dest: bool,
    /// The source address the kernel chose, or the one given with `-I`.
    pub source: IpAddr,
    /// `-I ADDRESS`: the socket is bound to it.
    pub strict_source: bool,
    /// `-I DEVICE`: its name and index (the VRF itself or one of its devices).
    pub device: Option<(String, NonZeroU32)>,
}

impl Target {
    /// IPv6 destination.
    pub fn v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// The device the sockets are bound to: `-I DEVICE`, else the VRF.
    pub fn bind_index(&self) -> NonZeroU32 {
        self.device.as_ref().map_or(self.vrf.index(), |d| d.1)
    }
}

/// Resolves the destination and picks the source address, the way iputils does (a UDP socket
/// "connected" to the destination asks the kernel for its route), but inside the VRF.
pub fn target(
    vrf: Vrf,
    destination: &str,
    family: Option<Family>,
    interface: Option<&str>,
) -> Result<Target> {
    let source_arg = interface.and_then(|i| i.parse::<IpAddr>().ok());
    let device = match (interface, source_arg) {
        (Some(name), None) => Some(device_in_vrf(&vrf, name)?),
        _ => None,
    };
    if let (Some(f), Some(src)) = (family, source_arg)
        && f != Family::of(src)
    {
        bail!(
            "-I {src}: the source address is not of the family asked for ({})",
            if f == Family::V4 { "-4" } else { "-6" }
        );
    }
    let numeric_dest = destination.parse::<IpAddr>().is_ok();
    // A name is looked up in the family of -I ADDRESS; an address is checked against it below.
    let hint = match numeric_dest {
        true => family,
        false => family.or(source_arg.map(Family::of)),
    };
    let candidates = resolve::resolve(&vrf, destination, hint)?;
    let mut t = Target {
        host: destination.to_string(),
        numeric_dest,
        addr: candidates[0],
        source: source_arg.unwrap_or(candidates[0]),
        strict_source: source_arg.is_some(),
        device,
        vrf,
    };
    // Like iputils, go on to the next address of a name when the VRF has no route to one.
    for (i, addr) in candidates.iter().enumerate() {
        if let Some(src) = source_arg
            && Family::of(src) != Family::of(*addr)
        {
            bail!(
                "-I {src}: the source address and the destination {addr} are of different families"
            );
        }
        t.addr = *addr;
        match probe_source(&t)? {
            Ok(source) => {
                t.source = source;
                return Ok(t);
            }
            Err(e) if i + 1 < candidates.len() && unreachable(&e) => continue,
            Err(e) => bail!("connect: {}", strerror(&e)),
        }
    }
    unreachable!("resolve returns at least one address")
}

fn unreachable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
    )
}

/// `-I DEVICE`: the VRF itself, or a device enslaved to it.
fn device_in_vrf(vrf: &Vrf, name: &str) -> Result<(String, NonZeroU32)> {
    let devices = || -> String {
        let mut names = vec![vrf.name().to_string()];
        names.extend(vrf.slaves().unwrap_or_default().into_iter().map(|s| s.name));
        names.join(", ")
    };
    vrf_socket::validate_name(name).map_err(|e| anyhow!("-I {name:?}: {e}"))?;
    let index = nix::net::if_::if_nametoindex(name)
        .ok()
        .and_then(NonZeroU32::new)
        .with_context(|| {
            format!(
                "-I {name}: no such device or address (the devices of VRF {vrf} are: {})",
                devices()
            )
        })?;
    match Vrf::of_device(index) {
        Ok(Some(v)) if v.index() == vrf.index() => Ok((name.to_string(), index)),
        Ok(Some(other)) => bail!(
            "-I {name}: device {name} is in VRF {other}, not in VRF {vrf} (the devices of VRF {vrf} are: {})",
            devices()
        ),
        Ok(None) => bail!(
            "-I {name}: device {name} is in the default VRF, not in VRF {vrf} (move it: ip link set {name} \
             master {vrf}; the devices of VRF {vrf} are: {})",
            devices()
        ),
        Err(e) => bail!("-I {name}: {e}"),
    }
}

/// The source address of packets to the target: bound with `-I ADDRESS` (which must be an address of
/// the VRF), else the one the VRF's route gives. The inner error is the route lookup's (`connect`).
fn probe_source(t: &Target) -> Result<io::Result<IpAddr>> {
    let domain = if t.v6() { Domain::IPV6 } else { Domain::IPV4 };
    let probe = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).context("socket")?;
    bind_to_index(&probe, t.bind_index()).map_err(|e| bind_device_error(t, e))?;
    if t.strict_source {
        probe
            .bind(&SocketAddr::new(t.source, 0).into())
            .map_err(|e| source_error(t, &e))?;
    }
    if let Err(e) = probe.connect(&SocketAddr::new(t.addr, 1025).into()) {
        return Ok(Err(e));
    }
    let local = probe
        .local_addr()
        .context("getsockname")?
        .as_socket()
        .context("getsockname: not an IP address")?;
    Ok(Ok(local.ip()))
}

fn bind_device_error(t: &Target, e: io::Error) -> anyhow::Error {
    let what = t
        .device
        .as_ref()
        .map_or_else(|| format!("VRF {}", t.vrf), |d| format!("device {}", d.0));
    anyhow!("cannot bind a socket to {what}: {}", strerror(&e))
}

fn source_error(t: &Target, e: &io::Error) -> anyhow::Error {
    if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
        anyhow!(
            "-I {}: not an address of VRF {} (ip -br addr show vrf {})",
            t.source,
            t.vrf,
            t.vrf
        )
    } else {
        anyhow!("-I {}: bind: {}", t.source, strerror(e))
    }
}

/// An errno's text without Rust's ` (os error N)`, as C tools print it.
pub fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

/// The ICMP socket, bound to the VRF (or `-I DEVICE`), configured, and its identifier.
#[derive(Debug)]
pub struct Opened {
    /// The socket, non-blocking.
    pub socket: Socket,
    /// Datagram or raw.
    pub kind: IcmpKind,
    /// What marks our requests.
    pub ident: Ident,
}

/// Opens and configures the ICMP socket for `t`.
pub fn open(t: &Target, choice: SocketChoice, ttl: Option<u8>) -> Result<Opened> {
    let socket_of = |kind| -> io::Result<Socket> {
        match &t.device {
            None => t
                .vrf
                .icmp_socket_of(vrf_socket::AddressFamily::of(t.addr), kind)
                .map(|s| s.socket),
            Some((_, index)) => {
                let (domain, ty, proto) = icmp_type(t.v6(), kind);
                let s = Socket::new(domain, ty, Some(proto))?;
                bind_to_index(&s, *index)?;
                Ok(s)
            }
        }
    };
    let refused = |e: &io::Error| matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM));
    let (socket, kind) = match choice {
        SocketChoice::Dgram => match socket_of(IcmpKind::Datagram) {
            Ok(s) => (s, IcmpKind::Datagram),
            Err(e) if refused(&e) => bail!(
                "cannot open an ICMP datagram socket: {} (or use --socket raw, as root)",
                group_refused()
            ),
            Err(e) => bail!("cannot open an ICMP datagram socket: {}", strerror(&e)),
        },
        SocketChoice::Raw => match socket_of(IcmpKind::Raw) {
            Ok(s) => (s, IcmpKind::Raw),
            Err(e) if refused(&e) => {
                bail!(
                    "cannot open a raw ICMP socket: {} (needs root or CAP_NET_RAW)",
                    strerror(&e)
                )
            }
            Err(e) => bail!("cannot open a raw ICMP socket: {}", strerror(&e)),
        },
        SocketChoice::Auto => match socket_of(IcmpKind::Datagram) {
            Ok(s) => (s, IcmpKind::Datagram),
            Err(e) if refused(&e) || e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
                match socket_of(IcmpKind::Raw) {
                    Ok(s) => (s, IcmpKind::Raw),
                    Err(e) if refused(&e) => bail!(
                        "no permission to ping: raw ICMP sockets need root or CAP_NET_RAW, and {}",
                        group_refused()
                    ),
                    Err(e) => bail!("cannot open a raw ICMP socket: {}", strerror(&e)),
                }
            }
            Err(e) => bail!("cannot open an ICMP socket: {}", strerror(&e)),
        },
    };
    configure(t, socket, kind, ttl)
}

fn icmp_type(v6: bool, kind: IcmpKind) -> (Domain, Type, Protocol) {
    let ty = match kind {
        IcmpKind::Datagram => Type::DGRAM,
        IcmpKind::Raw => Type::RAW,
    };
    if v6 {
        (Domain::IPV6, ty, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, ty, Protocol::ICMPV4)
    }
}

/// Why the kernel refused an ICMP datagram socket, with the fix.
fn group_refused() -> String {
    let gid = nix::unistd::getegid();
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    format!(
        "ICMP datagram sockets are refused to group {gid} (net.ipv4.ping_group_range is \"{range}\"; \
         allow it: sysctl -w net.ipv4.ping_group_range=\"{gid} {gid}\")"
    )
}

fn configure(t: &Target, socket: Socket, kind: IcmpKind, ttl: Option<u8>) -> Result<Opened> {
    let v6 = t.v6();
    let fd = socket.as_fd();
    let unspecified = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let bind_to = t.strict_source.then_some(t.source);
    let ident = match kind {
        // The kernel writes the socket's "port" into the identifier of every request: bind now to learn
        // it (0 asks for a free one).
        IcmpKind::Datagram => {
            socket
                .bind(&SocketAddr::new(bind_to.unwrap_or(unspecified), 0).into())
                .map_err(|e| source_error(t, &e))?;
            let port = socket
                .local_addr()
                .context("getsockname")?
                .as_socket()
                .map_or(0, |a| a.port());
            Ident {
                id: port,
                cookie: random_cookie(),
            }
        }
        IcmpKind::Raw => {
            if let Some(src) = bind_to {
                socket
                    .bind(&SocketAddr::new(src, 0).into())
                    .map_err(|e| source_error(t, &e))?;
            }
            let cookie = random_cookie();
            let id = u16::from_ne_bytes([cookie[0] ^ cookie[7], cookie[1] ^ cookie[6]]);
            let ident = Ident { id, cookie };
            raw_filters(&socket, v6, id)?;
            ident
        }
    };
    if v6 {
        setsockopt(&fd, sockopt::Ipv6RecvErr, &true).context("setsockopt(IPV6_RECVERR)")?;
        setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true)
            .context("setsockopt(IPV6_RECVHOPLIMIT)")?;
        if let Some(ttl) = ttl {
            socket
                .set_unicast_hops_v6(u32::from(ttl))
                .context("cannot set unicast hop limit")?;
        }
    } else {
        setsockopt(&fd, sockopt::Ipv4RecvErr, &true).context("setsockopt(IP_RECVERR)")?;
        if kind == IcmpKind::Datagram {
            setsockopt(&fd, sockopt::Ipv4RecvTtl, &true).context("setsockopt(IP_RECVTTL)")?;
        }
        if let Some(ttl) = ttl {
            socket
                .set_ttl_v4(u32::from(ttl))
                .context("cannot set unicast time-to-live")?;
        }
    }
    setsockopt(&fd, sockopt::ReceiveTimestampns, &true).context("setsockopt(SO_TIMESTAMPNS)")?;
    socket.set_nonblocking(true).context("O_NONBLOCK")?;
    Ok(Opened {
        socket,
        kind,
        ident,
    })
}

/// A raw socket sees every ICMP packet of the VRF: let through only echo replies (ICMP filter), and of
/// those only ours (a classic BPF program on the identifier), so that other pings cost us nothing.
fn raw_filters(socket: &Socket, v6: bool, id: u16) -> Result<()> {
    const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LD_H_IND: u16 = 0x48; // BPF_LD | BPF_H | BPF_IND
    const LDX_B_MSH: u16 = 0xb1; // BPF_LDX | BPF_B | BPF_MSH: X = 4 * (byte & 0xf), the IPv4 header length
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let id = u32::from(id);
    let program: &[SockFilter] = if v6 {
        // A raw ICMPv6 socket's packet starts at the ICMPv6 header; the identifier is at offset 4.
        &[
            SockFilter::new(LD_H_ABS, 0, 0, 4),
            SockFilter::new(JEQ_K, 0, 1, id),
            SockFilter::new(RET_K, 0, 0, u32::MAX),
            SockFilter::new(RET_K, 0, 0, 0),
        ]
    } else {
        // A raw IPv4 socket's packet starts at the IP header.
        &[
            SockFilter::new(LDX_B_MSH, 0, 0, 0),
            SockFilter::new(LD_H_IND, 0, 0, 4),
            SockFilter::new(JEQ_K, 0, 1, id),
            SockFilter::new(RET_K, 0, 0, u32::MAX),
            SockFilter::new(RET_K, 0, 0, 0),
        ]
    };
    if v6 {
        sys::set_icmp6_filter(socket.as_fd(), &[icmp::ECHO_REPLY_V6])
            .context("setsockopt(ICMP6_FILTER)")?;
    } else {
        sys::set_icmp_filter(socket.as_fd(), &[icmp::ECHO_REPLY_V4])
            .context("setsockopt(ICMP_FILTER)")?;
    }
    socket
        .attach_filter(program)
        .context("setsockopt(SO_ATTACH_FILTER)")
}

/// Eight random bytes (the standard library's per-process hash keys come from the OS's generator).
fn random_cookie() -> [u8; 8] {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish().to_ne_bytes()
}
