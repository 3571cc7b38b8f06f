//! vrf-exec under load (issue 14): many launches leave nothing behind but one cgroup and one hook per
//! VRF, and a VRF deleted and re-created while launches run never gets a command into the default VRF.
//!
//! The soak's size is `VRF_SOAK_LAUNCHES` (default 50, a few seconds of a quiet lab VM under qemu's TCG);
//! `scripts/soak.sh` runs it with 10,000.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::Topology;
use vrf_lab::cmd::Run;

use crate::exec_hardening::{LIMIT, bound_to, ifindex, netns_cgroup, path_str, run_bounded};

vrf_lab::lab_tests! {
    many_launches_leave_nothing_behind,
    vrf_recreated_while_launching_never_runs_in_the_default_vrf,
}

/// The number of launches of the soak, from the environment.
const SOAK_ENV: &str = "VRF_SOAK_LAUNCHES";
const DEFAULT_LAUNCHES: usize = 50;
/// Launches running at once (the lab VM has 2 CPUs).
const WORKERS: usize = 4;

/// Lists every BPF program of the kernel (`prog ID NAME`, by `BPF_PROG_GET_NEXT_ID`, `_GET_FD_BY_ID`
/// and `BPF_OBJ_GET_INFO_BY_FD`) and, for each cgroup directory given as an argument, the programs
/// attached to it for every attach type (`attached DIR TYPE ID`, by `BPF_PROG_QUERY`). bpftool is not
/// part of the lab, python3 and ctypes are.
const BPF_LIST_PY: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    r = libc.syscall(ctypes.c_long(321), ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    return r, buf.raw
prog = 0
while True:
    r, out = bpf(11, struct.pack("III", prog, 0, 0))
    if r < 0:
        break
    prog = struct.unpack_from("I", out, 4)[0]
    fd, _ = bpf(13, struct.pack("III", prog, 0, 0))
    name = "?"
    if fd >= 0:
        info = ctypes.create_string_buffer(80)
        r, _ = bpf(15, struct.pack("IIQ", fd, 80, ctypes.addressof(info)))
        os.close(fd)
        if r == 0:
            name = info.raw[64:80].split(b"\0")[0].decode() or "-"
    print("prog", prog, name)
for d in sys.argv[1:]:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for t in range(64):
        ids = (ctypes.c_uint32 * 64)()
        r, out = bpf(16, struct.pack("IIIIQII", fd, t, 0, 0, ctypes.addressof(ids), 64, 0))
        if r == 0:
            for i in range(min(struct.unpack_from("I", out, 24)[0], 64)):
                print("attached", d, t, ids[i])
    os.close(fd)
"#;

/// What the kernel holds: every BPF program `(id, name)`, and the ids attached to the cgroups `dirs`.
#[derive(Debug, Default)]
struct BpfState {
    programs: Vec<(u32, String)>,
    attached: BTreeSet<u32>,
}

fn bpf_state(dirs: &[PathBuf]) -> Result<BpfState> {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", BPF_LIST_PY]).args(dirs);
    let r = run_bounded(&mut cmd, LIMIT)?.ok()?;
    let mut s = BpfState::default();
    for l in r.stdout.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w[..] {
            ["prog", id, name] => s.programs.push((id.parse()?, name.to_string())),
            ["attached", _, _, id] => {
                s.attached.insert(id.parse()?);
            }
            _ => bail!("unexpected line from the BPF lister: {l:?}"),
        }
    }
    Ok(s)
}

/// Every cgroup directory at and below `dir` (none when it does not exist).
fn cgroup_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if dir.is_dir() {
        out.push(dir.to_path_buf());
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(cgroup_dirs(&e.path()));
            }
        }
    }
    out
}

