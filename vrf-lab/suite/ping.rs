//! vrf-ping on real VRFs, side by side with iputils ping under `ip vrf exec`: the same exit codes, the
//! same number of replies, lines that parse the same; each VRF's replies come from its own peer (TTL 101
//! behind blue, 102 behind red, both at the same address); raw and datagram sockets; source addresses
//! and devices of the VRF; names resolved in the VRF; concurrent runs; Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::cmd::{self, Run};
use vrf_lab::{PEER_V4, PEER_V6, ROUTER_V4, Site, Topology};

vrf_lab::lab_tests! {
    v4_blue_and_red_match_iputils,
    v6_blue_and_red_match_iputils,
    unreachable_hosts_match_iputils,
    options_match_iputils,
    errors_exit_2_with_a_message,
    raw_and_datagram_sockets,
    unprivileged_with_datagram_sockets,
    source_address_and_device_in_the_vrf,
    name_resolved_in_the_vrf,
    concurrent_pings_get_only_their_own_replies,
    sigint_prints_the_summary,
    flood_matches_iputils,
    default_vrf_matches_plain_ping,
    interface_selects_the_vrf_like_ping,
    source_address_with_and_without_vrf,
}

const UNREACHABLE_V4: &str = "10.99.0.3";
const UNREACHABLE_V6: &str = "fd00:99::3";
/// Widens `net.ipv4.ping_group_range` to every group: ICMP datagram sockets for everyone.
const ALL_GROUPS: &str = "0 2147483647";

fn vrf_ping() -> Result<String> {
    Ok(vrf_lab::tool("vrf-ping")?.to_string_lossy().into_owned())
}

/// `vrf-ping args…` in the router namespace.
fn ours(t: &Topology, args: &[&str]) -> Result<Run> {
    cmd::run(&mut t.router_cmd(&vrf_ping()?, args))
}

/// `ip vrf exec VRF ping args…` (iputils) in the router namespace.
fn theirs(t: &Topology, vrf: &str, args: &[&str]) -> Result<Run> {
    let mut all = vec!["vrf", "exec", vrf, "ping"];
    all.extend_from_slice(args);
    t.router_run("ip", &all)
}

/// `vrf-ping -V VRF args…` and iputils with `args…` in the VRF; fails unless their exit codes and parsed
/// output agree. Returns both.
fn side_by_side(t: &Topology, vrf: &str, args: &[&str]) -> Result<(Output, Output)> {
    let mut ours_args = vec!["-V", vrf];
    ours_args.extend_from_slice(args);
    let a = ours(t, &ours_args)?;
    let b = theirs(t, vrf, args)?;
    let (mut pa, mut pb) = (Output::parse(&a)?, Output::parse(&b)?);
    if args.contains(&"-f") {
        // How many requests a flood had out at once depends on scheduling (a 10 ms stall sends the
        // next one): not part of the comparison.
        for o in [&mut pa, &mut pb] {
            o.extras.retain(|e| !e.starts_with("pipe "));
        }
    }
    ensure!(
        a.code == b.code && pa == pb,
        "vrf-ping and iputils differ for {args:?} in {vrf}:\n{}\n{}\nparsed:\n{pa:#?}\n{pb:#?}",
        a.describe("(vrf-ping)"),
        b.describe("(iputils)")
    );
    Ok((pa, pb))
}

/// iputils ping's output, with what varies from run to run (round-trip times, elapsed time) left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Output {
    code: Option<i32>,
    header: String,
    replies: Vec<Reply>,
    /// `From ADDR icmp_seq=N TEXT` lines.
    errors: Vec<(String, u16, String)>,
    /// `N packets transmitted, M received, …, P% packet loss` (without `, time Tms`).
    counts: String,
    /// Whether an rtt min/avg/max/mdev line came.
    rtt: bool,
    /// What follows the statistics (`pipe N`, `ipg/ewma`), names only.
    extras: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    bytes: usize,
    from: String,
    seq: u16,
    ttl: Option<u8>,
    timed: bool,
    dup: bool,
}

