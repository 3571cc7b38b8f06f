//! The lab topology: a router namespace holding two VRFs that use the **same** addresses, each reaching its
//! own peer namespace over a veth pair.
//!
//! ```text
//!  router netns                                    peer netns
//!  [VRF blue, table 10]--[vb…] 10.99.0.1 ── veth ── eth0 10.99.0.2   (answers with TTL 101)
//!  [VRF red,  table 20]--[vr…] 10.99.0.1 ── veth ── eth0 10.99.0.2   (answers with TTL 102)
//!                     (IPv6: fd00:99::1/64 and fd00:99::2/64 on the same links)
//! ```
//!
//! A packet sent in the wrong VRF reaches the wrong peer, and is caught: each peer has its own TTL / hop
//! limit in its replies and its own ICMP counters. The default VRF of the router has no route to either.
//! Every [`Topology::new`] uses fresh names, so tests can build topologies in parallel; dropping it
//! deletes the namespaces and everything in them.

use std::ffi::OsStr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

use crate::cmd::{self, Run};

/// The router's address in every VRF.
pub const ROUTER_V4: &str = "10.99.0.1";
/// The peer's address behind every VRF.
pub const PEER_V4: &str = "10.99.0.2";
/// The router's IPv6 address in every VRF.
pub const ROUTER_V6: &str = "fd00:99::1";
/// The peer's IPv6 address behind every VRF.
pub const PEER_V6: &str = "fd00:99::2";

/// One VRF of the router and the peer namespace behind it.
#[derive(Debug, Clone)]
pub struct Site {
    /// The VRF device's name (`blue…` in tests, `blue` in the demo).
    pub vrf: String,
    /// The VRF's routing table.
    pub table: u32,
    /// The router's veth end, enslaved to the VRF.
    pub dev: String,
    /// The peer's network namespace.
    pub peer_ns: String,
    /// TTL and hop limit the peer puts in its packets, which tells its replies apart.
    pub peer_ttl: u8,
}

