//! `vrf-exec unit VRF UNIT`: puts an existing, unmodified systemd service into a VRF with a drop-in
//! (`/etc/systemd/system/UNIT.d/50-vrf-exec.conf`) that fails closed, and `--remove` takes it out again.
//!
//! The ways ([`Via`]; `auto` picks with [`Via::for_version`]):
//! - `hook` (systemd 243 and later): `ExecCondition=+vrf-exec attach VRF` ([`crate::hook`]) attaches
//!   vrf-exec's binder and egress guard to the unit's own cgroup before anything else of the start
//!   runs, and checks a socket; it fails the start when it cannot. Nothing wraps the service:
//!   `Type=notify`, `Type=forking`, `User=`, `DynamicUser=` and `ProtectControlGroups=` stay as they are.
//! - `bind-interface` (systemd 260 and later): systemd's own `BindNetworkInterface=VRF`, with the same
//!   hook (systemd starts the unit unbound when the name does not resolve; the hook does not).
//! - `bpf-program` (systemd 249 and later): `BPFProgram=` with programs pinned before each start by
//!   `vrf-exec-pin@VRF.service` ([`crate::pin`]), and `vrf-exec attach --check` to fail the start
//!   when systemd did not attach them (a missing pin, systemd issue 26845).
//! - `wrap` (any systemd): `ExecStart=` becomes `vrf-exec VRF …` with the unit's own command line,
//!   which exits 125 before the command when the VRF cannot be used.
//!
//! Every way shows `/etc/vrf/VRF/resolv.conf`, when it exists, as the service's `/etc/resolv.conf`
//! (`BindReadOnlyPaths=-…`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cgroup, pin};

/// The drop-in's file name: late enough to override the unit's own settings, early enough that an
/// administrator's `90-*.conf` still overrides ours.
pub const DROP_IN: &str = "50-vrf-exec.conf";
/// Where `vrf-exec unit` writes (an administrator's directory, as `systemctl edit` does).
pub const UNIT_DIR: &str = "/etc/systemd/system";
/// The pin template's name.
pub const PIN_TEMPLATE: &str = "vrf-exec-pin@.service";
/// Where a package installs unit files; the pin template is written to [`UNIT_DIR`] when none of these
/// holds it (an install with `cargo install`).
const VENDOR_DIRS: [&str; 3] = ["/usr/lib/systemd/system", "/lib/systemd/system", UNIT_DIR];

// How the unit is put into the VRF (`--via`): defined with the command line, in the library,
// which xtask renders into the man pages.
pub use crate::cli::Via;

/// The version number in `systemctl --version`'s first line (`systemd 252 (252.39-1~deb12u2)`).
pub fn parse_version(text: &str) -> Option<u32> {
    let first = text.lines().next()?;
    let rest = first.strip_prefix("systemd ")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `sshd` → `sshd.service`; other unit types are refused (only services run commands).
pub fn service_name(unit: &str) -> Result<String> {
    if unit.is_empty() || unit.contains('/') || unit.chars().any(char::is_whitespace) {
        bail!("{unit:?} is not a unit name (like ssh.service)");
    }
    match unit.rsplit_once('.') {
        Some((_, "service")) => Ok(unit.to_string()),
        Some((_, kind))
            if [
                "socket",
                "timer",
                "target",
                "mount",
                "path",
                "slice",
                "scope",
                "swap",
                "device",
                "automount",
            ]
            .contains(&kind) =>
        {
            bail!(
                "{unit} is a .{kind} unit: only a .service runs commands that can be put in a VRF"
            )
        }
        _ => Ok(format!("{unit}.service")),
    }
}

/// A string as systemd escapes it in a unit name (`systemd-escape`): ASCII letters, digits, `:`, `_`
/// and `.` (but not a leading dot) stay, `/` becomes `-`, anything else `\xNN`. The pin template
/// reads it back with `%I`.
pub fn escape_instance(s: &str) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b":_.".contains(&b) => out.push(b as char),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// The pin unit's instance for VRF `vrf`.
pub fn pin_unit(vrf: &str) -> String {
    format!("vrf-exec-pin@{}.service", escape_instance(vrf))
}

/// What `vrf-exec unit` knows of the unit it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFacts {
    /// `Type=` (`simple`, `notify`, `forking` …).
    pub kind: String,
    /// Runs as another user than root (`User=` not root, or `DynamicUser=yes`): the wrap's vrf-exec then
    /// uses the seccomp mode, whose supervisor stays the command's parent.
    pub unprivileged: bool,
    /// `ExecStart=` as the unit files spell them, in order (after any empty reset).
    pub exec_start: Vec<String>,
}

