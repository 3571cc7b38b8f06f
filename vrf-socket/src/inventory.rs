//! Every socket of the network namespace with the VRF it is in: the kernel's sock_diag dumps (TCP, UDP,
//! raw; what `ss` reads), the ICMP datagram ("ping") sockets of `/proc/net/icmp` and `icmp6` (no sock_diag
//! handler exists for them), and the processes holding each one (`/proc/PID/fd`).
//!
//! A socket is in a VRF when it is bound to the VRF device or to a device enslaved to it: the kernel
//! then routes it with the VRF's table. That binding is the socket's `sk_bound_dev_if`, which sock_diag
//! reports as `idiag_if`, whoever made it (`SO_BINDTODEVICE`, a cgroup's sock-create hook as `ip vrf
//! exec` and `vrf-exec` attach, the kernel for a connection accepted through a VRF). `/proc/net/icmp`
//! does not show it: for a ping socket it is read from a duplicate of an owner's descriptor
//! (`pidfd_getfd(2)`, which needs ptrace access to the owner: root has it), else it is
//! [`Binding::Unknown`].
//!
//! ```no_run
//! let inventory = vrf_socket::inventory::sockets()?;
//! for s in &inventory.sockets {
//!     let vrf = s.vrf.as_ref().map_or("default", |v| v.name());
//!     let pids: Vec<_> = s.owners.iter().map(|o| o.pid).collect();
//!     println!("{vrf:<10} {} {} {} -> {} {pids:?}", s.kind.netid(), s.state_name(), s.local, s.remote);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;

use crate::family::AddressFamily;
use crate::vrf::{Vrf, VrfSnapshot};
use crate::{sock_diag, sys};

/// The kernel's `TCP_LISTEN` and `TCP_CLOSE` (an unconnected UDP, raw or ping socket) state numbers.
const TCP_LISTEN: u8 = 10;
const TCP_CLOSE: u8 = 7;

/// What kind of socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `SOCK_STREAM`, TCP.
    Tcp,
    /// `SOCK_DGRAM`, UDP.
    Udp,
    /// `SOCK_RAW` of IP protocol `protocol` (1: ICMP, 58: ICMPv6, 255: `IPPROTO_RAW`).
    Raw {
        /// The socket's IP protocol.
        protocol: u8,
    },
    /// An ICMP datagram socket (`SOCK_DGRAM`, `IPPROTO_ICMP`/`ICMPV6`: unprivileged ping).
    Icmp,
}

impl Kind {
    /// The name `ss` gives it in its `Netid` column (`tcp`, `udp`, `raw`), and `icmp` for ping sockets.
    pub fn netid(&self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Raw { .. } => "raw",
            Kind::Icmp => "icmp",
        }
    }

    /// The `net.ipv4` switch that opens an unbound socket of this kind to every VRF
    /// (`tcp_l3mdev_accept` …); `None` for ping sockets, which have none.
    pub fn l3mdev_accept_switch(&self) -> Option<&'static str> {
        match self {
            Kind::Tcp => Some("tcp_l3mdev_accept"),
            Kind::Udp => Some("udp_l3mdev_accept"),
            Kind::Raw { .. } => Some("raw_l3mdev_accept"),
            Kind::Icmp => None,
        }
    }
}

/// Which device a socket is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// None: the socket routes with the default VRF's tables (and, if `*_l3mdev_accept` is 1 and it
    /// listens, accepts from every VRF).
    Unbound,
    /// The device with this index.
    Device(NonZeroU32),
    /// Not known: a ping socket whose owners' descriptors could not be read (no privilege, or it has
    /// no owner left).
    Unknown,
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Owner {
    /// The process.
    pub pid: u32,
    /// The descriptor number it holds the socket under.
    pub fd: i32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
}

