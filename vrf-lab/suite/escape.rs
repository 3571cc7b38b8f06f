//! Can a program run by vrf-exec send packets out of its VRF? An "outside" namespace is linked to the
//! router's **default** VRF (10.98.0.0/24, fd00:98::/64, fe80::98:2), with UDP listeners and ICMP
//! counters; an attacker, a plain python3 script that knows nothing of vrf-exec, tries every way a socket
//! can pick its output device (control messages, socket options, scope ids, re-binding, leaving the
//! cgroup). Under `--user` nothing may arrive there while traffic inside the VRF still works; as root,
//! and in the seccomp mode (no egress guard), what the README says. Also: what the egress hook sees, devices enslaved after a launch, and hooks
//! that only look like the sock-create binder.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::cmd::{self, Run};
use vrf_lab::dnsmasq::Dnsmasq;
use vrf_lab::netns::{self, Server};
use vrf_lab::topology::{IcmpCounters, ip_batch};
use vrf_lab::{TempDir, Topology};

/// vrf-exec's own bpf(2) layer, to attach programs of our choosing in the tests.
#[path = "../../vrf-exec/src/sys.rs"]
#[allow(dead_code)]
mod bpf_sys;

use bpf_sys::Insn;

vrf_lab::lab_tests! {
    egress_hook_sees_the_port_for_the_peer_and_the_vrf_for_local,
    root_can_still_leave_the_vrf,
    confined_command_cannot_leave_the_vrf = || confined_command_cannot_leave_the_vrf(&["--user", "nobody"]),
    confined_command_with_group_cannot_leave_the_vrf =
        || confined_command_cannot_leave_the_vrf(&["--user", "nobody", "--group", "nogroup"]),
    port_enslaved_after_the_launch_is_refused_until_the_next_launch,
    look_alike_hooks_are_replaced,
    seccomp_mode_has_no_egress_guard,
}

/// The UDP port every listener here uses.
const PORT: u16 = 9898;
/// How long a datagram may take to arrive, and how long the tests wait to be sure none does.
const ARRIVAL: Duration = Duration::from_secs(2);
const ALL_GROUPS: &str = "0 2147483647";

/// The attacker: `attacker.py OUT_DEV OUT_IFINDEX PORT STEP…`, one line of output per step,
/// `<step> <result>` where the result is `sent`, `ok …` (an answer came back), `ready`, or
/// `refused at <stage>: <ERRNO>`. A step `wait` reads a line from stdin first. The payload of each
/// datagram is the step's name, so a listener knows which way it came.
const ATTACKER: &str = r#"
import errno, os, socket, struct, sys

dev, idx, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
OUT4, OUT6, OUT_LL, LATE4 = "10.98.0.2", "fd00:98::2", "fe80::98:2", "10.97.0.2"
PEER4, PEER6, OWN4, OWN6 = "10.99.0.2", "fd00:99::2", "10.99.0.1", "fd00:99::1"
IP_PKTINFO, IP_UNICAST_IF, IPV6_UNICAST_IF, SO_BINDTOIFINDEX = 8, 50, 76, 62

class Refused(Exception):
    pass

def stage(name, f, *a):
    try:
        return f(*a)
    except OSError as e:
        raise Refused("refused at %s: %s" % (name, errno.errorcode.get(e.errno, e.errno)))

def udp(family=socket.AF_INET):
    return socket.socket(family, socket.SOCK_DGRAM)

def send(s, step, dst):
    stage("send", s.sendto, step.encode(), dst)
    return "sent"

def answer(s):
    s.settimeout(2)
    return "ok " + stage("recv", s.recv, 2048).decode(errors="replace")

def pktinfo4(step):
    cm = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", idx, bytes(4), bytes(4)))]
    stage("sendmsg", udp().sendmsg, [step.encode()], cm, 0, (OUT4, port))
    return "sent"