/// The drop-in that puts a unit into VRF `vrf` the way `via` (not `Auto`) says. `vrf_exec` is the
/// path of the vrf-exec the unit runs.
pub fn drop_in(
    via: Via,
    vrf: &str,
    unit: &str,
    facts: &UnitFacts,
    vrf_exec: &Path,
) -> Result<String> {
    let exe = plain_path(vrf_exec)?;
    // systemd reads `%` as a specifier, `$` as a variable, and quotes and backslashes as quoting, in
    // the lines the VRF's name goes into: such a name would mean something else there.
    if let Some(c) = vrf.chars().find(|c| "%$\\\"'".contains(*c)) {
        bail!("VRF name {vrf:?} has {c:?}, which a unit file would read as syntax: rename the VRF");
    }
    let resolv = vrf_socket::paths::vrf_resolv_conf(vrf);
    let mut s = format!(
        "# {unit} runs in VRF {vrf} (--via {via}): written by `vrf-exec unit {vrf} {unit}`.\n\
         # Take it out with `vrf-exec unit --remove {unit}`; run vrf-exec unit again rather than editing.\n\
         # The unit does not start while {vrf} is missing, down or not a VRF: never in the default VRF.\n",
        via = via.name()
    );
    if via == Via::BpfProgram {
        let pin_unit = pin_unit(vrf);
        let _ = writeln!(s, "[Unit]\nRequires={pin_unit}\nAfter={pin_unit}\n");
    }
    s.push_str("[Service]\n");
    match via {
        Via::Auto => bail!("drop_in needs a way, not auto"),
        Via::Hook => {
            let _ = writeln!(s, "ExecCondition=+{exe} attach {vrf}");
        }
        Via::BindInterface => {
            let _ = writeln!(
                s,
                "BindNetworkInterface={vrf}\nExecCondition=+{exe} attach {vrf}"
            );
        }
        Via::BpfProgram => {
            let _ = writeln!(
                s,
                "BPFProgram=sock_create:{}\nBPFProgram=egress:{}\nExecCondition=+{exe} attach --check {vrf}",
                pin::sock_create_path(vrf).display(),
                pin::egress_path(vrf).display()
            );
        }
        Via::Wrap => {
            if facts.exec_start.is_empty() {
                bail!("{unit} has no ExecStart= to wrap");
            }
            if facts.kind == "forking" && facts.unprivileged {
                bail!(
                    "{unit} is Type=forking and runs as an ordinary user: wrapped, vrf-exec would use the \
                     seccomp mode, whose supervisor waits for the daemon instead of exiting after the fork; \
                     use --via hook (systemd 243 and later)"
                );
            }
            if facts.kind == "notify" && facts.unprivileged {
                // The daemon is the child of vrf-exec's supervisor, not the main process.
                let _ = writeln!(s, "NotifyAccess=all");
            }
            let _ = writeln!(s, "ExecStart=");
            for line in &facts.exec_start {
                let _ = writeln!(s, "ExecStart={}", wrap_exec(line, vrf, exe)?);
            }
        }
    }
    let _ = writeln!(
        s,
        "BindReadOnlyPaths=-{}:/etc/resolv.conf",
        resolv.display()
    );
    Ok(s)
}

/// vrf-exec's path as a unit file can hold it unquoted.
fn plain_path(vrf_exec: &Path) -> Result<&str> {
    match vrf_exec.to_str() {
        Some(p)
            if !p
                .chars()
                .any(|c| c.is_whitespace() || "\"'\\%$;".contains(c)) =>
        {
            Ok(p)
        }
        _ => bail!(
            "vrf-exec's path {} would need quoting in a unit file: install it in /usr/bin",
            vrf_exec.display()
        ),
    }
}

