//! vrf-socket on real VRFs: lookup, and the socket matrix of the kernel's own VRF selftest
//! (tools/testing/selftests/net/fcnal-test.sh): servers bound to the VRF, to the enslaved device, or
//! unbound under `tcp_l3mdev_accept`/`udp_l3mdev_accept` 0 and 1; clients bound to the VRF or the device;
//! IPv4 and IPv6. Both VRFs use the same addresses, so a packet in the wrong VRF reaches the wrong peer,
//! and every answer says which peer (or which VRF) produced it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::netns::{self, Server};
use vrf_lab::topology::IcmpCounters;
use vrf_lab::{PEER_V4, PEER_V6, ROUTER_V4, ROUTER_V6, Site, Topology};
use vrf_socket::{AddressFamily, VrfMap, pktinfo};
use vrf_socket::{ConnectOptions, IcmpKind, Vrf, VrfError, bind_to_index, bound_index, bound_vrf};

vrf_lab::lab_tests! {
    lookup_list_slaves_and_errors,
    tcp_server_matrix_v4 = || tcp_server_matrix(V4),
    tcp_server_matrix_v6 = || tcp_server_matrix(V6),
    tcp_client_matrix_v4 = || tcp_client_matrix(V4),
    tcp_client_matrix_v6 = || tcp_client_matrix(V6),
    tcp_local_v4 = || tcp_local(V4),
    tcp_local_v6 = || tcp_local(V6),
    bind_addresses_v4 = || bind_addresses(V4),
    bind_addresses_v6 = || bind_addresses(V6),
    tcp_same_port_in_both_vrfs_v4 = || tcp_same_port_in_both_vrfs(V4),
    tcp_same_port_in_both_vrfs_v6 = || tcp_same_port_in_both_vrfs(V6),
    udp_server_matrix_v4 = || udp_server_matrix(V4),
    udp_server_matrix_v6 = || udp_server_matrix(V6),
    udp_client_matrix_v4 = || udp_client_matrix(V4),
    udp_client_matrix_v6 = || udp_client_matrix(V6),
    icmp_raw_and_datagram_v4 = || icmp_raw_and_datagram(V4),
    icmp_raw_and_datagram_v6 = || icmp_raw_and_datagram(V6),
    tokio_connect_listen_and_pktinfo_v4 = || tokio_connect_listen_and_pktinfo(V4),
    tokio_connect_listen_and_pktinfo_v6 = || tokio_connect_listen_and_pktinfo(V6),
}

/// The addresses of one IP family in the topology.
#[derive(Debug, Clone, Copy)]
struct Fam {
    router: &'static str,
    peer: &'static str,
    any: &'static str,
    v6: bool,
    family: AddressFamily,
}

const V4: Fam = Fam {
    router: ROUTER_V4,
    peer: PEER_V4,
    any: "0.0.0.0",
    v6: false,
    family: AddressFamily::Ipv4,
};
const V6: Fam = Fam {
    router: ROUTER_V6,
    peer: PEER_V6,
    any: "::",
    v6: true,
    family: AddressFamily::Ipv6,
};
const PORT: u16 = 12345;
const WAIT: Duration = Duration::from_secs(3);

impl Fam {
    fn sa(self, ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("address"), port)
    }
    fn router_addr(self) -> SocketAddr {
        self.sa(self.router, PORT)
    }
    fn peer_addr(self) -> SocketAddr {
        self.sa(self.peer, PORT)
    }
    fn any_addr(self, port: u16) -> SocketAddr {
        self.sa(self.any, port)
    }
}

/// How an attempt ended, in the terms of fcnal-test.sh (0 = ok, 1 = error, 2 = timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Reached the other side; what it answered.
    Ok(String),
    /// ECONNREFUSED (a RST, or an ICMP port unreachable for UDP).
    Refused,
    /// ENETUNREACH / EHOSTUNREACH: no route.
    Unreachable,
    /// Nothing came back in time.
    Timeout,
    /// Any other error.
    Error(String),
}

