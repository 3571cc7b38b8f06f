//! systemd as init, in the lab: the host's own systemd (252 on Debian 12) booted as PID 1 of fresh PID,
//! mount and cgroup namespaces, in a topology's router network namespace, the way container managers
//! run it (`container=vrf-lab`). It manages real units with real cgroups on the lab kernel: its
//! services' sockets meet the router's VRFs, and `BPFProgram=` attaches to their cgroups.
//!
//! Each [`Systemd`] has its own `/run`, its own `/etc/systemd/system` (a tmpfs: tests' units and
//! vrf-exec's drop-ins never meet those of a test running beside it) and its own cgroup subtree; the
//! rest of the file system is the lab's (the installed package in `/usr` included). As in a container,
//! `/sys` is read-only (so udev and the kernel-facing units stay off), the units `sysinit.target` wants
//! are masked but the journal, and no generator runs: under qemu's TCG these took 40 s of the first
//! unit start and most of every `daemon-reload`. Dropping it kills
//! every process of it (killing PID 1 of a PID namespace ends the namespace) and removes its cgroup.
//!
//! The lab VM could also boot systemd as the whole VM's init (`vng --systemd`); measured here, that
//! boots every service of the host image (a database among them) and reaches its login prompt after
//! 85 s under TCG, before any test runs, while this container is up in a few seconds, once per test.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd::{self, Run, line_of};

/// Where the lab's cgroup2 is mounted.
const CGROUP2: &str = "/sys/fs/cgroup";

/// A systemd running as init of its own namespaces; killed on drop.
#[derive(Debug)]
pub struct Systemd {
    child: Child,
    /// systemd's pid as the lab sees it.
    pid: u32,
    /// Its cgroup in the lab's tree: the root of its own cgroup namespace.
    cgroup: PathBuf,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Systemd {
    /// Boots systemd in network namespace `netns` (`None`: the lab's own) and waits until it is up
    /// (`systemctl is-system-running` says `running` or `degraded`), at most `limit`.
    pub fn boot(netns: Option<&str>, limit: Duration) -> Result<Systemd> {
        let id = format!(
            "vrflab-systemd-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let cgroup = Path::new(CGROUP2).join(&id);
        std::fs::create_dir_all(&cgroup).with_context(|| format!("mkdir {}", cgroup.display()))?;
        // The shell moves itself into the new group first, so that the cgroup namespace made next is
        // rooted there; then it makes systemd's world and execs it as PID 1 of the new PID namespace.
        let init = format!(
            "set -e\n\
             echo $$ > {procs}\n\
             exec unshare --pid --fork --mount --cgroup --propagation private sh -c '\n\
               set -e\n\
               mount -t proc proc /proc\n\
               mount -t sysfs -o ro sysfs /sys\n\
               mount -t cgroup2 cgroup2 /sys/fs/cgroup\n\
               mount -t bpf bpf /sys/fs/bpf\n\
               mount -t tmpfs -o mode=755 tmpfs /run\n\
               mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system\n\
               mkdir -p /run/systemd/system /run/vrflab-none\n\
               for u in /lib/systemd/system/sysinit.target.wants/*; do\n\
                 case $u in *journald*) ;; *) ln -s /dev/null /etc/systemd/system/${{u##*/}};; esac\n\
               done\n\
               printf \"[Unit]\\nDescription=vrf-lab: nothing but what a test starts\\n\" \
                 > /run/systemd/system/vrf-lab.target\n\
               exec env -i container=vrf-lab PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                 SYSTEMD_GENERATOR_PATH=/run/vrflab-none \
                 SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/vrflab-none \
                 /lib/systemd/systemd --unit=vrf-lab.target --log-target=console --log-level=warning\n\
             '\n",
            procs = cgroup.join("cgroup.procs").display()
        );
        let mut c = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}"));
                c.args(["sh", "-c", &init]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", &init]);
                c
            }
        };
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = c
            .spawn()
            .with_context(|| format!("cannot start `{}`", line_of(&c)))?;
        let mut sd = Systemd {
            child,
            pid: 0,
            cgroup,
        };
        let start = Instant::now();
        loop {
            if let Some(status) = sd.child.try_wait()? {
                bail!("systemd exited with {status} before it was up");
            }
            if sd.pid == 0 {
                sd.pid = find_init(&sd.cgroup).unwrap_or(0);
            }
            if sd.pid != 0 {
                let r = cmd::run(&mut sd.command("systemctl", &["is-system-running"]))?;
                let state = r.stdout.trim();
                if state == "running" || state == "degraded" {
                    return Ok(sd);
                }
            }
            if start.elapsed() > limit {
                bail!(
                    "systemd was not up within {} s (pid {})",
                    limit.as_secs(),
                    sd.pid
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// systemd's pid as the lab sees it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `program args…` run inside systemd's namespaces (all of them: mount, PID, cgroup, network),
    /// as a process systemd did not start.
    pub fn command<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid.to_string(), "-a", "--", program]);
        c.args(args);
        c
    }

    /// [`Systemd::command`], run and collected.
    pub fn run<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Result<Run> {
        cmd::run(&mut self.command(program, args))
    }

    /// `systemctl args…`, failing unless it succeeds.
    pub fn systemctl(&self, args: &[&str]) -> Result<Run> {
        self.run("systemctl", args)?.ok()
    }

    /// A path of systemd's file system, for the lab to read or write (through its root,
    /// `/proc/PID/root`, which sees its mounts).
    pub fn path(&self, inside: &str) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.pid)).join(inside.trim_start_matches('/'))
    }

    /// Writes units (name, text) into systemd's `/etc/systemd/system` and reloads once.
    pub fn install_units(&self, units: &[(&str, String)]) -> Result<()> {
        for (name, text) in units {
            let path = self.path(&format!("/etc/systemd/system/{name}"));
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        self.systemctl(&["daemon-reload"]).map(drop)
    }

    /// A property of a unit (`systemctl show -p NAME --value UNIT`).
    pub fn property(&self, unit: &str, name: &str) -> Result<String> {
        Ok(self
            .systemctl(&["show", "-p", name, "--value", "--", unit])?
            .stdout
            .trim()
            .to_string())
    }

    /// The unit's journal and status, for a failure message.
    pub fn describe(&self, unit: &str) -> String {
        let status = self
            .run("systemctl", &["status", "--no-pager", "-l", "--", unit])
            .map(|r| format!("{}{}", r.stdout, r.stderr))
            .unwrap_or_default();
        // The whole journal's end: a unit that did not start says why in its dependencies' lines.
        let journal = self
            .run("journalctl", &["--no-pager", "-q", "-n", "25"])
            .map(|r| r.stdout)
            .unwrap_or_default();
        format!("--- systemctl status {unit}\n{status}--- the journal's last lines\n{journal}")
    }
}

