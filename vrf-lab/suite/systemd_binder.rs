//! systemd's `BindNetworkInterface=` binder (systemd 260), recognised by `vrf-exec identify` and
//! `pids`. The lab's Debian 12 has systemd 252, so the program is attached by the `sd_bind_iface`
//! example, which loads it as libbpf loads systemd's object: `sd_bind_interface`, the ifindex in a
//! frozen `bind_ifa.rodata` map that the program only reads.
//!
//! - `systemds_bind_network_interface_is_identified`: in a cgroup carrying the stand-in for blue, new
//!   sockets are bound to blue (and ping reaches blue's peer), and `vrf-exec identify PID` names blue,
//!   `pids blue` lists the process, `pids red` does not. In a cgroup carrying the `--wrong` stand-in
//!   (same name, same map holding blue's ifindex, but it stores red's ifindex as a constant), sockets
//!   are bound to red, and `identify` names nothing: neither the map nor the name makes a binder.
//!   Nor does the right program over a map that is not frozen (`--unfrozen`, its value could still be
//!   rewritten): its sockets go to blue, but `identify` names nothing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::cmd::Run;
use vrf_lab::{PEER_V4, Topology};

use crate::exec_hardening::{CGROUP2, Cgroup, LIMIT, bound_to, ifindex, path_str, run_bounded};

vrf_lab::lab_tests! {
    systemds_bind_network_interface_is_identified,
}

/// `sleep` in a cgroup, killed on drop.
struct Sleeper {
    child: Child,
}