fn outcome(r: io::Result<String>) -> Outcome {
    match r {
        Ok(s) => Outcome::Ok(s),
        Err(e) => match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => Outcome::Refused,
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => Outcome::Unreachable,
            Some(libc::ETIMEDOUT | libc::EAGAIN) => Outcome::Timeout,
            _ if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {
                Outcome::Timeout
            }
            _ => Outcome::Error(e.to_string()),
        },
    }
}

fn ok(s: impl Into<String>) -> Outcome {
    Outcome::Ok(s.into())
}

/// Where a server or client socket is scoped: the three bindings of the selftest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bind {
    Unbound,
    Vrf,
    Dev,
}

/// Binds a fresh socket as `bind` says, for `site` (in the router namespace, the calling thread's).
fn scope(socket: &socket2::Socket, bind: Bind, site: &Site) -> io::Result<()> {
    match bind {
        Bind::Unbound => Ok(()),
        Bind::Vrf => vrf_socket::bind_to_vrf(socket, &Vrf::by_name(&site.vrf)?),
        Bind::Dev => bind_to_index(socket, ifindex(&site.dev)?),
    }
}

fn ifindex(dev: &str) -> io::Result<NonZeroU32> {
    let i = nix::net::if_::if_nametoindex(dev)?;
    NonZeroU32::new(i).ok_or_else(|| io::Error::other(format!("{dev} has ifindex 0")))
}

fn socket_for(addr: SocketAddr, ty: socket2::Type) -> io::Result<socket2::Socket> {
    socket2::Socket::new(socket2::Domain::for_address(addr), ty, None)
}

fn tcp_listener(bind: Bind, site: &Site, addr: SocketAddr) -> io::Result<TcpListener> {
    let s = socket_for(addr, socket2::Type::STREAM)?;
    scope(&s, bind, site)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(64)?;
    Ok(s.into())
}

/// What a router-side server reports about each accepted connection: the VRF it arrived in (per
/// `bound_vrf`) and the device the accepted socket is bound to.
fn describe_scope(conn: &TcpStream) -> String {
    let vrf = match bound_vrf(conn) {
        Ok(Some(v)) => v.name().to_string(),
        Ok(None) => "default".into(),
        Err(e) => format!("error {e}"),
    };
    let dev = match bound_index(conn) {
        Ok(Some(i)) => name_of(i.get()),
        Ok(None) => "unbound".into(),
        Err(e) => format!("error {e}"),
    };
    format!("{vrf}/{dev}")
}

fn name_of(index: u32) -> String {
    match nix::net::if_::if_indextoname(index) {
        Ok(name) => name.to_string_lossy().into_owned(),
        Err(_) => format!("#{index}"),
    }
}

/// A TCP server in the router namespace, bound as `bind` says for `site`, answering `describe_scope`.
fn router_tcp_server(t: &Topology, bind: Bind, site: &Site, addr: SocketAddr) -> Result<Server> {
    let site = site.clone();
    netns::tcp_server(
        &t.router_ns,
        move || Ok(tcp_listener(bind, &site, addr)?),
        |mut conn, _| {
            let _ = conn.write_all(describe_scope(&conn).as_bytes());
        },
    )
}

/// A TCP server in `site`'s peer namespace that answers with the peer's name and the client's address.
fn peer_identity_server(site: &Site, fam: Fam, port: u16) -> Result<Server> {
    let who = peer_name(site);
    netns::tcp_server(
        &site.peer_ns,
        move || Ok(TcpListener::bind(fam.any_addr(port))?),
        move |mut conn, from| {
            let _ = conn.write_all(format!("{who} {}", from.ip()).as_bytes());
        },
    )
}

fn peer_name(site: &Site) -> String {
    format!("peer-of-{}", site.vrf)
}

/// Reads everything the server sends.
fn read_all(mut conn: TcpStream) -> io::Result<String> {
    conn.set_read_timeout(Some(WAIT))?;
    let mut s = String::new();
    conn.read_to_string(&mut s)?;
    Ok(s)
}

/// Connects from a thread in namespace `ns`, with `make` creating the socket there, and reads the answer.
fn connect_from(
    ns: &str,
    make: impl FnOnce() -> io::Result<TcpStream> + Send + 'static,
) -> Result<Outcome> {
    netns::run_in(ns, move || Ok(outcome(make().and_then(read_all))))
}

