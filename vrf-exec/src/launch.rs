//! A launch, `vrf-exec [OPTIONS] VRF COMMAND…`, step by step, in the order the kernel needs them:
//!
//! 1. check the names: the VRF's, and `--user`/`--group` (looked up now, so a bad one leaves nothing
//!    behind); look the VRF up over rtnetlink: it must exist, be a VRF, and be up; read its routing
//!    table: one without a default route lets lookups fall through to the main table, which is a
//!    warning, or with `--strict` a refusal (so is a table that cannot be read);
//! 2. prepare the VRF's cgroup: find cgroup2 (mounting it in a private mount namespace when it is
//!    hidden), refuse a `--user` who may write a `cgroup.procs` above it (and could move out), create the
//!    VRF's group, and make sure it carries the sock-create hook that binds every new AF_INET/AF_INET6
//!    socket to the VRF's ifindex, and the egress guard that lets packets leave only through the VRF's
//!    own devices;
//! 3. join the group: from here on, every socket this process and its children create is the VRF's;
//!    a socket made now proves it (or the VRF was re-created meanwhile: the hook is made for the new
//!    ifindex; or the kernel does not run the hook: refused);
//! 4. show the VRF's own resolv.conf as `/etc/resolv.conf` (a private mount namespace; a warning when it
//!    cannot be mounted there);
//! 5. drop privileges, so that the command cannot leave the VRF;
//! 6. exec the command in place.
//!
//! A failure in steps 1 to 5 ends vrf-exec with exit status 125 before the command runs: it never falls
//! back to the default VRF.

use std::fs::{self, File};
use std::io;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
use vrf_socket::Vrf;

use crate::bpf::{self, Attach};
use crate::cli::RunArgs;
use crate::egress::{self, Guard};
use crate::identity::Target;
use crate::mode::{self, Mode};
use crate::namespace::ResolvConf;
use crate::table::{self, OpenTable, Verdict};
use crate::{EXIT_FAILURE, cgroup, exec, namespace, seccomp};

/// Runs `args.command` inside `args.vrf`. In the cgroup mode, returns only when that failed, with the
/// exit status that says why (125 for vrf-exec's own failures, 126 and 127 for exec's); in the seccomp
/// mode, returns the command's exit status once it has ended.
pub fn launch(args: &RunArgs) -> ExitCode {
    let (status, message) = match run(args) {
        Ok(Ended::ExecFailed(exec_failed)) => (exec_failed.status, exec_failed.message),
        Ok(Ended::Supervised(code)) => return code,
        Err(e) => (EXIT_FAILURE, format!("{e:#}")),
    };
    eprintln!("vrf-exec: {message}");
    ExitCode::from(status)
}

/// How a launch that got as far as the command ended.
enum Ended {
    /// exec failed (cgroup mode; exec replaces vrf-exec when it works).
    ExecFailed(exec::ExecError),
    /// The seccomp mode's supervisor returned the command's status.
    Supervised(ExitCode),
}

/// The launch: step 1, then the cgroup mode's steps 2 to 6 or the seccomp mode. Returns only on
/// failure in the cgroup mode: an error before exec, when nothing was run, or how exec failed.
fn run(args: &RunArgs) -> Result<Ended> {
    let Some(name) = args.vrf.as_deref() else {
        bail!("no VRF given (vrf-exec VRF COMMAND [ARGS]…)");
    };
    // 1. The names, the user, the VRF.
    cgroup::check_name(name)?;
    let target = Target::resolve(args.user.as_deref(), args.group.as_deref())?;
    let vrf = look_up(name)?;
    if let Some(v) = &vrf {
        match table::at_launch(v.name(), v.table(), OpenTable::of(v), args.strict) {
            Verdict::Closed => {}
            Verdict::Warn(w) => eprintln!("vrf-exec: {w}"),
            Verdict::Refuse(why) => bail!(why),
        }
    }
    let (mode, why) = mode::choose(args.mode);
    match mode {
        Mode::Cgroup => run_cgroup(args, name, vrf, target).map(Ended::ExecFailed),
        Mode::Seccomp => run_seccomp(args, name, vrf, target, &why).map(Ended::Supervised),
    }
}

