//! vrf-exec's promises under attack (issue 14): a command run with `--user` cannot leave the VRF through
//! a cgroup its user may write, `--group` alone and `--user root` are refused, a setuid, setgid or
//! file-capability install refuses to run, a caller's cgroup named like `/vrfaudit` keeps its place in
//! the tree, a bad user or a `check` leaves no cgroup behind, `--user` sets the environment as
//! `runuser -u` does, a missing `/etc/resolv.conf` does not stop a launch, `pids` of a missing VRF fails,
//! and a cgroup-v1 net_cls/net_prio hierarchy in use is measured, not assumed, to leave the hook working.
//!
//! Each command that could escape reports where its sockets go with `bound_ifindex` (an example of this
//! crate): `v4=N v6=N`, the ifindex the kernel bound a fresh socket to, 0 in the default VRF.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::cmd::{self, Run, shell_quote};
use vrf_lab::{TempDir, Topology};

vrf_lab::lab_tests! {
    user_who_may_write_an_ancestor_cgroup_is_refused,
    group_alone_and_user_root_are_refused,
    setuid_setgid_and_file_capability_installs_refuse_to_run,
    caller_cgroup_named_like_vrf_keeps_its_place,
    bad_user_or_group_leaves_no_cgroup,
    check_changes_nothing_and_reports_vrf_support,
    user_sets_the_environment_like_runuser,
    missing_or_dangling_resolv_conf_is_not_fatal,
    pids_of_a_missing_vrf_fails,
    cgroup_v1_net_cls_net_prio_leave_the_hook_working,
    hook_above_that_rebinds_sockets_is_refused,
}

/// How long any one command of these tests may take before it is killed and the test fails.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// Where cgroup2 is mounted in the lab (the tests run outside `ip netns exec`, so it is visible).
pub(crate) const CGROUP2: &str = "/sys/fs/cgroup";

/// Runs `cmd` with stdin closed, capturing both streams; kills it and fails after `limit`.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<Run> {
    let line = cmd::line_of(cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || drop(tx.send(child.wait_with_output())));
    let Ok(out) = rx.recv_timeout(limit) else {
        // Not reaped yet (the thread is still waiting), so the pid is still the child's.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        bail!("`{line}` did not finish within {} s", limit.as_secs());
    };
    let out = out.with_context(|| format!("waiting for `{line}`"))?;
    Ok(Run {
        line,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `sh -c script` in the lab's own namespaces (not the router's), bounded.
pub(crate) fn sh(script: &str) -> Result<Run> {
    run_bounded(Command::new("sh").args(["-c", script]), LIMIT)
}

/// `vrf-exec args…` in the router namespace, bounded.
fn vrf_exec(t: &Topology, args: &[&str]) -> Result<Run> {
    let exe = vrf_lab::tool("vrf-exec")?;
    run_bounded(&mut t.router_cmd(path_str(&exe)?, args), LIMIT)
}

pub(crate) fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

/// The ifindex of device `dev` in the router namespace.
pub(crate) fn ifindex(t: &Topology, dev: &str) -> Result<u32> {
    let r = run_bounded(
        &mut t.router_cmd("ip", &["-o", "link", "show", "dev", dev]),
        LIMIT,
    )?
    .ok()?;
    r.stdout
        .split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| r.describe("no ifindex"))
}

/// The `v4=N` that `bound_ifindex` prints for sockets bound to `index`.
pub(crate) fn bound_to(index: u32) -> String {
    format!("v4={index} v6={index}")
}

/// A cgroup of the lab's cgroup2 tree, made by a test; dropping it removes it and every group below it
/// (once their processes are gone).
pub(crate) struct Cgroup {
    pub path: PathBuf,
}

impl Cgroup {
    /// Creates `<cgroup2>/<rel>` (and its parents).
    pub fn new(rel: &str) -> Result<Cgroup> {
        let path = Path::new(CGROUP2).join(rel);
        std::fs::create_dir_all(&path).with_context(|| format!("mkdir {}", path.display()))?;
        Ok(Cgroup { path })
    }