/// Starts `vrf-exec VRF sh -c 'echo ready; exec sleep 60'` inside namespace `ns` and returns the open
/// file descriptors of the running command (`fd -> target`), then ends it.
fn fds_of_a_running_command(ns: &str, exe: &Path, vrf: &str) -> Result<Vec<String>> {
    let (ns, exe, vrf) = (ns.to_string(), exe.to_path_buf(), vrf.to_string());
    vrf_lab::netns::run_in(&ns, move || {
        use std::io::Read;
        let mut child = Command::new(&exe)
            .args([&vrf, "sh", "-c", "echo ready; exec sleep 60"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut out = child.stdout.take().context("stdout")?;
        let mut ready = [0u8; 6];
        let read = out.read_exact(&mut ready);
        // `exec sleep` replaces the shell: wait (bounded) until it has.
        let pid = child.id();
        let deadline = Instant::now() + LIMIT;
        while read.is_ok()
            && std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|e| !e.to_string_lossy().ends_with("/sleep"))
        {
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut fds = Vec::new();
        for e in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
            let e = e?;
            let target = std::fs::read_link(e.path())?;
            fds.push(format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            ));
        }
        let _ = child.kill();
        let _ = child.wait();
        read.context("the command never said ready")?;
        fds.sort();
        Ok(fds)
    })
}

/// Launches `vrf-exec VRF /bin/true` `n` times from namespace `ns`, `WORKERS` at a time, cycling over
/// `vrfs`. Returns the failures.
fn launch_many(ns: &str, exe: &Path, vrfs: &[String], n: usize) -> Result<Vec<String>> {
    let per_worker = n.div_ceil(WORKERS);
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (ns, exe, vrfs) = (ns.to_string(), exe.to_path_buf(), vrfs.to_vec());
            std::thread::spawn(move || -> Result<Vec<String>> {
                vrf_lab::netns::enter(&ns)?;
                let mut failed = Vec::new();
                for k in (w * per_worker..(w + 1) * per_worker).take_while(|k| *k < n) {
                    let vrf = &vrfs[k % vrfs.len()];
                    let mut cmd = Command::new(&exe);
                    cmd.args([vrf.as_str(), "/bin/true"]);
                    let r = run_bounded(&mut cmd, LIMIT)?;
                    if !r.success() {
                        failed.push(r.describe("failed"));
                    }
                }
                Ok(failed)
            })
        })
        .collect();
    let mut failed = Vec::new();
    for w in workers {
        failed.extend(
            w.join()
                .map_err(|_| anyhow::anyhow!("a worker panicked"))??,
        );
    }
    Ok(failed)
}

