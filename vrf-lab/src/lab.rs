//! Where lab code runs: on the host kernel when it has VRF support and we are root, otherwise inside a
//! virtme-ng VM that boots Debian's stock kernel with the host's root file system.
//!
//! The VM sees the host's files read-only at the same paths, so a program built on the host re-runs itself
//! inside the guest with the same arguments ([`run_in_vm`]); the guest run is told apart by [`GUEST_ENV`].
//!
//! Environment knobs:
//! - `VRF_LAB=auto|native|vm` — where to run (default `auto`: native when possible).
//! - `VRF_LAB_KERNEL=/boot/vmlinuz-…` — the kernel to boot (default: newest `/boot/vmlinuz-*`).
//! - `VRF_LAB_KVM=auto|1|0` — use KVM (default `auto`: a short probe, cached per host boot; TCG otherwise).
//! - `VRF_LAB_MEM` (default `1G`), `VRF_LAB_CPUS` (default 2).
//! - `VRF_LAB_TIMEOUT` — seconds before the whole VM is killed (default 2400 × `VRF_LAB_TIME_SCALE`).
//! - `VRF_LAB_TIME_SCALE` — a factor for slow machines: it multiplies the default VM timeout and every
//!   test's time bound ([`time_scale`]; default 1).
//! - `VRF_LAB_VERBOSE=1` — show the guest kernel's console.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::cmd::{self, shell_quote, which_in};

/// Set (to `1`) in the environment of a program re-run inside the lab VM.
pub const GUEST_ENV: &str = "VRF_LAB_GUEST";

/// Set in the guest to the path of the host directory shared with it, writable, when the host shares one
/// ([`run_in_vm_sharing`]).
pub const SHARED_ENV: &str = "VRF_LAB_SHARED";

/// Prefixes of environment variables carried into the guest.
const FORWARDED_ENV: &[&str] = &["RUST_", "VRF_", "CARGO_"];

/// Where lab code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// On the host kernel, which has VRF support, as root.
    Native,
    /// Already inside the lab VM.
    Guest,
    /// The host cannot run it: re-run inside a VM.
    Vm,
}

/// Decides where lab code runs, from `VRF_LAB` and a probe of the running kernel.
pub fn detect() -> Result<Mode> {
    if std::env::var_os(GUEST_ENV).is_some() {
        return Ok(Mode::Guest);
    }
    let wanted = std::env::var("VRF_LAB").unwrap_or_default();
    match wanted.as_str() {
        "vm" => Ok(Mode::Vm),
        "native" => {
            if !is_root() {
                bail!(
                    "VRF_LAB=native needs root: run the command as root, or unset VRF_LAB to use the VM"
                );
            }
            native_vrf_support().context(
                "VRF_LAB=native, but this kernel cannot create a VRF (unset VRF_LAB to use the VM)",
            )?;
            Ok(Mode::Native)
        }
        "" | "auto" => Ok(if is_root() && native_vrf_support().is_ok() {
            Mode::Native
        } else {
            Mode::Vm
        }),
        other => bail!("VRF_LAB={other:?} is not one of auto, native, vm"),
    }
}

/// Puts the calling program where VRFs work. Returns `Ok(None)` when this process can go on (natively or
/// already in the guest, with the kernel prepared), or `Ok(Some(code))` once the whole program has been
/// re-run, with the same arguments, inside a VM that exited with `code`.
pub fn enter() -> Result<Option<i32>> {
    match enter_sharing(None)? {
        Entered::Here => Ok(None),
        Entered::Vm(exit) => exit.code().map(Some),
    }
}

/// Where [`enter_sharing`] left the calling program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// It can go on here: natively, or already in the guest, with the kernel prepared.
    Here,
    /// The whole program was re-run inside a VM, which ended so.
    Vm(VmExit),
}

/// Like [`enter`], and when the program is re-run in a VM the guest shares `shared` (a host directory,
/// writable there at the same path, named by [`SHARED_ENV`]). A VM killed at `VRF_LAB_TIMEOUT` is an
/// [`Entered::Vm`] too, so that the caller can report what the guest wrote into `shared` until then.
pub fn enter_sharing(shared: Option<&Path>) -> Result<Entered> {
    let mode = detect()?;
    if mode == Mode::Vm {
        let cfg = VmConfig::from_env()?;
        let exe = std::env::current_exe().context("finding this program's path")?;
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        return run_in_vm_sharing(&cfg, &exe, &args, shared).map(Entered::Vm);
    }
    prepare(mode)?;
    Ok(Entered::Here)
}

/// How a VM run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmExit {
    /// The program in the guest exited with this code (vng passes it on).
    Exited(i32),
    /// The VM was still running after this long (`VRF_LAB_TIMEOUT`) and was killed.
    Killed(Duration),
}