    /// The path as text, for scripts.
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // A process that just exited may hold its group for a moment: retry, for a bounded time.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.path.exists() && remove_tree(&self.path).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Removes cgroup directory `dir` and every group below it, deepest first.
pub(crate) fn remove_tree(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            remove_tree(&e.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// The router namespace's level of the cgroup tree, `<own cgroup>/<netns>-ns`.
pub(crate) fn netns_cgroup(t: &Topology) -> Result<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup")?;
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .context("no cgroup-v2 line in /proc/self/cgroup")?;
    Ok(Path::new(CGROUP2)
        .join(path.trim_start_matches('/'))
        .join(format!("{}-ns", t.router_ns)))
}

/// A shell script that tries to leave the VRF by writing its own pid to `<to>/cgroup.procs`, says
/// `moved` when that worked, then execs `bound_ifindex` to show where its sockets go.
fn escape_to(to: &str) -> Result<String> {
    let bound = vrf_lab::example("bound_ifindex")?;
    Ok(format!(
        "echo $$ > {to}/cgroup.procs && echo moved; exec {}",
        path_str(&bound)?
    ))
}

/// Item 2: a cgroup delegated to `nobody` (directory and files chowned, as systemd delegates
/// `user@UID.service`) holds the launcher. `--user nobody` could write its `cgroup.procs` and leave the
/// VRF: refused. `--user daemon` cannot: it runs, and stays.
fn user_who_may_write_an_ancestor_cgroup_is_refused() -> Result<()> {
    let t = Topology::new()?;
    let deleg = Cgroup::new(&format!("{}-deleg", t.router_ns))?;
    let nobody = nix::unistd::User::from_name("nobody")?.context("no user nobody")?;
    for f in [
        "",
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.subtree_control",
    ] {
        std::os::unix::fs::chown(
            deleg.path.join(f),
            Some(nobody.uid.as_raw()),
            Some(nobody.gid.as_raw()),
        )?;
    }
    let exe = vrf_lab::tool("vrf-exec")?;
    let escape = escape_to(&deleg.display())?;
    let launch = |user: &str| -> Result<Run> {
        sh(&format!(
            "echo $$ > {}/cgroup.procs && exec ip netns exec {} {} --user {user} {} sh -c {}",
            deleg.display(),
            t.router_ns,
            path_str(&exe)?,
            t.blue.vrf,
            shell_quote(&escape)
        ))
    };
    let r = launch("nobody")?;
    ensure!(
        r.code == Some(125)
            && !r.stdout.contains("moved")
            && r.stderr
                .contains(&format!("{}/cgroup.procs", deleg.display()))
            && r.stderr.contains("nobody"),
        "{}",
        r.describe("should refuse: nobody may write the launcher's cgroup")
    );
    let blue = ifindex(&t, &t.blue.vrf)?;
    let r = launch("daemon")?;
    ensure!(
        r.success() && !r.stdout.contains("moved") && r.stdout.trim() == bound_to(blue),
        "{}\nexpected {} and no move",
        r.describe("daemon cannot write the delegated cgroup: it should run, inside the VRF"),
        bound_to(blue)
    );
    Ok(())
}

/// Item 3: `--group` without `--user` keeps uid 0, and uid 0 owns every `cgroup.procs`: refused, and so
/// is `--user` naming uid 0.
fn group_alone_and_user_root_are_refused() -> Result<()> {
    let t = Topology::new()?;
    let escape = escape_to(CGROUP2)?;
    let blue = t.blue.vrf.as_str();
    for (args, why) in [
        (&["--group", "nogroup"][..], "--user"),
        (&["--user", "root"][..], "uid 0"),
        (&["--user", "0", "--group", "nogroup"][..], "uid 0"),
    ] {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([blue, "sh", "-c", &escape]);
        let r = vrf_exec(&t, &all)?;
        ensure!(
            r.code == Some(125) && !r.stdout.contains("moved") && r.stderr.contains(why),
            "{}\nexpected exit 125 and a message naming {why:?}",
            r.describe("should refuse")
        );
    }
    Ok(())
}

/// Unmounts a mount point when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Item 4: installed setuid root, setgid root, or with file capabilities, run by `nobody`: refuses
/// (with the old code `--user root` made nobody root).
fn setuid_setgid_and_file_capability_installs_refuse_to_run() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("vrf-exec-install")?;
    // A file system without nosuid, so that the bits and capabilities take effect.
    cmd::run_ok(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "mode=0755",
            "tmpfs",
            path_str(dir.path())?,
        ],
    )?;
    let _mount = Mount(dir.path().to_path_buf());
    let copy = dir.join("vrf-exec");
    std::fs::copy(vrf_lab::tool("vrf-exec")?, &copy)?;
    let copy_s = path_str(&copy)?;
    let as_nobody = |args: &[&str]| -> Result<Run> {
        let mut all = vec!["--reuid=65534", "--regid=65534", "--clear-groups", copy_s];
        all.extend(args);
        run_bounded(&mut t.router_cmd("setpriv", &all), LIMIT)
    };
    let blue = t.blue.vrf.as_str();
    for (mode, what) in [(0o4755, "set-user-ID"), (0o2755, "set-group-ID")] {
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode))?;
        let r = as_nobody(&["--user", "root", blue, "id", "-u"])?;
        ensure!(
            r.code == Some(125) && r.stdout.is_empty() && r.stderr.contains(what),
            "{}",
            r.describe(&format!("installed {mode:o}: should refuse, naming {what}"))
        );
        let r = as_nobody(&["identify"])?;
        ensure!(
            r.code == Some(125) && r.stderr.contains(what),
            "{}",
            r.describe("every command refuses")
        );
    }
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
    cmd::run_ok(
        "setcap",
        &[
            "cap_sys_admin,cap_net_admin,cap_bpf,cap_dac_override+ep",
            copy_s,
        ],
    )?;
    let r = as_nobody(&[blue, "id", "-u"])?;
    ensure!(
        r.code == Some(125) && r.stdout.is_empty() && r.stderr.contains("file capabilities"),
        "{}",
        r.describe("file-capability install: should refuse")
    );
    // Run by root, the same file is fine: root gains nothing from it.
    let r = run_bounded(&mut t.router_cmd(copy_s, &[blue, "id", "-u"]), LIMIT)?;
    ensure!(
        r.success() && r.stdout.trim() == "0",
        "{}",
        r.describe("root runs it")
    );
    Ok(())
}

