//! Everything before the first echo request: the VRF (or the default VRF), the destination, the source
//! address and the ICMP socket, each failure with a message that names the object and the fix.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsFd;

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Protocol, SockFilter, Socket, Type};
use vrf_socket::{AddressFamily, IcmpKind, Vrf, VrfError, bind_to_index};

use crate::icmp::{self, Ident};
use crate::resolve;
use crate::sys;

pub use crate::cli::SocketChoice;

/// Where the sockets live, from `-V` and `-I`: a VRF or the default VRF, and maybe one device or one
/// source address.
#[derive(Debug)]
pub struct Scope {
    /// The VRF, or `None` for the default VRF (sockets bound to no VRF, as iputils').
    pub vrf: Option<Vrf>,
    /// `-I DEVICE`: its name and index (a VRF, a device enslaved to one, or a default-VRF device).
    pub device: Option<(String, NonZeroU32)>,
    /// `-I ADDRESS`.
    pub source: Option<IpAddr>,
}

/// Where and whom to ping, as resolved.
#[derive(Debug)]
pub struct Target {
    /// The VRF, or `None` for the default VRF.
    pub vrf: Option<Vrf>,
    /// The destination as iputils names it in the header and summary: as the user wrote it, or for an
    /// IPv4 name in the default VRF, its canonical name.
    pub host: String,
    /// The destination address.
    pub addr: IpAddr,
    /// The destination was an address: print addresses only.
    pub numeric_dest: bool,
    /// The source address the kernel chose, or the one given with `-I`.
    pub source: IpAddr,
    /// `-I ADDRESS`: the socket is bound to it.
    pub strict_source: bool,
    /// `-I DEVICE`: its name and index.
    pub device: Option<(String, NonZeroU32)>,
}

impl Target {
    /// IPv6 destination.
    pub fn v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// The address family of the destination.
    pub fn family(&self) -> AddressFamily {
        AddressFamily::of(self.addr)
    }

    /// The device the sockets are bound to: `-I DEVICE`, else the VRF, else none (the default VRF).
    pub fn bind_index(&self) -> Option<NonZeroU32> {
        match (&self.device, &self.vrf) {
            (Some(d), _) => Some(d.1),
            (None, Some(vrf)) => Some(vrf.index()),
            (None, None) => None,
        }
    }

    /// `VRF blue` or `the default VRF`, for messages.
    pub fn vrf_text(&self) -> String {
        vrf_text(self.vrf.as_ref())
    }
}

fn vrf_text(vrf: Option<&Vrf>) -> String {
    vrf.map_or_else(|| "the default VRF".to_string(), |v| format!("VRF {v}"))
}

/// The scope of `-V VRF` and `-I ADDRESS|DEVICE`.
///
/// With `-V`, a device must be the VRF or one of its devices. Without `-V`, the device decides, as
/// `ping -I` does: a VRF device selects that VRF, an enslaved device selects its VRF (and the sockets
/// are bound to the device), any other device is in the default VRF; an address, or no `-I`, means
/// the default VRF.
pub fn scope(vrf: Option<&str>, interface: Option<&str>) -> Result<Scope> {
    let source = interface.and_then(|i| i.parse::<IpAddr>().ok());
    let vrf = vrf.map(Vrf::up_by_name).transpose()?;
    let Some(name) = interface.filter(|_| source.is_none()) else {
        return Ok(Scope {
            vrf,
            device: None,
            source,
        });
    };
    vrf_socket::validate_name(name).map_err(|e| anyhow!("-I {name:?}: {e}"))?;
    if let Some(vrf) = vrf {
        let device = device_in_vrf(&vrf, name)?;
        return Ok(Scope {
            vrf: Some(vrf),
            device: Some(device),
            source: None,
        });
    }
    match Vrf::of_device(name) {
        Ok(Some(vrf)) => {
            vrf.ensure_up()?;
            let index = if vrf.name() == name {
                vrf.index()
            } else {
                slave_index(&vrf, name)?
            };
            Ok(Scope {
                vrf: Some(vrf),
                device: Some((name.to_string(), index)),
                source: None,
            })
        }
        Ok(None) => {
            let index = nix::net::if_::if_nametoindex(name)
                .ok()
                .and_then(NonZeroU32::new)
                .with_context(|| no_such_device(name))?;
            Ok(Scope {
                vrf: None,
                device: Some((name.to_string(), index)),
                source: None,
            })
        }
        Err(VrfError::NoSuchDevice(_)) => bail!("{}", no_such_device(name)),
        Err(e) => bail!("-I {name}: {e}"),
    }
}

/// iputils' words for `-I` naming no device, and where to look.
fn no_such_device(name: &str) -> String {
    format!(
        "SO_BINDTODEVICE {name}: No such device (-I takes a device, see ip -br link, or an address, \
         see ip -br addr)"
    )
}

/// The index of `name`, a device enslaved to `vrf`.
fn slave_index(vrf: &Vrf, name: &str) -> Result<NonZeroU32> {
    vrf.slaves()?
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.index)
        .with_context(|| format!("-I {name}: device {name} left VRF {vrf} while vrf-ping looked"))
}