impl VmExit {
    /// The guest program's exit code, or an error saying the VM was killed and how to give it more time.
    pub fn code(self) -> Result<i32> {
        match self {
            VmExit::Exited(code) => Ok(code),
            VmExit::Killed(_) => bail!("{self}"),
        }
    }
}

impl std::fmt::Display for VmExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmExit::Exited(code) => write!(f, "the lab VM exited with status {code}"),
            VmExit::Killed(after) => write!(
                f,
                "the lab VM did not finish within {} s and was killed (raise VRF_LAB_TIMEOUT or \
                 VRF_LAB_TIME_SCALE, or set VRF_LAB_VERBOSE=1 to see the guest console)",
                after.as_secs()
            ),
        }
    }
}

/// The factor `VRF_LAB_TIME_SCALE` (default 1) by which a slow machine stretches every time bound of the
/// lab: the default VM timeout and each test's bound.
pub fn time_scale() -> Result<f64> {
    let Some(v) = std::env::var("VRF_LAB_TIME_SCALE")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return Ok(1.0);
    };
    v.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0)
        .with_context(|| format!("VRF_LAB_TIME_SCALE={v:?} is not a positive number"))
}

/// True when the effective user is root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Checks that the running kernel can create a VRF: loads the module if it can, then creates one in a
/// scratch network namespace and deletes the namespace again.
pub fn native_vrf_support() -> Result<()> {
    let _ = cmd::run(Command::new("modprobe").args(["-q", "vrf"]));
    let ns = format!("vrflab-probe-{}", std::process::id());
    cmd::run_ok("ip", &["netns", "add", &ns])?;
    let made = cmd::run(Command::new("ip").args([
        "-n", &ns, "link", "add", "probe", "type", "vrf", "table", "1",
    ]));
    let _ = cmd::run(Command::new("ip").args(["netns", "del", &ns]));
    made?.ok().map(drop)
}

/// Makes the running kernel ready for the lab: the modules the topologies need, and bpffs in the guest.
pub fn prepare(mode: Mode) -> Result<()> {
    for module in ["vrf", "veth", "dummy"] {
        let r = cmd::run(Command::new("modprobe").arg(module))?;
        // Natively a built-in driver has no module file: only the guest kernel must load each one.
        if !r.success() && mode == Mode::Guest {
            bail!(
                "{}\nthe lab kernel lacks the {module} module",
                r.describe("failed")
            );
        }
    }
    if mode == Mode::Guest && !is_mounted("/sys/fs/bpf")? {
        cmd::run_ok("mount", &["-t", "bpf", "bpf", "/sys/fs/bpf"])?;
    }
    Ok(())
}

fn is_mounted(path: &str) -> Result<bool> {
    let mounts =
        std::fs::read_to_string("/proc/self/mounts").context("reading /proc/self/mounts")?;
    Ok(mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(path)))
}

/// How to boot the lab VM. [`VmConfig::from_env`] checks every prerequisite and says how to install it.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// The `vng` launcher (virtme-ng).
    pub vng: PathBuf,
    /// The kernel image to boot.
    pub kernel: PathBuf,
    /// Use KVM instead of qemu's TCG emulation.
    pub kvm: bool,
    /// Guest CPUs.
    pub cpus: u32,
    /// Guest memory, as qemu spells it (`1G`).
    pub mem: String,
    /// Kill the VM after this long.
    pub timeout: Duration,
    /// Show the guest console.
    pub verbose: bool,
}

const INSTALL_HINT: &str = "install the lab with `scripts/install-deps.sh` (as root)";