/// Item 5: a caller in `/vrfaudit…/inner` keeps its place: the VRF's group goes below it, not to
/// `/vrf/…` at the top, and `ip vrf identify` still names the VRF.
fn caller_cgroup_named_like_vrf_keeps_its_place() -> Result<()> {
    let t = Topology::new()?;
    let top = format!("vrfaudit{}", t.router_ns.trim_start_matches("vl"));
    let _top_group = Cgroup::new(&top)?;
    let inner = Cgroup::new(&format!("{top}/inner"))?;
    let exe = vrf_lab::tool("vrf-exec")?;
    let blue = &t.blue.vrf;
    let r = sh(&format!(
        "echo $$ > {}/cgroup.procs && exec ip netns exec {} {} {blue} sh -c {}",
        inner.display(),
        t.router_ns,
        path_str(&exe)?,
        shell_quote(format!(
            "grep ^0:: /proc/self/cgroup; ip vrf identify; {} identify",
            path_str(&exe)?
        ))
    ))?;
    let want = format!(
        "0::/{top}/inner/{}-ns/vrf/{blue}\n{blue}\n{blue}",
        t.router_ns
    );
    ensure!(
        r.success() && r.stdout.trim() == want,
        "{}\nexpected:\n{want}",
        r.describe("the VRF's group must stay under the caller's")
    );
    Ok(())
}

