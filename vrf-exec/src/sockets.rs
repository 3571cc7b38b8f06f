//! `vrf-exec sockets`: every TCP, UDP, raw and ICMP socket with its VRF, the processes that hold it and
//! how it got into the VRF, from `vrf_socket::inventory` (sock_diag and `/proc`). It also names what
//! deserves a look: unbound listeners that accept from every VRF because a `*_l3mdev_accept` switch is
//! on, and sockets of a process placed in a VRF that are not in that VRF.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use vrf_socket::Vrf;
use vrf_socket::inventory::{self, Binding, Kind, L3mdevAccept, SocketInfo};

use crate::cgroup;
use crate::query::{self, Placement};

/// Which kinds `-t`, `-u`, `-w`, `--icmp` asked for (none: all).
#[derive(Debug, Clone, Copy, Default)]
pub struct Kinds {
    pub tcp: bool,
    pub udp: bool,
    pub raw: bool,
    pub icmp: bool,
}

impl Kinds {
    fn admits(&self, kind: Kind) -> bool {
        let any = self.tcp || self.udp || self.raw || self.icmp;
        !any || match kind {
            Kind::Tcp => self.tcp,
            Kind::Udp => self.udp,
            Kind::Raw { .. } => self.raw,
            _ => self.icmp,
        }
    }
}

/// The command line of `vrf-exec sockets`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub vrf: Option<String>,
    pub kinds: Kinds,
    pub listening: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub json: bool,
}

/// The name the default VRF goes by (as `ip vrf exec default` spells it).
const DEFAULT: &str = "default";

/// One socket as the command shows it.
struct Row<'a> {
    s: &'a SocketInfo,
    /// The VRF's name, [`DEFAULT`], or `?` for a binding that could not be read.
    vrf: String,
    /// How it got there: `cgroup`, `unit`, `seccomp` (its process was placed in the VRF), `bound` (by
    /// the process itself), `accepted` (by the kernel, for a connection an unbound listener accepted
    /// through the VRF), `unbound`, or `-` (no process holds it).
    via: &'static str,
    /// Receives from every VRF (an unbound listener with its `*_l3mdev_accept` on).
    any_vrf: bool,
    warnings: Vec<String>,
}

/// `vrf-exec sockets [VRF] [-t] [-u] [-w] [--icmp] [-l] [-4|-6] [--json]`.
pub fn run(f: &Filter) -> Result<()> {
    if let Some(v) = f.vrf.as_deref().filter(|v| *v != DEFAULT) {
        cgroup::check_name(v)?;
        Vrf::by_name(v)?;
    }
    let inv = inventory::sockets().context("listing the sockets")?;
    let accept = L3mdevAccept::read();
    let placed = query::placements();
    let listeners = unbound_listeners(&inv.sockets);
    let mut rows: Vec<Row<'_>> = inv
        .sockets
        .iter()
        .filter(|s| f.kinds.admits(s.kind))
        .filter(|s| !f.listening || s.is_listening())
        .filter(|s| !(f.ipv4 && s.family.is_ipv6() || f.ipv6 && !s.family.is_ipv6()))
        .map(|s| row(s, &listeners, &placed, &accept))
        .filter(|r| match f.vrf.as_deref() {
            None => true,
            Some(v) => r.vrf == v || (r.any_vrf && v != DEFAULT),
        })
        .collect();
    // The default VRF first, then the VRFs in ifindex order (as `ip vrf show`), then as ss sorts.
    let order: HashMap<&str, usize> = inv
        .vrfs
        .vrfs()
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name(), i + 1))
        .collect();
    rows.sort_by(|a, b| {
        let key = |r: &Row<'_>| {
            (
                if r.vrf == DEFAULT {
                    0
                } else {
                    order.get(r.vrf.as_str()).copied().unwrap_or(usize::MAX)
                },
                r.s.kind.netid(),
                r.s.family.is_ipv6(),
                r.s.local,
                r.s.remote,
            )
        };
        key(a).cmp(&key(b))
    });
    if f.json {
        let out: Vec<_> = rows.iter().map(json).collect();
        println!("{}", serde_json::Value::Array(out));
    } else {
        print_table(&rows)?;
        for r in &rows {
            for w in &r.warnings {
                eprintln!("vrf-exec: warning: {w}");
            }
        }
    }
    for m in &inv.missing {
        eprintln!("vrf-exec: warning: not listed: {m}");
    }
    Ok(())
}