/// One `ExecStart=` value with vrf-exec put in front of its command, after systemd's prefixes.
fn wrap_exec(line: &str, vrf: &str, vrf_exec: &str) -> Result<String> {
    let body = line.trim_start_matches(['-', '@', ':', '+', '!']);
    let prefixes = &line[..line.len() - body.len()];
    if prefixes.contains('@') {
        bail!(
            "ExecStart={line} gives its program another argv[0] (the @ prefix), which vrf-exec cannot \
             pass on: use --via hook"
        );
    }
    Ok(format!("{prefixes}{vrf_exec} {vrf} {}", body.trim_start()))
}

/// The `ExecStart=` values of `systemctl cat UNIT`'s output, in force order: an empty assignment
/// resets the list; lines continued with a backslash are joined; our own drop-in (`skip`) is left out,
/// so that running `vrf-exec unit` again wraps the unit's own command, not our wrapper.
pub fn exec_start_of(cat: &str, skip: &Path) -> Vec<String> {
    let mut list = Vec::new();
    let mut in_service = false;
    let mut skipping = false;
    let mut lines = cat.lines();
    while let Some(line) = lines.next() {
        if let Some(file) = line.strip_prefix("# /") {
            skipping = Path::new("/").join(file.trim()) == skip;
            in_service = false;
            continue;
        }
        let t = line.trim();
        if t.starts_with('[') {
            in_service = t == "[Service]";
            continue;
        }
        if skipping || !in_service {
            continue;
        }
        let Some(value) = t.strip_prefix("ExecStart=") else {
            continue;
        };
        let mut value = value.trim().to_string();
        while value.ends_with('\\') {
            value.pop();
            value.truncate(value.trim_end().len());
            match lines.next() {
                Some(next) => {
                    value.push(' ');
                    value.push_str(next.trim());
                }
                None => break,
            }
        }
        let value = value.trim().to_string();
        if value.is_empty() {
            list.clear();
        } else {
            list.push(value);
        }
    }
    list
}

/// The pin template for vrf-exec at `vrf_exec`: a oneshot that pins VRF `%I`'s programs before each
/// start of a unit that requires it, and fails when the VRF cannot be used.
pub fn pin_template(vrf_exec: &Path) -> String {
    format!(
        "[Unit]\n\
         Description=Bind units to VRF %I (vrf-exec pin)\n\
         Documentation=man:vrf-exec-unit(8) man:vrf-exec-pin(8)\n\
         # The VRF is made by the network configuration; a unit that needs it starts after it.\n\
         After=network-pre.target systemd-networkd.service networking.service NetworkManager.service\n\
         DefaultDependencies=no\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={} pin %I\n",
        vrf_exec.display()
    )
}

/// The paths `vrf-exec unit` writes for `unit`.
pub fn drop_in_path(unit: &str) -> PathBuf {
    Path::new(UNIT_DIR).join(format!("{unit}.d")).join(DROP_IN)
}

/// `vrf-exec unit VRF UNIT [--via WAY] [--dry-run]`.
pub fn put(vrf: &str, unit: &str, via: Via, dry_run: bool, reload: bool) -> Result<()> {
    cgroup::check_name(vrf)?;
    if vrf == "default" {
        bail!(
            "units run in the default VRF already: to take one out of a VRF, vrf-exec unit --remove UNIT"
        );
    }
    let unit = canonical_unit(&service_name(unit)?)?;
    let version = systemd_version()?;
    let via = match via {
        Via::Auto => Via::for_version(version),
        v if version < v.needs() => bail!(
            "--via {} needs systemd {} or later; this is systemd {version} (--via auto picks {})",
            v.name(),
            v.needs(),
            Via::for_version(version).name()
        ),
        v => v,
    };
    let vrf_exec = std::env::current_exe().context("finding vrf-exec's own path")?;
    let path = drop_in_path(&unit);
    let facts = if via == Via::Wrap {
        facts_of(&unit, &path)?
    } else {
        UnitFacts::default()
    };
    let text = drop_in(via, vrf, &unit, &facts, &vrf_exec)?;
    let template = (via == Via::BpfProgram && installed_pin_template().is_none()).then(|| {
        (
            Path::new(UNIT_DIR).join(PIN_TEMPLATE),
            pin_template(&vrf_exec),
        )
    });
    if dry_run {
        if let Some((p, t)) = &template {
            println!("# {}\n{t}", p.display());
        }
        print!("# {}\n{text}", path.display());
        return Ok(());
    }
    if let Some((p, t)) = &template {
        fs::write(p, t).with_context(|| format!("writing {}", p.display()))?;
        eprintln!("vrf-exec: wrote {}", p.display());
    }
    let dir = path.parent().expect("a drop-in has a directory");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "vrf-exec: wrote {} ({}, systemd {version})",
        path.display(),
        via.name()
    );
    if reload {
        daemon_reload()?;
    } else {
        eprintln!("vrf-exec: run `systemctl daemon-reload` for systemd to read it");
    }
    eprintln!(
        "vrf-exec: {unit} runs in VRF {vrf} from its next start: systemctl restart {unit}\n\
         vrf-exec: it will not start while {vrf} is missing, down or not a VRF (systemctl status {unit} \
         says why)"
    );
    Ok(())
}