fn plain_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    TcpStream::connect_timeout(&addr, WAIT)
}

fn expect(what: &str, got: Outcome, want: Outcome) -> Result<()> {
    ensure!(got == want, "{what}: got {got:?}, expected {want:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------

fn lookup_list_slaves_and_errors() -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (t.blue.clone(), t.red.clone());
    netns::run_in(&t.router_ns, move || {
        let b = Vrf::by_name(&blue.vrf)?;
        ensure!(
            b.name() == blue.vrf && b.table() == blue.table && b.is_up(),
            "{b:?}"
        );
        ensure!(
            Vrf::by_index(b.index())? == b,
            "by_index disagrees with by_name"
        );
        let names: Vec<String> = Vrf::list()?.iter().map(|v| v.name().to_string()).collect();
        ensure!(
            names == [blue.vrf.clone(), red.vrf.clone()],
            "list: {names:?}"
        );
        let slaves = b.slaves()?;
        ensure!(
            slaves.len() == 1
                && slaves[0].name == blue.dev
                && slaves[0].kind.as_deref() == Some("veth"),
            "{slaves:?}"
        );
        ensure!(
            Vrf::of_device(slaves[0].index)?.as_ref() == Some(&b),
            "of_device(port) is not its VRF"
        );
        ensure!(
            Vrf::of_device(b.index())?.as_ref() == Some(&b),
            "of_device(vrf) is not itself"
        );
        ensure!(Vrf::of_device("lo")?.is_none(), "lo is in the default VRF");
        match Vrf::by_name(&blue.dev) {
            Err(e @ VrfError::NotAVrf { .. }) => {
                let msg = e.to_string();
                ensure!(
                    msg.contains("veth device") && msg.contains(&blue.vrf),
                    "message: {msg}"
                );
            }
            other => bail!("by_name(port) gave {other:?}"),
        }
        ensure!(matches!(
            Vrf::by_name("nosuchvrf"),
            Err(VrfError::NotFound(_))
        ));
        ensure!(matches!(
            Vrf::by_name("bad name"),
            Err(VrfError::InvalidName(_))
        ));
        let down = std::process::Command::new("ip")
            .args(["link", "set", &red.vrf, "down"])
            .status()?;
        ensure!(down.success());
        let r = Vrf::by_name(&red.vrf)?;
        ensure!(!r.is_up(), "{} should be down", red.vrf);
        let e = r.ensure_up().unwrap_err().to_string();
        ensure!(
            e == format!(
                "VRF \"{0}\" is down (bring it up: ip link set {0} up)",
                red.vrf
            ),
            "{e}"
        );
        Ok(())
    })
}

/// A port of its own for each case of a server matrix: while another test forks a helper program, the
/// child briefly holds copies of every open socket (until its exec closes them), so a port just closed
/// can still be bound, or answer with a reset, for a moment.
fn case_port(accept: &str, bind: Bind) -> u16 {
    PORT + 100 + 10 * u16::from(accept == "1") + bind as u16
}

/// fcnal-test "ipv4_tcp/ipv6_tcp, VRF": a client in a peer namespace connects to a server in the router.
fn tcp_server_matrix(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (&t.blue, &t.red);
    let key = "net.ipv4.tcp_l3mdev_accept"; // also governs IPv6
    for accept in ["0", "1"] {
        t.router_sysctl(key, accept)?;
        for bind in [Bind::Unbound, Bind::Vrf, Bind::Dev] {
            let port = case_port(accept, bind);
            let server = router_tcp_server(&t, bind, blue, fam.any_addr(port))?;
            let to = fam.sa(fam.router, port);
            let from_blue = connect_from(&blue.peer_ns, move || plain_connect(to))?;
            let from_red = connect_from(&red.peer_ns, move || plain_connect(to))?;
            drop(server);
            let (want_blue, want_red) = match (bind, accept) {
                // A global server sees VRF traffic only with tcp_l3mdev_accept=1; the child socket is bound
                // to the VRF the SYN came in through.
                (Bind::Unbound, "0") => (Outcome::Refused, Outcome::Refused),
                (Bind::Unbound, _) => (
                    ok(format!("{}/{}", blue.vrf, blue.vrf)),
                    ok(format!("{}/{}", red.vrf, red.vrf)),
                ),
                (Bind::Vrf, _) => (ok(format!("{}/{}", blue.vrf, blue.vrf)), Outcome::Refused),
                (Bind::Dev, _) => (ok(format!("{}/{}", blue.vrf, blue.dev)), Outcome::Refused),
            };
            expect(
                &format!("{bind:?} server, l3mdev_accept={accept}, blue peer"),
                from_blue,
                want_blue,
            )?;
            expect(
                &format!("{bind:?} server, l3mdev_accept={accept}, red peer"),
                from_red,
                want_red,
            )?;
        }
        // No server at all.
        let none = connect_from(&blue.peer_ns, move || plain_connect(fam.router_addr()))?;
        expect(
            &format!("no server, l3mdev_accept={accept}"),
            none,
            Outcome::Refused,
        )?;
    }
    Ok(())
}

/// Router clients bound to the VRF or its device reach their own peer; unbound ones reach nothing.
fn tcp_client_matrix(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    let _servers = [
        peer_identity_server(&t.blue, fam, PORT)?,
        peer_identity_server(&t.red, fam, PORT)?,
    ];
    for site in t.sites() {
        let vrf_name = site.vrf.clone();
        let got = connect_from(&t.router_ns, move || {
            Vrf::by_name(&vrf_name)?.tcp_connect(fam.peer_addr())
        })?;
        expect(
            &format!("VRF client in {}", site.vrf),
            got,
            ok(format!("{} {}", peer_name(site), fam.router)),
        )?;

        let s = site.clone();
        let got = connect_from(&t.router_ns, move || {
            let sock = socket_for(fam.peer_addr(), socket2::Type::STREAM)?;
            scope(&sock, Bind::Dev, &s)?;
            sock.connect(&fam.peer_addr().into())?;
            Ok(sock.into())
        })?;
        expect(
            &format!("device client on {}", site.dev),
            got,
            ok(format!("{} {}", peer_name(site), fam.router)),
        )?;

        let vrf_name = site.vrf.clone();
        let got = connect_from(&t.router_ns, move || {
            let opts = ConnectOptions::default()
                .source(fam.router.parse().unwrap())
                .timeout(WAIT);
            Vrf::by_name(&vrf_name)?.tcp_connect_with(fam.peer_addr(), &opts)
        })?;
        expect(
            &format!("VRF client in {} with source address", site.vrf),
            got,
            ok(format!("{} {}", peer_name(site), fam.router)),
        )?;

        let vrf_name = site.vrf.clone();
        let got = connect_from(&t.router_ns, move || {
            Vrf::by_name(&vrf_name)?.tcp_connect(fam.sa(fam.peer, PORT + 1))
        })?;
        expect(
            &format!("VRF client in {}, no server", site.vrf),
            got,
            Outcome::Refused,
        )?;
    }
    let got = connect_from(&t.router_ns, move || plain_connect(fam.peer_addr()))?;
    expect("unbound client in the router", got, Outcome::Unreachable)?;
    // Nobody owns .3/::3: neighbour resolution takes seconds, so a short connect timeout fires first.
    let blue = t.blue.vrf.clone();
    let nobody = if fam.v6 { "fd00:99::3" } else { "10.99.0.3" };
    let got = connect_from(&t.router_ns, move || {
        let opts = ConnectOptions::default().timeout(Duration::from_millis(300));
        Vrf::by_name(&blue)?.tcp_connect_with(fam.sa(nobody, PORT), &opts)
    })?;
    expect("connect timeout", got, Outcome::Timeout)?;
    Ok(())
}

/// fcnal-test's local cases: server and client both in the router.
fn tcp_local(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    t.router_sysctl("net.ipv4.tcp_l3mdev_accept", "1")?;
    let (blue, red) = (t.blue.clone(), t.red.clone());
    for server_bind in [Bind::Vrf, Bind::Dev] {
        let server = router_tcp_server(&t, server_bind, &blue, fam.router_addr())?;
        let want = ok(match server_bind {
            Bind::Dev => format!("{}/{}", blue.vrf, blue.dev),
            _ => format!("{}/{}", blue.vrf, blue.vrf),
        });
        for client_bind in [Bind::Vrf, Bind::Dev] {
            let b = blue.clone();
            let got = connect_from(&t.router_ns, move || {
                let s = socket_for(fam.router_addr(), socket2::Type::STREAM)?;
                scope(&s, client_bind, &b)?;
                s.connect(&fam.router_addr().into())?;
                Ok(s.into())
            })?;
            expect(
                &format!("local {server_bind:?} server, {client_bind:?} client"),
                got,
                want.clone(),
            )?;
        }
        // A client outside the VRF, or in the other VRF, does not reach it.
        let got = connect_from(&t.router_ns, move || plain_connect(fam.router_addr()))?;
        ensure!(
            !matches!(got, Outcome::Ok(_) | Outcome::Timeout),
            "local {server_bind:?} server, unbound client: {got:?}"
        );
        let r = red.vrf.clone();
        let got = connect_from(&t.router_ns, move || {
            Vrf::by_name(&r)?.tcp_connect(fam.router_addr())
        })?;
        ensure!(
            !matches!(got, Outcome::Ok(_) | Outcome::Timeout),
            "local {server_bind:?} server in blue, red client: {got:?}"
        );
        drop(server);
    }
    Ok(())
}

/// fcnal-test "ipv4_bind/ipv6_bind": an address that lives in a VRF can be bound by a socket scoped to
/// that VRF (or its port), not by an unbound one (the address is not in the main table's local routes).
fn bind_addresses(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.clone();
    netns::run_in(&t.router_ns, move || {
        for bind in [Bind::Unbound, Bind::Vrf, Bind::Dev] {
            for ty in [socket2::Type::STREAM, socket2::Type::DGRAM] {
                let s = socket_for(fam.router_addr(), ty)?;
                scope(&s, bind, &blue)?;
                let r = s.bind(&fam.router_addr().into());
                let want_ok = bind != Bind::Unbound;
                ensure!(
                    r.is_ok() == want_ok,
                    "{bind:?} {ty:?} socket binding {}: {r:?}",
                    fam.router
                );
                if let Err(e) = r {
                    ensure!(e.raw_os_error() == Some(libc::EADDRNOTAVAIL), "{e}");
                }
            }
        }
        // The library's listener takes the VRF's own address.
        let l = Vrf::by_name(&blue.vrf)?.tcp_listen(fam.router_addr())?;
        ensure!(l.local_addr()? == fam.router_addr());
        Ok(())
    })
}

/// One listener per VRF on the same address and port (FRR's pain point): no EADDRINUSE, and each VRF's
/// clients reach their own.
fn tcp_same_port_in_both_vrfs(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    let mut servers = Vec::new();
    for site in t.sites() {
        let vrf = site.vrf.clone();
        let tag = format!("listener-of-{}", site.vrf);
        servers.push(netns::tcp_server(
            &t.router_ns,
            move || Ok(Vrf::by_name(&vrf)?.tcp_listen(fam.any_addr(PORT))?),
            move |mut c, _| {
                let _ = c.write_all(format!("{tag} {}", describe_scope(&c)).as_bytes());
            },
        )?);
    }
    for site in t.sites() {
        let got = connect_from(&site.peer_ns, move || plain_connect(fam.router_addr()))?;
        expect(
            &format!("peer of {}", site.vrf),
            got,
            ok(format!("listener-of-{0} {0}/{0}", site.vrf)),
        )?;
    }
    Ok(())
}

// --- UDP ------------------------------------------------------------------------------------------

/// Sends `msg` from a connected UDP socket and waits for one reply.
fn udp_ask(sock: UdpSocket, to: SocketAddr, msg: &[u8]) -> io::Result<String> {
    sock.set_read_timeout(Some(WAIT))?;
    sock.connect(to)?;
    sock.send(msg)?;
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn udp_ask_from(
    ns: &str,
    to: SocketAddr,
    make: impl FnOnce() -> io::Result<UdpSocket> + Send + 'static,
) -> Result<Outcome> {
    netns::run_in(ns, move || {
        Ok(outcome(make().and_then(|s| udp_ask(s, to, b"hello"))))
    })
}

/// The name of the VRF of ingress device `ifindex` (as pktinfo reports it), `default`, or the error.
fn vrf_label(vrfs: &mut VrfMap, ifindex: Option<NonZeroU32>) -> String {
    match vrfs.vrf_of(ifindex) {
        Ok(Some(v)) => v.name().to_string(),
        Ok(None) => "default".into(),
        Err(e) => format!("error {e}"),
    }
}

/// A pktinfo UDP server in the router, bound as `bind` says for `site`: it answers each datagram with
/// `<vrf>/<ingress device>` through the device the datagram came in on.
fn router_pktinfo_server(
    t: &Topology,
    bind: Bind,
    site: &Site,
    addr: SocketAddr,
) -> Result<Server> {
    let site = site.clone();
    let mut vrfs = VrfMap::default();
    let mut buf = [0u8; 2048];
    netns::udp_server(
        &t.router_ns,
        move || {
            let s = socket_for(addr, socket2::Type::DGRAM)?;
            scope(&s, bind, &site)?;
            s.bind(&addr.into())?;
            let u: UdpSocket = s.into();
            pktinfo::enable(&u)?;
            Ok(u)
        },
        move |socket| {
            let Ok(meta) = pktinfo::recv(socket, &mut buf) else {
                return;
            };
            let dev = meta
                .ifindex
                .map_or("none".to_string(), |i| name_of(i.get()));
            let vrf = vrf_label(&mut vrfs, meta.ifindex);
            let _ = pktinfo::send(socket, &meta.reply(format!("{vrf}/{dev}").as_bytes()));
        },
    )
}

/// fcnal-test "ipv4_udp/ipv6_udp, VRF": a peer sends to a server in the router.
fn udp_server_matrix(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (&t.blue, &t.red);
    for accept in ["0", "1"] {
        t.router_sysctl("net.ipv4.udp_l3mdev_accept", accept)?;
        for bind in [Bind::Unbound, Bind::Vrf, Bind::Dev] {
            let port = case_port(accept, bind);
            let addr = fam.sa(fam.router, port);
            let _server = router_pktinfo_server(&t, bind, blue, fam.any_addr(port))?;
            let from_blue = udp_ask_from(&blue.peer_ns, addr, move || {
                UdpSocket::bind(fam.any_addr(0))
            })?;
            let from_red =
                udp_ask_from(&red.peer_ns, addr, move || UdpSocket::bind(fam.any_addr(0)))?;
            // pktinfo reports the enslaved port as the ingress device; its VRF comes from its master.
            let (want_blue, want_red) = match (bind, accept) {
                (Bind::Unbound, "0") => (Outcome::Refused, Outcome::Refused),
                (Bind::Unbound, _) => (
                    ok(format!("{}/{}", blue.vrf, blue.dev)),
                    ok(format!("{}/{}", red.vrf, red.dev)),
                ),
                (_, _) => (ok(format!("{}/{}", blue.vrf, blue.dev)), Outcome::Refused),
            };
            expect(
                &format!("{bind:?} UDP server, l3mdev_accept={accept}, blue peer"),
                from_blue,
                want_blue,
            )?;
            expect(
                &format!("{bind:?} UDP server, l3mdev_accept={accept}, red peer"),
                from_red,
                want_red,
            )?;
        }
    }
    Ok(())
}

/// An echo server in a peer namespace that answers with the peer's name.
fn peer_udp_server(site: &Site, fam: Fam) -> Result<Server> {
    let who = peer_name(site);
    netns::udp_server(
        &site.peer_ns,
        move || Ok(UdpSocket::bind(fam.any_addr(PORT))?),
        move |s| {
            let mut buf = [0u8; 512];
            if let Ok((_, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(format!("{who} {}", from.ip()).as_bytes(), from);
            }
        },
    )
}

fn udp_client_matrix(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    let _servers = [
        peer_udp_server(&t.blue, fam)?,
        peer_udp_server(&t.red, fam)?,
    ];
    for site in t.sites() {
        let want = ok(format!("{} {}", peer_name(site), fam.router));
        let vrf = site.vrf.clone();
        let got = udp_ask_from(&t.router_ns, fam.peer_addr(), move || {
            Vrf::by_name(&vrf)?.udp_bind(fam.any_addr(0))
        })?;
        expect(
            &format!("VRF UDP client in {}", site.vrf),
            got,
            want.clone(),
        )?;
        let s = site.clone();
        let got = udp_ask_from(&t.router_ns, fam.peer_addr(), move || {
            let sock = socket_for(fam.peer_addr(), socket2::Type::DGRAM)?;
            scope(&sock, Bind::Dev, &s)?;
            sock.bind(&fam.any_addr(0).into())?;
            Ok(sock.into())
        })?;
        expect(&format!("device UDP client on {}", site.dev), got, want)?;
        let vrf = site.vrf.clone();
        let got = udp_ask_from(&t.router_ns, fam.sa(fam.peer, PORT + 1), move || {
            Vrf::by_name(&vrf)?.udp_bind(fam.any_addr(0))
        })?;
        expect(
            &format!("VRF UDP client in {}, no server", site.vrf),
            got,
            Outcome::Refused,
        )?;
    }
    let got = udp_ask_from(&t.router_ns, fam.peer_addr(), move || {
        UdpSocket::bind(fam.any_addr(0))
    })?;
    expect(
        "unbound UDP client in the router",
        got,
        Outcome::Unreachable,
    )?;
    Ok(())
}

// --- ICMP -----------------------------------------------------------------------------------------

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends one echo request from an ICMP socket of `kind` in `site`'s VRF and waits for the reply.
fn ping_once(site: &Site, fam: Fam, kind: IcmpKind) -> Result<()> {
    let vrf = Vrf::by_name(&site.vrf)?;
    let icmp = vrf.icmp_socket_of(fam.family, kind)?;
    let s = icmp.socket;
    s.set_read_timeout(Some(WAIT))?;
    let (req_type, reply_type) = if fam.v6 { (128u8, 129u8) } else { (8, 0) };
    let mut pkt = vec![req_type, 0, 0, 0, 0x12, 0x34, 0, 1];
    pkt.extend_from_slice(b"vrf-toolkit");
    if !fam.v6 {
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
    }
    let dst: SocketAddr = fam.sa(fam.peer, 0);
    s.send_to(&pkt, &dst.into())?;
    let mut buf = [0u8; 1500];
    loop {
        let n = std::io::Read::read(&mut &s, &mut buf)?;
        let data = &buf[..n];
        // A raw IPv4 socket receives the IP header too.
        let icmp = if !fam.v6 && kind == IcmpKind::Raw {
            &data[usize::from(data[0] & 0x0f) * 4..]
        } else {
            data
        };
        if icmp.first() == Some(&reply_type) && icmp.ends_with(b"vrf-toolkit") {
            return Ok(());
        }
    }
}

fn icmp_raw_and_datagram(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    // The kernel default ping_group_range "1 0" allows no datagram socket: icmp_socket falls back to raw.
    let (blue, red) = (t.blue.clone(), t.red.clone());
    let kind = netns::run_in(&t.router_ns, move || {
        Ok(Vrf::by_name(&blue.vrf)?.icmp_socket(fam.family)?.kind)
    })?;
    ensure!(
        kind == IcmpKind::Raw,
        "with the default ping_group_range: {kind:?}"
    );
    t.router_sysctl("net.ipv4.ping_group_range", "0 2147483647")?;
    let blue = t.blue.clone();
    let kind = netns::run_in(&t.router_ns, move || {
        Ok(Vrf::by_name(&blue.vrf)?.icmp_socket(fam.family)?.kind)
    })?;
    ensure!(
        kind == IcmpKind::Datagram,
        "with ping_group_range widened: {kind:?}"
    );
    for kind in [IcmpKind::Raw, IcmpKind::Datagram] {
        for (i, site) in [&t.blue, &t.red].into_iter().enumerate() {
            let before = [
                IcmpCounters::read(&t.blue.peer_ns)?,
                IcmpCounters::read(&red.peer_ns)?,
            ];
            let s = site.clone();
            netns::run_in(&t.router_ns, move || ping_once(&s, fam, kind))
                .with_context(|| format!("{kind:?} ping in {}", site.vrf))?;
            let after = [
                IcmpCounters::read(&t.blue.peer_ns)?,
                IcmpCounters::read(&red.peer_ns)?,
            ];
            let echos = |c: &IcmpCounters| if fam.v6 { c.in_echos_v6 } else { c.in_echos_v4 };
            ensure!(
                echos(&after[i]) == echos(&before[i]) + 1,
                "{kind:?} ping in {} did not reach its peer",
                site.vrf
            );
            ensure!(
                echos(&after[1 - i]) == echos(&before[1 - i]),
                "{kind:?} ping in {} reached the other peer",
                site.vrf
            );
        }
    }
    Ok(())
}

// --- tokio ----------------------------------------------------------------------------------------

fn tokio_connect_listen_and_pktinfo(fam: Fam) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Topology::new()?;
    let _servers = [
        peer_identity_server(&t.blue, fam, PORT)?,
        peer_identity_server(&t.red, fam, PORT)?,
    ];
    let sites: Vec<Site> = t.sites().into_iter().cloned().collect();
    let router_ns = t.router_ns.clone();
    // Async client in each VRF, and an async listener the peers connect to.
    netns::run_in(&router_ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            for site in &sites {
                let vrf = Vrf::by_name(&site.vrf)?;
                let opts = ConnectOptions::default().timeout(WAIT);
                let mut c = vrf_socket::tokio::connect(&vrf, fam.peer_addr(), &opts).await?;
                let mut s = String::new();
                c.read_to_string(&mut s).await?;
                ensure!(
                    s == format!("{} {}", peer_name(site), fam.router),
                    "tokio client in {}: {s:?}",
                    site.vrf
                );
            }
            let blue = Vrf::by_name(&sites[0].vrf)?;
            let listener = vrf_socket::tokio::listen(&blue, fam.any_addr(PORT + 2))?;
            let peer_ns = sites[0].peer_ns.clone();
            let client = std::thread::spawn(move || {
                connect_from(&peer_ns, move || {
                    plain_connect(fam.sa(fam.router, PORT + 2))
                })
            });
            let (mut conn, _) = listener.accept().await?;
            let scope = bound_vrf(&conn)?.map(|v| v.name().to_string());
            conn.write_all(b"tokio-listener").await?;
            drop(conn);
            let got = client
                .join()
                .map_err(|_| anyhow::anyhow!("client panicked"))??;
            expect("peer to tokio listener", got, ok("tokio-listener"))?;
            ensure!(
                scope.as_deref() == Some(blue.name()),
                "accepted socket scope {scope:?}"
            );
            Ok(())
        })
    })?;
    // Async pktinfo: an unbound socket answers one datagram from each peer with the VRF it came in.
    t.router_sysctl("net.ipv4.udp_l3mdev_accept", "1")?;
    let addr = fam.sa(fam.router, PORT + 4);
    let router_ns = t.router_ns.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || -> Result<()> {
        netns::enter(&router_ns)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let sock =
                vrf_socket::tokio::PktInfoSocket::new(UdpSocket::bind(fam.any_addr(PORT + 4))?)?;
            tx.send(()).ok();
            let mut vrfs = VrfMap::default();
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let meta = tokio::time::timeout(WAIT, sock.recv(&mut buf)).await??;
                let reply = vrf_label(&mut vrfs, meta.ifindex);
                sock.send(&meta.reply(reply.as_bytes())).await?;
            }
            Ok(())
        })
    });
    rx.recv_timeout(WAIT)
        .context("async pktinfo server did not start")?;
    for site in t.sites() {
        let got = udp_ask_from(&site.peer_ns, addr, move || {
            UdpSocket::bind(fam.any_addr(0))
        })?;
        expect(
            &format!("async pktinfo reply to peer of {}", site.vrf),
            got,
            ok(site.vrf.clone()),
        )?;
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    Ok(())
}