fn row<'a>(
    s: &'a SocketInfo,
    listeners: &HashSet<(u32, u16)>,
    placed: &HashMap<u32, Placement>,
    accept: &L3mdevAccept,
) -> Row<'a> {
    let vrf = match (s.binding, &s.vrf) {
        (Binding::Unknown, _) => "?".to_string(),
        (_, Some(v)) => v.name().to_string(),
        (_, None) => DEFAULT.to_string(),
    };
    let any_vrf = s.accepts_from_every_vrf(accept);
    let mut warnings = Vec::new();
    let placement = s.owners.iter().find_map(|o| Some((o, placed.get(&o.pid)?)));
    let via = match (placement, s.binding) {
        (Some((_, p)), _) if s.vrf.as_ref().is_some_and(|v| v.name() == p.vrf) => p.how.name(),
        (_, Binding::Unknown) => "?",
        (None, _) if s.owners.is_empty() => "-",
        (_, Binding::Unbound) => "unbound",
        _ if accepted(s, listeners) => "accepted",
        _ => "bound",
    };
    if let Some((o, p)) = placement
        && s.binding != Binding::Unknown
        && s.vrf.as_ref().is_none_or(|v| v.name() != p.vrf)
    {
        let there = match &s.vrf {
            Some(v) => format!("in VRF {v}"),
            None => "in the default VRF".to_string(),
        };
        warnings.push(format!(
            "{}({}) runs in VRF {} ({}) but holds {} socket {} {there}: a socket made before the \
             launch or bound elsewhere on purpose; its traffic does not follow the VRF",
            printable(&o.command),
            o.pid,
            p.vrf,
            p.how.name(),
            s.kind.netid(),
            s.local,
        ));
    }
    if let (true, Some(switch)) = (any_vrf, s.kind.l3mdev_accept_switch()) {
        warnings.push(format!(
            "unbound {} socket {} held by {} receives from every VRF, since net.ipv4.{switch}=1 (bind it to \
             one VRF, e.g. run it with vrf-exec VRF …, or set net.ipv4.{switch}=0 if nothing needs it)",
            s.kind.netid(),
            s.local,
            processes(s),
        ));
    }
    Row {
        s,
        vrf,
        via,
        any_vrf,
        warnings,
    }
}

/// The (process, port) pairs of the unbound TCP listeners: a bound connection on such a port of
/// such a process was bound by the kernel when the listener accepted it through a VRF
/// (`tcp_l3mdev_accept`). Gathered once, so that each connection is one lookup, not a pass over
/// every socket.
fn unbound_listeners(all: &[SocketInfo]) -> HashSet<(u32, u16)> {
    all.iter()
        .filter(|l| l.kind == Kind::Tcp && l.is_listening() && l.binding == Binding::Unbound)
        .flat_map(|l| l.owners.iter().map(|o| (o.pid, l.local.port())))
        .collect()
}

/// A TCP connection bound to a VRF whose local port has an unbound listener held by the same process
/// (see [`unbound_listeners`]).
fn accepted(s: &SocketInfo, listeners: &HashSet<(u32, u16)>) -> bool {
    s.kind == Kind::Tcp
        && !s.is_listening()
        && s.owners
            .iter()
            .any(|o| listeners.contains(&(o.pid, s.local.port())))
}

/// `sshd(99)`, `nginx(12),nginx(13)`, or `-`.
fn processes(s: &SocketInfo) -> String {
    if s.owners.is_empty() {
        return "-".into();
    }
    let p: Vec<String> = s
        .owners
        .iter()
        .map(|o| format!("{}({})", printable(&o.command), o.pid))
        .collect();
    p.join(",")
}