def icmp_pktinfo4(step):
    s = stage("socket", socket.socket, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    cm = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", idx, bytes(4), bytes(4)))]
    echo = struct.pack("!BBHHH", 8, 0, 0, 0, 1) + step.encode()
    stage("sendmsg", s.sendmsg, [echo], cm, 0, (OUT4, 0))
    return "sent"

def unicast_if4(step):
    s = udp()
    stage("setsockopt", s.setsockopt, socket.IPPROTO_IP, IP_UNICAST_IF, struct.pack("!I", idx))
    return send(s, step, (OUT4, port))

def multicast_if4(step):
    s = udp()
    mreqn = struct.pack("4s4si", bytes(4), bytes(4), idx)
    stage("setsockopt", s.setsockopt, socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
    return send(s, step, ("239.1.2.3", port))

def pktinfo6(step):
    cm = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, struct.pack("16si", bytes(16), idx))]
    stage("sendmsg", udp(socket.AF_INET6).sendmsg, [step.encode()], cm, 0, (OUT6, port))
    return "sent"

def unicast_if6(step):
    s = udp(socket.AF_INET6)
    stage("setsockopt", s.setsockopt, socket.IPPROTO_IPV6, IPV6_UNICAST_IF, struct.pack("!I", idx))
    return send(s, step, (OUT6, port))

