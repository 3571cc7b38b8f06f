//! Proves the lab itself: VRFs exist and isolate the same address, with iproute2's and iputils' own tools.

use anyhow::{Result, ensure};
use vrf_lab::cmd::Run;
use vrf_lab::topology::IcmpCounters;
use vrf_lab::{PEER_V4, PEER_V6, Site, Topology};

vrf_lab::lab_tests! {
    vrfs_exist_and_are_up,
    ip_vrf_exec_ping_reaches_own_peer_v4 = || ping_reaches_own_peer(PEER_V4),
    ip_vrf_exec_ping_reaches_own_peer_v6 = || ping_reaches_own_peer(PEER_V6),
    default_vrf_reaches_neither_peer,
    ip_vrf_identify_inside_ip_vrf_exec,
}

fn vrfs_exist_and_are_up() -> Result<()> {
    let t = Topology::new()?;
    for s in t.sites() {
        let link = t
            .router_run("ip", &["-d", "link", "show", "dev", &s.vrf])?
            .ok()?;
        let flags = link.stdout.split(['<', '>']).nth(1).unwrap_or_default();
        ensure!(
            flags.split(',').any(|f| f == "UP"),
            "VRF {} is not up:\n{}",
            s.vrf,
            link.stdout
        );
        ensure!(
            link.stdout.contains(&format!("vrf table {} ", s.table)),
            "{} is not a VRF with table {}:\n{}",
            s.vrf,
            s.table,
            link.stdout
        );
        let slaves = t
            .router_run("ip", &["-br", "link", "show", "master", &s.vrf])?
            .ok()?;
        ensure!(
            slaves.stdout.starts_with(&s.dev),
            "{} is not enslaved to {}:\n{}",
            s.dev,
            s.vrf,
            slaves.stdout
        );
        let routes = t
            .router_run("ip", &["route", "show", "vrf", &s.vrf])?
            .ok()?;
        ensure!(
            routes.stdout.contains("10.99.0.0/24"),
            "table of {} lacks the connected route:\n{}",
            s.vrf,
            routes.stdout
        );
    }
    let rules = t.router_run("ip", &["rule", "show"])?.ok()?;
    ensure!(
        rules
            .stdout
            .lines()
            .any(|l| l.starts_with("1000:") && l.contains("l3mdev")),
        "no l3mdev rule:\n{}",
        rules.stdout
    );
    Ok(())
}

fn ping(t: &Topology, vrf: Option<&Site>, dst: &str) -> Result<Run> {
    let ping = ["ping", "-c", "1", "-W", "2", dst];
    match vrf {
        Some(s) => t.router_run("ip", &[&["vrf", "exec", &s.vrf][..], &ping].concat()),
        None => t.router_run(ping[0], &ping[1..]),
    }
}

fn counters(t: &Topology) -> Result<[IcmpCounters; 2]> {
    Ok([
        IcmpCounters::read(&t.blue.peer_ns)?,
        IcmpCounters::read(&t.red.peer_ns)?,
    ])
}

fn echos(c: &IcmpCounters, dst: &str) -> u64 {
    if dst.contains(':') {
        c.in_echos_v6
    } else {
        c.in_echos_v4
    }
}

/// `ip vrf exec <vrf> ping` reaches the peer behind that VRF and not the other one, proven by the TTL of
/// the reply (each peer has its own) and by the peers' echo-request counters.
fn ping_reaches_own_peer(dst: &str) -> Result<()> {
    let t = Topology::new()?;
    for (i, s) in t.sites().into_iter().enumerate() {
        let before = counters(&t)?;
        let r = ping(&t, Some(s), dst)?;
        ensure!(r.success(), "{}", r.describe("did not reach the peer"));
        // iputils prints the reply's TTL (or hop limit) as `ttl=N`.
        let ttl = format!("ttl={} ", s.peer_ttl);
        ensure!(
            r.stdout.contains(&ttl),
            "reply in VRF {} lacks {ttl}(wrong peer?):\n{}",
            s.vrf,
            r.stdout
        );
        let after = counters(&t)?;
        ensure!(
            echos(&after[i], dst) == echos(&before[i], dst) + 1,
            "peer of {} saw no echo request",
            s.vrf
        );
        ensure!(
            echos(&after[1 - i], dst) == echos(&before[1 - i], dst),
            "the other VRF's peer saw the echo request sent in {}",
            s.vrf
        );
    }
    Ok(())
}

fn default_vrf_reaches_neither_peer() -> Result<()> {
    let t = Topology::new()?;
    let before = counters(&t)?;
    for dst in [PEER_V4, PEER_V6] {
        let r = ping(&t, None, dst)?;
        ensure!(
            !r.success(),
            "{}",
            r.describe("reached a VRF peer from the default VRF")
        );
    }
    ensure!(
        counters(&t)? == before,
        "a peer saw traffic from the default VRF"
    );
    Ok(())
}

fn ip_vrf_identify_inside_ip_vrf_exec() -> Result<()> {
    let t = Topology::new()?;
    for s in t.sites() {
        let r = t
            .router_run("ip", &["vrf", "exec", &s.vrf, "ip", "vrf", "identify"])?
            .ok()?;
        ensure!(
            r.stdout.trim() == s.vrf,
            "ip vrf identify printed {:?}, expected {:?}",
            r.stdout.trim(),
            s.vrf
        );
    }
    let r = t.router_run("ip", &["vrf", "identify"])?.ok()?;
    ensure!(
        r.stdout.trim().is_empty(),
        "outside any VRF, ip vrf identify printed {:?}",
        r.stdout.trim()
    );
    Ok(())
}
