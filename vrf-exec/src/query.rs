//! The queries: `identify`, `pids` and `list`. They read what the kernel shows and change nothing: a
//! process's VRF is the `/vrf/NAME` part of its cgroup-v2 path (`/proc/PID/cgroup`), a VRF's processes
//! are those listed in the `cgroup.procs` of its `vrf/NAME` groups, and the VRFs themselves come from
//! rtnetlink. A process in no such group may still be in a VRF: its cgroup may carry vrf-exec's pinned
//! binder (a systemd unit put in a VRF with `vrf-exec unit`, read with `BPF_PROG_QUERY`), or it may run
//! under a seccomp-mode supervisor.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vrf_socket::{Vrf, VrfSnapshot};

use crate::table::OpenTable;
use crate::{bpf, cgroup, namespace, seccomp};

/// How a process came to run in a VRF, by the mechanisms that put every socket it makes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub vrf: String,
    pub how: How,
}

/// See [`Placement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// In a `vrf/NAME` cgroup: launched by vrf-exec or `ip vrf exec`.
    Cgroup,
    /// In a cgroup that carries vrf-exec's or iproute2's binder (a systemd unit put in the VRF with
    /// `vrf-exec unit`).
    Unit,
    /// In a cgroup that carries systemd's own binder (`BindNetworkInterface=`, systemd 260+).
    Systemd,
    /// Under a seccomp-mode supervisor.
    Seccomp,
}

impl How {
    pub fn name(self) -> &'static str {
        match self {
            How::Cgroup => "cgroup",
            How::Unit => "unit",
            How::Systemd => "systemd",
            How::Seccomp => "seccomp",
        }
    }
}

/// The VRF process `pid` was placed in, if any. Fails when its `/proc/PID/cgroup` cannot be read (no
/// such process).
pub fn placement(pid: u32) -> Result<Option<Placement>> {
    let cgroup = cgroup::identify(pid).with_context(|| format!("reading /proc/{pid}/cgroup"))?;
    let placed = |vrf: String, how| Placement { vrf, how };
    // Not in a VRF's cgroup: perhaps in a cgroup that carries a binder (a unit), or under a
    // seccomp-mode supervisor.
    Ok(cgroup
        .map(|v| placed(v, How::Cgroup))
        .or_else(|| {
            let mount = namespace::ensure_cgroup2().ok();
            bound_by_program(mount.as_deref(), &[pid])
                .into_iter()
                .next()
                .and_then(|(v, p)| Some(placed(v, p.first()?.1)))
        })
        .or_else(|| seccomp::vrf_of(pid).map(|v| placed(v, How::Seccomp))))
}

/// Every placed process, by pid (one pass over `/proc` per mechanism).
pub fn placements() -> HashMap<u32, Placement> {
    let mut out = HashMap::new();
    let mut add = |vrf: &str, pid: u32, how: How| {
        out.entry(pid).or_insert_with(|| Placement {
            vrf: vrf.to_string(),
            how,
        });
    };
    let mount = namespace::ensure_cgroup2().ok();
    if let Some(m) = &mount {
        for (vrf, pids) in cgroup::pids_by_vrf(m).unwrap_or_default() {
            pids.into_iter().for_each(|p| add(&vrf, p, How::Cgroup));
        }
    }
    for (vrf, pids) in bound_by_program(mount.as_deref(), &all_pids()) {
        pids.into_iter().for_each(|(p, how)| add(&vrf, p, how));
    }
    for (vrf, pids) in seccomp::pids_by_vrf() {
        pids.into_iter().for_each(|p| add(&vrf, p, How::Seccomp));
    }
    out
}