impl Output {
    fn parse(r: &Run) -> Result<Output> {
        let mut o = Output {
            code: r.code,
            ..Output::default()
        };
        for line in r.stdout.lines() {
            // A flood's dots and backspaces end up in front of the statistics' title.
            let line = line.trim_start_matches(['.', '\x08', ' ', 'E']);
            if let Some(h) = line.strip_prefix("PING ") {
                o.header = h.to_string();
            } else if let Some((bytes, rest)) = line.split_once(" bytes from ") {
                o.replies.push(
                    Reply::parse(bytes, rest).with_context(|| format!("reply line {line:?}"))?,
                );
            } else if let Some(rest) = line.strip_prefix("From ") {
                let (from, rest) = rest.split_once(" icmp_seq=").context("error line")?;
                let (seq, text) = rest.split_once(' ').context("error line")?;
                o.errors
                    .push((from.to_string(), seq.parse()?, text.to_string()));
            } else if line.contains(" packets transmitted, ") {
                o.counts = line.split(", time ").next().unwrap_or(line).to_string();
            } else if let Some(rest) = line.strip_prefix("rtt min/avg/max/mdev = ") {
                o.rtt = true;
                o.extras = extras(rest.split_once(" ms").map_or("", |x| x.1));
            } else if line.starts_with("pipe ") {
                o.extras = extras(&format!(", {line}"));
            }
        }
        if r.code != Some(2) {
            ensure!(
                !o.header.is_empty() && !o.counts.is_empty(),
                "{}",
                r.describe("is not ping output")
            );
        }
        Ok(o)
    }
}

/// `, pipe 3, ipg/ewma 0.1/0.2 ms` → `["pipe 3", "ipg/ewma"]` (the pipe size is deterministic here, the
/// timings are not).
fn extras(rest: &str) -> Vec<String> {
    rest.split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with("ipg/ewma") {
                "ipg/ewma".to_string()
            } else {
                s.to_string()
            }
        })
        .collect()
}

impl Reply {
    /// `64` and `10.99.0.2: icmp_seq=1 ttl=101 time=0.123 ms (DUP!)`.
    fn parse(bytes: &str, rest: &str) -> Result<Reply> {
        let (from, fields) = rest.split_once(": ").context("no ': '")?;
        let mut r = Reply {
            bytes: bytes.parse()?,
            from: from.to_string(),
            seq: 0,
            ttl: None,
            timed: false,
            dup: fields.contains("(DUP!)"),
        };
        for f in fields.split_whitespace() {
            if let Some(v) = f.strip_prefix("icmp_seq=") {
                r.seq = v.parse()?;
            } else if let Some(v) = f.strip_prefix("ttl=") {
                r.ttl = Some(v.parse()?);
            } else if f.starts_with("time=") {
                r.timed = true;
            }
        }
        Ok(r)
    }
}

fn ensure_peer(o: &Output, site: &Site, count: usize) -> Result<()> {
    ensure!(
        o.replies.len() == count
            && o.replies
                .iter()
                .all(|r| r.ttl == Some(site.peer_ttl) && !r.dup),
        "expected {count} replies with ttl={} from the peer of {}: {o:#?}",
        site.peer_ttl,
        site.vrf
    );
    Ok(())
}

fn v4_blue_and_red_match_iputils() -> Result<()> {
    let t = Topology::new()?;
    for s in t.sites() {
        let (o, _) = side_by_side(&t, &s.vrf, &["-c", "3", "-i", "0.2", PEER_V4])?;
        ensure_peer(&o, s, 3)?;
        ensure!(
            o.header == format!("{PEER_V4} ({PEER_V4}) 56(84) bytes of data.") && o.rtt,
            "{o:#?}"
        );
        ensure!(
            o.counts == "3 packets transmitted, 3 received, 0% packet loss",
            "{o:#?}"
        );
    }
    Ok(())
}

fn v6_blue_and_red_match_iputils() -> Result<()> {
    let t = Topology::new()?;
    for s in t.sites() {
        let (o, _) = side_by_side(&t, &s.vrf, &["-c", "3", "-i", "0.2", PEER_V6])?;
        ensure_peer(&o, s, 3)?;
        ensure!(
            o.header == format!("{PEER_V6}({PEER_V6}) 56 data bytes"),
            "{o:#?}"
        );
        let (o, _) = side_by_side(
            &t,
            &s.vrf,
            &["-6", "-c", "2", "-i", "0.2", "-s", "200", PEER_V6],
        )?;
        ensure_peer(&o, s, 2)?;
        ensure!(o.replies[0].bytes == 208, "{o:#?}");
    }
    Ok(())
}