/// The seccomp mode (see [`crate::seccomp`]): the VRF's resolv.conf where the kernel allows it,
/// privileges dropped (`--user`: the supervisor too, so that it makes the command's sockets with the
/// command's credentials), a test socket bound, then the supervised command.
fn run_seccomp(
    args: &RunArgs,
    name: &str,
    vrf: Option<Vrf>,
    target: Option<Target>,
    why: &str,
) -> Result<ExitCode> {
    seccomp::kernel_support().map_err(|e| anyhow!("the seccomp mode cannot run here: {e}"))?;
    let resolv = if args.no_vrf_resolv_conf || vrf.is_none() {
        ResolvConf::Absent
    } else {
        namespace::use_vrf_resolv_conf_unprivileged(name)
    };
    if let ResolvConf::NotShown { conf, why } = &resolv {
        if args.require_vrf_resolv_conf {
            bail!("{conf} cannot be shown as /etc/resolv.conf: {why} (--require-vrf-resolv-conf)");
        }
        eprintln!(
            "vrf-exec: warning: {conf} is not shown as /etc/resolv.conf: {why}; the command runs \
             without the VRF's name servers"
        );
    }
    let env = match &target {
        Some(t) => {
            exec::drop_privileges(t)?;
            (!args.preserve_env).then(|| exec::environment_with(&t.login_env()))
        }
        None => None,
    };
    let binding = vrf.as_ref().map(seccomp::Binding::of);
    let found = seccomp::probe(binding.as_ref())?;
    if args.verbose {
        let what = vrf.as_ref().map_or("the default VRF".into(), |v| {
            format!(
                "VRF {} (ifindex {}, table {})",
                v.name(),
                v.index(),
                v.table()
            )
        });
        eprintln!("vrf-exec: seccomp mode ({why}), {what}");
        if let ResolvConf::Shown(r) = &resolv {
            eprintln!("vrf-exec: /etc/resolv.conf is {r}");
        }
    }
    match (&binding, found) {
        (Some(b), seccomp::Probe::Binds) => seccomp::run(b, &args.command, env.as_deref()),
        // Already there (probed): nested in the same VRF, whose supervisor or cgroup hook binds every
        // socket of the command too; or the default VRF from outside any VRF. Nothing to supervise.
        _ => {
            let e = exec::exec(&args.command, env.as_deref());
            eprintln!("vrf-exec: {}", e.message);
            Ok(ExitCode::from(e.status))
        }
    }
}

/// The cgroup mode, steps 2 to 6.
fn run_cgroup(
    args: &RunArgs,
    name: &str,
    vrf: Option<Vrf>,
    target: Option<Target>,
) -> Result<exec::ExecError> {
    // 2. Its cgroup, carrying the hook; none above it that the user could move to.
    let mount = namespace::ensure_cgroup2()?;
    let dir = cgroup::vrf_dir(&mount, vrf.as_ref().map_or("", Vrf::name))?;
    let confine = |made: bool| match (&target, &vrf) {
        (Some(t), Some(v)) => refuse_escape(&mount, &dir, t, v, made),
        _ => Ok(()),
    };
    confine(false)?;
    let mut hook = prepare_cgroup(&dir, vrf.as_ref().map(Vrf::index)).map_err(launch_error)?;
    // Again, now that the groups exist: one made meanwhile by someone else is seen too.
    confine(true)?;
    // 3. Into it, proven by a socket.
    cgroup::join(&dir)
        .map_err(|e| privilege_hint(e, format!("cannot join cgroup {}", dir.display())))?;
    let vrf = confirm_binding(name, vrf, &dir, &mut hook)?;
    // 4. The VRF's resolv.conf.
    let resolv = if args.no_vrf_resolv_conf || vrf.is_none() {
        ResolvConf::Absent
    } else {
        namespace::use_vrf_resolv_conf(name)?
    };
    if let ResolvConf::NotShown { conf, why } = &resolv {
        eprintln!(
            "vrf-exec: warning: {conf} is not shown as /etc/resolv.conf: {why}; the command runs \
             without the VRF's name servers"
        );
    }
    if args.verbose {
        tell(vrf.as_ref(), hook, &dir, &resolv);
    }
    // 5. Privileges, and the variables `runuser -u` sets.
    let env = match &target {
        Some(t) => {
            exec::drop_privileges(t)?;
            (!args.preserve_env).then(|| exec::environment_with(&t.login_env()))
        }
        None => None,
    };
    // 6. The command.
    Ok(exec::exec(&args.command, env.as_deref()))
}