/// Hygiene: `--user`/`--group` are checked before anything is made: a bad one leaves no cgroup (and so
/// no hook) behind.
fn bad_user_or_group_leaves_no_cgroup() -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.vrf.as_str();
    let level = netns_cgroup(&t)?;
    for (args, what) in [
        (&["--user", "nosuchuser0"][..], "nosuchuser0"),
        (
            &["--user", "nobody", "--group", "nosuchgroup0"][..],
            "nosuchgroup0",
        ),
    ] {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([blue, "true"]);
        let r = vrf_exec(&t, &all)?;
        ensure!(
            r.code == Some(125) && r.stderr.contains(what),
            "{}",
            r.describe("should refuse the unknown name")
        );
        ensure!(
            !level.exists(),
            "{} left {} behind",
            r.line,
            level.display()
        );
    }
    Ok(())
}

/// Hygiene: `check VRF` creates no cgroup and attaches nothing; it says whether the kernel supports
/// VRFs, and once a launch attached the hook, that the VRF's group carries it.
fn check_changes_nothing_and_reports_vrf_support() -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.vrf.as_str();
    let level = netns_cgroup(&t)?;
    let r = vrf_exec(&t, &["check", blue])?;
    ensure!(
        r.success()
            && r.stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains("VRF support")),
        "{}",
        r.describe("check on the lab kernel")
    );
    ensure!(
        !level.exists(),
        "{}\n`check` created {}",
        r.describe("check"),
        level.display()
    );
    vrf_exec(&t, &[blue, "true"])?.ok()?;
    let index = ifindex(&t, blue)?;
    let r = vrf_exec(&t, &["check", blue])?;
    ensure!(
        r.success()
            && r.stdout.lines().any(|l| l.starts_with("ok")
                && l.contains("hook")
                && l.contains(&format!("ifindex {index}"))),
        "{}",
        r.describe("check after a launch should see the hook")
    );
    Ok(())
}

/// The values of the variables `names` in `env` output.
fn vars<'a>(env_output: &'a str, names: &[&str]) -> Vec<(String, Option<&'a str>)> {
    names
        .iter()
        .map(|n| {
            let v = env_output
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{n}=")));
            (n.to_string(), v)
        })
        .collect()
}

/// Hygiene: `--user nobody` sets HOME, USER and LOGNAME, and keeps SHELL, as `runuser -u nobody` does
/// (all four are compared with runuser's); `--preserve-env` keeps the caller's.
fn user_sets_the_environment_like_runuser() -> Result<()> {
    let t = Topology::new()?;
    let exe = vrf_lab::tool("vrf-exec")?;
    let names = ["HOME", "USER", "LOGNAME", "SHELL"];
    let caller = |c: &mut Command| {
        c.env("HOME", "/caller-home")
            .env("USER", "caller")
            .env("LOGNAME", "caller")
            .env("SHELL", "/caller/sh");
    };
    let mut ours = t.router_cmd(path_str(&exe)?, &["--user", "nobody", &t.blue.vrf, "env"]);
    caller(&mut ours);
    let ours = run_bounded(&mut ours, LIMIT)?.ok()?;
    let mut theirs = Command::new("runuser");
    theirs.args(["-u", "nobody", "--", "env"]);
    caller(&mut theirs);
    let theirs = run_bounded(&mut theirs, LIMIT)?.ok()?;
    let (a, b) = (vars(&ours.stdout, &names), vars(&theirs.stdout, &names));
    ensure!(
        a == b && a.iter().all(|(_, v)| v.is_some()),
        "vrf-exec --user nobody: {a:?}\nrunuser -u nobody:     {b:?}"
    );
    let mut kept = t.router_cmd(
        path_str(&exe)?,
        &["--user", "nobody", "--preserve-env", &t.blue.vrf, "env"],
    );
    caller(&mut kept);
    let kept = run_bounded(&mut kept, LIMIT)?.ok()?;
    let want = [
        ("HOME", "/caller-home"),
        ("USER", "caller"),
        ("LOGNAME", "caller"),
        ("SHELL", "/caller/sh"),
    ]
    .map(|(n, v)| (n.to_string(), Some(v)));
    ensure!(
        vars(&kept.stdout, &names) == want,
        "--preserve-env: {:?}",
        vars(&kept.stdout, &names)
    );
    Ok(())
}