fn unreachable_hosts_match_iputils() -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.vrf.as_str();
    // The neighbour lookup fails after ~3 s, and the kernel reports every queued request.
    let (o, _) = side_by_side(&t, blue, &["-c", "3", "-i", "0.2", UNREACHABLE_V4])?;
    ensure!(
        o.code == Some(1)
            && o.errors.len() == 3
            && o.errors
                .iter()
                .all(|e| e.0 == ROUTER_V4 && e.2 == "Destination Host Unreachable")
            && o.counts == "3 packets transmitted, 0 received, +3 errors, 100% packet loss",
        "{o:#?}"
    );
    let (o, _) = side_by_side(&t, blue, &["-c", "3", "-i", "0.2", UNREACHABLE_V6])?;
    ensure!(
        o.code == Some(1)
            && o.errors.len() == 3
            && o.errors
                .iter()
                .all(|e| e.2 == "Destination unreachable: Address unreachable"),
        "{o:#?}"
    );
    // Given up before the neighbour lookup fails: no error lines, still exit 1. Each tool gets an
    // address never asked for before: once a lookup has failed, the kernel reports the next send at once,
    // so sharing one address would make the second tool see an error the first could not.
    for (who, dst) in [("vrf-ping", "10.99.0.4"), ("iputils", "10.99.0.5")] {
        let r = if who == "vrf-ping" {
            ours(&t, &["-V", blue, "-c", "1", "-W", "1", dst])?
        } else {
            theirs(&t, blue, &["-c", "1", "-W", "1", dst])?
        };
        let o = Output::parse(&r)?;
        ensure!(
            o.code == Some(1) && o.errors.is_empty() && !o.rtt,
            "{who}: {o:#?}"
        );
    }
    // No route in the VRF but its closing `unreachable default` (the lab closes every VRF table): both
    // fail before sending, with exit 2 and EHOSTUNREACH.
    let a = ours(&t, &["-V", blue, "-c", "1", "10.98.0.3"])?;
    let b = theirs(&t, blue, &["-c", "1", "10.98.0.3"])?;
    for r in [&a, &b] {
        ensure!(
            r.code == Some(2) && r.stderr.contains("connect: No route to host"),
            "{}",
            r.describe("should fail with exit 2")
        );
    }
    Ok(())
}

fn options_match_iputils() -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.vrf.as_str();
    let cases: &[&[&str]] = &[
        &["-q", "-c", "2", "-i", "0.2", PEER_V4],
        &["-s", "4", "-c", "2", "-i", "0.2", PEER_V4],
        &["-s", "1400", "-c", "2", "-i", "0.2", PEER_V4],
        &["-t", "3", "-c", "2", "-i", "0.2", PEER_V4],
        &["-n", "-4", "-c", "2", "-i", "0.2", PEER_V4],
        &["-c", "2", "-w", "5", "-i", "0.2", PEER_V4],
        &["-c", "2", "-i", "0.2", "-W", "0.5", PEER_V6],
    ];
    for args in cases {
        let (o, _) = side_by_side(&t, blue, args)?;
        ensure!(o.code == Some(0), "{args:?}: {o:#?}");
    }
    // -s 4 leaves no room for a timestamp: no time= and no rtt line, as in iputils.
    let (o, _) = side_by_side(&t, blue, &["-s", "4", "-c", "1", PEER_V4])?;
    ensure!(
        !o.rtt && o.replies.iter().all(|r| !r.timed && r.bytes == 12),
        "{o:#?}"
    );
    // -q prints only the header and the statistics.
    let q = ours(&t, &["-V", blue, "-q", "-c", "2", "-i", "0.2", PEER_V4])?;
    ensure!(
        q.stdout.lines().count() == 5 && !q.stdout.contains("bytes from"),
        "{}",
        q.describe("-q")
    );
    // -w with more replies asked for than can come: exit 1 for both, when the deadline ends the run
    // (how many requests fit in it depends on the machine's load). Each tool gets an address never
    // asked for before: the neighbour lookup the first one starts fails ~3 s later, and from then on
    // the kernel reports every send at once, within the second one's deadline on a loaded machine.
    let args = |dst| ["-c", "10", "-w", "1", "-i", "0.3", dst];
    let mut mine = vec!["-V", blue];
    mine.extend_from_slice(&args("10.99.0.4"));
    for r in [ours(&t, &mine)?, theirs(&t, blue, &args("10.99.0.5"))?] {
        let o = Output::parse(&r)?;
        let (sent, got) = sent_and_received(&o)?;
        ensure!(
            o.code == Some(1) && (3..=4).contains(&sent) && got == 0 && o.errors.is_empty(),
            "{}",
            r.describe("-w 1")
        );
    }
    Ok(())
}