def multicast_if6(step):
    s = udp(socket.AF_INET6)
    stage("setsockopt", s.setsockopt, socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    return send(s, step, ("ff02::4242", port))

def scope_id6(step):
    return send(udp(socket.AF_INET6), step, (OUT_LL, port, 0, idx))

def rebind(step):
    s = udp()
    stage("setsockopt", s.setsockopt, socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    return send(s, step, (OUT4, port))

def bindtoifindex(step):
    s = udp()
    stage("setsockopt", s.setsockopt, socket.SOL_SOCKET, SO_BINDTOIFINDEX, idx)
    return send(s, step, (OUT4, port))

def leave_cgroup(step):
    with open("/sys/fs/cgroup/cgroup.procs", "a") as f:
        stage("cgroup.procs", f.write, str(os.getpid()))
    return send(udp(), step, (OUT4, port))

def late(step):
    return send(udp(), step, (LATE4, port))

def peer_udp4(step):
    s = udp()
    send(s, step, (PEER4, port))
    return answer(s)

def peer_udp6(step):
    s = udp(socket.AF_INET6)
    send(s, step, (PEER6, port))
    return answer(s)

def peer_icmp(family, proto, kind, dst):
    s = stage("socket", socket.socket, family, socket.SOCK_DGRAM, proto)
    stage("send", s.sendto, struct.pack("!BBHHH", kind, 0, 0, 0, 1) + b"x", (dst, 0))
    s.settimeout(2)
    reply = stage("recv", s.recv, 2048)
    return "ok type %d" % reply[0]

def peer_icmp4(step):
    return peer_icmp(socket.AF_INET, socket.IPPROTO_ICMP, 8, PEER4)

def peer_icmp6(step):
    return peer_icmp(socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, PEER6)

def peer_tcp(family, dst):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    stage("connect", s.connect, (dst, port))
    return answer(s)

def peer_tcp4(step):
    return peer_tcp(socket.AF_INET, PEER4)

def peer_tcp6(step):
    return peer_tcp(socket.AF_INET6, PEER6)

def own(family, addr, step):
    server = udp(family)
    stage("bind", server.bind, (addr, port + 1))
    send(udp(family), step, (addr, port + 1))
    return answer(server)

def own4(step):
    return own(socket.AF_INET, OWN4, step)

def own6(step):
    return own(socket.AF_INET6, OWN6, step)

def dns(step):
    infos = stage("getaddrinfo", socket.getaddrinfo, "guard.lab", port, socket.AF_INET)
    return "ok " + infos[0][4][0]

def ready(step):
    return "ready"

def wait(step):
    sys.stdin.readline()
    return "go"

for step in sys.argv[4:]:
    try:
        result = globals()[step](step)
    except Refused as e:
        result = str(e)
    except OSError as e:
        result = "refused: " + errno.errorcode.get(e.errno, str(e.errno))
    print(step, result, flush=True)
"#;

/// Every way the attacker tries to send out of the VRF, towards the outside namespace.
const ESCAPES: &[&str] = &[
    "pktinfo4",
    "icmp_pktinfo4",
    "unicast_if4",
    "multicast_if4",
    "pktinfo6",
    "unicast_if6",
    "multicast_if6",
    "scope_id6",
    "rebind",
    "bindtoifindex",
    "leave_cgroup",
];

/// What a program inside the VRF must still be able to do.
const INSIDE: &[&str] = &[
    "peer_udp4",
    "peer_udp6",
    "peer_icmp4",
    "peer_icmp6",
    "peer_tcp4",
    "peer_tcp6",
    "own4",
    "own6",
    "dns",
];

fn vrf_exec() -> Result<String> {
    Ok(vrf_lab::tool("vrf-exec")?.to_string_lossy().into_owned())
}

/// The topology's id, as in its names (`vl<id>-router`).
fn id(t: &Topology) -> &str {
    t.router_ns
        .trim_start_matches("vl")
        .trim_end_matches("-router")
}

/// A namespace linked by veth to the router: `dev` on the router's side (10.N.0.1, fd00:N::1,
/// fe80::N:1), `eth0` on the other (10.N.0.2, fd00:N::2, fe80::N:2), with UDP listeners on [`PORT`]
/// (IPv4 with group 239.1.2.3, IPv6 with ff02::4242) that record what arrives. Dropping it deletes the
/// namespace, and the link with it.
struct Link {
    ns: String,
    dev: String,
    ifindex: u32,
    arrived: Arc<Mutex<Vec<String>>>,
    _listeners: Vec<Server>,
}

impl Link {
    /// Links namespace `<router>-<name>` to the router through device `<prefix><id>`, in the default VRF
    /// or enslaved to `master`; `n` is the subnet's number.
    fn new(t: &Topology, name: &str, prefix: &str, n: u8, master: Option<&str>) -> Result<Link> {
        let ns = format!("{}-{name}", t.router_ns);
        let dev = format!("{prefix}{}", id(t));
        cmd::run_ok("ip", &["netns", "add", &ns])?;
        let mut link = Link {
            ns: ns.clone(),
            dev: dev.clone(),
            ifindex: 0,
            arrived: Arc::default(),
            _listeners: Vec::new(),
        };
        let r = t.router_ns.as_str();
        // One `ip -batch` per side (process starts are what costs under emulation).
        let end = |dev: &str, host: u8| {
            [
                format!("addr add 10.{n}.0.{host}/24 dev {dev}"),
                format!("addr add fd00:{n}::{host}/64 dev {dev} nodad"),
                format!("addr add fe80::{n}:{host}/64 dev {dev} nodad"),
                format!("link set {dev} up"),
            ]
        };
        let mut router = vec![format!(
            "link add {dev} type veth peer name eth0 netns {ns}"
        )];
        if let Some(m) = master {
            router.push(format!("link set {dev} master {m}"));
        }
        router.extend(end(&dev, 1));
        let mut other = vec!["link set lo up".to_string()];
        other.extend(end("eth0", 2));
        ip_batch(Some(r), &router)?;
        ip_batch(Some(&ns), &other)?;
        let name = dev.clone();
        link.ifindex = netns::run_in(r, move || {
            nix::net::if_::if_nametoindex(name.as_str()).context("ifindex")
        })?;
        for v6 in [false, true] {
            let l = listener(&ns, v6, n, link.arrived.clone())?;
            link._listeners.push(l);
        }
        Ok(link)
    }

    /// What arrived so far, after waiting until `want` did or [`ARRIVAL`] passed.
    fn arrived(&self, want: &str) -> Vec<String> {
        let end = Instant::now() + ARRIVAL;
        loop {
            let got = self.arrived.lock().unwrap().clone();
            if got.iter().any(|g| g == want) || Instant::now() >= end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = cmd::run(Command::new("ip").args(["netns", "del", &self.ns]));
    }
}

/// A UDP listener on [`PORT`] in `ns` (whose `eth0` has 10.`n`.0.2) that records each datagram's payload.
fn listener(ns: &str, v6: bool, n: u8, arrived: Arc<Mutex<Vec<String>>>) -> Result<Server> {
    netns::udp_server(
        ns,
        move || {
            let eth0 = nix::net::if_::if_nametoindex("eth0")?;
            let s = if v6 {
                let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None)?;
                s.set_only_v6(true)?;
                s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)).into())?;
                s.join_multicast_v6(&"ff02::4242".parse()?, eth0)?;
                UdpSocket::from(s)
            } else {
                let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT))?;
                s.join_multicast_v4(&Ipv4Addr::new(239, 1, 2, 3), &Ipv4Addr::new(10, n, 0, 2))?;
                s
            };
            Ok(s)
        },
        move |s| {
            let mut buf = [0u8; 2048];
            if let Ok(n) = s.recv(&mut buf) {
                let what = String::from_utf8_lossy(&buf[..n]).into_owned();
                arrived.lock().unwrap().push(what);
            }
        },
    )
}