impl Sleeper {
    /// Starts `sleep 300` in cgroup `cg` and waits until it is there.
    fn start(cg: &Cgroup) -> Result<Sleeper> {
        let script = format!(
            "echo $$ > {}/cgroup.procs || exit 90; exec sleep 300",
            cg.display()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()?;
        let sleeper = Sleeper { child };
        let want = cg.path.strip_prefix(CGROUP2)?.display().to_string();
        let deadline = Instant::now() + LIMIT;
        loop {
            let text = std::fs::read_to_string(format!("/proc/{}/cgroup", sleeper.pid()))
                .unwrap_or_default();
            let now = text.lines().find_map(|l| l.strip_prefix("0::/"));
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", sleeper.pid()))
                .unwrap_or_default();
            if now == Some(want.as_str()) && comm.trim() == "sleep" {
                return Ok(sleeper);
            }
            if Instant::now() > deadline {
                bail!("sleep did not start in {}: {text:?}", cg.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Attaches the stand-in for systemd's binder (`sd_bind_iface FLAGS… IFINDEX DIR`) to `cg`.
fn attach(cg: &Cgroup, flags: &[&str], ifindex: u32) -> Result<()> {
    let exe = vrf_lab::example("sd_bind_iface")?;
    let mut cmd = Command::new(exe);
    cmd.args(flags).args([&ifindex.to_string(), &cg.display()]);
    let r = run_bounded(&mut cmd, LIMIT)?;
    ensure!(
        r.success() && r.stdout.trim() == "attached",
        "{}",
        r.describe("sd_bind_iface")
    );
    Ok(())
}

/// `program args…` run from cgroup `cg` in the router namespace (the process moves itself there
/// first, outside `ip netns exec`, which hides cgroup2).
fn run_in(t: &Topology, cg: &Cgroup, program: &str, args: &[&str]) -> Result<Run> {
    let mut script = format!(
        "echo $$ > {}/cgroup.procs || exit 90; exec ip netns exec {} {program}",
        cg.display(),
        t.router_ns
    );
    for a in args {
        script.push(' ');
        script.push_str(&vrf_lab::cmd::shell_quote(a));
    }
    run_bounded(Command::new("sh").args(["-c", &script]), LIMIT)
}

/// `vrf-exec args…` in the router namespace.
fn vrf_exec(t: &Topology, args: &[&str]) -> Result<Run> {
    let exe = vrf_lab::tool("vrf-exec")?;
    run_bounded(&mut t.router_cmd(path_str(&exe)?, args), LIMIT)
}

/// Whether `vrf-exec pids VRF` lists `pid` (lines `PID  COMM`).
fn pids_list(t: &Topology, vrf: &str, pid: u32) -> Result<bool> {
    let r = vrf_exec(t, &["pids", vrf])?.ok()?;
    Ok(r.stdout
        .lines()
        .any(|l| l.split_whitespace().next() == Some(&pid.to_string())))
}

fn systemds_bind_network_interface_is_identified() -> Result<()> {
    let t = Topology::new()?;
    let blue = ifindex(&t, &t.blue.vrf)?;
    let red = ifindex(&t, &t.red.vrf)?;
    let top = format!("vrflab-sd-bind-{}", t.router_ns);
    // Declared before the sleepers: dropped (removed, which detaches the programs) after them.
    let _top = Cgroup::new(&top)?;
    let sd = Cgroup::new(&format!("{top}/sd"))?;
    let wrong = Cgroup::new(&format!("{top}/wrong"))?;
    let unfrozen = Cgroup::new(&format!("{top}/unfrozen"))?;
    attach(&sd, &[], blue)?;
    attach(&wrong, &["--wrong", &red.to_string()], blue)?;
    attach(&unfrozen, &["--unfrozen"], blue)?;

    // The stand-in binds: sockets of the cgroup go to blue, and reach blue's peer.
    let bound = vrf_lab::example("bound_ifindex")?;
    let r = run_in(&t, &sd, path_str(&bound)?, &[])?;
    ensure!(
        r.success() && r.stdout.trim() == bound_to(blue),
        "{}",
        r.describe(&format!("expected {}", bound_to(blue)))
    );
    let p = run_in(&t, &sd, "ping", &["-c", "1", "-W", "2", PEER_V4])?;
    let ttl = format!("ttl={} ", t.blue.peer_ttl);
    ensure!(
        p.success() && p.stdout.contains(&ttl),
        "{}",
        p.describe(&format!(
            "ping from the cgroup, expected blue's peer ({ttl})"
        ))
    );
    // The look-alikes bind too: the wrong one to the constant it stores, the unfrozen one to blue.
    for (cg, want, what) in [(&wrong, red, "--wrong"), (&unfrozen, blue, "--unfrozen")] {
        let r = run_in(&t, cg, path_str(&bound)?, &[])?;
        ensure!(
            r.success() && r.stdout.trim() == bound_to(want),
            "{}",
            r.describe(&format!("{what}: expected {}", bound_to(want)))
        );
    }

    let in_sd = Sleeper::start(&sd)?;
    let in_wrong = Sleeper::start(&wrong)?;
    let in_unfrozen = Sleeper::start(&unfrozen)?;
    let pid = in_sd.pid();

    let r = vrf_exec(&t, &["identify", &pid.to_string()])?;
    ensure!(
        r.success() && r.stdout.trim() == t.blue.vrf,
        "{}",
        r.describe(&format!("expected {}", t.blue.vrf))
    );
    let r = vrf_exec(&t, &["identify", "--json", &pid.to_string()])?;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).context("identify --json")?;
    ensure!(
        v["vrf"] == t.blue.vrf.as_str() && v["how"] == "systemd",
        "identify --json: {v}"
    );
    ensure!(
        pids_list(&t, &t.blue.vrf, pid)?,
        "vrf-exec pids {} does not list {pid}",
        t.blue.vrf
    );
    ensure!(
        !pids_list(&t, &t.red.vrf, pid)?,
        "vrf-exec pids {} lists {pid}, which is in blue",
        t.red.vrf
    );

    for (sleeper, what) in [(&in_wrong, "--wrong"), (&in_unfrozen, "--unfrozen")] {
        let other = sleeper.pid();
        let r = vrf_exec(&t, &["identify", &other.to_string()])?;
        ensure!(
            r.success() && r.stdout.trim().is_empty(),
            "{}",
            r.describe(&format!(
                "the {what} look-alike must not be recognised: expected nothing"
            ))
        );
        for vrf in [&t.blue.vrf, &t.red.vrf] {
            ensure!(
                !pids_list(&t, vrf, other)?,
                "vrf-exec pids {vrf} lists {other}, under the {what} look-alike"
            );
        }
    }
    drop((in_sd, in_wrong, in_unfrozen));
    Ok(())
}