/// One socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketInfo {
    /// TCP, UDP, raw or ping.
    pub kind: Kind,
    /// IPv4 or IPv6 (a dual-stack IPv6 socket is IPv6).
    pub family: AddressFamily,
    /// The kernel's state number, TCP's numbering for every kind; see [`SocketInfo::state_name`].
    pub state: u8,
    /// Local address and port (for a raw socket the port is its protocol, as `ss` shows; for a ping
    /// socket its ICMP identifier).
    pub local: SocketAddr,
    /// Remote address and port (unspecified when not connected).
    pub remote: SocketAddr,
    /// The device it is bound to.
    pub binding: Binding,
    /// That device's name, when it still exists.
    pub device: Option<String>,
    /// The VRF it is in: the bound device when that is a VRF, the device's VRF when it is enslaved to
    /// one. `None`: the default VRF (or a [`Binding::Unknown`]).
    pub vrf: Option<Vrf>,
    /// The owner's uid (the socket's `sk_uid`).
    pub uid: u32,
    /// The socket's inode number (`socket:[INODE]` in `/proc/PID/fd`); 0 for sockets no file refers
    /// to (TCP `TIME-WAIT`, half-open connections).
    pub inode: u64,
    /// The processes holding it, in pid order (empty when none, or `/proc` does not show them to us).
    pub owners: Vec<Owner>,
}

impl SocketInfo {
    /// The state as `ss` names it: `ESTAB`, `LISTEN`, `TIME-WAIT` …; `UNCONN` for an unconnected UDP,
    /// raw or ping socket.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            1 => "ESTAB",
            2 => "SYN-SENT",
            3 | 12 => "SYN-RECV",
            4 => "FIN-WAIT-1",
            5 => "FIN-WAIT-2",
            6 => "TIME-WAIT",
            TCP_CLOSE if self.kind == Kind::Tcp => "CLOSE",
            TCP_CLOSE => "UNCONN",
            8 => "CLOSE-WAIT",
            9 => "LAST-ACK",
            TCP_LISTEN => "LISTEN",
            11 => "CLOSING",
            _ => "UNKNOWN",
        }
    }

    /// A socket waiting for others: a TCP listener, or an unconnected UDP, raw or ping socket (what
    /// `ss -l` shows).
    pub fn is_listening(&self) -> bool {
        match self.kind {
            Kind::Tcp => self.state == TCP_LISTEN,
            _ => self.state == TCP_CLOSE,
        }
    }

    /// Whether this socket receives from every VRF, not just the default one: an unbound listener of
    /// a kind whose `net.ipv4.*_l3mdev_accept` is on (see [`L3mdevAccept`]). Ping sockets have no such
    /// switch and are never so.
    pub fn accepts_from_every_vrf(&self, accept: &L3mdevAccept) -> bool {
        let on = match self.kind {
            Kind::Tcp => accept.tcp,
            Kind::Udp => accept.udp,
            Kind::Raw { .. } => accept.raw,
            Kind::Icmp => false,
        };
        on && self.binding == Binding::Unbound && self.is_listening()
    }
}

/// The switches that let unbound sockets of the default VRF serve every VRF:
/// `net.ipv4.tcp_l3mdev_accept`, `udp_l3mdev_accept` and `raw_l3mdev_accept` (IPv6 sockets too), read
/// for the network namespace of the calling thread. The kernel's defaults are 0, 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct L3mdevAccept {
    /// `tcp_l3mdev_accept`: an unbound TCP listener accepts connections from every VRF.
    pub tcp: bool,
    /// `udp_l3mdev_accept`: an unbound UDP socket receives from every VRF.
    pub udp: bool,
    /// `raw_l3mdev_accept`: an unbound raw socket receives from every VRF.
    pub raw: bool,
}

impl L3mdevAccept {
    /// Reads the three switches; one that cannot be read (a kernel without VRF support has none) is off.
    pub fn read() -> L3mdevAccept {
        let on = |name: &str| {
            std::fs::read_to_string(format!("/proc/thread-self/sys/net/ipv4/{name}"))
                .or_else(|_| std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")))
                .is_ok_and(|v| v.trim() != "0")
        };
        let on = |kind: Kind| kind.l3mdev_accept_switch().is_some_and(on);
        L3mdevAccept {
            tcp: on(Kind::Tcp),
            udp: on(Kind::Udp),
            raw: on(Kind::Raw { protocol: 0 }),
        }
    }
}

/// What [`sockets`] found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inventory {
    /// Every socket: TCP, then UDP, raw and ping; IPv4 before IPv6.
    pub sockets: Vec<SocketInfo>,
    /// The devices and VRFs the sockets were mapped with (taken just before the dumps).
    pub vrfs: VrfSnapshot,
    /// Kinds of sockets that could not be listed and why (the kernel has no `raw_diag`, say); empty
    /// when everything was.
    pub missing: Vec<String>,
}