/// The attacker script, written where `nobody` can read it.
fn attacker_script(dir: &TempDir) -> Result<String> {
    Ok(dir
        .file("attacker.py", ATTACKER)?
        .to_string_lossy()
        .into_owned())
}

/// The attacker's arguments for steps `steps`, aiming at `out`.
fn attacker_args(script: &str, out: &Link, steps: &[&str]) -> Vec<String> {
    let mut args = vec![
        "/usr/bin/python3".to_string(),
        script.to_string(),
        out.dev.clone(),
        out.ifindex.to_string(),
        PORT.to_string(),
    ];
    args.extend(steps.iter().map(|s| s.to_string()));
    args
}

/// The attacker's report: step → result.
fn results(r: &Run) -> Result<BTreeMap<String, String>> {
    let map: BTreeMap<String, String> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ensure!(
        !map.is_empty(),
        "{}",
        r.describe("the attacker said nothing")
    );
    Ok(map)
}

/// Servers in the blue peer for the attacker's inside steps: UDP echo and a TCP greeter on [`PORT`]
/// (both families), and a dnsmasq answering `guard.lab`, named in the VRF's resolv.conf.
struct Inside {
    _servers: [Server; 2],
    _dns: Dnsmasq,
    conf_dir: String,
}

impl Inside {
    fn start(t: &Topology) -> Result<Inside> {
        let peer = &t.blue.peer_ns;
        let dual = |ty| -> Result<socket2::Socket> {
            let s = socket2::Socket::new(socket2::Domain::IPV6, ty, None)?;
            s.set_only_v6(false)?;
            s.set_reuse_address(true)?;
            s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)).into())?;
            Ok(s)
        };
        let udp = netns::udp_server(
            peer,
            move || Ok(UdpSocket::from(dual(socket2::Type::DGRAM)?)),
            |s| {
                let mut buf = [0u8; 2048];
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(&buf[..n], from);
                }
            },
        )?;
        let tcp = netns::tcp_server(
            peer,
            move || {
                let s = dual(socket2::Type::STREAM)?;
                s.listen(16)?;
                Ok(TcpListener::from(s))
            },
            |mut conn, _| {
                let _ = conn.write_all(b"peer");
            },
        )?;
        let dns = Dnsmasq::builder(peer)
            .zone("lab")
            .address("guard.lab", "10.99.0.77")
            .start()?;
        let conf_dir = format!("/etc/vrf/{}", t.blue.vrf);
        std::fs::create_dir_all(&conf_dir)?;
        std::fs::write(
            format!("{conf_dir}/resolv.conf"),
            format!("nameserver {}\n", vrf_lab::PEER_V4),
        )?;
        Ok(Inside {
            _servers: [udp, tcp],
            _dns: dns,
            conf_dir,
        })
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.conf_dir);
    }
}

/// Checks that every step in `steps` reached its peer (or own address, or name server).
fn ensure_inside_works(got: &BTreeMap<String, String>) -> Result<()> {
    let failed: Vec<String> = INSIDE
        .iter()
        .filter(|s| !got.get(**s).is_some_and(|r| r.starts_with("ok")))
        .map(|s| format!("{s}: {:?}", got.get(*s)))
        .collect();
    ensure!(
        failed.is_empty(),
        "traffic inside the VRF broke under the guard: {failed:?}"
    );
    Ok(())
}