/// Fails when `target` may write a `cgroup.procs` above `dir` (VRF `vrf`'s group): its command could
/// move itself there, out of the VRF. `made`: the groups have been created (the second look).
fn refuse_escape(mount: &Path, dir: &Path, target: &Target, vrf: &Vrf, made: bool) -> Result<()> {
    let found = cgroup::writable_ancestor(mount, dir, |m| target.may_write(m)).map_err(|e| {
        anyhow!(
            "checking the cgroups above {} for --user {}: {e}",
            dir.display(),
            target.user.name
        )
    })?;
    let Some(procs) = found else { return Ok(()) };
    let user = &target.user.name;
    let when = if made {
        " (made while vrf-exec ran)"
    } else {
        ""
    };
    bail!(
        "--user {user} could leave VRF {vrf}: {} is writable by {user} (uid {}){when}, so the command \
         could move itself there, out of {}; run vrf-exec from a cgroup {user} cannot write (e.g. \
         `systemd-run --scope vrf-exec …` puts it in a new root-owned scope), or delegate nothing above \
         it to {user}",
        procs.display(),
        target.user.uid,
        dir.display()
    )
}

/// How many times [`confirm_binding`] prepares the group again for a VRF re-created under its feet.
const REBIND_ATTEMPTS: usize = 3;

/// Proves the hook works for this process, now in cgroup `dir`: a socket made now must be bound to the
/// VRF's ifindex (to none for the default VRF). When it is bound to another one, VRF `name` may have been
/// deleted and re-created since it was looked up (a concurrent launch may even have attached the hook
/// for an ifindex that is gone): it is looked up again and the group prepared for the ifindex of now,
/// a few times at most. When the socket is not bound at all, the kernel did not run the hook: refused.
/// Returns the VRF as it is now.
fn confirm_binding(
    name: &str,
    mut vrf: Option<Vrf>,
    dir: &Path,
    hook: &mut Option<Hooks>,
) -> Result<Option<Vrf>> {
    for _ in 0..REBIND_ATTEMPTS {
        let Some(bound) = probe_binding()? else {
            return Ok(vrf); // No AF_INET/AF_INET6 socket can be made: nothing to bind.
        };
        let want = vrf.as_ref().map(Vrf::index);
        if bound == want {
            return Ok(vrf);
        }
        let (Some(v), Some(_)) = (&vrf, bound) else {
            break;
        };
        let now = look_up(name)?.ok_or_else(|| anyhow!("VRF {name} is gone"))?;
        if now.index() == v.index() {
            break;
        }
        *hook = prepare_cgroup(dir, Some(now.index())).map_err(launch_error)?;
        vrf = Some(now);
    }
    let got = probe_binding()?.flatten();
    let (want, why) = match (&vrf, got) {
        (Some(v), None) => (
            format!("VRF {name} (ifindex {})", v.index()),
            "the kernel did not run the VRF's sock-create hook for this process (a cgroup-v1 \
             net_cls/net_prio hierarchy in use turns cgroup-v2 socket hooks off on Linux before 5.15; \
             see `vrf-exec check`)",
        ),
        (Some(v), Some(_)) => (
            format!("VRF {name} (ifindex {})", v.index()),
            "another sock-create program re-binds it (one attached with BPF_F_ALLOW_MULTI to a cgroup \
             above runs after the VRF's hook: see `bpftool cgroup tree`), or the VRF keeps being \
             re-created",
        ),
        (None, _) => (
            "no device (the default VRF)".into(),
            "a sock-create program on a cgroup above it binds it",
        ),
    };
    let got = got.map_or("not bound to any device".into(), |i| {
        format!("bound to ifindex {i}")
    });
    bail!(
        "a socket made in cgroup {} is {got}, not to {want}: {why}; the command was not run",
        dir.display()
    )
}

/// The device a new AF_INET (else AF_INET6) socket of this process is bound to: `Some(None)` when
/// unbound, `None` when neither family can be used.
pub fn probe_binding() -> Result<Option<Option<NonZeroU32>>> {
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        match socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None) {
            Ok(s) => {
                let bound = vrf_socket::bound_index(&s)
                    .map_err(|e| anyhow!("reading SO_BINDTOIFINDEX of a test socket: {e}"))?;
                return Ok(Some(bound));
            }
            Err(nix::errno::Errno::EAFNOSUPPORT) => continue,
            Err(e) => bail!("cannot make a test socket to check the VRF binding: {e}"),
        }
    }
    Ok(None)
}