/// Hygiene: with `/etc/vrf/VRF/resolv.conf` present but `/etc/resolv.conf` missing or a dangling
/// symlink (systemd-resolved's stub before it starts), the launch goes on with a warning, as
/// `ip netns exec` does with `/etc/netns/NAME/`. Each case runs in a private mount namespace with its
/// own `/etc`, so the lab's stays untouched.
fn missing_or_dangling_resolv_conf_is_not_fatal() -> Result<()> {
    let t = Topology::new()?;
    let exe = vrf_lab::tool("vrf-exec")?;
    let blue = &t.blue.vrf;
    for (case, make) in [
        ("missing", ""),
        (
            "dangling",
            "ln -s /run/no-such-dir/stub-resolv.conf /etc/resolv.conf && ",
        ),
    ] {
        let script = format!(
            "mount -t tmpfs tmpfs /etc && mkdir -p /etc/vrf/{blue} && \
             echo 'nameserver 10.99.0.2' > /etc/vrf/{blue}/resolv.conf && {make}\
             exec ip netns exec {} {} {blue} sh -c 'echo ran'",
            t.router_ns,
            path_str(&exe)?
        );
        let r = in_private_mounts(&script)?;
        ensure!(
            r.success()
                && r.stdout.trim() == "ran"
                && r.stderr.contains("/etc/resolv.conf")
                && r.stderr.contains(&format!("/etc/vrf/{blue}/resolv.conf")),
            "{}",
            r.describe(&format!(
                "/etc/resolv.conf {case}: should run, with a warning"
            ))
        );
    }
    Ok(())
}

/// Hygiene: `pids` of a VRF that does not exist fails (exit 1) and says so.
fn pids_of_a_missing_vrf_fails() -> Result<()> {
    let t = Topology::new()?;
    let r = vrf_exec(&t, &["pids", "nosuchvrf0"])?;
    ensure!(
        r.code == Some(1) && r.stderr.contains("\"nosuchvrf0\" not found"),
        "{}",
        r.describe("pids of a missing VRF")
    );
    Ok(())
}