/// The attacker as a confined user (`who`: vrf-exec's options) tries every escape: nothing may arrive
/// outside, no ICMP echo either, and everything inside the VRF keeps working.
fn confined_command_cannot_leave_the_vrf(who: &[&str]) -> Result<()> {
    let t = Topology::new()?;
    t.router_sysctl("net.ipv4.ping_group_range", ALL_GROUPS)?;
    let out = Link::new(&t, "out", "vo", 98, None)?;
    let _inside = Inside::start(&t)?;
    let dir = TempDir::new("escape")?;
    let script = attacker_script(&dir)?;
    let steps: Vec<&str> = ESCAPES.iter().chain(INSIDE).copied().collect();
    let mut args: Vec<String> = who.iter().map(|s| s.to_string()).collect();
    args.push(t.blue.vrf.clone());
    args.extend(attacker_args(&script, &out, &steps));
    let echos = IcmpCounters::read(&out.ns)?.in_echos_v4;
    let r = cmd::run(&mut t.router_cmd(&vrf_exec()?, &args))?;
    let got = results(&r)?;
    eprintln!("{who:?}:");
    for (step, result) in &got {
        eprintln!("  {step:<14} {result}");
    }
    let arrived = out.arrived("");
    let echos = IcmpCounters::read(&out.ns)?.in_echos_v4 - echos;
    ensure!(
        arrived.is_empty() && echos == 0,
        "left the VRF as {who:?}: {arrived:?} arrived outside, and {echos} ICMP echo requests; attacker: {got:?}"
    );
    for step in ESCAPES {
        let result = got.get(*step).map_or("", String::as_str);
        ensure!(
            result.starts_with("refused"),
            "{step} was not refused: {result:?}"
        );
    }
    ensure_inside_works(&got)
}

/// The ways out that only the egress guard stops: a datagram's own choice of device.
const PER_DATAGRAM: &[&str] = &["pktinfo4", "icmp_pktinfo4", "scope_id6"];

/// The seccomp mode (an unprivileged caller: here `nobody`) binds every socket but cannot attach the
/// egress guard, a cgroup BPF program that needs privilege. Measured, as the README says: the
/// per-datagram device choices ([`PER_DATAGRAM`]) get out, every other way is refused, and everything
/// inside the VRF works, DNS through the VRF's resolv.conf included.
fn seccomp_mode_has_no_egress_guard() -> Result<()> {
    let t = Topology::new()?;
    t.router_sysctl("net.ipv4.ping_group_range", ALL_GROUPS)?;
    let out = Link::new(&t, "out", "vo", 98, None)?;
    let _inside = Inside::start(&t)?;
    let dir = TempDir::new("escape")?;
    let script = attacker_script(&dir)?;
    let steps: Vec<&str> = ESCAPES.iter().chain(INSIDE).copied().collect();
    let mut args: Vec<String> = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        .map(String::from)
        .to_vec();
    args.extend([vrf_exec()?, "-v".into(), t.blue.vrf.clone()]);
    args.extend(attacker_args(&script, &out, &steps));
    let echos = IcmpCounters::read(&out.ns)?.in_echos_v4;
    let r = cmd::run(&mut t.router_cmd("setpriv", &args))?;
    ensure!(
        r.stderr.contains("seccomp mode"),
        "nobody's launch did not use the seccomp mode: {}",
        r.stderr
    );
    let got = results(&r)?;
    eprintln!("seccomp mode, nobody:");
    for (step, result) in &got {
        eprintln!("  {step:<14} {result}");
    }
    let mut arrived = out.arrived("");
    arrived.sort();
    let echos = IcmpCounters::read(&out.ns)?.in_echos_v4 - echos;
    ensure!(
        arrived == ["pktinfo4", "scope_id6"] && echos > 0,
        "the seccomp mode should let out exactly the per-datagram device choices (UDP and ICMP \
         IP_PKTINFO, an IPv6 scope id): {arrived:?} arrived outside, {echos} ICMP echo requests; \
         attacker: {got:?}"
    );
    for step in ESCAPES.iter().filter(|s| !PER_DATAGRAM.contains(s)) {
        let result = got.get(*step).map_or("", String::as_str);
        ensure!(
            result.starts_with("refused"),
            "{step} was not refused in the seccomp mode: {result:?}"
        );
    }
    ensure_inside_works(&got)
}