/// Soak: after one launch per VRF (one cgroup and one hook each), `VRF_SOAK_LAUNCHES` more leave the
/// cgroup tree, the BPF programs (attached to the VRFs' groups, and named for their ifindexes anywhere
/// in the kernel) and a launched command's open files exactly as they were.
fn many_launches_leave_nothing_behind() -> Result<()> {
    let n: usize = match std::env::var(SOAK_ENV) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{SOAK_ENV}={v:?} is not a count"))?,
        Err(_) => DEFAULT_LAUNCHES,
    };
    let t = Topology::new()?;
    let exe = vrf_lab::tool("vrf-exec")?;
    // Two VRFs of our own with ifindexes no other test's VRF has, so that the programs named after
    // them (`vrf_exec_<ifindex>`) are ours alone even while other tests run.
    let id = t
        .router_ns
        .trim_start_matches("vl")
        .trim_end_matches("-router");
    let vrfs: Vec<(String, u32)> = (0..2).map(|k| (format!("sk{k}{id}"), 48_000 + k)).collect();
    for (name, index) in &vrfs {
        let table = (index / 10).to_string();
        let index = index.to_string();
        let add = [
            "link", "add", name, "index", &index, "type", "vrf", "table", &table,
        ];
        run_bounded(&mut t.router_cmd("ip", &add), LIMIT)?.ok()?;
        run_bounded(&mut t.router_cmd("ip", &["link", "set", name, "up"]), LIMIT)?.ok()?;
    }
    let names: Vec<String> = vrfs.iter().map(|(n, _)| n.clone()).collect();
    let ours = |s: &BpfState| -> Vec<u32> {
        s.programs
            .iter()
            .filter(|(_, name)| vrfs.iter().any(|(_, i)| *name == format!("vrf_exec_{i}")))
            .map(|(id, _)| *id)
            .collect()
    };
    let level = netns_cgroup(&t)?;
    let before = bpf_state(&[])?;
    ensure!(
        ours(&before).is_empty(),
        "programs of ours before any launch"
    );
    // One launch per VRF: the steady state.
    let fds_first = fds_of_a_running_command(&t.router_ns, &exe, &names[0])?;
    ensure!(
        launch_many(&t.router_ns, &exe, &names[1..], 1)?.is_empty(),
        "warm-up launch failed"
    );
    let dirs_warm = cgroup_dirs(&level);
    let warm = bpf_state(&dirs_warm)?;
    ensure!(
        dirs_warm.len() == 2 + vrfs.len(),
        "after one launch per VRF, expected {} cgroups under {}, found {dirs_warm:#?}",
        2 + vrfs.len(),
        level.display()
    );
    ensure!(
        ours(&warm).len() >= vrfs.len() && warm.attached.len() >= vrfs.len(),
        "each VRF's group should carry a hook: ours {:?}, attached {:?}",
        ours(&warm),
        warm.attached
    );
    let start = Instant::now();
    let failed = launch_many(&t.router_ns, &exe, &names, n)?;
    let took = start.elapsed();
    ensure!(
        failed.is_empty(),
        "{} of {n} launches failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let fds_last = fds_of_a_running_command(&t.router_ns, &exe, &names[0])?;
    let dirs_after = cgroup_dirs(&level);
    let after = bpf_state(&dirs_after)?;
    eprintln!(
        "soak: {n} launches in {:.1} s ({:.1} ms each, {WORKERS} at a time); cgroups under {}: {} -> {}; \
         programs attached to them: {:?} -> {:?}; programs named for our VRFs: {:?} -> {:?}; all BPF \
         programs in the kernel: {} before, {} after the warm-up, {} after (other tests run alongside); \
         a launched command's open files: {fds_first:?} -> {fds_last:?}",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / n.max(1) as f64,
        level.display(),
        dirs_warm.len(),
        dirs_after.len(),
        warm.attached,
        after.attached,
        ours(&warm),
        ours(&after),
        before.programs.len(),
        warm.programs.len(),
        after.programs.len(),
    );
    ensure!(
        dirs_after == dirs_warm,
        "cgroups changed: {dirs_warm:#?} -> {dirs_after:#?}"
    );
    ensure!(
        after.attached.len() == warm.attached.len() && ours(&after).len() == ours(&warm).len(),
        "BPF programs left behind: attached {:?} -> {:?}, named for our VRFs {:?} -> {:?}",
        warm.attached,
        after.attached,
        ours(&warm),
        ours(&after)
    );
    // The command inherits what the test's process passes on (its streams; in the VM the console's
    // ports): the same before and after, and nothing of vrf-exec's own (a cgroup directory, a BPF
    // program, a netlink or test socket).
    let kinds = |fds: &[String]| -> Vec<String> {
        fds.iter()
            .map(|f| match f.split_once(" -> pipe:") {
                Some((fd, _)) => format!("{fd} -> pipe"),
                None => f.clone(),
            })
            .collect()
    };
    let vrf_execs: Vec<&String> = fds_last
        .iter()
        .filter(|f| f.contains("anon_inode:") || f.contains("socket:") || f.contains("cgroup"))
        .collect();
    ensure!(
        kinds(&fds_first) == kinds(&fds_last) && vrf_execs.is_empty(),
        "a launched command's open files changed or include vrf-exec's: {fds_first:?} -> {fds_last:?}"
    );
    Ok(())
}

/// One launch of `vrf-exec VRF bound_ifindex` that ended: its exit code and what it printed.
type Outcome = (Option<i32>, String, String);