/// `vrf-exec identify [PID] [--json]`: the VRF process `pid` (default: this one) runs in; nothing
/// printed when none. A process placed in no VRF whose sockets are bound to VRFs (a daemon that binds
/// its own) gets one line per such VRF.
pub fn identify(pid: Option<u32>, json: bool) -> Result<()> {
    let pid = pid.unwrap_or_else(std::process::id);
    if let Some(p) = placement(pid)? {
        if json {
            println!(
                "{}",
                serde_json::json!({ "pid": pid, "vrf": p.vrf, "vrfs": [p.vrf], "how": p.how.name() })
            );
        } else {
            println!("{}", p.vrf);
        }
        return Ok(());
    }
    // Another user's process (or one that made itself undumpable, as a seccomp-mode supervisor does)
    // hides its descriptors from us: then, as before sockets were looked at, nothing is known.
    let inv = match vrf_socket::inventory::sockets_of_process(pid) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
        r => Some(r.with_context(|| format!("reading the sockets of process {pid}"))?),
    };
    let vrfs: std::collections::BTreeSet<&str> = inv
        .iter()
        .flat_map(|inv| &inv.sockets)
        .filter_map(|s| Some(s.vrf.as_ref()?.name()))
        .collect();
    if json {
        let single = (vrfs.len() == 1).then(|| vrfs.first().copied()).flatten();
        println!(
            "{}",
            serde_json::json!({
                "pid": pid, "vrf": single, "vrfs": vrfs,
                "how": (!vrfs.is_empty()).then_some("sockets"), "mixed": vrfs.len() > 1,
                "sockets_readable": inv.is_some(),
            })
        );
    } else {
        for v in vrfs {
            println!("{v}");
        }
    }
    Ok(())
}

