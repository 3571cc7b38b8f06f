//! `vrf-exec check`: every precondition of a launch, each with its fix. It changes nothing: it reads
//! files, asks rtnetlink and the bpf(2) query commands, and where cgroup2 is hidden (under `ip netns
//! exec`) mounts it in a private mount namespace of its own, gone when it exits; to see whether BPF
//! programs load, it loads the hook for the VRF and frees it at once, attaching nothing.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use vrf_socket::{AddressFamily, Vrf};

use crate::identity::Caps;
use crate::mode::{self, Mode, ModeArg};
use crate::sys::{self, CGROUP_INET_SOCK_CREATE, PROG_TYPE_CGROUP_SOCK};
use crate::table::OpenTable;
use crate::{bpf, cgroup, namespace, seccomp};

/// Linux capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

struct Report {
    failed: bool,
}

impl Report {
    fn ok(&self, what: &str) {
        println!("ok    {what}");
    }
    fn warn(&self, what: &str, note: &str) {
        println!("warn  {what}\n      {note}");
    }
    fn fail(&mut self, what: &str, fix: &str) {
        self.failed = true;
        println!("FAIL  {what}\n      fix: {fix}");
    }
}

/// Runs every check of a launch with `--mode mode`, prints one line each, and returns the exit status
/// (0 all good, 1 something failed).
pub fn run(vrf: Option<&str>, mode: ModeArg) -> u8 {
    let mut r = Report { failed: false };
    let (mode, why) = mode::choose(mode);
    r.ok(&format!("launch mode: {mode} ({why})"));
    match vrf_support() {
        Ok(how) => r.ok(&format!("VRF support: {how}")),
        Err(why) => r.fail(
            &why,
            "boot a kernel built with CONFIG_NET_VRF=y or =m (Debian's linux-image-amd64 has it as a \
             module; vrf-lab runs the tests in a VM with that kernel)",
        ),
    }
    let mount = match mode {
        Mode::Cgroup => cgroup_checks(&mut r),
        Mode::Seccomp => {
            seccomp_checks(&mut r);
            None
        }
    };
    if let Some(name) = vrf {
        match Vrf::by_name(name) {
            Ok(v) => {
                r.ok(&format!(
                    "{name} is a VRF (ifindex {}, table {})",
                    v.index(),
                    v.table()
                ));
                match v.ensure_up() {
                    Ok(()) => r.ok(&format!("{name} is up")),
                    Err(_) => r.fail(
                        &format!("{name} is down"),
                        &format!("ip link set {name} up"),
                    ),
                }
                table_ends_lookups(&mut r, &v);
                match (mode, &mount) {
                    (Mode::Cgroup, Some(m)) => probe_hook(&mut r, m, &v),
                    (Mode::Cgroup, None) => {}
                    (Mode::Seccomp, _) => probe_seccomp(&mut r, &v),
                }
            }
            Err(e) => r.fail(&format!("{e}"), "see `vrf-exec list` for the VRFs here"),
        }
    }
    u8::from(r.failed)
}

/// What the seccomp mode needs: a recent enough kernel, and for a VRF's resolv.conf an unprivileged
/// user and mount namespace (tried in a child process, which then exits).
fn seccomp_checks(r: &mut Report) {
    match seccomp::kernel_support() {
        Ok(()) => r.ok("seccomp user notification with SECCOMP_ADDFD_FLAG_SEND (Linux 5.14+)"),
        Err(why) => r.fail(
            &format!("the seccomp mode cannot run: {why}"),
            "use Linux 5.14 or later, or run vrf-exec as root (the cgroup mode)",
        ),
    }
    match namespace::can_unshare_user_and_mount() {
        Ok(()) => r.ok(
            "a user and mount namespace can be made: /etc/vrf/VRF/resolv.conf is shown as \
             /etc/resolv.conf",
        ),
        Err(e) => r.warn(
            &format!("no unprivileged user and mount namespace here ({e})"),
            "a launch runs the command with the host's /etc/resolv.conf and warns (refused with \
             --require-vrf-resolv-conf); allow them with the sysctls user.max_user_namespaces, \
             kernel.unprivileged_userns_clone or kernel.apparmor_restrict_unprivileged_userns",
        ),
    }
}