impl Inventory {
    /// The sockets in VRF `name` (bound to it or to one of its slaves).
    pub fn in_vrf<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a SocketInfo> + 'a {
        self.sockets
            .iter()
            .filter(move |s| s.vrf.as_ref().is_some_and(|v| v.name() == name))
    }

    /// The sockets process `pid` holds.
    pub fn of_process(&self, pid: u32) -> impl Iterator<Item = &SocketInfo> + '_ {
        self.sockets
            .iter()
            .filter(move |s| s.owners.iter().any(|o| o.pid == pid))
    }
}

/// Every TCP, UDP, raw and ping socket of the calling thread's network namespace, with its VRF and its
/// owners. One link dump, one sock_diag dump per protocol and family, `/proc/net/icmp{,6}`, and one
/// pass over `/proc/*/fd`. Owners are those `/proc` shows the caller: all of them for root.
///
/// Fails when a dump fails, except that a kind the kernel cannot dump (no `udp_diag` or `raw_diag`)
/// is named in [`Inventory::missing`].
pub fn sockets() -> io::Result<Inventory> {
    collect(None)
}

/// The sockets process `pid` holds, as [`sockets`] describes them (the dumps are the same; only that
/// process's descriptors are read). Fails with `ESRCH` when there is no such process, and with the
/// error of reading its `/proc/PID/fd` (`EACCES` for another user's process, unless root).
pub fn sockets_of_process(pid: u32) -> io::Result<Inventory> {
    let mut owners = HashMap::new();
    match std::fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(fds) => add_owners(pid, fds, &mut owners),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Err(e) => return Err(e),
    }
    let mut inv = collect(Some(owners))?;
    inv.sockets.retain(|s| !s.owners.is_empty());
    Ok(inv)
}

fn collect(owners: Option<HashMap<u64, Vec<(u32, i32)>>>) -> io::Result<Inventory> {
    let vrfs = VrfSnapshot::take()?;
    let owners = owners.unwrap_or_else(socket_owners);
    let mut missing = Vec::new();
    let mut sockets = Vec::new();
    let mut channel = sock_diag::channel()?;
    for (protocol, name) in [
        (sock_diag::TCP, "TCP"),
        (sock_diag::UDP, "UDP"),
        (sock_diag::RAW, "raw"),
    ] {
        for v6 in [false, true] {
            let dumped = match sock_diag::dump(&mut channel, v6, protocol) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    missing.push(format!(
                        "{name} sockets over IPv{}: the kernel has no sock_diag handler for them",
                        if v6 { 6 } else { 4 }
                    ));
                    continue;
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("dumping the {name} sockets (sock_diag): {e}"),
                    ));
                }
            };
            for d in dumped {
                let kind = match protocol {
                    sock_diag::TCP => Kind::Tcp,
                    sock_diag::UDP => Kind::Udp,
                    _ => Kind::Raw {
                        protocol: u8::try_from(d.local.port()).unwrap_or(u8::MAX),
                    },
                };
                let binding = NonZeroU32::new(d.bound_if).map_or(Binding::Unbound, Binding::Device);
                sockets.push(info(
                    kind,
                    d.v6,
                    d.state,
                    (d.local, d.remote),
                    binding,
                    d.uid,
                    u64::from(d.inode),
                ));
            }
        }
    }
    for v6 in [false, true] {
        let file = if v6 { "icmp6" } else { "icmp" };
        let text = match std::fs::read_to_string(format!("/proc/thread-self/net/{file}")) {
            Ok(t) => t,
            // A kernel without IPv6 has no icmp6 table.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("reading /proc/net/{file}: {e}"),
                ));
            }
        };
        for p in parse_ping_sockets(&text, v6) {
            let holders = owners.get(&p.inode).map_or(&[][..], Vec::as_slice);
            let binding = ping_binding(holders);
            sockets.push(info(
                Kind::Icmp,
                v6,
                p.state,
                (p.local, p.remote),
                binding,
                p.uid,
                p.inode,
            ));
        }
    }
    let mut commands = HashMap::new();
    for s in &mut sockets {
        place(s, &vrfs, &owners, &mut commands);
    }
    Ok(Inventory {
        sockets,
        vrfs,
        missing,
    })
}