/// `vrf-exec pids VRF [--all] [--json]`: the processes in VRF `vrf`, with their command names. Fails,
/// as `ip vrf pids` does, when there is no such VRF. With `all`, also the processes holding sockets
/// bound to the VRF (or its slaves) that were not placed in it.
pub fn pids(vrf: &str, all: bool, json: bool) -> Result<()> {
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
            .unwrap_or_default()
            .into_iter()
            .map(|(p, _)| p),
    );
    let mut bound_only = Vec::new();
    if all {
        let inv = vrf_socket::inventory::sockets().context("listing the sockets")?;
        bound_only.extend(
            inv.in_vrf(vrf)
                .flat_map(|s| s.owners.iter().map(|o| o.pid))
                .filter(|p| !pids.contains(p)),
        );
        bound_only.sort_unstable();
        bound_only.dedup();
    }
    pids.sort_unstable();
    pids.dedup();
    let rows = pids
        .iter()
        .map(|p| (*p, "launched"))
        .chain(bound_only.iter().map(|p| (*p, "sockets")));
    if json {
        let list: Vec<_> = rows
            .map(|(p, how)| {
                let mut o = serde_json::json!({ "pid": p, "comm": comm(p) });
                if all {
                    o["how"] = how.into();
                }
                o
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for (p, _) in rows {
            println!(
                "{p:>7}  {}",
                comm(p).map_or_else(|| "<terminated?>".into(), |c| crate::sockets::printable(&c))
            );
        }
    }
    Ok(())
}

/// The processes among `pids` whose cgroup is in no `vrf/NAME` group but carries a binder (attached
/// there or above), by the name of the VRF it binds to. Each cgroup is asked once. Empty when cgroup2
/// cannot be seen (`mount` is `None`) or the kernel does not show programs to us (no privilege).
fn bound_by_program(mount: Option<&Path>, pids: &[u32]) -> HashMap<String, Vec<(u32, How)>> {
    let mut found: HashMap<String, Vec<(u32, How)>> = HashMap::new();
    let Some(mount) = mount else {
        return found;
    };
    let mut by_cgroup: HashMap<String, Option<(String, How)>> = HashMap::new();
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
                let (ifindex, binder) = bpf::cgroup_binder(File::open(Path::new(&dir)).ok()?)?;
                let how = match binder {
                    bpf::Binder::Systemd => How::Systemd,
                    _ => How::Unit,
                };
                let name = names
                    .entry(ifindex)
                    .or_insert_with(|| Vrf::by_index(ifindex).ok().map(|v| v.name().to_string()))
                    .clone()?;
                Some((name, how))
            })
            .clone();
        if let Some((v, how)) = vrf {
            found.entry(v).or_default().push((pid, how));
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

/// How many VRFs with open tables `list` names one by one on stderr; more are counted in one line.
const MAX_TABLE_NOTES: usize = 10;

/// `vrf-exec list [--json]`: every VRF with its table, state, process count and enslaved devices.
///
/// A VRF whose table lets lookups fall through to the main table is named on stderr, one line each
/// with the fix, and the table on stdout keeps its columns. That table is vrf-exec's own (not `ip vrf
/// show`'s), but scripts read its columns by position, SLAVES last and of any width, so a column added
/// there would move what they read; and an iproute2 user expects such notes where `ip` prints its
/// own ("Warning: …" on stderr), not in the listing. `--json` carries it as `open_tables`: the
/// families that fall through (`[]` when the table is closed, `null` when it could not be read).
pub fn list(json: bool) -> Result<()> {
    // One link dump, one route channel, one walk of the cgroup tree and one pass over /proc, however
    // many VRFs there are.
    let snap = VrfSnapshot::take()?;
    let vrfs = snap.vrfs();
    let mount: Option<PathBuf> = namespace::ensure_cgroup2().ok();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut open_count = 0;
    let supervised = seccomp::pids_by_vrf();
    let by_program = bound_by_program(mount.as_deref(), &all_pids());
    // Where cgroup2 cannot be seen (an unprivileged caller under `ip netns exec`), the cgroup mode's
    // processes cannot be counted, the seccomp mode's still can: as `pids` lists them.
    let in_cgroups = match &mount {
        Some(m) => cgroup::pids_by_vrf(m).unwrap_or_default(),
        None => HashMap::new(),
    };
    let tables = OpenTable::of_all(vrfs)?;
    for (v, open) in vrfs.iter().zip(tables) {
        let slaves: Vec<String> = snap.slaves(v).iter().map(|s| s.name.clone()).collect();
        let count = |m: &HashMap<String, Vec<u32>>| m.get(v.name()).map_or(0, Vec::len);
        let in_units = by_program.get(v.name()).map_or(0, Vec::len);
        let procs = Some(count(&in_cgroups) + count(&supervised) + in_units);
        match &open {
            Ok(None) => {}
            Ok(Some(o)) if !json => {
                open_count += 1;
                if open_count <= MAX_TABLE_NOTES {
                    notes.push(format!("{o} (fix: {})", o.fixes()));
                }
            }
            Ok(Some(_)) => {}
            Err(e) => notes.push(format!(
                "cannot tell whether VRF {v}'s table {} ends every lookup: {e}",
                v.table()
            )),
        }
        rows.push((v, slaves, procs, open.ok()));
    }
    if open_count > MAX_TABLE_NOTES {
        notes.push(format!(
            "{} more VRFs' tables let lookups fall through to the main table (vrf-exec list --json \
             names them in open_tables; vrf-exec check VRF gives the fix)",
            open_count - MAX_TABLE_NOTES
        ));
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
    // One write for the whole table, not one per VRF.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{:<16} {:>6} {:<5} {:>5}  SLAVES",
        "NAME", "TABLE", "STATE", "PROCS"
    )?;
    for (v, slaves, procs, _) in rows {
        let procs = procs.map_or("?".to_string(), |n| n.to_string());
        let state = if v.is_up() { "up" } else { "down" };
        writeln!(
            out,
            "{:<16} {:>6} {:<5} {:>5}  {}",
            v.name(),
            v.table(),
            state,
            procs,
            slaves.join(" ")
        )?;
    }
    out.flush()?;
    drop(out);
    warn(&notes);
    Ok(())
}