/// `vrf-exec unit --remove UNIT [--dry-run]`.
pub fn remove(unit: &str, dry_run: bool, reload: bool) -> Result<()> {
    let unit = canonical_unit(&service_name(unit)?)?;
    let path = drop_in_path(&unit);
    if !path.exists() {
        bail!(
            "{unit} has no VRF drop-in ({} does not exist)",
            path.display()
        );
    }
    if dry_run {
        println!("rm {}", path.display());
        return Ok(());
    }
    fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    let _ = fs::remove_dir(path.parent().expect("a drop-in has a directory"));
    eprintln!("vrf-exec: removed {}", path.display());
    if reload {
        daemon_reload()?;
    } else {
        eprintln!("vrf-exec: run `systemctl daemon-reload` for systemd to read it");
    }
    eprintln!("vrf-exec: {unit} leaves its VRF at its next start: systemctl restart {unit}");
    Ok(())
}

/// `vrf-exec pin VRF [--remove]`.
pub fn pin_command(vrf: &str, remove: bool) -> Result<()> {
    if remove {
        if !pin::unpin(vrf)? {
            eprintln!("vrf-exec: VRF {vrf} had no pins");
        }
        return Ok(());
    }
    let p = pin::pin(vrf)?;
    println!(
        "VRF {} (ifindex {}): binder pinned at {}, egress guard at {} (egress only through {})",
        p.vrf.name(),
        p.vrf.index(),
        pin::sock_create_path(vrf).display(),
        pin::egress_path(vrf).display(),
        p.devices.join(", ")
    );
    Ok(())
}

fn installed_pin_template() -> Option<PathBuf> {
    VENDOR_DIRS
        .iter()
        .map(|d| Path::new(d).join(PIN_TEMPLATE))
        .find(|p| p.exists())
}

/// The version of the running systemd.
fn systemd_version() -> Result<u32> {
    let out = systemctl(&["--version"])?;
    parse_version(&out).with_context(|| {
        format!(
            "cannot read systemd's version from `systemctl --version`: {:?}",
            out.lines().next()
        )
    })
}

/// The unit's own name (`sshd.service` may be an alias of `ssh.service`), failing when systemd does
/// not know it.
fn canonical_unit(unit: &str) -> Result<String> {
    let out = systemctl(&["show", "--property=Id,LoadState", "--", unit])?;
    let field = |k: &str| property(&out, k);
    if field("LoadState") != "loaded" {
        bail!(
            "systemd has no unit {unit} (LoadState={}): systemctl list-unit-files '*.service' lists them",
            field("LoadState")
        );
    }
    Ok(match field("Id") {
        id if id.is_empty() => unit.to_string(),
        id => id,
    })
}

/// Property `key` in `systemctl show --property=…` output (`KEY=value` lines); empty when absent.
fn property(show: &str, key: &str) -> String {
    show.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("")
        .to_string()
}