/// A built topology; dropping it tears it down.
#[derive(Debug)]
pub struct Topology {
    /// The router's network namespace.
    pub router_ns: String,
    /// VRF `blue`, table 10.
    pub blue: Site,
    /// VRF `red`, table 20.
    pub red: Site,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A short id unique among the processes of this host: the pid and a counter, in hex.
fn unique_id() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Topology {
    /// Builds a topology with unique names: VRFs `blue<id>` and `red<id>` in namespace `vl<id>-router`.
    pub fn new() -> Result<Self> {
        let id = unique_id();
        let names = [
            format!("blue{id}"),
            format!("red{id}"),
            format!("vb{id}"),
            format!("vr{id}"),
        ];
        Self::build(&format!("vl{id}-router"), names)
    }

    /// Builds the topology with VRFs named exactly `blue` and `red` in namespace `router_ns` (for the demo
    /// and manual use; only one such topology can exist at a time).
    pub fn named(router_ns: &str) -> Result<Self> {
        Self::build(
            router_ns,
            ["blue", "red", "veth-blue", "veth-red"].map(String::from),
        )
    }

    /// `names`: the blue VRF, the red VRF, and the router's veth end in each.
    fn build(router_ns: &str, names: [String; 4]) -> Result<Self> {
        let [blue, red, blue_dev, red_dev] = names;
        let site = |vrf, table, dev, peer: &str, ttl| Site {
            vrf,
            table,
            dev,
            peer_ns: format!("{router_ns}-{peer}"),
            peer_ttl: ttl,
        };
        let topo = Topology {
            router_ns: router_ns.to_string(),
            blue: site(blue, 10, blue_dev, "blue", 101),
            red: site(red, 20, red_dev, "red", 102),
        };
        for name in [&topo.blue.vrf, &topo.red.vrf, &topo.blue.dev, &topo.red.dev] {
            if name.len() > 15 {
                bail!("interface name {name:?} is longer than 15 bytes");
            }
        }
        // From here on, Drop cleans up whatever was made.
        topo.create()
            .with_context(|| format!("building the lab topology in netns {router_ns}"))?;
        Ok(topo)
    }

    fn create(&self) -> Result<()> {
        let r = &self.router_ns;
        ip(&["netns", "add", r])?;
        ip(&["-n", r, "link", "set", "lo", "up"])?;
        for s in self.sites() {
            let p = &s.peer_ns;
            ip(&["netns", "add", p])?;
            ip(&["-n", p, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                r,
                "link",
                "add",
                &s.vrf,
                "type",
                "vrf",
                "table",
                &s.table.to_string(),
            ])?;
            ip(&["-n", r, "link", "set", &s.vrf, "up"])?;
            // Close the VRF's table, as the kernel's VRF documentation says: a lookup with no route in
            // the VRF ends here instead of falling through to the main table (the default VRF).
            for family in ["-4", "-6"] {
                ip(&[
                    "-n",
                    r,
                    family,
                    "route",
                    "add",
                    "vrf",
                    &s.vrf,
                    "unreachable",
                    "default",
                    "metric",
                    CLOSING_METRIC,
                ])?;
            }
            ip(&[
                "-n", r, "link", "add", &s.dev, "type", "veth", "peer", "name", "eth0", "netns", p,
            ])?;
            ip(&["-n", r, "link", "set", &s.dev, "master", &s.vrf])?;
            // The peer's TTL and hop limit mark its replies; set them before its link comes up.
            let ttl = s.peer_ttl.to_string();
            sysctl(p, "net.ipv4.ip_default_ttl", &ttl)?;
            sysctl(p, "net.ipv6.conf.eth0.hop_limit", &ttl)?;
            for (ns, dev, v4, v6) in [
                (r, &s.dev, ROUTER_V4, ROUTER_V6),
                (p, &"eth0".to_string(), PEER_V4, PEER_V6),
            ] {
                ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev])?;
                ip(&[
                    "-n",
                    ns,
                    "-6",
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
            }
            ip(&["-n", p, "route", "add", "default", "via", ROUTER_V4])?;
            ip(&["-n", p, "-6", "route", "add", "default", "via", ROUTER_V6])?;
        }
        Ok(())
    }

    /// Both sites, blue first.
    pub fn sites(&self) -> [&Site; 2] {
        [&self.blue, &self.red]
    }

    /// `program args…` run in the router namespace (through `ip netns exec`).
    pub fn router_cmd<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Command {
        netns_cmd(&self.router_ns, program, args)
    }

    /// `program args…` run in the peer namespace of `site`.
    pub fn peer_cmd<S: AsRef<OsStr>>(&self, site: &Site, program: &str, args: &[S]) -> Command {
        netns_cmd(&site.peer_ns, program, args)
    }

    /// Sets sysctl `key` to `value` in the router namespace (e.g. `net.ipv4.tcp_l3mdev_accept`).
    pub fn router_sysctl(&self, key: &str, value: &str) -> Result<()> {
        sysctl(&self.router_ns, key, value).map(drop)
    }

    /// Runs `program args…` in the router namespace and returns how it went (any exit status).
    pub fn router_run<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Result<Run> {
        cmd::run(&mut self.router_cmd(program, args))
    }
}

/// The metric of the `unreachable default` route that closes each VRF's table (the highest there is).
pub const CLOSING_METRIC: &str = "4278198272";

/// Where the outside neighbour of [`Topology::outside`] is, from the router's default VRF.
pub const OUTSIDE_V4: &str = "10.77.0.2";
/// The IPv6 address of the outside neighbour.
pub const OUTSIDE_V6: &str = "fd00:77::2";

/// A host that only the router's **default VRF** reaches: namespace `<router>-out`, linked by veth
/// (`<dev>` on the router, in no VRF, 10.77.0.1/24 and fd00:77::1/64) to its `eth0` (10.77.0.2,
/// fd00:77::2). What a packet that leaves a VRF reaches. Deleted on drop.
#[derive(Debug)]
pub struct Outside {
    /// Its network namespace.
    pub ns: String,
    /// The router's device towards it, in the default VRF.
    pub dev: String,
}

impl Topology {
    /// Adds an [`Outside`] host to the router's default VRF.
    pub fn outside(&self) -> Result<Outside> {
        let r = &self.router_ns;
        let out = Outside {
            ns: format!("{r}-out"),
            dev: format!(
                "vo{}",
                r.trim_start_matches("vl").trim_end_matches("-router")
            ),
        };
        ip(&["netns", "add", &out.ns])?;
        ip(&[
            "-n", r, "link", "add", &out.dev, "type", "veth", "peer", "name", "eth0", "netns",
            &out.ns,
        ])?;
        for (ns, dev, v4, v6) in [
            (r.as_str(), out.dev.as_str(), "10.77.0.1", "fd00:77::1"),
            (out.ns.as_str(), "eth0", OUTSIDE_V4, OUTSIDE_V6),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev])?;
            ip(&[
                "-n",
                ns,
                "-6",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        ip(&["-n", &out.ns, "link", "set", "lo", "up"])?;
        Ok(out)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = cmd::run(Command::new("ip").args(["netns", "del", &self.ns]));
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a namespace deletes its devices; a veth pair goes with either end.
        for ns in [&self.red.peer_ns, &self.blue.peer_ns, &self.router_ns] {
            let _ = cmd::run(Command::new("ip").args(["netns", "del", ns]));
        }
    }
}

/// `program args…` run in network namespace `ns` (through `ip netns exec`).
pub fn netns_cmd<S: AsRef<OsStr>>(ns: &str, program: &str, args: &[S]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

fn ip(args: &[&str]) -> Result<Run> {
    cmd::run_ok("ip", args)
}

fn sysctl(ns: &str, key: &str, value: &str) -> Result<Run> {
    cmd::run(&mut netns_cmd(
        ns,
        "sysctl",
        &["-qw", &format!("{key}={value}")],
    ))?
    .ok()
}

/// ICMP counters of a namespace (`/proc/net/snmp` and `/proc/net/snmp6`), read from inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IcmpCounters {
    /// ICMPv4 echo requests received.
    pub in_echos_v4: u64,
    /// ICMPv6 echo requests received.
    pub in_echos_v6: u64,
}

impl IcmpCounters {
    /// Reads the counters of network namespace `ns`.
    pub fn read(ns: &str) -> Result<Self> {
        let snmp = cmd::run(&mut netns_cmd(
            ns,
            "cat",
            &["/proc/net/snmp", "/proc/net/snmp6"],
        ))?
        .ok()?
        .stdout;
        Ok(IcmpCounters {
            in_echos_v4: snmp_value(&snmp, "Icmp", "InEchos")?,
            in_echos_v6: snmp6_value(&snmp, "Icmp6InEchos")?,
        })
    }
}

/// A value from `/proc/net/snmp`: a header line `Group: names…` followed by `Group: values…`.
fn snmp_value(text: &str, group: &str, field: &str) -> Result<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    if let (Some(names), Some(values)) = (lines.next(), lines.next())
        && let Some((_, v)) = names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == field)
    {
        return v
            .parse()
            .with_context(|| format!("{group} {field} = {v:?}"));
    }
    bail!("no {group} {field} in /proc/net/snmp")
}