impl VmConfig {
    /// Reads the `VRF_LAB_*` settings and checks that qemu, virtme-ng, busybox and a VRF-capable kernel
    /// image with its modules are installed.
    pub fn from_env() -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let vng = check_tools(&std::env::var_os("PATH").unwrap_or_default())?;
        let kernel = match env("VRF_LAB_KERNEL") {
            Some(k) => PathBuf::from(k),
            None => newest_kernel()?,
        };
        check_kernel_modules(&kernel)?;
        let kvm = match env("VRF_LAB_KVM").as_deref() {
            None | Some("auto") => kvm_probe_cached(&vng, &kernel),
            Some("1") => true,
            Some("0") => false,
            Some(v) => bail!("VRF_LAB_KVM={v:?} is not one of auto, 1, 0"),
        };
        let cpus = match env("VRF_LAB_CPUS") {
            Some(c) => c
                .parse()
                .with_context(|| format!("VRF_LAB_CPUS={c:?} is not a number"))?,
            None => 2,
        };
        let timeout = match env("VRF_LAB_TIMEOUT") {
            Some(t) => Duration::from_secs(
                t.parse()
                    .with_context(|| format!("VRF_LAB_TIMEOUT={t:?} is not a number of seconds"))?,
            ),
            None => Duration::from_secs(2400).mul_f64(time_scale()?),
        };
        Ok(VmConfig {
            vng,
            kernel,
            kvm,
            cpus,
            mem: env("VRF_LAB_MEM").unwrap_or_else(|| "1G".into()),
            timeout,
            verbose: env("VRF_LAB_VERBOSE").is_some_and(|v| v != "0"),
        })
    }

    /// The `vng` command that runs the shell command `script` in the guest as root, sharing the host
    /// directory `shared` writable.
    fn command(&self, script: &str, kvm: bool, shared: Option<&Path>) -> Command {
        let mut c = Command::new(&self.vng);
        // vng runs its helpers (virtme-run …) from PATH: put the directory it really lives in (a venv,
        // reached through a symlink) first.
        if let Some(dir) = std::fs::canonicalize(&self.vng)
            .ok()
            .as_deref()
            .and_then(Path::parent)
        {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                c.env("PATH", joined);
            }
        }
        if !kvm {
            c.arg("--disable-kvm");
        }
        if self.verbose {
            c.arg("--verbose");
        }
        c.arg("-r").arg(&self.kernel);
        c.args([
            "--user",
            "root",
            "--cpus",
            &self.cpus.to_string(),
            "-m",
            &self.mem,
        ]);
        if let Some(dir) = shared {
            c.arg("--rwdir").arg(dir);
        }
        c.args(["--exec", script]);
        c
    }
}

/// Checks that qemu, busybox and vng are in `path` (a `PATH` value) and returns vng's location.
fn check_tools(path: &OsStr) -> Result<PathBuf> {
    if which_in("qemu-system-x86_64", path).is_none() {
        bail!(
            "qemu-system-x86_64 not found in PATH: `apt-get install qemu-system-x86`, or {INSTALL_HINT}"
        );
    }
    if which_in("busybox", path).is_none() {
        bail!(
            "busybox not found in PATH (virtme-ng needs it): `apt-get install busybox-static`, or {INSTALL_HINT}"
        );
    }
    which_in("vng", path).ok_or_else(|| {
        anyhow!("vng (virtme-ng) not found in PATH: `pip install virtme-ng`, or {INSTALL_HINT}")
    })
}

/// The newest `/boot/vmlinuz-*`.
fn newest_kernel() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
    });
    found.sort_by_key(|p| version_key(p));
    found.pop().ok_or_else(|| {
        anyhow!("no kernel image in /boot: `apt-get install linux-image-amd64`, or {INSTALL_HINT}")
    })
}

/// Sort key for `vmlinuz-6.1.0-56-amd64`: the numbers in order, so 6.10 sorts after 6.9.
fn version_key(p: &Path) -> Vec<u64> {
    p.to_string_lossy()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The guest loads modules from the host's `/lib/modules/<release>`: check the VRF module is there.
fn check_kernel_modules(kernel: &Path) -> Result<()> {
    if !kernel.is_file() {
        bail!(
            "kernel image {} does not exist: set VRF_LAB_KERNEL or {INSTALL_HINT}",
            kernel.display()
        );
    }
    let name = kernel.file_name().unwrap_or_default().to_string_lossy();
    let Some(release) = name.strip_prefix("vmlinuz-") else {
        return Ok(()); // A custom image: the guest's modprobe will say what is missing.
    };
    let dir = Path::new("/lib/modules").join(release);
    let vrf = dir.join("kernel/drivers/net");
    let has_vrf = std::fs::read_dir(&vrf)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("vrf.ko"))
        })
        .unwrap_or(false);
    if !has_vrf {
        bail!(
            "{} has no VRF module ({}/vrf.ko*): reinstall the kernel package (`apt-get install --reinstall linux-image-{release}`)",
            kernel.display(),
            vrf.display()
        );
    }
    Ok(())
}

/// Whether a KVM guest boots here. Nested KVM hangs on some hosts, so the probe has a short deadline; its
/// answer is cached in `/tmp` for the life of the host's boot.
fn kvm_probe_cached(vng: &Path, kernel: &Path) -> bool {
    if !Path::new("/dev/kvm").exists() {
        return false;
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cache = PathBuf::from(format!("/tmp/vrf-lab-kvm-{}", boot_id.trim()));
    if let Ok(answer) = std::fs::read_to_string(&cache) {
        return answer.trim() == "1";
    }
    let probe = VmConfig {
        vng: vng.into(),
        kernel: kernel.into(),
        kvm: true,
        cpus: 1,
        mem: "512M".into(),
        timeout: Duration::from_secs(20),
        verbose: false,
    };
    let mut c = probe.command("true", true, None);
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let works = matches!(run_with_timeout(c, probe.timeout), Ok(Some(0)));
    eprintln!(
        "vrf-lab: KVM probe: {}",
        if works {
            "KVM works, using it"
        } else {
            "KVM unusable, using TCG"
        }
    );
    let _ = std::fs::write(&cache, if works { "1" } else { "0" });
    works
}

/// Runs `cmd` in its own process group; kills the whole group after `timeout` and returns `Ok(None)`.
/// A piped stdout or stderr is copied to ours as it comes, without NUL bytes.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Option<i32>> {
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", cmd::line_of(&cmd)))?;
    let copiers = [
        child
            .stdout
            .take()
            .map(|out| std::thread::spawn(move || copy_without_nul(out, std::io::stdout()))),
        child
            .stderr
            .take()
            .map(|err| std::thread::spawn(move || copy_without_nul(err, std::io::stderr()))),
    ];
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status.code().unwrap_or(128 + libc::SIGKILL));
        }
        if start.elapsed() > timeout {
            // The group is the one we created for this child.
            let pgid = nix::unistd::Pid::from_raw(child.id() as libc::pid_t);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for t in copiers.into_iter().flatten() {
        let _ = t.join();
    }
    Ok(code)
}