fn errors_exit_2_with_a_message() -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (t.blue.vrf.as_str(), t.red.vrf.as_str());
    let cases: &[(&[&str], &str)] = &[
        (
            &["-V", "nosuchvrf", PEER_V4],
            "VRF \"nosuchvrf\" not found (create it: ip link add nosuchvrf type vrf table N)",
        ),
        (
            &["-V", &t.blue.dev, PEER_V4],
            "is not a VRF (it is a veth device); it is enslaved to VRF",
        ),
        (&["-V", "bad/name", PEER_V4], "contains '/'"),
        (
            &["-V", blue, "-I", &t.red.dev, PEER_V4],
            &format!("is in VRF {red}, not in VRF {blue}"),
        ),
        (
            &["-V", blue, "-I", "lo", PEER_V4],
            "is in the default VRF, not in VRF",
        ),
        (
            &["-V", blue, "-I", "nosuchdev0", PEER_V4],
            "no such device or address",
        ),
        (
            &["-V", blue, "-I", "192.0.2.1", PEER_V4],
            &format!("-I 192.0.2.1: not an address of VRF {blue}"),
        ),
        (
            &["-V", blue, "-6", PEER_V4],
            "Address family for hostname not supported",
        ),
        (
            &["-V", blue, "-I", "fd00:99::1", PEER_V4],
            "different families",
        ),
        (
            &["-V", blue, "-s", "65508", PEER_V4],
            "packet size 65508 is too large. Maximum is 65507",
        ),
        (
            &["-V", blue, "--socket", "dgram", PEER_V4],
            "net.ipv4.ping_group_range is \"1 0\"",
        ),
        (&["-V", blue, "-c", "0", PEER_V4], "invalid value '0'"),
    ];
    for (args, msg) in cases {
        let r = ours(&t, args)?;
        ensure!(
            r.code == Some(2) && r.stderr.contains(msg) && r.stdout.is_empty(),
            "{}\nexpected exit 2 and {msg:?}",
            r.describe("wrong error")
        );
        ensure!(
            r.stderr.lines().count() <= 5,
            "{}",
            r.describe("error should be short")
        );
    }
    t.router_run("ip", &["link", "set", red, "down"])?.ok()?;
    let r = ours(&t, &["-V", red, "-c", "1", PEER_V4])?;
    ensure!(
        r.code == Some(2)
            && r.stderr.contains(&format!(
                "VRF \"{red}\" is down (bring it up: ip link set {red} up)"
            )),
        "{}",
        r.describe("VRF down")
    );
    Ok(())
}

/// The `-v` line names the socket kind.
fn socket_kind(r: &Run) -> Result<&'static str> {
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("ICMP socket"))
        .with_context(|| r.describe("no -v line"))?;
    Ok(if line.contains("datagram ICMP socket") {
        "datagram"
    } else {
        "raw"
    })
}

fn raw_and_datagram_sockets() -> Result<()> {
    let t = Topology::new()?;
    // The kernel's default range refuses datagram sockets to everyone: raw, as root.
    for (range, want) in [("1 0", "raw"), (ALL_GROUPS, "datagram")] {
        t.router_sysctl("net.ipv4.ping_group_range", range)?;
        for s in t.sites() {
            for dst in [PEER_V4, PEER_V6] {
                let r = ours(&t, &["-V", &s.vrf, "-v", "-c", "2", "-i", "0.2", dst])?;
                ensure!(
                    socket_kind(&r)? == want,
                    "{}\nexpected a {want} socket",
                    r.describe("-v")
                );
                ensure_peer(&Output::parse(&r)?, s, 2)
                    .with_context(|| r.describe("wrong replies"))?;
            }
        }
        // iputils uses the same kind of socket: the outputs still match.
        side_by_side(&t, &t.blue.vrf, &["-c", "2", "-i", "0.2", PEER_V4])?;
        side_by_side(&t, &t.red.vrf, &["-c", "2", "-i", "0.2", UNREACHABLE_V4])?;
    }
    // Forcing either kind.
    let r = ours(
        &t,
        &[
            "-V",
            &t.blue.vrf,
            "-v",
            "--socket",
            "raw",
            "-c",
            "1",
            PEER_V4,
        ],
    )?;
    ensure!(
        r.success() && socket_kind(&r)? == "raw",
        "{}",
        r.describe("--socket raw")
    );
    t.router_sysctl("net.ipv4.ping_group_range", "1 0")?;
    let r = ours(
        &t,
        &["-V", &t.blue.vrf, "--socket", "dgram", "-c", "1", PEER_V4],
    )?;
    ensure!(
        r.code == Some(2)
            && r.stderr
                .contains("ICMP datagram sockets are refused to group 0"),
        "{}",
        r.describe("--socket dgram under the default range")
    );
    Ok(())
}