/// A socket of this process binds to `v` as the supervisor's would.
fn probe_seccomp(r: &mut Report, v: &Vrf) {
    match seccomp::probe(Some(&seccomp::Binding::of(v))) {
        Ok(seccomp::Probe::AlreadyThere) => r.ok(&format!(
            "this process is in {} already (its sockets come bound there): a launch runs the \
             command in place, bound by what binds this process's sockets",
            v.name()
        )),
        Ok(seccomp::Probe::Binds) => r.ok(&format!(
            "a socket of this process binds to {} (ifindex {}), as the supervisor's will",
            v.name(),
            v.index()
        )),
        Err(e) => r.fail(&format!("{e:#}"), "see the message"),
    }
}

/// The cgroup mode's checks: capabilities, cgroup2, cgroup-v1 net hierarchies, bpffs, cgroup namespace.
/// Returns where cgroup2 is mounted.
fn cgroup_checks(r: &mut Report) -> Option<std::path::PathBuf> {
    let caps = Caps::of_self().map_or(0, |c| c.effective);
    let has = |c: u32| caps & (1 << c) != 0;
    if has(CAP_SYS_ADMIN) && has(CAP_NET_ADMIN) {
        r.ok("capabilities: CAP_SYS_ADMIN and CAP_NET_ADMIN");
    } else {
        let missing: Vec<&str> = [
            (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
            (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        ]
        .into_iter()
        .filter(|(c, _)| !has(*c))
        .map(|(_, n)| n)
        .collect();
        r.fail(
            &format!("capabilities: missing {}", missing.join(", ")),
            "run vrf-exec as root (sudo vrf-exec …)",
        );
    }
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        r.fail(
            "capabilities: cannot load BPF programs",
            "needs CAP_BPF or CAP_SYS_ADMIN",
        );
    }
    if !has(CAP_NET_RAW) {
        r.warn("capabilities: no CAP_NET_RAW", "fine for vrf-exec; programs in the VRF cannot open raw sockets (ping falls back to ICMP sockets if ping_group_range allows)");
    }

    let mount = match namespace::find_cgroup2() {
        Ok(Some(m)) => {
            r.ok(&format!("cgroup2 mounted at {}", m.display()));
            Some(m)
        }
        Ok(None) => {
            r.warn(
                "cgroup2 is not mounted in this mount namespace (as under `ip netns exec`)",
                "vrf-exec mounts it on /sys/fs/cgroup in a private mount namespace when it runs a command; \
                 check does the same to look (gone when it exits)",
            );
            namespace::ensure_cgroup2().ok()
        }
        Err(e) => {
            r.fail(
                &format!("cgroup2: {e}"),
                "mount -t cgroup2 none /sys/fs/cgroup",
            );
            None
        }
    };
    if let Some(m) = &mount {
        match nix::unistd::access(m, nix::unistd::AccessFlags::W_OK) {
            Ok(()) => r.ok("cgroup2 is writable"),
            Err(e) => r.fail(&format!("cgroup2 is not writable: {e}"), "run as root; in a container, give it a writable cgroup (e.g. --cgroupns=private with a delegated cgroup)"),
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cg2_opts: Vec<&str> = namespace::mounts_of_type(&mountinfo, "cgroup2")
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    if cg2_opts
        .iter()
        .any(|o| !o.split(',').any(|x| x == "favordynmods"))
    {
        r.warn(
            "cgroup2 is mounted without favordynmods",
            "every launch moves a process between cgroups, which is slow without it; on Linux 6.0+ \
             `mount -o remount,favordynmods /sys/fs/cgroup` makes launches faster (measured in the lab: 1.36x -> 1.02x the cost of `env true`)",
        );
    }
    let v1_net: Vec<&str> = namespace::mounts_of_type(&mountinfo, "cgroup")
        .into_iter()
        .filter(|(_, o)| o.split(',').any(|x| x == "net_cls" || x == "net_prio"))
        .map(|(d, _)| d)
        .collect();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    if v1_net.is_empty() {
        r.ok("no cgroup-v1 net_cls/net_prio hierarchy");
    } else if kernel_at_least(release, (5, 15)) {
        r.ok(&format!(
            "cgroup-v1 net_cls/net_prio is mounted at {}: harmless on Linux 5.15 and later (this is \
             {release}), where v1 and v2 socket cgroups coexist; every launch checks a socket anyway",
            v1_net.join(", ")
        ));
    } else {
        r.fail(
            &format!(
                "cgroup-v1 net_cls/net_prio is mounted at {} (Linux {release})",
                v1_net.join(", ")
            ),
            "before Linux 5.15, once a process uses it, the kernel stops running cgroup-v2 socket hooks \
             for good, and every launch is refused (exit 125); unmount it (boot with \
             cgroup_no_v1=net_cls,net_prio), or use Linux 5.15 or later",
        );
    }
    if namespace::mounts_of_type(&mountinfo, "bpf").is_empty() {
        r.warn(
            "bpffs is not mounted",
            "not needed: vrf-exec keeps its hook attached to the VRF's cgroup, not pinned",
        );
    } else {
        r.ok("bpffs mounted");
    }
    let own_ns = std::fs::read_link("/proc/self/ns/cgroup").ok();
    let init_ns = std::fs::read_link("/proc/1/ns/cgroup").ok();
    if own_ns.is_some() && init_ns.is_some() && own_ns != init_ns {
        r.warn("running in a private cgroup namespace (a container?)", "cgroup paths differ from the host's: `ip vrf identify` on the host shows the full path");
    }
    mount
}

/// Whether the running kernel can make VRFs, and how: `Err` says why not. Read-only: a VRF exists;
/// the `vrf` module is loaded or built in (`/sys/module/vrf`, which a built-in driver with a version has
/// too); or it is installed for this kernel (`modules.dep`), so the first `ip link add … type vrf`
/// loads it.
fn vrf_support() -> Result<String, String> {
    if Vrf::list().is_ok_and(|l| !l.is_empty()) {
        return Ok("VRFs exist".into());
    }
    if Path::new("/sys/module/vrf").exists() {
        return Ok("the vrf module is loaded (or built in)".into());
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    let modules = format!("/lib/modules/{release}");
    let dep = std::fs::read_to_string(format!("{modules}/modules.dep")).unwrap_or_default();
    if dep.lines().any(is_vrf_module) {
        return Ok(format!(
            "the vrf module is installed ({modules}) and loads when the first VRF is made"
        ));
    }
    Err(format!(
        "this kernel ({release}) has no VRF support (CONFIG_NET_VRF): no VRF exists, and the vrf module \
         is neither loaded, nor built in, nor installed under {modules}"
    ))
}

/// True for the `modules.dep` line of the vrf driver (`kernel/drivers/net/vrf.ko[.xz|.zst|.gz]: …`).
fn is_vrf_module(line: &str) -> bool {
    let module = line.split(':').next().unwrap_or_default();
    let file = module.rsplit('/').next().unwrap_or_default();
    file == "vrf.ko" || file.strip_prefix("vrf.ko.").is_some()
}

/// True when kernel release `release` (`6.1.0-57-amd64`) is at least `want` (major, minor).
fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut n = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|x| x.parse::<u32>().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0)) >= want
}

/// One line per family: does the VRF's table end every lookup, or may one fall through to the main
/// table (a warning, with the command that closes it: a launch warns too, `--strict` refuses it). A
/// table that cannot be read fails the check, as it fails a `--strict` launch.
fn table_ends_lookups(r: &mut Report, v: &Vrf) {
    let open = match OpenTable::of(v) {
        Ok(open) => open,
        Err(e) => {
            return r.fail(
                &format!(
                    "cannot tell whether {v}'s table {} ends every lookup: {e}",
                    v.table()
                ),
                "run check where `ip route show vrf VRF` works (a launch with --strict is refused \
                 until then)",
            );
        }
    };
    for family in [AddressFamily::Ipv4, AddressFamily::Ipv6] {
        let fix = open
            .as_ref()
            .and_then(|o| o.open.iter().find(|(f, _)| *f == family))
            .map(|(_, fix)| fix);
        match fix {
            None => r.ok(&format!(
                "{v}'s table {} ends every {family} lookup (it has a default route)",
                v.table()
            )),
            Some(fix) => r.warn(
                &format!(
                    "{v}'s table {} has no {family} default route: an {family} lookup with no route \
                     in {v} falls through to the main table (the default VRF); a launch warns, \
                     --strict refuses it",
                    v.table()
                ),
                &format!("fix: {fix}"),
            ),
        }
    }
}

/// Reports the VRF's group as a launch would find it, without creating or attaching anything: does it
/// exist, which hook does it carry, does a hook load.
fn probe_hook(r: &mut Report, mount: &Path, v: &Vrf) {
    let dir = match cgroup::vrf_dir(mount, v.name()) {
        Ok(d) => d,
        Err(e) => return r.fail(&format!("cgroup path: {e}"), "check /proc/self/cgroup"),
    };
    let shown = dir.display();
    let index = v.index().get();
    // Ours is loaded first (and freed when this returns, attached nowhere): what an attached program is
    // judged against, exactly as a launch judges it.
    let ours = match bpf::load(
        PROG_TYPE_CGROUP_SOCK,
        CGROUP_INET_SOCK_CREATE,
        &bpf::program(index),
        &bpf::program_name(index),
    ) {
        Ok(l) => {
            r.ok("BPF: the hook program loads (loaded and freed at once, attached nowhere)");
            Some(l)
        }
        Err(e) => {
            r.fail(
                &format!("BPF: the hook program does not load: {e}"),
                "run as root (CAP_BPF or CAP_SYS_ADMIN) on a kernel with CONFIG_CGROUP_BPF=y",
            );
            None
        }
    };
    let cg = match File::open(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return r.ok(&format!(
                "the VRF's group {shown} does not exist yet: the first launch makes it and attaches the hook"
            ));
        }
        Err(e) => return r.fail(&format!("cannot open {shown}: {e}"), "run as root"),
        Ok(cg) => cg,
    };
    let ids = match sys::prog_query(cg.as_fd(), CGROUP_INET_SOCK_CREATE) {
        Ok(q) => q.ids,
        Err(e) => {
            return r.fail(
                &format!("cannot query the hook on {shown}: {e}"),
                "run as root on a kernel with CONFIG_CGROUP_BPF=y",
            );
        }
    };
    if ids.is_empty() {
        return r.ok(&format!(
            "the VRF's group {shown} carries no hook yet: the next launch attaches one"
        ));
    }
    for id in ids {
        let Some(info) = bpf::attached_info(id) else {
            r.fail(
                &format!("cannot read BPF program {id} on {shown}"),
                "run as root",
            );
            continue;
        };
        match &ours {
            Some(ours) if bpf::already_binds(&info, &ours.info) => r.ok(&format!(
                "hook on {shown}: BPF program {id} ({}) binds new sockets to ifindex {index}, VRF {}",
                info.name,
                v.name()
            )),
            Some(_) => r.warn(
                &format!(
                    "hook on {shown}: BPF program {id} ({}) is not a binder to ifindex {index}",
                    info.name
                ),
                "a stale hook (the VRF was re-created) or someone else's: the next launch replaces it",
            ),
            None => r.warn(
                &format!("hook on {shown}: BPF program {id} ({})", info.name),
                "not judged: our own program does not load here to compare it with",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kernel_releases_and_module_lines() {
        assert!(kernel_at_least("6.1.0-57-amd64", (5, 15)));
        assert!(kernel_at_least("5.15.0", (5, 15)));
        assert!(!kernel_at_least("5.10.209-1", (5, 15)));
        assert!(!kernel_at_least("4.19.0", (5, 15)));
        assert!(is_vrf_module("kernel/drivers/net/vrf.ko: "));
        assert!(is_vrf_module("kernel/drivers/net/vrf.ko.xz:"));
        assert!(!is_vrf_module("kernel/drivers/net/vrf_x.ko:"));
        assert!(!is_vrf_module(
            "kernel/drivers/net/veth.ko: kernel/drivers/net/vrf.ko"
        ));
    }
}