/// A value from `/proc/net/snmp6`: lines of `Name value`.
fn snmp6_value(text: &str, field: &str) -> Result<u64> {
    for l in text.lines() {
        let mut it = l.split_whitespace();
        if it.next() == Some(field)
            && let Some(v) = it.next()
        {
            return v.parse().with_context(|| format!("{field} = {v:?}"));
        }
    }
    bail!("no {field} in /proc/net/snmp6")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\nIcmp: InMsgs InErrors InEchos OutMsgs\nIcmp: 7 0 3 9\n\
                        Icmp6InMsgs                     \t4\nIcmp6InEchos 2\n";

    #[test]
    fn parses_snmp_counters() {
        assert_eq!(snmp_value(SNMP, "Icmp", "InEchos").unwrap(), 3);
        assert_eq!(snmp_value(SNMP, "Ip", "DefaultTTL").unwrap(), 64);
        assert!(snmp_value(SNMP, "Icmp", "Nope").is_err());
        assert_eq!(snmp6_value(SNMP, "Icmp6InEchos").unwrap(), 2);
        assert_eq!(snmp6_value(SNMP, "Icmp6InMsgs").unwrap(), 4);
    }

    #[test]
    fn ids_are_unique_and_names_fit() {
        let (a, b) = (unique_id(), unique_id());
        assert_ne!(a, b);
        assert!(format!("blue{a}").len() <= 15);
    }
}
