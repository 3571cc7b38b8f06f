//! The queries: `identify`, `pids` and `list`. They read what the kernel shows and change nothing: a
//! process's VRF is the `/vrf/NAME` part of its cgroup-v2 path (`/proc/PID/cgroup`), a VRF's processes
//! are those listed in the `cgroup.procs` of its `vrf/NAME` groups, and the VRFs themselves come from
//! rtnetlink. A process in no such group may still be in a VRF: its cgroup may carry vrf-exec's pinned
//! binder (a systemd unit put in a VRF with `vrf-exec unit`, read with `BPF_PROG_QUERY`), or it may run
//! under a seccomp-mode supervisor.

use std::collections::HashMap;
use std::fs::File;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vrf_socket::Vrf;

use crate::table::OpenTable;
use crate::{bpf, cgroup, namespace, seccomp};

/// `vrf-exec identify [PID] [--json]`: the VRF process `pid` (default: this one) runs in; nothing
/// printed when none.
pub fn identify(pid: Option<u32>, json: bool) -> Result<()> {
    let pid = pid.unwrap_or_else(std::process::id);
    let vrf = cgroup::identify(pid).with_context(|| format!("reading /proc/{pid}/cgroup"))?;
    // Not in a VRF's cgroup: perhaps in a cgroup that carries a binder (a unit), or under a
    // seccomp-mode supervisor.
    let vrf = vrf
        .or_else(|| {
            let mount = namespace::ensure_cgroup2().ok();
            bound_by_program(mount.as_deref(), &[pid])
                .into_keys()
                .next()
        })
        .or_else(|| seccomp::vrf_of(pid));
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
    // The cgroup mode's processes (where cgroup2 can be seen), then the seccomp mode's.
    let mount = namespace::ensure_cgroup2().ok();
    let mut pids = match &mount {
        Some(m) => cgroup::pids(m, vrf)?,
        None => Vec::new(),
    };
    pids.extend(seccomp::pids_in(vrf));
    pids.extend(
        bound_by_program(mount.as_deref(), &all_pids())
            .remove(vrf)
            .unwrap_or_default(),
    );
    pids.sort_unstable();
    pids.dedup();
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

/// The processes among `pids` whose cgroup is in no `vrf/NAME` group but carries a binder (attached
/// there or above), by the name of the VRF it binds to. Each cgroup is asked once. Empty when cgroup2
/// cannot be seen (`mount` is `None`) or the kernel does not show programs to us (no privilege).
fn bound_by_program(mount: Option<&Path>, pids: &[u32]) -> HashMap<String, Vec<u32>> {
    let mut found: HashMap<String, Vec<u32>> = HashMap::new();
    let Some(mount) = mount else {
        return found;
    };
    let mut by_cgroup: HashMap<String, Option<String>> = HashMap::new();
    let mut names: HashMap<NonZeroU32, Option<String>> = HashMap::new();
    for &pid in pids {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        let Some(path) = cgroup::v2_path(&text) else {
            continue;
        };
        if cgroup::vrf_of_path(path).is_some() {
            continue; // The cgroup mode's: counted by its group.
        }
        let vrf = by_cgroup
            .entry(path.to_string())
            .or_insert_with(|| {
                let dir = mount.join(path.trim_start_matches('/'));
                let ifindex = bpf::cgroup_binding(File::open(Path::new(&dir)).ok()?)?;
                names
                    .entry(ifindex)
                    .or_insert_with(|| Vrf::by_index(ifindex).ok().map(|v| v.name().to_string()))
                    .clone()
            })
            .clone();
        if let Some(v) = vrf {
            found.entry(v).or_default().push(pid);
        }
    }
    found
}

/// Every process's pid (`/proc`).
fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The command name of process `pid`, `None` when it is gone.
fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// `vrf-exec list [--json]`: every VRF with its table, state, process count and enslaved devices.
///
/// A VRF whose table lets lookups fall through to the main table is named on stderr, one line each
/// with the fix, and the table on stdout keeps its columns. That table is vrf-exec's own (not `ip vrf
/// show`'s), but scripts read its columns by position, SLAVES last and of any width, so a column added
/// there would move what they read; and an iproute2 user expects such notes where `ip` prints its
/// own ("Warning: …" on stderr), not in the listing. `--json` carries it as `open_tables`: the
/// families that fall through (`[]` when the table is closed, `null` when it could not be read).
pub fn list(json: bool) -> Result<()> {
    let vrfs = Vrf::list()?;
    let mount: Option<PathBuf> = namespace::ensure_cgroup2().ok();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let supervised = seccomp::pids_by_vrf();
    let by_program = bound_by_program(mount.as_deref(), &all_pids());
    for v in &vrfs {
        let slaves: Vec<String> = v.slaves()?.into_iter().map(|s| s.name).collect();
        let seccomp_procs = supervised.get(v.name()).map_or(0, Vec::len);
        // Where cgroup2 cannot be seen (an unprivileged caller under `ip netns exec`), the cgroup
        // mode's processes cannot be counted, the seccomp mode's still can: as `pids` lists them.
        let in_cgroups = mount.as_deref().map_or(0, |m| {
            cgroup::pids(m, v.name()).map(|p| p.len()).unwrap_or(0)
        });
        let in_units = by_program.get(v.name()).map_or(0, Vec::len);
        let procs = Some(in_cgroups + seccomp_procs + in_units);
        let open = OpenTable::of(v);
        match &open {
            Ok(None) => {}
            Ok(Some(o)) if !json => notes.push(format!("{o} (fix: {})", o.fixes())),
            Ok(Some(_)) => {}
            Err(e) => notes.push(format!(
                "cannot tell whether VRF {v}'s table {} ends every lookup: {e}",
                v.table()
            )),
        }
        rows.push((v, slaves, procs, open.ok()));
    }
    // After the listing, so that a terminal shows them below it.
    let warn = |notes: &[String]| {
        for n in notes {
            eprintln!("vrf-exec: warning: {n}");
        }
    };
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(v, slaves, procs, open)| {
                let open_tables = open.as_ref().map(|o| OpenTable::json_names(o.as_ref()));
                serde_json::json!({
                    "name": v.name(), "ifindex": v.index().get(), "table": v.table(),
                    "state": if v.is_up() { "up" } else { "down" }, "slaves": slaves, "processes": procs,
                    "open_tables": open_tables,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        warn(&notes);
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
    for (v, slaves, procs, _) in rows {
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
    std::io::Write::flush(&mut std::io::stdout())?;
    warn(&notes);
    Ok(())
}