/// Copies a child's output stream to ours as it comes, dropping the NUL bytes the VM console emits when
/// the guest powers off.
fn copy_without_nul(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let kept: Vec<u8> = buf[..n].iter().copied().filter(|&b| b != 0).collect();
        if to.write_all(&kept).and_then(|()| to.flush()).is_err() {
            break;
        }
    }
}

/// Re-runs `exe args…` inside one VM boot, with the current directory and the `RUST_*`, `VRF_*` and
/// `CARGO_*` environment, and returns its exit code. Output streams straight through. A VM killed at
/// `VRF_LAB_TIMEOUT` is an error.
pub fn run_in_vm(cfg: &VmConfig, exe: &Path, args: &[OsString]) -> Result<i32> {
    run_in_vm_sharing(cfg, exe, args, None)?.code()
}

/// [`run_in_vm`], sharing the host directory `shared` with the guest (writable, at the same path, named
/// by [`SHARED_ENV`] in its environment), and saying how the VM ended, killed at `VRF_LAB_TIMEOUT`
/// included.
pub fn run_in_vm_sharing(
    cfg: &VmConfig,
    exe: &Path,
    args: &[OsString],
    shared: Option<&Path>,
) -> Result<VmExit> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut script = format!("cd {} && exec env {GUEST_ENV}=1", shell_quote(&cwd));
    if let Some(dir) = shared {
        script.push(' ');
        script.push_str(&shell_quote(format!("{SHARED_ENV}={}", dir.display())));
    }
    for (k, v) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if FORWARDED_ENV.iter().any(|p| k.starts_with(p)) && k != GUEST_ENV && k != SHARED_ENV {
            script.push(' ');
            script.push_str(&shell_quote(format!("{k}={}", v.to_string_lossy())));
        }
    }
    for word in std::iter::once(exe.as_os_str()).chain(args.iter().map(|a| a.as_os_str())) {
        script.push(' ');
        script.push_str(&shell_quote(word));
    }
    eprintln!(
        "vrf-lab: booting {} ({}, {} CPUs, {}) to run {}",
        cfg.kernel.display(),
        if cfg.kvm { "KVM" } else { "qemu TCG" },
        cfg.cpus,
        cfg.mem,
        exe.file_name().unwrap_or_default().to_string_lossy()
    );
    let start = Instant::now();
    let mut c = cfg.command(&script, cfg.kvm, shared);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let code = run_with_timeout(c, cfg.timeout)?;
    let secs = start.elapsed().as_secs_f64();
    Ok(match code {
        Some(code) => {
            eprintln!("vrf-lab: VM run finished in {secs:.1} s with exit status {code}");
            VmExit::Exited(code)
        }
        None => VmExit::Killed(cfg.timeout),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_sort_numerically() {
        let mut v = [
            "/boot/vmlinuz-6.9.0-1-amd64",
            "/boot/vmlinuz-6.10.0-1-amd64",
            "/boot/vmlinuz-6.1.0-56-amd64",
        ]
        .map(PathBuf::from)
        .to_vec();
        v.sort_by_key(|p| version_key(p));
        assert_eq!(v.last().unwrap(), Path::new("/boot/vmlinuz-6.10.0-1-amd64"));
    }

    #[test]
    fn missing_tools_are_named_with_their_install_command() {
        let e = check_tools(OsStr::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("qemu-system-x86_64 not found")
                && e.contains("apt-get install qemu-system-x86"),
            "{e}"
        );
        // A directory with qemu but nothing else: busybox is named next.
        let dir = std::env::temp_dir().join(format!("vrf-lab-tools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let qemu = dir.join("qemu-system-x86_64");
        std::fs::write(&qemu, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&qemu, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let e = check_tools(dir.as_os_str()).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            e.contains("busybox not found") && e.contains("busybox-static"),
            "{e}"
        );
    }
}