/// Root (no `--user`) is still stopped by the guard wherever a socket picks its device (control messages,
/// scope ids, re-binding: the README's "no accidental escape"), but can leave the VRF on purpose: here by
/// moving itself out of the VRF's cgroup, which the README says root can do.
fn root_can_still_leave_the_vrf() -> Result<()> {
    let t = Topology::new()?;
    t.router_sysctl("net.ipv4.ping_group_range", ALL_GROUPS)?;
    let out = Link::new(&t, "out", "vo", 98, None)?;
    let dir = TempDir::new("escape")?;
    let script = attacker_script(&dir)?;
    let mut args = vec![t.blue.vrf.clone()];
    args.extend(attacker_args(&script, &out, ESCAPES));
    let echos = IcmpCounters::read(&out.ns)?.in_echos_v4;
    let r = cmd::run(&mut t.router_cmd(&vrf_exec()?, &args))?;
    let got = results(&r)?;
    eprintln!("root:");
    for (step, result) in &got {
        eprintln!("  {step:<14} {result}");
    }
    let arrived = out.arrived("leave_cgroup");
    let echos = IcmpCounters::read(&out.ns)?.in_echos_v4 - echos;
    ensure!(
        arrived == ["leave_cgroup"] && echos == 0,
        "root should leave the VRF by leaving its cgroup, and only so: {arrived:?} arrived, \
         {echos} ICMP echo requests; attacker: {got:?}"
    );
    for step in ESCAPES.iter().filter(|s| **s != "leave_cgroup") {
        let result = got.get(*step).map_or("", String::as_str);
        ensure!(
            result.starts_with("refused"),
            "the guard did not stop root's {step}: {result:?}"
        );
    }
    for step in ["rebind", "bindtoifindex"] {
        ensure!(
            got.get(step).map(String::as_str) == Some("refused at send: EPERM"),
            "root may re-bind, and the guard drops what it sends: {got:?}"
        );
    }
    Ok(())
}

/// A device enslaved to the VRF after a launch is refused to the running command until the next launch
/// into the VRF updates the guard; from then on it is the VRF's, for every process in it.
fn port_enslaved_after_the_launch_is_refused_until_the_next_launch() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("escape")?;
    let script = attacker_script(&dir)?;
    // The attacker's outside device is irrelevant here: the step `late` routes with the VRF's table.
    let placeholder = Link::new(&t, "out", "vo", 98, None)?;
    let steps = ["ready", "wait", "late", "wait", "late"];
    let mut args = vec!["--user".to_string(), "nobody".into(), t.blue.vrf.clone()];
    args.extend(attacker_args(&script, &placeholder, &steps));
    let mut attacker = Attacker::spawn(t.router_cmd(&vrf_exec()?, &args))?;
    let late = Link::new(&t, "late", "vz", 97, Some(&t.blue.vrf))?;
    let before = attacker.step()?;
    let arrived = late.arrived("late");
    ensure!(
        arrived.is_empty() && before.starts_with("refused"),
        "a port enslaved after the launch was usable at once: {before:?}, {arrived:?} arrived"
    );
    // The next launch compiles the new port into the guard.
    let r = cmd::run(&mut t.router_cmd(&vrf_exec()?, &["-v", &t.blue.vrf, "true"]))?.ok()?;
    ensure!(
        r.stderr.contains(&late.dev),
        "{}",
        r.describe("the new guard should name the new port")
    );
    let after = attacker.step()?;
    let arrived = late.arrived("late");
    ensure!(
        after == "sent" && arrived == ["late"],
        "after the next launch the new port should carry the VRF's traffic: {after:?}, {arrived:?} arrived"
    );
    attacker.finish()
}