/// With datagram sockets allowed, an ordinary user pings inside a VRF: no root, no capability.
fn unprivileged_with_datagram_sockets() -> Result<()> {
    let t = Topology::new()?;
    let as_nobody = |args: &[&str]| -> Result<Run> {
        let exe = vrf_ping()?;
        let mut all = vec![
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            exe.as_str(),
        ];
        all.extend_from_slice(args);
        cmd::run(&mut t.router_cmd("setpriv", &all))
    };
    let r = as_nobody(&["-V", &t.red.vrf, "-c", "1", PEER_V4])?;
    ensure!(
        r.code == Some(2) && r.stderr.contains("no permission to ping"),
        "{}",
        r.describe("nobody with the default range")
    );
    t.router_sysctl("net.ipv4.ping_group_range", ALL_GROUPS)?;
    for s in t.sites() {
        let r = as_nobody(&["-V", &s.vrf, "-v", "-c", "2", "-i", "0.2", PEER_V6])?;
        ensure!(
            socket_kind(&r)? == "datagram",
            "{}",
            r.describe("as nobody")
        );
        ensure_peer(&Output::parse(&r)?, s, 2).with_context(|| r.describe("as nobody"))?;
    }
    let r = as_nobody(&["-V", &t.blue.vrf, "-f", "-c", "1", PEER_V4])?;
    ensure!(
        r.code == Some(2) && r.stderr.contains("cannot flood"),
        "{}",
        r.describe("flood as nobody")
    );
    Ok(())
}

fn source_address_and_device_in_the_vrf() -> Result<()> {
    let t = Topology::new()?;
    for s in t.sites() {
        let v = s.vrf.as_str();
        // Source address (iputils #201: with a VRF, only under ip vrf exec).
        let (o, _) = side_by_side(&t, v, &["-I", ROUTER_V4, "-c", "2", "-i", "0.2", PEER_V4])?;
        ensure_peer(&o, s, 2)?;
        ensure!(
            o.header == format!("{PEER_V4} ({PEER_V4}) from {ROUTER_V4} : 56(84) bytes of data."),
            "{o:#?}"
        );
        // IPv6 source address in a VRF (iputils #344).
        let (o, _) = side_by_side(
            &t,
            v,
            &["-I", "fd00:99::1", "-c", "2", "-i", "0.2", PEER_V6],
        )?;
        ensure_peer(&o, s, 2)?;
        // The enslaved device, and the VRF device itself.
        for dev in [s.dev.as_str(), v] {
            let (o, _) = side_by_side(&t, v, &["-I", dev, "-c", "2", "-i", "0.2", PEER_V4])?;
            ensure_peer(&o, s, 2)?;
            ensure!(
                o.header.contains(&format!("from {ROUTER_V4} {dev}: ")),
                "{o:#?}"
            );
            let r = ours(&t, &["-V", v, "-I", dev, "-6", "-c", "1", PEER_V6])?;
            ensure_peer(&Output::parse(&r)?, s, 1).with_context(|| r.describe("-I dev -6"))?;
        }
    }
    Ok(())
}

/// A DNS server (dnsmasq) behind blue only, named in `/etc/vrf/<blue>/resolv.conf`.
fn name_resolved_in_the_vrf() -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (t.blue.vrf.as_str(), t.red.vrf.as_str());
    let mut dns = t
        .peer_cmd(
            &t.blue,
            "/usr/sbin/dnsmasq",
            &[
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--listen-address=10.99.0.2",
                "--bind-interfaces",
                "--address=/target.lab/10.99.0.2",
                "--address=/target.lab/fd00:99::2",
                "--pid-file=",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting dnsmasq (apt-get install dnsmasq-base)")?;
    let dirs = [format!("/etc/vrf/{blue}"), format!("/etc/vrf/{red}")];
    let res = (|| -> Result<()> {
        for d in &dirs {
            std::fs::create_dir_all(d)?;
            std::fs::write(
                format!("{d}/resolv.conf"),
                format!("nameserver {PEER_V4}\n"),
            )?;
        }
        wait_for_port_53(&t)?;
        // iputils resolves through /etc/resolv.conf: give it the VRF's for the comparison. Both take
        // the AAAA address first (glibc's default order) unless told a family.
        let conf = format!("/etc/vrf/{blue}/resolv.conf");
        let cases: [(&[&str], &str); 3] = [
            (&[], "target.lab(fd00:99::2) 56 data bytes"),
            (&["-4"], "target.lab (10.99.0.2) 56(84) bytes of data."),
            (&["-6"], "target.lab(fd00:99::2) 56 data bytes"),
        ];
        for (family, header) in cases {
            let mut args = family.to_vec();
            args.extend_from_slice(&["-c", "2", "-i", "0.2", "target.lab"]);
            let mut mine = vec!["-V", blue];
            mine.extend_from_slice(&args);
            let r = ours(&t, &mine)?;
            let o = Output::parse(&r)?;
            ensure_peer(&o, &t.blue, 2).with_context(|| r.describe("by name"))?;
            let script = format!(
                "mount --bind {conf} /etc/resolv.conf && exec ip vrf exec {blue} ping {}",
                args.join(" ")
            );
            let b = cmd::run(&mut t.router_cmd("unshare", &["-m", "sh", "-c", &script]))?;
            let mut ob = Output::parse(&b)?;
            if family == ["-4"] && ob.header.starts_with(" (") {
                // iputils (20221126) loses the name with -4: `PING  (10.99.0.2) …`.
                ob.header = o.header.clone();
            }
            ensure!(
                o.header == header && o == ob,
                "{}\n{}",
                r.describe("(vrf-ping)"),
                b.describe("(iputils)")
            );
        }
        // A name that does not exist.
        let r = ours(&t, &["-V", blue, "-c", "1", "nosuch.lab"])?;
        ensure!(
            r.code == Some(2) && r.stderr.contains("nosuch.lab"),
            "{}",
            r.describe("unknown name")
        );
        // Red's name server address is the same, but behind red nothing answers: no fallback to blue's.
        let r = cmd::run(&mut t.router_cmd(
            "timeout",
            &["60", &vrf_ping()?, "-V", red, "-c", "1", "target.lab"],
        ))?;
        ensure!(
            r.code == Some(2) && r.stderr.contains("target.lab"),
            "{}",
            r.describe("resolved in red")
        );
        Ok(())
    })();
    let _ = dns.kill();
    let _ = dns.wait();
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    res
}

fn wait_for_port_53(t: &Topology) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let r = cmd::run(&mut t.peer_cmd(&t.blue, "ss", &["-Hlun", "sport", "=", ":53"]))?;
        if r.stdout.contains(":53") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("dnsmasq did not start listening in {}", t.blue.peer_ns)
}

