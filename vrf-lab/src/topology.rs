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
//! Each VRF's table ends in `unreachable default` routes (IPv4 and IPv6, metric [`CLOSING_METRIC`]), so
//! a lookup with no route in the VRF fails there; [`Topology::outside`] adds a host only the default VRF
//! reaches.
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

    /// Four `ip` processes in all (process starts are what costs under emulation): one makes the
    /// namespaces, one batch sets up the router, one each the peers; the peers' sysctls are written from
    /// a thread in their namespace.
    fn create(&self) -> Result<()> {
        let r = &self.router_ns;
        let mut namespaces = vec![format!("netns add {r}")];
        let mut router = vec!["link set lo up".to_string()];
        for s in self.sites() {
            let (vrf, dev) = (&s.vrf, &s.dev);
            namespaces.push(format!("netns add {}", s.peer_ns));
            router.extend([
                format!("link add {vrf} type vrf table {}", s.table),
                format!("link set {vrf} up"),
                // Close the VRF's table, as the kernel's VRF documentation says: a lookup with no route
                // in the VRF ends here instead of falling through to the main table (the default VRF).
                // (`default` would be IPv4 in a batch, which takes no -6: `::/0` for IPv6.)
                format!("route add vrf {vrf} unreachable default metric {CLOSING_METRIC}"),
                format!("route add vrf {vrf} unreachable ::/0 metric {CLOSING_METRIC}"),
                format!(
                    "link add {dev} type veth peer name eth0 netns {}",
                    s.peer_ns
                ),
                format!("link set {dev} master {vrf}"),
                format!("addr add {ROUTER_V4}/24 dev {dev}"),
                format!("addr add {ROUTER_V6}/64 dev {dev} nodad"),
                format!("link set {dev} up"),
            ]);
        }
        ip_batch(None, &namespaces)?;
        ip_batch(Some(r), &router)?;
        for s in self.sites() {
            let p = &s.peer_ns;
            // The peer's TTL and hop limit mark its replies; set them before its link comes up.
            let ttl = s.peer_ttl.to_string();
            sysctls(
                p,
                &[
                    ("net.ipv4.ip_default_ttl", &ttl),
                    ("net.ipv6.conf.eth0.hop_limit", &ttl),
                ],
            )?;
            let peer = [
                "link set lo up".to_string(),
                format!("addr add {PEER_V4}/24 dev eth0"),
                format!("addr add {PEER_V6}/64 dev eth0 nodad"),
                "link set eth0 up".to_string(),
                format!("route add default via {ROUTER_V4}"),
                // `default` would be IPv4 in a batch, which takes no -6.
                format!("route add ::/0 via {ROUTER_V6}"),
            ];
            ip_batch(Some(p), &peer)?;
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
        sysctls(&self.router_ns, &[(key, value)])
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
        // Three `ip` processes: the namespace, the router's end, the outside end.
        ip_batch(None, &[format!("netns add {}", out.ns)])?;
        let end = |dev: &str, v4: &str, v6: &str| {
            [
                format!("addr add {v4}/24 dev {dev}"),
                format!("addr add {v6}/64 dev {dev} nodad"),
                format!("link set {dev} up"),
            ]
        };
        let mut router = vec![format!(
            "link add {} type veth peer name eth0 netns {}",
            out.dev, out.ns
        )];
        router.extend(end(&out.dev, "10.77.0.1", "fd00:77::1"));
        let mut outside = vec!["link set lo up".to_string()];
        outside.extend(end("eth0", OUTSIDE_V4, OUTSIDE_V6));
        ip_batch(Some(r), &router)?;
        ip_batch(Some(&out.ns), &outside)?;
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
        // Deleting a namespace deletes its devices; a veth pair goes with either end. `-force` goes on
        // past a namespace that was never made.
        let del = [&self.red.peer_ns, &self.blue.peer_ns, &self.router_ns]
            .map(|ns| format!("netns del {ns}"));
        let _ = run_batch(&["-force"], &del);
    }
}

/// `program args…` run in network namespace `ns` (through `ip netns exec`).
pub fn netns_cmd<S: AsRef<OsStr>>(ns: &str, program: &str, args: &[S]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

/// Runs `ip` commands (`link add …`, without the `ip`) as one `ip -batch` in network namespace `ns`
/// (the caller's when `None`): one process for many commands. Stops at the first that fails.
pub fn ip_batch(ns: Option<&str>, commands: &[String]) -> Result<Run> {
    match ns {
        Some(ns) => run_batch(&["-n", ns], commands),
        None => run_batch(&[], commands),
    }?
    .ok()
}

/// `ip OPTIONS -batch -` fed `commands`, one a line.
fn run_batch(options: &[&str], commands: &[String]) -> Result<Run> {
    let mut c = Command::new("ip");
    c.args(options).args(["-batch", "-"]);
    let input = commands
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let mut run = cmd::run_with_input(&mut c, input.as_bytes())?;
    run.line = format!("{} <<< {input:?}", run.line);
    Ok(run)
}

/// Writes each `(key, value)` sysctl (`net.ipv4.ip_default_ttl`, dots or slashes) of network namespace
/// `ns`, from a thread inside it: the `net.*` sysctls under `/proc/sys` are those of the opener's
/// namespace.
pub fn sysctls(ns: &str, settings: &[(&str, &str)]) -> Result<()> {
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|&(k, v)| (k.to_string(), v.to_string()))
        .collect();
    crate::netns::run_in(ns, move || {
        for (key, value) in &settings {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value)
                .with_context(|| format!("setting sysctl {key}={value:?} ({path})"))?;
        }
        Ok(())
    })
    .with_context(|| format!("in netns {ns}"))
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
    /// Reads the counters of network namespace `ns`, from a thread inside it (`/proc/thread-self/net`
    /// is the calling thread's namespace's).
    pub fn read(ns: &str) -> Result<Self> {
        let snmp = crate::netns::run_in(ns, || {
            let mut text = String::new();
            for file in ["snmp", "snmp6"] {
                let path = format!("/proc/thread-self/net/{file}");
                text +=
                    &std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
            }
            Ok(text)
        })
        .with_context(|| format!("ICMP counters of netns {ns}"))?;
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

/// `/etc/vrf/VRF/resolv.conf` (mode 644: tests read it as `nobody` too) for both VRFs of a topology,
/// whose names are unique; the directories are removed on drop.
#[derive(Debug)]
pub struct ResolvConfs(Vec<std::path::PathBuf>);

impl ResolvConfs {
    /// Writes `text` as the resolv.conf of each VRF of `t`.
    pub fn write(t: &Topology, text: &str) -> Result<ResolvConfs> {
        use std::os::unix::fs::PermissionsExt;
        let mut made = ResolvConfs(Vec::new());
        for s in t.sites() {
            let dir = std::path::PathBuf::from(format!("/etc/vrf/{}", s.vrf));
            std::fs::create_dir_all(&dir)?;
            made.0.push(dir.clone());
            let file = dir.join("resolv.conf");
            std::fs::write(&file, text)?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
        }
        Ok(made)
    }
}

impl Drop for ResolvConfs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