/// The VRF called `name`, up; `None` for `default`, the default VRF.
fn look_up(name: &str) -> Result<Option<Vrf>> {
    cgroup::check_name(name)?;
    if name == "default" {
        return Ok(None);
    }
    Ok(Some(Vrf::up_by_name(name)?))
}

/// Makes cgroup directory `dir` ready to join: creates it and, for a VRF (`ifindex`; `None` for the
/// default VRF), makes sure it carries a hook that binds new sockets to `ifindex` and the egress guard
/// for the VRF's devices. Says what it did to them. A launch prepares the VRF's cgroup with it, and
/// `vrf-exec check` tries it.
pub fn prepare_cgroup(
    dir: &Path,
    ifindex: Option<NonZeroU32>,
) -> Result<Option<Hooks>, PrepareError> {
    let failed = |step, error| PrepareError {
        step,
        dir: dir.to_path_buf(),
        error,
    };
    fs::create_dir_all(dir).map_err(|e| failed(Step::Create, e))?;
    let Some(ifindex) = ifindex else {
        return Ok(None);
    };
    let cg = File::open(dir).map_err(|e| failed(Step::Open, e))?;
    let hook = bpf::ensure_attached(&cg, ifindex).map_err(|e| failed(Step::Attach, e))?;
    let guard = egress::ensure_guard(&cg, ifindex).map_err(|e| failed(Step::Guard, e))?;
    Ok(Some(Hooks { hook, guard }))
}

/// What [`prepare_cgroup`] found or attached on a VRF's cgroup.
#[derive(Debug, Clone)]
pub struct Hooks {
    /// The sock-create hook.
    pub hook: Attach,
    /// The egress guard.
    pub guard: Guard,
}

impl std::fmt::Display for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hook {:?}, egress guard {}", self.hook, self.guard)
    }
}

/// What [`prepare_cgroup`] was doing when it failed.
#[derive(Debug, Clone, Copy)]
enum Step {
    Create,
    Open,
    Attach,
    Guard,
}

/// A failure of [`prepare_cgroup`]: the step, the cgroup directory, and the system's error.
#[derive(Debug)]
pub struct PrepareError {
    step: Step,
    dir: PathBuf,
    /// Why the step failed.
    pub error: io::Error,
}

/// A launch's message for a failed [`prepare_cgroup`]: the step, and what to do when it was refused.
fn launch_error(e: PrepareError) -> anyhow::Error {
    let dir = e.dir.display();
    match e.step {
        Step::Create => privilege_hint(e.error, format!("cannot create cgroup {dir}")),
        Step::Open => anyhow!("opening {dir}: {}", e.error),
        Step::Attach => privilege_hint(e.error, format!("cannot attach the VRF hook to {dir}")),
        Step::Guard => privilege_hint(e.error, format!("cannot attach the egress guard to {dir}")),
    }
}

/// Adds what to do to permission errors.
fn privilege_hint(e: io::Error, what: String) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => anyhow!(
            "{what}: {e} (attaching a process to a VRF needs root: CAP_SYS_ADMIN for the cgroup, \
             CAP_BPF or CAP_SYS_ADMIN and CAP_NET_ADMIN for the hook; `vrf-exec check` tells what is missing)"
        ),
        Some(libc::EROFS) => anyhow!(
            "{what}: {e} (the cgroup2 file system is read-only here, as in many containers)"
        ),
        _ => anyhow!("{what}: {e}"),
    }
}

/// `--verbose`: says on stderr which VRF, hook, cgroup and resolv.conf the command gets.
fn tell(vrf: Option<&Vrf>, hooks: Option<Hooks>, dir: &Path, resolv: &ResolvConf) {
    let what = match (vrf, hooks) {
        (Some(v), Some(h)) => format!(
            "VRF {} (ifindex {}, table {}), {h}",
            v.name(),
            v.index(),
            v.table(),
        ),
        _ => "the default VRF".to_string(),
    };
    eprintln!("vrf-exec: {what}, cgroup {}", dir.display());
    if let ResolvConf::Shown(r) = resolv {
        eprintln!("vrf-exec: /etc/resolv.conf is {r}");
    }
}