/// An attacker running with its steps driven from stdin (`wait` steps).
struct Attacker {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Attacker {
    /// Starts `cmd` and waits for its `ready` line.
    fn spawn(mut cmd: Command) -> Result<Attacker> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", cmd::line_of(&cmd)))?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut a = Attacker {
            child,
            stdin,
            lines,
        };
        let first = a.line()?;
        ensure!(first == "ready ready", "the attacker said {first:?}");
        Ok(a)
    }

    /// The next line of output (bounded: the attacker's own steps time out after 2 s).
    fn line(&mut self) -> Result<String> {
        match self.lines.next() {
            Some(l) => Ok(l?),
            None => bail!("the attacker exited: {:?}", self.child.wait()),
        }
    }

    /// Lets the attacker past its next `wait`, and returns the result of the step after it.
    fn step(&mut self) -> Result<String> {
        writeln!(self.stdin, "go")?;
        let go = self.line()?;
        ensure!(go == "wait go", "the attacker said {go:?}");
        let line = self.line()?;
        Ok(line.split_once(' ').map_or("", |(_, r)| r).to_string())
    }

    fn finish(mut self) -> Result<()> {
        let status = self.child.wait()?;
        ensure!(status.success(), "the attacker exited with {status}");
        Ok(())
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cgroup directory of process `pid` (cgroup2 is at /sys/fs/cgroup here, outside `ip netns exec`).
fn cgroup_of(pid: u32) -> Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .context("no cgroup2 line")?;
    Ok(format!("/sys/fs/cgroup{path}"))
}