/// A socket as the kernel described it; [`place`] adds its device, VRF and owners.
fn info(
    kind: Kind,
    v6: bool,
    state: u8,
    (local, remote): (SocketAddr, SocketAddr),
    binding: Binding,
    uid: u32,
    inode: u64,
) -> SocketInfo {
    SocketInfo {
        kind,
        family: if v6 {
            AddressFamily::Ipv6
        } else {
            AddressFamily::Ipv4
        },
        state,
        local,
        remote,
        binding,
        device: None,
        vrf: None,
        uid,
        inode,
        owners: Vec::new(),
    }
}

/// Fills in `s`'s device and VRF from the snapshot, and its owners (one per process, each process's
/// command name read once for all its sockets).
fn place(
    s: &mut SocketInfo,
    vrfs: &VrfSnapshot,
    owners: &HashMap<u64, Vec<(u32, i32)>>,
    commands: &mut HashMap<u32, String>,
) {
    if let Binding::Device(i) = s.binding {
        s.device = vrfs.device_name(i).map(str::to_string);
        s.vrf = vrfs.vrf_of(i).cloned();
    }
    let holders = match owners.get(&s.inode) {
        Some(h) if s.inode != 0 => h.as_slice(),
        _ => &[],
    };
    s.owners = holders
        .iter()
        .map(|&(pid, fd)| Owner {
            pid,
            fd,
            command: commands.entry(pid).or_insert_with(|| command(pid)).clone(),
        })
        .collect();
    s.owners.sort_by_key(|o| (o.pid, o.fd));
    s.owners.dedup_by_key(|o| o.pid);
}

/// The device a ping socket is bound to, read from the first owner whose descriptor we may duplicate.
fn ping_binding(holders: &[(u32, i32)]) -> Binding {
    for &(pid, fd) in holders {
        let Ok(pidfd) = sys::pidfd_open(pid) else {
            continue;
        };
        let Ok(dup) = sys::pidfd_getfd(std::os::fd::AsFd::as_fd(&pidfd), fd) else {
            continue;
        };
        if let Ok(bound) = crate::bind::bound_index(&dup) {
            return bound.map_or(Binding::Unbound, Binding::Device);
        }
    }
    Binding::Unknown
}

/// Socket inode → the (pid, descriptor) pairs that hold it, from `/proc/*/fd`. Processes that end or
/// that we may not look into are left out.
fn socket_owners() -> HashMap<u64, Vec<(u32, i32)>> {
    let mut owners: HashMap<u64, Vec<(u32, i32)>> = HashMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(fds) = std::fs::read_dir(p.path().join("fd")) {
            add_owners(pid, fds, &mut owners);
        }
    }
    owners
}

/// Adds the sockets among process `pid`'s descriptors `fds` (its `/proc/PID/fd`) to `owners`.
fn add_owners(pid: u32, fds: std::fs::ReadDir, owners: &mut HashMap<u64, Vec<(u32, i32)>>) {
    for f in fds.flatten() {
        let Some(fd) = f.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(target) = std::fs::read_link(f.path()) else {
            continue;
        };
        if let Some(inode) = parse_socket_link(target.as_os_str().as_encoded_bytes()) {
            owners.entry(inode).or_default().push((pid, fd));
        }
    }
}

