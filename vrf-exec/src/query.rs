//! The queries: `identify`, `pids` and `list`. They read what the kernel shows and change nothing: a
//! process's VRF is the `/vrf/NAME` part of its cgroup-v2 path (`/proc/PID/cgroup`), a VRF's processes
//! are those listed in the `cgroup.procs` of its `vrf/NAME` groups, and the VRFs themselves come from
//! rtnetlink.

use std::path::PathBuf;

use anyhow::{Context, Result};
use vrf_socket::Vrf;

use crate::{cgroup, namespace};

/// `vrf-exec identify [PID] [--json]`: the VRF process `pid` (default: this one) runs in; nothing
/// printed when none.
pub fn identify(pid: Option<u32>, json: bool) -> Result<()> {
    let pid = pid.unwrap_or_else(std::process::id);
    let vrf = cgroup::identify(pid).with_context(|| format!("reading /proc/{pid}/cgroup"))?;
    if json {
        println!("{}", serde_json::json!({ "pid": pid, "vrf": vrf }));
    } else if let Some(v) = vrf {
        println!("{v}");
    }
    Ok(())
}

/// `vrf-exec pids VRF [--json]`: the processes in VRF `vrf`, with their command names. Fails, as `ip
/// vrf pids` does, when there is no such VRF.
pub fn pids(vrf: &str, json: bool) -> Result<()> {
    cgroup::check_name(vrf)?;
    Vrf::by_name(vrf)?;
    let pids = cgroup::pids(&namespace::ensure_cgroup2()?, vrf)?;
    if json {
        let list: Vec<_> = pids
            .iter()
            .map(|p| serde_json::json!({ "pid": p, "comm": comm(*p) }))
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for p in pids {
            println!(
                "{p:>7}  {}",
                comm(p).unwrap_or_else(|| "<terminated?>".into())
            );
        }
    }
    Ok(())
}

/// The command name of process `pid`, `None` when it is gone.
fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// `vrf-exec list [--json]`: every VRF with its table, state, process count and enslaved devices.
pub fn list(json: bool) -> Result<()> {
    let vrfs = Vrf::list()?;
    let mount: Option<PathBuf> = namespace::ensure_cgroup2().ok();
    let mut rows = Vec::new();
    for v in &vrfs {
        let slaves: Vec<String> = v.slaves()?.into_iter().map(|s| s.name).collect();
        let procs = mount
            .as_deref()
            .map(|m| cgroup::pids(m, v.name()).map(|p| p.len()).unwrap_or(0));
        rows.push((v, slaves, procs));
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(v, slaves, procs)| {
                serde_json::json!({
                    "name": v.name(), "ifindex": v.index().get(), "table": v.table(),
                    "state": if v.is_up() { "up" } else { "down" }, "slaves": slaves, "processes": procs,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    if rows.is_empty() {
        println!("No VRF is configured (ip link add NAME type vrf table N).");
        return Ok(());
    }
    println!(
        "{:<16} {:>6} {:<5} {:>5}  SLAVES",
        "NAME", "TABLE", "STATE", "PROCS"
    );
    for (v, slaves, procs) in rows {
        let procs = procs.map_or("?".to_string(), |n| n.to_string());
        let state = if v.is_up() { "up" } else { "down" };
        println!(
            "{:<16} {:>6} {:<5} {:>5}  {}",
            v.name(),
            v.table(),
            state,
            procs,
            slaves.join(" ")
        );
    }
    Ok(())
}