fn concurrent_pings_get_only_their_own_replies() -> Result<()> {
    let t = Topology::new()?;
    let exe = vrf_ping()?;
    for range in ["1 0", ALL_GROUPS] {
        t.router_sysctl("net.ipv4.ping_group_range", range)?;
        let mut runs: Vec<(String, &Site, Child)> = Vec::new();
        let args = ["-c", "20", "-i", "0.05"];
        for (i, s) in [&t.blue, &t.blue, &t.blue, &t.red, &t.red]
            .into_iter()
            .enumerate()
        {
            let dst = if i % 2 == 0 { PEER_V4 } else { PEER_V6 };
            let mut a = vec!["-V", s.vrf.as_str()];
            a.extend_from_slice(&args);
            a.push(dst);
            let c = t.router_cmd(&exe, &a);
            runs.push((format!("vrf-ping #{i} in {} to {dst}", s.vrf), s, spawn(c)?));
        }
        // iputils at the same time, in both VRFs.
        for s in t.sites() {
            let mut a = vec!["vrf", "exec", s.vrf.as_str(), "ping"];
            a.extend_from_slice(&args);
            a.push(PEER_V4);
            runs.push((
                format!("iputils in {}", s.vrf),
                s,
                spawn(t.router_cmd("ip", &a))?,
            ));
        }
        for (what, site, child) in runs {
            let out = child.wait_with_output()?;
            let r = Run {
                line: what.clone(),
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            };
            let o = Output::parse(&r)?;
            let mut seqs: Vec<u16> = o.replies.iter().map(|r| r.seq).collect();
            seqs.sort_unstable();
            ensure!(
                r.success()
                    && seqs == (1..=20).collect::<Vec<u16>>()
                    && o.counts == "20 packets transmitted, 20 received, 0% packet loss",
                "{}\n(ping_group_range {range})",
                r.describe("got replies that were not its own")
            );
            ensure_peer(&o, site, 20).with_context(|| r.describe(&what))?;
        }
    }
    Ok(())
}

fn spawn(mut c: Command) -> Result<Child> {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {c:?}"))
}

fn sigint_prints_the_summary() -> Result<()> {
    let t = Topology::new()?;
    let exe = vrf_ping()?;
    for (dst, lines_before, code) in [(PEER_V4, 3, 0), (UNREACHABLE_V4, 1, 1)] {
        let mut child = spawn(t.router_cmd(&exe, &["-V", &t.blue.vrf, "-i", "0.2", dst]))?;
        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let mut seen = String::new();
        for _ in 0..lines_before {
            stdout.read_line(&mut seen)?;
        }
        // `ip netns exec` execs the program: the child is vrf-ping itself.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )?;
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest)?;
        let status = child.wait()?;
        let all = format!("{seen}{rest}");
        ensure!(
            status.code() == Some(code)
                && all.contains(&format!("\n--- {dst} ping statistics ---\n"))
                && all.contains(" packets transmitted, "),
            "Ctrl-C on vrf-ping {dst}: {status}\n{all}"
        );
        if code == 0 {
            ensure!(
                all.contains("\nrtt min/avg/max/mdev = "),
                "no rtt line:\n{all}"
            );
        }
    }
    Ok(())
}