fn command(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// The inode of a `/proc/PID/fd/N` link target `socket:[INODE]`; `None` for anything else.
#[doc(hidden)]
pub fn parse_socket_link(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// One line of `/proc/net/icmp` or `icmp6`.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingSocket {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub uid: u32,
    pub inode: u64,
}

/// The ping sockets of a `/proc/net/icmp` (`v6`: `icmp6`) text: after the header line, `sl: local
/// remote st tx:rx tr:when retrnsmt uid timeout inode …`, addresses in hex as the kernel keeps them in
/// memory (32-bit words in host byte order), ports in hex. Malformed lines are skipped.
#[doc(hidden)]
pub fn parse_ping_sockets(text: &str, v6: bool) -> Vec<PingSocket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _slot = f.next()?.strip_suffix(':')?;
            let local = hex_socket_addr(f.next()?, v6)?;
            let remote = hex_socket_addr(f.next()?, v6)?;
            let state = u8::from_str_radix(f.next()?, 16).ok()?;
            let _queues = f.next()?;
            let _timer = f.next()?;
            let _retransmits = f.next()?;
            let uid = f.next()?.parse().ok()?;
            let _timeout = f.next()?;
            let inode = f.next()?.parse().ok()?;
            Some(PingSocket {
                local,
                remote,
                state,
                uid,
                inode,
            })
        })
        .collect()
}

/// `0100007F:0001` (IPv4) or 32 hex digits and a port (IPv6).
fn hex_socket_addr(text: &str, v6: bool) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let words: Vec<u32> = addr
        .as_bytes()
        .chunks(8)
        .map(|w| u32::from_str_radix(std::str::from_utf8(w).ok()?, 16).ok())
        .collect::<Option<_>>()?;
    let ip = match (v6, words.as_slice(), addr.len()) {
        (false, [w], 8) => IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes())),
        (true, [a, b, c, d], 32) => {
            let mut bytes = [0u8; 16];
            for (chunk, w) in bytes.chunks_mut(4).zip([a, b, c, d]) {
                chunk.copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link(b"socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link(b"socket:[]"), None);
        assert_eq!(parse_socket_link(b"socket:[+1]"), None);
        assert_eq!(parse_socket_link(b"pipe:[12]"), None);
        assert_eq!(parse_socket_link(b"/dev/null"), None);
        assert_eq!(parse_socket_link(b"socket:[99999999999999999999999]"), None);
    }

    // Lines as Linux 6.1 prints them (`ping_v4_seq_show`, `ip6_dgram_sock_seq_show`), for a socket
    // bound to 127.0.0.1 with identifier 0x1f and a connected IPv6 one, on a little-endian host.
    #[cfg(target_endian = "little")]
    #[test]
    fn proc_net_icmp() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                  \x20 5: 0100007F:001F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
                  garbage line\n";
        let got = parse_ping_sockets(v4, false);
        assert_eq!(
            got,
            [PingSocket {
                local: "127.0.0.1:31".parse().unwrap(),
                remote: "0.0.0.0:0".parse().unwrap(),
                state: 7,
                uid: 0,
                inode: 4242,
            }]
        );
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                  \x20 9: 00000000000000000000000001000000:0007 0000000000000000FFFF00000100007F:0000 01 00000000:00000000 00:00000000 00000000  1000        0 77 2 0000000000000000 0\n";
        let got = parse_ping_sockets(v6, true);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].local, "[::1]:7".parse().unwrap());
        assert_eq!(got[0].remote, "[::ffff:127.0.0.1]:0".parse().unwrap());
        assert_eq!((got[0].state, got[0].uid, got[0].inode), (1, 1000, 77));
        assert!(
            parse_ping_sockets(v4, true).is_empty(),
            "an IPv4 table read as IPv6"
        );
    }

    /// The host kernel (no VRF support needed) dumps its TCP sockets: a listener made here is found,
    /// with this process as its owner, unbound.
    #[test]
    fn finds_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let inv = sockets().unwrap();
        let s = inv
            .sockets
            .iter()
            .find(|s| s.kind == Kind::Tcp && s.local.port() == port && s.is_listening())
            .expect("our listener in the dump");
        assert_eq!(s.binding, Binding::Unbound);
        assert_eq!(s.state_name(), "LISTEN");
        assert!(
            s.owners.iter().any(|o| o.pid == std::process::id()),
            "{s:?}"
        );
        assert!(inv.of_process(std::process::id()).any(|x| x == s));
        let mine = sockets_of_process(std::process::id()).unwrap();
        assert!(mine.sockets.iter().any(|x| x == s));
        assert!(
            mine.sockets
                .iter()
                .all(|x| x.owners.iter().all(|o| o.pid == std::process::id()))
        );
    }
}