/// Churn: VRF blue is deleted and re-created (with a new ifindex each time) over and over while 100
/// launches into it run, 4 at a time. Each launch must either refuse (exit 125) or run a command whose
/// sockets are bound to an ifindex blue had: never 0 (the default VRF), never red's.
fn vrf_recreated_while_launching_never_runs_in_the_default_vrf() -> Result<()> {
    const LAUNCHES: usize = 100;
    let t = Topology::new()?;
    let exe = vrf_lab::tool("vrf-exec")?;
    let bound = vrf_lab::example("bound_ifindex")?;
    let blue = t.blue.vrf.clone();
    let mut incarnations = vec![ifindex(&t, &blue)?];
    let red = ifindex(&t, &t.red.vrf)?;
    let done = Arc::new(AtomicBool::new(false));
    let churn = {
        let (ns, blue, dev, done) = (
            t.router_ns.clone(),
            blue.clone(),
            t.blue.dev.clone(),
            done.clone(),
        );
        std::thread::spawn(move || -> Result<usize> {
            let ip = |args: &[&str]| -> Result<Run> {
                run_bounded(&mut vrf_lab::topology::netns_cmd(&ns, "ip", args), LIMIT)?.ok()
            };
            let mut cycles = 0;
            // Bounded: stops when the launches are done, or after 200 cycles.
            while !done.load(Ordering::Relaxed) && cycles < 200 {
                std::thread::sleep(Duration::from_millis(100));
                ip(&["link", "del", &blue])?;
                std::thread::sleep(Duration::from_millis(30));
                ip(&["link", "add", &blue, "type", "vrf", "table", "10"])?;
                ip(&["link", "set", &blue, "up"])?;
                ip(&["link", "set", &dev, "master", &blue])?;
                cycles += 1;
            }
            Ok(cycles)
        })
    };
    // Each re-creation's ifindex, read as it happens (new ones only grow), by polling `ip link`.
    let watcher = {
        let (ns, blue, done) = (t.router_ns.clone(), blue.clone(), done.clone());
        std::thread::spawn(move || -> Vec<u32> {
            let mut seen = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Ok(r) = run_bounded(
                    &mut vrf_lab::topology::netns_cmd(
                        &ns,
                        "ip",
                        &["-o", "link", "show", "dev", &blue],
                    ),
                    LIMIT,
                ) && let Some(i) = r
                    .stdout
                    .split(':')
                    .next()
                    .and_then(|n| n.trim().parse().ok())
                    && !seen.contains(&i)
                {
                    seen.push(i);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        })
    };
    let per_worker = LAUNCHES / 4;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (ns, exe, bound, blue) = (
                t.router_ns.clone(),
                exe.clone(),
                bound.clone(),
                blue.clone(),
            );
            std::thread::spawn(move || -> Result<Vec<Outcome>> {
                vrf_lab::netns::enter(&ns)?;
                (0..per_worker)
                    .map(|_| {
                        let mut cmd = Command::new(&exe);
                        cmd.arg(&blue).arg(&bound);
                        let r = run_bounded(&mut cmd, LIMIT)?;
                        Ok((
                            r.code,
                            r.stdout.trim().to_string(),
                            r.stderr.trim().to_string(),
                        ))
                    })
                    .collect()
            })
        })
        .collect();
    let joined: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
    // Stop the churn and the watcher whatever the launchers did.
    done.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for w in joined {
        outcomes.extend(w.map_err(|_| anyhow::anyhow!("a launcher panicked"))??);
    }
    let cycles = churn
        .join()
        .map_err(|_| anyhow::anyhow!("the churn thread panicked"))??;
    incarnations.extend(
        watcher
            .join()
            .map_err(|_| anyhow::anyhow!("the watcher panicked"))?,
    );
    incarnations.push(ifindex(&t, &blue)?);
    incarnations.sort_unstable();
    incarnations.dedup();
    let mut ran = 0;
    let mut refused = 0;
    let mut wrong = Vec::new();
    for (code, out, err) in &outcomes {
        let in_blue = incarnations.iter().any(|i| *out == bound_to(*i));
        match code {
            Some(0) if in_blue => ran += 1,
            Some(125) if out.is_empty() => refused += 1,
            _ => wrong.push(format!("exit {code:?}: {out:?} {err:?}")),
        }
    }
    eprintln!(
        "churn: {cycles} deletions and re-creations of {blue} (ifindexes {incarnations:?}; red is {red}) \
         during {LAUNCHES} launches: {ran} ran in {blue}, {refused} refused (exit 125), {} wrong",
        wrong.len()
    );
    ensure!(
        wrong.is_empty(),
        "launches outside every incarnation of {blue} (default VRF is 0, red is {red}):\n{}",
        wrong.join("\n")
    );
    ensure!(
        cycles >= 2,
        "the VRF was re-created only {cycles} times: no churn to speak of"
    );
    ensure!(ran > 0, "no launch ran at all");
    // After the churn, a launch runs in the blue of now.
    let now = ifindex(&t, &blue)?;
    let r = run_bounded(
        &mut t.router_cmd(path_str(&exe)?, &[blue.as_str(), path_str(&bound)?]),
        LIMIT,
    )?;
    ensure!(
        r.success() && r.stdout.trim() == bound_to(now),
        "{}",
        r.describe(&format!("after the churn, expected {}", bound_to(now)))
    );
    Ok(())
}