/// Loads `insns` and attaches them to cgroup `dir` for `attach_type`, in place of what is there.
fn attach(dir: &str, prog_type: u32, attach_type: u32, insns: &[Insn], name: &str) -> Result<()> {
    let mut log = vec![0u8; 4096];
    let prog =
        bpf_sys::prog_load(prog_type, attach_type, insns, name, &mut log).with_context(|| {
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            format!("loading {name}: {}", String::from_utf8_lossy(&log[..end]))
        })?;
    let cg = File::open(dir).with_context(|| format!("opening {dir}"))?;
    bpf_sys::prog_attach(prog.as_fd(), cg.as_fd(), attach_type)
        .with_context(|| format!("attaching {name} to {dir}"))
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const STX_W: u8 = 0x63; // BPF_STX | BPF_MEM | BPF_W
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: Insn = insn(0x95, 0, 0, 0, 0);

/// What the egress hook sees: a probe that passes only packets whose `__sk_buff.ifindex` is X replaces
/// the guard under a running command; with X = the VRF's port, traffic to the peer passes and traffic to
/// the VRF's own address does not; with X = the VRF device, the other way round (IPv4 and IPv6).
fn egress_hook_sees_the_port_for_the_peer_and_the_vrf_for_local() -> Result<()> {
    let t = Topology::new()?;
    let _inside = Inside::start(&t)?;
    let dir = TempDir::new("escape")?;
    let script = attacker_script(&dir)?;
    let placeholder = Link::new(&t, "out", "vo", 98, None)?;
    let probe = ["peer_udp4", "peer_udp6", "own4", "own6"];
    let mut steps = vec!["ready"];
    for _ in 0..2 {
        steps.push("wait");
        steps.extend(probe);
    }
    let mut args = vec![t.blue.vrf.clone()];
    args.extend(attacker_args(&script, &placeholder, &steps));
    let mut attacker = Attacker::spawn(t.router_cmd(&vrf_exec()?, &args))?;
    let cg = cgroup_of(attacker.child.id())?;
    let index = |dev: &str| -> Result<i32> {
        let r = t.router_run("cat", &[format!("/sys/class/net/{dev}/ifindex")])?;
        Ok(r.ok()?.stdout.trim().parse()?)
    };
    let mut seen = Vec::new();
    for (what, ifindex) in [("port", index(&t.blue.dev)?), ("vrf", index(&t.blue.vrf)?)] {
        // r2 = skb->ifindex; if r2 != X goto drop; r0 = 1; exit; drop: r0 = 0; exit
        let only = [
            insn(LDX_W, 2, 1, 40, 0),
            insn(JNE_K, 2, 0, 2, ifindex),
            insn(MOV_K, 0, 0, 0, 1),
            EXIT,
            insn(MOV_K, 0, 0, 0, 0),
            EXIT,
        ];
        attach(
            &cg,
            bpf_sys::PROG_TYPE_CGROUP_SKB,
            bpf_sys::CGROUP_INET_EGRESS,
            &only,
            "probe",
        )?;
        writeln!(attacker.stdin, "go")?;
        attacker.line()?;
        for step in probe {
            let line = attacker.line()?;
            let passed = line.split(' ').nth(1) == Some("ok");
            seen.push(format!(
                "{what}-only {step}: {}",
                if passed { "passes" } else { "dropped" }
            ));
        }
    }
    eprintln!("{}", seen.join("\n"));
    let want = [
        "port-only peer_udp4: passes",
        "port-only peer_udp6: passes",
        "port-only own4: dropped",
        "port-only own6: dropped",
        "vrf-only peer_udp4: dropped",
        "vrf-only peer_udp6: dropped",
        "vrf-only own4: passes",
        "vrf-only own6: passes",
    ];
    ensure!(seen == want, "the egress hook saw other devices: {seen:#?}");
    attacker.finish()
}

/// Programs that only look like the sock-create binder (ours by name, or storing the ifindex where it
/// binds nothing) are attached to the VRF's cgroup in place of the real one: the next launch must
/// replace them and bind its command to the VRF.
fn look_alike_hooks_are_replaced() -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.vrf.as_str();
    let exe = vrf_exec()?;
    let first = cmd::run(&mut t.router_cmd(&exe, &[blue, "cat", "/proc/self/cgroup"]))?.ok()?;
    let path = first
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .context("no cgroup2 line")?;
    let cg = format!("/sys/fs/cgroup{path}");
    let ifindex: i32 = t
        .router_run("cat", &[format!("/sys/class/net/{blue}/ifindex")])?
        .ok()?
        .stdout
        .trim()
        .parse()?;
    // `struct bpf_sock`: bound_dev_if at 0, mark at 16.
    let (bound, mark) = (0, 16);
    let look_alikes: [(&str, Vec<Insn>); 4] = [
        ("our name, no store", vec![insn(MOV_K, 0, 0, 0, 1), EXIT]),
        (
            "ifindex stored to mark",
            vec![
                insn(MOV_K, 2, 0, 0, ifindex),
                insn(STX_W, 1, 2, mark, 0),
                insn(MOV_K, 0, 0, 0, 1),
                EXIT,
            ],
        ),
        (
            "iproute2's, storing to mark",
            vec![
                insn(0xbf, 6, 1, 0, 0),
                insn(MOV_K, 3, 0, 0, ifindex),
                insn(MOV_K, 2, 0, 0, 0),
                insn(STX_W, 1, 3, mark, 0),
                insn(MOV_K, 0, 0, 0, 1),
                EXIT,
            ],
        ),
        (
            "ours, then unbound again",
            vec![
                insn(MOV_K, 2, 0, 0, ifindex),
                insn(STX_W, 1, 2, bound, 0),
                insn(MOV_K, 3, 0, 0, 0),
                insn(STX_W, 1, 3, bound, 0),
                insn(MOV_K, 0, 0, 0, 1),
                EXIT,
            ],
        ),
    ];
    let bound_to = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
                    print(s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).rstrip(b'\\0').decode())";
    let mut wrong = Vec::new();
    for (what, insns) in &look_alikes {
        attach(
            &cg,
            bpf_sys::PROG_TYPE_CGROUP_SOCK,
            bpf_sys::CGROUP_INET_SOCK_CREATE,
            insns,
            &format!("vrf_exec_{ifindex}"),
        )?;
        let r =
            cmd::run(&mut t.router_cmd(&exe, &["-v", blue, "/usr/bin/python3", "-c", bound_to]))?;
        if !(r.success() && r.stdout.trim() == blue && r.stderr.contains("hook Loaded")) {
            wrong.push(r.describe(what));
        }
    }
    ensure!(
        wrong.is_empty(),
        "look-alikes were reused:\n{}",
        wrong.join("\n")
    );
    Ok(())
}