/// Resolves the destination and picks the source address, the way iputils does (a UDP socket
/// "connected" to the destination asks the kernel for its route), in the VRF of `scope` or in the
/// default VRF.
pub fn target(scope: Scope, destination: &str, family: Option<AddressFamily>) -> Result<Target> {
    let Scope {
        vrf,
        device,
        source: source_arg,
    } = scope;
    if let (Some(f), Some(src)) = (family, source_arg)
        && f != AddressFamily::of(src)
    {
        bail!(
            "-I {src}: the source address is not of the family asked for ({})",
            if f == AddressFamily::Ipv4 { "-4" } else { "-6" }
        );
    }
    let numeric_dest = destination.parse::<IpAddr>().is_ok();
    // A name is looked up in the family of -I ADDRESS; an address is checked against it below.
    let hint = match numeric_dest {
        true => family,
        false => family.or(source_arg.map(AddressFamily::of)),
    };
    let resolved = resolve::resolve(vrf.as_ref(), destination, hint)?;
    let candidates = resolved.addrs;
    let mut t = Target {
        host: destination.to_string(),
        numeric_dest,
        addr: candidates[0],
        source: source_arg.unwrap_or(candidates[0]),
        strict_source: source_arg.is_some(),
        device,
        vrf,
    };
    // Like iputils, go on to the next address of a name when there is no route to one.
    for (i, addr) in candidates.iter().enumerate() {
        if let Some(src) = source_arg
            && AddressFamily::of(src) != AddressFamily::of(*addr)
        {
            bail!(
                "-I {src}: the source address and the destination {addr} are of different families"
            );
        }
        t.addr = *addr;
        match probe_source(&t)? {
            Ok(source) => {
                t.source = source;
                // iputils names an IPv4 destination by its canonical name.
                if let Some(canonical) = resolved.canonical.as_ref().filter(|_| !t.v6()) {
                    t.host = canonical.clone();
                }
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

/// `-V VRF -I DEVICE`: the VRF itself, or a device enslaved to it.
fn device_in_vrf(vrf: &Vrf, name: &str) -> Result<(String, NonZeroU32)> {
    let devices = || -> String {
        let mut names = vec![vrf.name().to_string()];
        names.extend(vrf.slaves().unwrap_or_default().into_iter().map(|s| s.name));
        names.join(", ")
    };
    match Vrf::of_device(name) {
        Ok(Some(v)) if v.index() == vrf.index() => {
            let index = if v.name() == name {
                v.index()
            } else {
                slave_index(vrf, name)?
            };
            Ok((name.to_string(), index))
        }
        Ok(Some(other)) => bail!(
            "-I {name}: device {name} is in VRF {other}, not in VRF {vrf} (the devices of VRF {vrf} are: {})",
            devices()
        ),
        Ok(None) => bail!(
            "-I {name}: device {name} is in the default VRF, not in VRF {vrf} (move it: ip link set {name} \
             master {vrf}; the devices of VRF {vrf} are: {})",
            devices()
        ),
        Err(VrfError::NoSuchDevice(_)) => bail!(
            "-I {name}: no such device or address (the devices of VRF {vrf} are: {})",
            devices()
        ),
        Err(e) => bail!("-I {name}: {e}"),
    }
}

/// The source address of packets to the target: bound with `-I ADDRESS` (which must be an address of
/// the VRF), else the one the route gives. The inner error is the route lookup's (`connect`).
fn probe_source(t: &Target) -> Result<io::Result<IpAddr>> {
    let domain = t.family().domain();
    let probe = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).context("socket")?;
    if let Some(index) = t.bind_index() {
        bind_to_index(&probe, index).map_err(|e| bind_device_error(t, e))?;
    }
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
        .map_or_else(|| t.vrf_text(), |d| format!("device {}", d.0));
    anyhow!("cannot bind a socket to {what}: {}", strerror(&e))
}

fn source_error(t: &Target, e: &io::Error) -> anyhow::Error {
    if e.raw_os_error() != Some(libc::EADDRNOTAVAIL) {
        return anyhow!("-I {}: bind: {}", t.source, strerror(e));
    }
    match &t.vrf {
        Some(vrf) => anyhow!(
            "-I {}: not an address of VRF {vrf} (ip -br addr show vrf {vrf})",
            t.source,
        ),
        None => {
            let elsewhere = match vrfs_with_address(t.source).as_slice() {
                [] => String::new(),
                vrfs => format!(
                    "; it is an address of VRF {}: vrf-ping -V {} -I {} …",
                    vrfs.join(" and VRF "),
                    vrfs[0],
                    t.source
                ),
            };
            anyhow!(
                "bind: {} (-I {} is not an address of the default VRF{elsewhere}; ip -br addr lists \
                 the addresses)",
                strerror(e),
                t.source
            )
        }
    }
}

/// The VRFs that have a device with address `addr`, by name.
fn vrfs_with_address(addr: IpAddr) -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut vrfs: Vec<String> = Vec::new();
    for a in addrs {
        let ip = a.address.as_ref().and_then(|s| {
            s.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        });
        if ip == Some(addr)
            && let Ok(Some(vrf)) = Vrf::of_device(a.interface_name.as_str())
            && !vrfs.iter().any(|v| v == vrf.name())
        {
            vrfs.push(vrf.name().to_string());
        }
    }
    vrfs
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
        match (&t.vrf, &t.device) {
            (Some(vrf), None) => vrf.icmp_socket_of(t.family(), kind).map(|s| s.socket),
            (_, device) => {
                let (domain, ty, proto) = vrf_socket::icmp_socket_type(t.family(), kind);
                let s = Socket::new(domain, ty, Some(proto))?;
                if let Some((_, index)) = device {
                    bind_to_index(&s, *index)?;
                }
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
    let unspecified = t.family().unspecified();
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