/// What the wrap needs to know of `unit`.
fn facts_of(unit: &str, own: &Path) -> Result<UnitFacts> {
    let out = systemctl(&["show", "--property=Type,User,DynamicUser", "--", unit])?;
    let field = |k: &str| property(&out, k);
    let user = field("User");
    let cat = systemctl(&["cat", "--", unit])?;
    Ok(UnitFacts {
        kind: field("Type"),
        unprivileged: field("DynamicUser") == "yes"
            || !(user.is_empty() || user == "root" || user == "0"),
        exec_start: exec_start_of(&cat, own),
    })
}

fn daemon_reload() -> Result<()> {
    systemctl(&["daemon-reload"]).map(drop)
}

/// Runs `systemctl ARGS…`, failing with its stderr.
fn systemctl(args: &[&str]) -> Result<String> {
    let out = Command::new("systemctl")
        .args(args)
        .output()
        .context("running systemctl (is systemd installed?)")?;
    if !out.status.success() {
        bail!(
            "systemctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT"),
            Some(252)
        );
        assert_eq!(parse_version("systemd 260.1 (260.1-1)"), Some(260));
        assert_eq!(parse_version("systemd 247"), Some(247));
        assert_eq!(parse_version("elogind 252"), None);
        assert_eq!(parse_version(""), None);
        assert_eq!(Via::for_version(242), Via::Wrap);
        assert_eq!(Via::for_version(243), Via::Hook);
        assert_eq!(Via::for_version(252), Via::Hook);
        assert_eq!(Via::for_version(259), Via::Hook);
        assert_eq!(Via::for_version(260), Via::BindInterface);
    }

    #[test]
    fn unit_names() {
        assert_eq!(service_name("ssh").unwrap(), "ssh.service");
        assert_eq!(service_name("ssh.service").unwrap(), "ssh.service");
        assert_eq!(service_name("getty@tty1").unwrap(), "getty@tty1.service");
        assert_eq!(
            service_name("dbus.org.freedesktop.x").unwrap(),
            "dbus.org.freedesktop.x.service"
        );
        assert!(service_name("ssh.socket").is_err());
        assert!(service_name("a/b").is_err());
        assert!(service_name("a b").is_err());
        assert!(service_name("").is_err());
    }

    #[test]
    fn instances_escape_as_systemd_does() {
        assert_eq!(escape_instance("mgmt"), "mgmt");
        assert_eq!(escape_instance("red-1"), "red\\x2d1");
        assert_eq!(escape_instance("vrf.a_b:c"), "vrf.a_b:c");
        assert_eq!(escape_instance(".x"), "\\x2ex");
        assert_eq!(escape_instance("a@b"), "a\\x40b");
        assert_eq!(pin_unit("blue"), "vrf-exec-pin@blue.service");
    }

    #[test]
    fn exec_start_follows_resets_continuations_and_skips_our_drop_in() {
        let cat = "# /lib/systemd/system/ssh.service\n[Unit]\nDescription=x\nExecStart=/not/a/service/key\n\
                   [Service]\nExecStartPre=/usr/sbin/sshd -t\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\n\
                   \n# /etc/systemd/system/ssh.service.d/override.conf\n[Service]\nExecStart=\n\
                   ExecStart=-/usr/sbin/sshd -D \\\n    -o LogLevel=DEBUG\n\
                   # /etc/systemd/system/ssh.service.d/50-vrf-exec.conf\n[Service]\nExecStart=\n\
                   ExecStart=/usr/bin/vrf-exec blue /usr/sbin/sshd -D\n";
        let own = Path::new("/etc/systemd/system/ssh.service.d/50-vrf-exec.conf");
        assert_eq!(
            exec_start_of(cat, own),
            ["-/usr/sbin/sshd -D -o LogLevel=DEBUG"]
        );
        assert_eq!(
            exec_start_of(cat, Path::new("/x")),
            ["/usr/bin/vrf-exec blue /usr/sbin/sshd -D"]
        );
    }

    #[test]
    fn drop_ins_fail_closed_and_show_the_resolv_conf() {
        let exe = Path::new("/usr/bin/vrf-exec");
        let facts = UnitFacts::default();
        let resolv = "\nBindReadOnlyPaths=-/etc/vrf/blue/resolv.conf:/etc/resolv.conf\n";
        let hook = drop_in(Via::Hook, "blue", "ssh.service", &facts, exe).unwrap();
        for want in [
            "\n[Service]\nExecCondition=+/usr/bin/vrf-exec attach blue\n",
            resolv,
        ] {
            assert!(hook.contains(want), "{want:?} not in\n{hook}");
        }
        assert!(
            !hook.contains("[Unit]") && !hook.contains("BPFProgram"),
            "{hook}"
        );
        let bpf = drop_in(Via::BpfProgram, "blue", "ssh.service", &facts, exe).unwrap();
        for want in [
            "\n[Unit]\nRequires=vrf-exec-pin@blue.service\nAfter=vrf-exec-pin@blue.service\n",
            "\nBPFProgram=sock_create:/sys/fs/bpf/vrf-exec/blue/sock_create\n",
            "\nBPFProgram=egress:/sys/fs/bpf/vrf-exec/blue/egress\n",
            "\nExecCondition=+/usr/bin/vrf-exec attach --check blue\n",
            resolv,
        ] {
            assert!(bpf.contains(want), "{want:?} not in\n{bpf}");
        }
        let bind = drop_in(Via::BindInterface, "red-1", "x.service", &facts, exe).unwrap();
        assert!(
            bind.contains(
                "\nBindNetworkInterface=red-1\nExecCondition=+/usr/bin/vrf-exec attach red-1\n"
            ),
            "{bind}"
        );
        assert!(drop_in(Via::Auto, "blue", "x.service", &facts, exe).is_err());
        for odd in ["a%n", "a$X", "a\\x", "a\"b", "a'b"] {
            assert!(
                drop_in(Via::Hook, odd, "x.service", &facts, exe).is_err(),
                "{odd}"
            );
        }
        for exe in ["/opt/my tools/vrf-exec", "/opt/100%/vrf-exec"] {
            assert!(
                drop_in(Via::Hook, "blue", "x.service", &facts, Path::new(exe)).is_err(),
                "{exe}"
            );
        }
    }

    #[test]
    fn wrap_keeps_prefixes_and_refuses_what_it_cannot_keep() {
        // The wrap's drop-in for a unit of `kind`, run by an ordinary user or not, with `lines`.
        let wrap = |kind: &str, unprivileged, lines: &[&str], exe: &str| {
            let facts = UnitFacts {
                kind: kind.into(),
                unprivileged,
                exec_start: lines.iter().map(|l| l.to_string()).collect(),
            };
            drop_in(Via::Wrap, "blue", "a.service", &facts, Path::new(exe))
        };
        let exe = "/usr/bin/vrf-exec";
        let w = wrap("oneshot", false, &["-/bin/true x", "+/bin/echo $X"], exe).unwrap();
        assert!(
            w.contains(
                "\nExecStart=\nExecStart=-/usr/bin/vrf-exec blue /bin/true x\n\
                 ExecStart=+/usr/bin/vrf-exec blue /bin/echo $X\n"
            ),
            "{w}"
        );
        assert!(!w.contains("NotifyAccess"), "{w}");
        let n = wrap("notify", true, &["/d"], exe).unwrap();
        assert!(n.contains("\nNotifyAccess=all\n"), "{n}");
        let root_notify = wrap("notify", false, &["/d"], exe).unwrap();
        assert!(!root_notify.contains("NotifyAccess"), "{root_notify}");
        for (kind, unprivileged, lines, exe) in [
            ("forking", true, &["/d"][..], exe),
            ("simple", false, &["@/bin/x y"], exe),
            ("simple", false, &[], exe),
            ("simple", false, &["/x"], "/my dir/vrf-exec"),
        ] {
            assert!(
                wrap(kind, unprivileged, lines, exe).is_err(),
                "{kind} {unprivileged} {lines:?} {exe}"
            );
        }
    }

    #[test]
    fn the_pin_template_runs_this_vrf_exec() {
        let t = pin_template(Path::new("/usr/local/bin/vrf-exec"));
        assert!(
            t.contains("\nType=oneshot\nExecStart=/usr/local/bin/vrf-exec pin %I\n"),
            "{t}"
        );
        assert!(
            !t.contains("RemainAfterExit"),
            "it must run again at every start: {t}"
        );
    }
}