/// A command name as a terminal may show it: any process can name itself with control characters
/// (`prctl(PR_SET_NAME)`), which would otherwise reach the terminal as escape sequences. `?` stands in
/// for each (JSON escapes them itself).
pub fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `10.0.0.1:80`, `[::]:*`, with `%DEV` when bound to a device that is not the VRF itself (an enslaved
/// port, or a device of the default VRF), as ss shows bound sockets. A raw socket's local "port" is its
/// protocol, named as ss names it (`0.0.0.0:icmp`).
fn endpoint(addr: std::net::SocketAddr, device: Option<&str>, raw: bool) -> String {
    let port = match (addr.port(), raw) {
        (1, true) => "icmp".to_string(),
        (58, true) => "ipv6-icmp".to_string(),
        (255, true) => "raw".to_string(),
        (0, _) => "*".to_string(),
        (p, _) => p.to_string(),
    };
    let ip = match addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    match device {
        Some(d) => format!("{ip}%{d}:{port}"),
        None => format!("{ip}:{port}"),
    }
}

fn local_device(s: &SocketInfo) -> Option<&str> {
    let d = s.device.as_deref()?;
    (s.vrf.as_ref().map(Vrf::name) != Some(d)).then_some(d)
}

fn print_table(rows: &[Row<'_>]) -> Result<()> {
    use std::io::Write;
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                if r.any_vrf {
                    format!("{}*", r.vrf)
                } else {
                    r.vrf.clone()
                },
                r.s.kind.netid().to_string(),
                r.s.state_name().to_string(),
                endpoint(
                    r.s.local,
                    local_device(r.s),
                    matches!(r.s.kind, Kind::Raw { .. }),
                ),
                endpoint(r.s.remote, None, false),
                processes(r.s),
                r.via.to_string(),
            ]
        })
        .collect();
    let header = ["VRF", "NETID", "STATE", "LOCAL", "PEER", "PROCESS", "VIA"];
    let mut width = header.map(str::len);
    for c in &cells {
        for (w, cell) in width.iter_mut().zip(c) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |out: &mut dyn Write, c: &[&str]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in c.iter().zip(width).enumerate() {
            if i + 1 == c.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$} "));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(&mut out, &header)?;
    for c in &cells {
        line(&mut out, &c.each_ref().map(String::as_str))?;
    }
    if rows.iter().any(|r| r.any_vrf) {
        writeln!(
            out,
            "* unbound, and accepts from every VRF (net.ipv4.*_l3mdev_accept=1)"
        )?;
    }
    out.flush()?;
    Ok(())
}

fn json(r: &Row<'_>) -> serde_json::Value {
    let s = r.s;
    let (binding, ifindex) = match s.binding {
        Binding::Unbound => ("unbound", None),
        Binding::Device(i) => ("device", Some(i.get())),
        Binding::Unknown => ("unknown", None),
    };
    let procs: Vec<_> = s
        .owners
        .iter()
        .map(|o| serde_json::json!({ "pid": o.pid, "command": o.command, "fd": o.fd }))
        .collect();
    serde_json::json!({
        "vrf": match s.binding { Binding::Unknown => None, _ => Some(r.vrf.as_str()) },
        "netid": s.kind.netid(),
        "protocol": match s.kind { Kind::Raw { protocol } => Some(protocol), _ => None },
        "family": if s.family.is_ipv6() { "ipv6" } else { "ipv4" },
        "state": s.state_name(),
        "local_address": s.local.ip().to_string(),
        "local_port": s.local.port(),
        "peer_address": s.remote.ip().to_string(),
        "peer_port": s.remote.port(),
        "binding": binding,
        "ifindex": ifindex,
        "device": s.device,
        "uid": s.uid,
        "inode": s.inode,
        "processes": procs,
        "via": r.via,
        "accepts_from_every_vrf": r.any_vrf,
        "warnings": r.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_cannot_reach_the_terminal_raw() {
        assert_eq!(printable("sshd"), "sshd");
        assert_eq!(printable("a\x1b[2Jb\n\t"), "a?[2Jb??");
    }

    #[test]
    fn endpoints_as_ss_shows_them() {
        let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert_eq!(endpoint(a("0.0.0.0:0"), None, false), "0.0.0.0:*");
        assert_eq!(
            endpoint(a("[::1]:80"), Some("eth1"), false),
            "[::1]%eth1:80"
        );
        assert_eq!(endpoint(a("0.0.0.0:1"), None, true), "0.0.0.0:icmp");
        assert_eq!(endpoint(a("[::]:58"), None, true), "[::]:ipv6-icmp");
        assert_eq!(endpoint(a("0.0.0.0:17"), None, true), "0.0.0.0:17");
    }

    #[test]
    fn kinds_filter_as_ss_flags() {
        let none = Kinds::default();
        assert!(none.admits(Kind::Tcp) && none.admits(Kind::Icmp));
        let tu = Kinds {
            tcp: true,
            udp: true,
            ..Kinds::default()
        };
        assert!(
            tu.admits(Kind::Udp) && !tu.admits(Kind::Raw { protocol: 1 }) && !tu.admits(Kind::Icmp)
        );
    }
}