fn flood_matches_iputils() -> Result<()> {
    let t = Topology::new()?;
    let red = t.red.vrf.as_str();
    for dst in [PEER_V4, PEER_V6] {
        let a = ours(&t, &["-V", red, "-f", "-c", "300", dst])?;
        let b = theirs(&t, red, &["-f", "-c", "300", dst])?;
        let (pa, pb) = (Output::parse(&a)?, Output::parse(&b)?);
        // Under load the last reply can come later than the final wait (twice the slowest round trip
        // so far) and count as lost, in either tool: allow a little.
        for o in [&pa, &pb] {
            let (sent, got) = sent_and_received(o)?;
            ensure!(
                o.code == Some(0)
                    && sent == 300
                    && got >= 297
                    && o.replies.is_empty()
                    && o.extras.iter().any(|e| e == "ipg/ewma")
                    && o.header == pb.header,
                "{}\n{}",
                a.describe("(vrf-ping)"),
                b.describe("(iputils)")
            );
        }
        // On a terminal, one dot stays for each request without a reply.
        let (sent, got) = sent_and_received(&pa)?;
        let shown = render(a.stdout.lines().nth(1).unwrap_or_default());
        ensure!(
            shown == ".".repeat((sent - got) as usize),
            "{}\nrendered {shown:?}",
            a.describe("flood dots")
        );
    }
    // Errors replace the dots of their requests.
    let r = ours(&t, &["-V", &t.blue.vrf, "-f", "-c", "5", UNREACHABLE_V4])?;
    let shown = render(r.stdout.lines().nth(1).unwrap_or_default());
    ensure!(
        r.code == Some(1)
            && shown.len() == 5
            && shown.ends_with('E')
            && shown.chars().all(|c| c == '.' || c == 'E'),
        "{}\nrendered {shown:?}",
        r.describe("flood to an unreachable host")
    );
    Ok(())
}

/// `300 packets transmitted, 299 received, …` → (300, 299).
fn sent_and_received(o: &Output) -> Result<(u64, u64)> {
    let mut n = o.counts.split(", ").map(|p| {
        p.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .with_context(|| format!("bad counts {:?}", o.counts))
    });
    let sent = n.next().context("no counts")??;
    let got = n.next().context("no counts")??;
    Ok((sent, got))
}