/// Item 8, measured: a cgroup-v1 hierarchy with net_cls and net_prio, mounted and used (a group with a
/// classid and an ifpriomap, the launcher moved into it), in a private mount namespace. On kernels before
/// 5.15 that disabled cgroup-v2 socket matching for good; the launch then refuses, because it checks a
/// socket of its own before exec. On this kernel the hook must still bind, and `check` must not report
/// a failure.
fn cgroup_v1_net_cls_net_prio_leave_the_hook_working() -> Result<()> {
    let t = Topology::new()?;
    let exe = vrf_lab::tool("vrf-exec")?;
    let exe = path_str(&exe)?;
    let bound = vrf_lab::example("bound_ifindex")?;
    let dir = TempDir::new("netcls")?;
    let d = path_str(dir.path())?;
    let blue = &t.blue.vrf;
    let r = in_private_mounts(&format!(
        "mount -t cgroup -o net_cls,net_prio none {d} || exit 90
         trap 'echo $$ > {d}/cgroup.procs; rmdir {d}/g; umount {d}' EXIT
         mkdir {d}/g && echo 0x100001 > {d}/g/net_cls.classid && echo 'lo 5' > {d}/g/net_prio.ifpriomap \
           && echo $$ > {d}/g/cgroup.procs || exit 91
         grep -E 'net_cls|^0::' /proc/self/cgroup >&2
         ip netns exec {r} {exe} {blue} {bound}
         ip netns exec {r} {exe} check {blue} | grep -A1 net_cls
         ip netns exec {r} {exe} check {blue} > /dev/null; echo check=$?",
        r = t.router_ns,
        bound = path_str(&bound)?,
    ))?;
    let index = ifindex(&t, blue)?;
    let dmesg = run_bounded(&mut Command::new("dmesg"), LIMIT)
        .map(|d| {
            d.stdout
                .lines()
                .filter(|l| l.contains("socket matching"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    eprintln!(
        "net_cls/net_prio in use: {}\n  kernel log: {dmesg:?}",
        r.describe("observed")
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    ensure!(
        r.success()
            && lines.first() == Some(&bound_to(index).as_str())
            && lines.last() == Some(&"check=0")
            && !r.stdout.contains("FAIL"),
        "{}\nexpected {} and a passing check",
        r.describe("with net_cls/net_prio in use"),
        bound_to(index)
    );
    Ok(())
}

/// Runs `script` in a private mount namespace of its own (`unshare -m`), bounded.
fn in_private_mounts(script: &str) -> Result<Run> {
    run_bounded(
        Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", script]),
        LIMIT,
    )
}

/// Loads a sock-create program that binds every new socket to ifindex `argv[2]` and attaches it to
/// cgroup `argv[1]` with `BPF_F_ALLOW_MULTI`, so that it also runs for the groups below, after theirs.
const REBINDER_PY: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def bpf(cmd, attr):
    r = libc.syscall(ctypes.c_long(321), ctypes.c_int(cmd), ctypes.c_char_p(attr), ctypes.c_uint(len(attr)))
    if r < 0:
        sys.exit("bpf(%d): %s" % (cmd, os.strerror(ctypes.get_errno())))
    return r
def insn(code, dst, src, imm):
    return struct.pack("<BBhi", code, dst | src << 4, 0, imm)
code = ctypes.create_string_buffer(insn(0xb7, 2, 0, int(sys.argv[2])) + insn(0x63, 1, 2, 0)
                                   + insn(0xb7, 0, 0, 1) + insn(0x95, 0, 0, 0))
gpl = ctypes.create_string_buffer(b"GPL")
prog = bpf(5, struct.pack("IIQQIIQII16sII", 9, 4, ctypes.addressof(code), ctypes.addressof(gpl),
                          0, 0, 0, 0, 0, b"lab_rebinder", 0, 2))
cg = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
bpf(8, struct.pack("IIIII", cg, prog, 2, 2, 0))
"#;

/// Fail closed, measured on this kernel: a sock-create program on a cgroup above the VRF's group,
/// attached with `BPF_F_ALLOW_MULTI`, runs after the VRF's hook and re-binds every socket to red. The
/// launch sees it in its test socket and refuses; `ip vrf exec` (like vrf-exec before it checked)
/// runs the command with red's sockets.
fn hook_above_that_rebinds_sockets_is_refused() -> Result<()> {
    let t = Topology::new()?;
    let level = netns_cgroup(&t)?;
    let rel = level
        .strip_prefix(CGROUP2)?
        .to_str()
        .context("cgroup path")?;
    let level = Cgroup::new(rel)?;
    let red = ifindex(&t, &t.red.vrf)?;
    let mut load = Command::new("/usr/bin/python3");
    load.args(["-c", REBINDER_PY, &level.display(), &red.to_string()]);
    run_bounded(&mut load, LIMIT)?.ok()?;
    let bound = vrf_lab::example("bound_ifindex")?;
    // The attack is real: `ip vrf exec`, which checks nothing, runs the command with red's sockets.
    let theirs = run_bounded(
        &mut t.router_cmd("ip", &["vrf", "exec", &t.blue.vrf, path_str(&bound)?]),
        LIMIT,
    )?;
    ensure!(
        theirs.success() && theirs.stdout.trim() == bound_to(red),
        "{}",
        theirs.describe(&format!(
            "the rebinder should bind to red: {}",
            bound_to(red)
        ))
    );
    let r = vrf_exec(&t, &[&t.blue.vrf, path_str(&bound)?])?;
    ensure!(
        r.code == Some(125)
            && r.stdout.is_empty()
            && r.stderr.contains(&format!("bound to ifindex {red}")),
        "{}",
        r.describe("the command's sockets would go to red: should refuse")
    );
    Ok(())
}