/// The first process of `cgroup`'s tree that is systemd (its PID 1).
fn find_init(cgroup: &Path) -> Option<u32> {
    let mut dirs = vec![cgroup.to_path_buf()];
    while let Some(d) = dirs.pop() {
        if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    return Some(pid);
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            dirs.extend(
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path()),
            );
        }
    }
    None
}

impl Drop for Systemd {
    fn drop(&mut self) {
        if self.pid != 0 {
            // PID 1 of the namespace: the kernel kills every other process of it.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The groups empty once their processes are reaped; remove them deepest first.
        for _ in 0..50 {
            if remove_tree(&self.cgroup) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Removes cgroup directory `dir` and every group below it; true when it is gone.
fn remove_tree(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                remove_tree(&e.path());
            }
        }
    }
    std::fs::remove_dir(dir).is_ok() || !dir.exists()
}

/// The vrf-toolkit package this lab tests (`target/debian/vrf-toolkit_*_amd64.deb`, the newest, or
/// `VRF_LAB_PACKAGE`), installed with dpkg into the lab VM's throw-away root once per run. Returns the
/// package's path. Natively (no VM) it is not installed: the host is not the lab's to change.
pub fn installed_package() -> Result<PathBuf> {
    static DONE: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = done.as_ref() {
        return Ok(p.clone());
    }
    let deb = package_path()?;
    if std::env::var_os(crate::lab::GUEST_ENV).is_none() {
        bail!(
            "the service tests install {} with dpkg, which only the lab VM's throw-away root allows: \
             run them with VRF_LAB=vm",
            deb.display()
        );
    }
    // Without triggers: man-db's (the package has man pages) rebuilds the whole system's man
    // database, which under TCG outlasted the tests waiting for the package. Bounded, so that a dpkg
    // that hangs fails the tests with its own words.
    let started = std::time::Instant::now();
    cmd::run(
        Command::new("timeout")
            .args(["300", "dpkg", "--no-triggers", "--force-confnew", "-i"])
            .arg(&deb),
    )?
    .ok()
    .with_context(|| format!("installing {}", deb.display()))?;
    eprintln!(
        "vrf-lab: installed {} in {:.1} s",
        deb.display(),
        started.elapsed().as_secs_f64()
    );
    *done = Some(deb.clone());
    Ok(deb)
}

/// The package file: `VRF_LAB_PACKAGE`, else the newest `target/debian/vrf-toolkit_*_amd64.deb` of
/// this workspace.
fn package_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("VRF_LAB_PACKAGE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    crate::newest_file(&dir, "vrf-toolkit_", "_amd64.deb").with_context(|| {
        format!(
            "no vrf-toolkit package in {}: build it with scripts/package.sh (scripts/test-all.sh does)",
            dir.display()
        )
    })
}