/// What a terminal shows for a line with backspaces.
fn render(line: &str) -> String {
    let mut screen: Vec<char> = Vec::new();
    let mut col = 0usize;
    for c in line.chars() {
        if c == '\x08' {
            col = col.saturating_sub(1);
        } else {
            if col < screen.len() {
                screen[col] = c;
            } else {
                screen.push(c);
            }
            col += 1;
        }
    }
    screen
        .into_iter()
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// The same command line through vrf-ping and through iputils `ping` itself (no `ip vrf exec`) in the
/// router namespace: vrf-ping as a drop-in for `ping`. Fails unless both exit alike and their output
/// parses the same. Returns the parsed output and both runs.
fn like_ping(t: &Topology, args: &[&str]) -> Result<(Output, Run, Run)> {
    let a = ours(t, args)?;
    let b = t.router_run("ping", args)?;
    let (pa, pb) = (Output::parse(&a)?, Output::parse(&b)?);
    ensure!(
        a.code == b.code && pa == pb,
        "vrf-ping and ping differ for {args:?}:\n{}\n{}\nparsed:\n{pa:#?}\n{pb:#?}",
        a.describe("(vrf-ping)"),
        b.describe("(ping)")
    );
    Ok((pa, a, b))
}

fn echo_requests_seen(t: &Topology) -> Result<Vec<(u64, u64)>> {
    t.sites()
        .iter()
        .map(|s| {
            let c = vrf_lab::topology::IcmpCounters::read(&s.peer_ns)?;
            Ok((c.in_echos_v4, c.in_echos_v6))
        })
        .collect()
}

/// Without -V, vrf-ping is `ping` in the default VRF: the router's default VRF has no route to either
/// peer (both tools fail before sending, and the peers see nothing), and reaches its own loopback.
fn default_vrf_matches_plain_ping() -> Result<()> {
    let t = Topology::new()?;
    let before = echo_requests_seen(&t)?;
    for dst in [PEER_V4, PEER_V6] {
        let (o, a, b) = like_ping(&t, &["-c", "1", dst])?;
        for r in [&a, &b] {
            ensure!(
                o.code == Some(2) && r.stderr.contains("connect: Network is unreachable"),
                "{}",
                r.describe("should find no route in the default VRF")
            );
        }
    }
    for dst in ["127.0.0.1", "::1"] {
        let (o, ..) = like_ping(&t, &["-c", "2", "-i", "0.2", dst])?;
        ensure!(
            o.code == Some(0)
                && o.replies.len() == 2
                && o.replies.iter().all(|r| r.ttl == Some(64) && r.from == dst),
            "{o:#?}"
        );
    }
    // A device of the default VRF, a source address of the default VRF, and both families.
    for args in [
        &["-I", "lo", "-c", "2", "-i", "0.2", "127.0.0.1"][..],
        &["-I", "127.0.0.1", "-c", "2", "-i", "0.2", "127.0.0.1"],
        &["-I", "lo", "-c", "2", "-i", "0.2", "::1"],
        &["-I", "::1", "-c", "2", "-i", "0.2", "::1"],
        &["-q", "-c", "2", "-i", "0.2", "-s", "200", "127.0.0.1"],
    ] {
        let (o, ..) = like_ping(&t, args)?;
        ensure!(o.code == Some(0), "{args:?}: {o:#?}");
    }
    // A name from /etc/hosts (glibc in both), its replies named by glibc's reverse lookup.
    let (o, ..) = like_ping(&t, &["-c", "1", "localhost"])?;
    ensure!(
        o.code == Some(0)
            && o.header.starts_with("localhost (127.0.0.1) ")
            && o.replies.len() == 1
            && o.replies[0].from == "localhost (127.0.0.1)",
        "{o:#?}"
    );
    let r = ours(&t, &["-v", "-c", "1", "127.0.0.1"])?;
    ensure!(
        r.success()
            && r.stderr
                .contains("vrf-ping: default VRF, raw ICMP socket bound to no device"),
        "{}",
        r.describe("-v in the default VRF")
    );
    ensure!(
        echo_requests_seen(&t)? == before,
        "a peer saw an echo request sent from the default VRF"
    );
    Ok(())
}

/// `-I blue` as `ping -I blue` users type it: a VRF device selects the VRF, an enslaved device selects
/// its VRF and binds to the device; each reply comes from that VRF's peer (TTL 101 or 102).
fn interface_selects_the_vrf_like_ping() -> Result<()> {
    let t = Topology::new()?;
    for s in t.sites() {
        for dev in [s.vrf.as_str(), s.dev.as_str()] {
            for dst in [PEER_V4, PEER_V6] {
                let (o, ..) = like_ping(&t, &["-I", dev, "-c", "2", "-i", "0.2", dst])?;
                ensure_peer(&o, s, 2)?;
                ensure!(o.header.contains(&format!(" {dev}: ")), "{o:#?}");
            }
        }
        let r = ours(&t, &["-v", "-I", &s.dev, "-c", "1", PEER_V4])?;
        ensure!(
            r.success()
                && r.stderr.contains(&format!("vrf-ping: VRF {} (", s.vrf))
                && r.stderr
                    .contains(&format!("ICMP socket bound to {},", s.dev)),
            "{}",
            r.describe("-v with an enslaved device")
        );
        ensure_peer(&Output::parse(&r)?, s, 1)?;
    }
    // Unreachable in the VRF of the device: the same errors as ping's.
    let (o, ..) = like_ping(
        &t,
        &["-I", &t.blue.vrf, "-c", "2", "-i", "0.2", UNREACHABLE_V4],
    )?;
    ensure!(
        o.code == Some(1)
            && o.errors.len() == 2
            && o.errors
                .iter()
                .all(|e| e.2 == "Destination Host Unreachable"),
        "{o:#?}"
    );
    Ok(())
}

/// `-I ADDRESS`: without -V an address of the default VRF, as for ping, so the router's address (which
/// only VRFs have) is refused by both; with -V, the VRF's address.
fn source_address_with_and_without_vrf() -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (t.blue.vrf.as_str(), t.red.vrf.as_str());
    for (src, dst) in [(ROUTER_V4, PEER_V4), (vrf_lab::ROUTER_V6, PEER_V6)] {
        let (o, a, _) = like_ping(&t, &["-I", src, "-c", "1", dst])?;
        ensure!(
            o.code == Some(2)
                && a.stderr.contains(&format!(
                    "it is an address of VRF {blue} and VRF {red}: vrf-ping -V {blue} -I {src}"
                )),
            "{}",
            a.describe("-I ADDRESS of the VRFs, without -V")
        );
        for s in t.sites() {
            let r = ours(&t, &["-V", &s.vrf, "-I", src, "-c", "2", "-i", "0.2", dst])?;
            ensure_peer(&Output::parse(&r)?, s, 2).with_context(|| r.describe("-V -I ADDRESS"))?;
        }
    }
    // Neither a device nor an address: both say so and exit 2.
    let (o, a, _) = like_ping(&t, &["-I", "nosuchdev0", "-c", "1", PEER_V4])?;
    ensure!(
        o.code == Some(2)
            && a.stderr
                .contains("SO_BINDTODEVICE nosuchdev0: No such device"),
        "{}",
        a.describe("-I nosuchdev0")
    );
    Ok(())
}
