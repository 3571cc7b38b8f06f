//! vrf-exec and a VRF whose routing table does not end every lookup. Without an `unreachable default`
//! route, a lookup with no route in the VRF falls through to the main table (`tables::` shows the leak).
//! The topology closes each table; these tests take the closing route away (IPv4, IPv6, both) and
//! check what vrf-exec says and does: `check` warns with the fix (exit 0: a warning is not a failure),
//! `list` names the VRF on stderr and in `--json`, a launch warns in one line and runs the command in
//! the VRF, `--strict` refuses it (exit 125) before the command runs. Closed again with the fix it gave,
//! nothing is said and `--strict` runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use vrf_lab::Topology;
use vrf_lab::cmd::{self, Run};
use vrf_lab::topology::{CLOSING_METRIC, OUTSIDE_V4, OUTSIDE_V6};
use vrf_socket::AddressFamily;

vrf_lab::lab_tests! {
    open_v4_warns_and_strict_refuses = || open_table(&[AddressFamily::Ipv4]),
    open_v6_warns_and_strict_refuses = || open_table(&[AddressFamily::Ipv6]),
    open_v4_and_v6_warns_and_strict_refuses =
        || open_table(&[AddressFamily::Ipv4, AddressFamily::Ipv6]),
    closed_tables_say_nothing_and_strict_runs,
}

const FAMILIES: [AddressFamily; 2] = [AddressFamily::Ipv4, AddressFamily::Ipv6];

/// Prints the device a new socket of the process is bound to, then, for each address given, the
/// outcome of sending a UDP datagram to it: `sent`, or the errno's name.
const PROBE: &str = "\
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).split(b'\\0')[0].decode())
for a in sys.argv[1:]:
    u = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b'leak?', (a, 7734))
        print('sent')
    except OSError as e:
        print(errno.errorcode[e.errno])
";

/// `vrf-exec args…` in the router namespace.
fn vrf_exec(t: &Topology, args: &[&str]) -> Result<Run> {
    let exe = vrf_lab::tool("vrf-exec")?;
    cmd::run(&mut t.router_cmd(exe.to_str().context("tool path")?, args))
}

/// The command that closes `vrf`'s table for `family`, spelled out here rather than asked of the
/// library: what the user is told to type.
fn fix(vrf: &str, family: AddressFamily) -> String {
    let ip = if family.is_ipv6() { "ip -6" } else { "ip" };
    format!("{ip} route add vrf {vrf} unreachable default metric {CLOSING_METRIC}")
}

fn json_name(family: AddressFamily) -> &'static str {
    if family.is_ipv6() { "ipv6" } else { "ipv4" }
}

/// The file a launched command creates (`sh -c 'touch FILE; echo ran'`): its absence proves the
/// command did not run.
struct Marker(PathBuf);

impl Marker {
    fn new(vrf: &str) -> Result<Marker> {
        let path = std::env::temp_dir().join(format!("vrf-strict-ran-{vrf}"));
        let _ = std::fs::remove_file(&path);
        Ok(Marker(path))
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
    fn exists(&self) -> bool {
        Path::new(&self.0).exists()
    }
    fn clear(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `check VRF`: per family, an `ok` line for a closed table, a `warn` line naming the family followed
/// by the fix for an open one; exit 0 either way (the topology passes every other check).
fn check_says(t: &Topology, vrf: &str, open: &[AddressFamily]) -> Result<()> {
    let r = vrf_exec(t, &["check", vrf])?;
    ensure!(
        r.success(),
        "{}",
        r.describe("check should pass, with warnings only")
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    for family in FAMILIES {
        if open.contains(&family) {
            let at = lines
                .iter()
                .position(|l| {
                    l.starts_with("warn") && l.contains(&format!("no {family} default route"))
                })
                .with_context(|| r.describe(&format!("no warn line for {family}")))?;
            let fix_line = lines.get(at + 1).map_or("", |l| l.trim());
            ensure!(
                fix_line == format!("fix: {}", fix(vrf, family)),
                "{}\nthe {family} warning is followed by {fix_line:?}",
                r.describe("check")
            );
        } else {
            ensure!(
                lines
                    .iter()
                    .any(|l| l.starts_with("ok")
                        && l.contains(&format!("ends every {family} lookup"))),
                "{}",
                r.describe(&format!("no ok line for {family}"))
            );
            ensure!(
                !lines
                    .iter()
                    .any(|l| l.contains(&format!("no {family} default route"))),
                "{}",
                r.describe(&format!("a warning for the closed {family} table"))
            );
        }
    }
    Ok(())
}

/// `list`: the table on stdout keeps its columns; a VRF with an open table is named on stderr, one line
/// with the fix, and `--json` gives its open families (`[]` for a closed table).
fn list_says(t: &Topology, open: &[AddressFamily]) -> Result<()> {
    let (blue, red) = (&t.blue.vrf, &t.red.vrf);
    let r = vrf_exec(t, &["list"])?.ok()?;
    for s in t.sites() {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(&s.vrf))
            .with_context(|| r.describe(&format!("no {}", s.vrf)))?;
        let cols: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            cols.len() == 5
                && cols[1] == s.table.to_string()
                && cols[2] == "up"
                && cols[4] == s.dev,
            "{}",
            r.describe("list's columns changed")
        );
    }
    let about_blue: Vec<&str> = r.stderr.lines().filter(|l| l.contains(blue)).collect();
    if open.is_empty() {
        ensure!(
            r.stderr.trim().is_empty(),
            "{}",
            r.describe("list warns about closed tables")
        );
    } else {
        let fams: Vec<String> = open.iter().map(ToString::to_string).collect();
        ensure!(
            about_blue.len() == 1
                && about_blue[0].starts_with("vrf-exec: warning: ")
                && about_blue[0].contains(&fams.join(" and "))
                && open.iter().all(|f| about_blue[0].contains(&fix(blue, *f))),
            "{}",
            r.describe(&format!("want one warning line about {blue} with the fix"))
        );
        ensure!(
            !r.stderr.contains(red.as_str()),
            "{}",
            r.describe("a warning about the closed VRF")
        );
    }
    let j = vrf_exec(t, &["list", "--json"])?.ok()?;
    let v: serde_json::Value =
        serde_json::from_str(&j.stdout).with_context(|| j.describe("list --json is not JSON"))?;
    let open_tables = |name: &str| {
        v.as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .map(|x| x["open_tables"].clone())
    };
    let want: Vec<&str> = open.iter().map(|f| json_name(*f)).collect();
    ensure!(
        open_tables(blue) == Some(serde_json::json!(want))
            && open_tables(red) == Some(serde_json::json!([])),
        "{}\nwant open_tables {want:?} for {blue}, [] for {red}",
        j.describe("list --json")
    );
    Ok(())
}

/// A launch into `vrf` runs the probe: its socket is bound to the VRF; a datagram to the outside host
/// (reachable through the default VRF only) is refused with EPERM by the egress guard when the family's
/// table is open (the lookup fell through to the main table), EHOSTUNREACH when it is closed. Returns
/// the run, for its stderr.
fn launch_probe(t: &Topology, vrf: &str, open: &[AddressFamily]) -> Result<Run> {
    let r = vrf_exec(t, &[vrf, "python3", "-c", PROBE, OUTSIDE_V4, OUTSIDE_V6])?;
    ensure!(r.success(), "{}", r.describe("the launch"));
    let out: Vec<&str> = r.stdout.lines().collect();
    let want: Vec<&str> = std::iter::once(vrf)
        .chain(FAMILIES.iter().map(|f| {
            if open.contains(f) {
                "EPERM"
            } else {
                "EHOSTUNREACH"
            }
        }))
        .collect();
    ensure!(
        out == want,
        "{}\nwant {want:?} (the VRF, then the v4 and v6 sends)",
        r.describe("the command in the VRF")
    );
    Ok(r)
}

/// Closed tables: no warning anywhere, and `--strict` runs the command (both command-line parsers).
fn closed_behaviour(t: &Topology) -> Result<()> {
    let blue = t.blue.vrf.as_str();
    check_says(t, blue, &[])?;
    list_says(t, &[])?;
    let r = launch_probe(t, blue, &[])?;
    ensure!(
        r.stderr.is_empty(),
        "{}",
        r.describe("a launch into a closed VRF said something")
    );
    let marker = Marker::new(blue)?;
    let touch = format!("touch {}; echo ran", marker.path());
    for args in [
        &["--strict", blue, "sh", "-c", &touch][..],
        &["-v", "--strict", blue, "sh", "-c", &touch][..],
    ] {
        marker.clear();
        let r = vrf_exec(t, args)?;
        ensure!(
            r.success() && r.stdout == "ran\n" && marker.exists(),
            "{}",
            r.describe("--strict into a closed VRF should run the command")
        );
        ensure!(
            !r.stderr.contains("warning"),
            "{}",
            r.describe("--strict into a closed VRF warned")
        );
    }
    Ok(())
}

fn open_table(open: &[AddressFamily]) -> Result<()> {
    let t = Topology::new()?;
    let _outside = t.outside()?;
    let blue = t.blue.vrf.as_str();
    for family in open {
        let fam = if family.is_ipv6() { "-6" } else { "-4" };
        t.router_run(
            "ip",
            &[
                fam,
                "route",
                "del",
                "vrf",
                blue,
                "unreachable",
                "default",
                "metric",
                CLOSING_METRIC,
            ],
        )?
        .ok()?;
    }
    check_says(&t, blue, open)?;
    list_says(&t, open)?;

    // A launch: one warning line, exact, and the command runs in the VRF.
    let fams: Vec<String> = open.iter().map(ToString::to_string).collect();
    let fixes: Vec<String> = open.iter().map(|f| fix(blue, *f)).collect();
    let want = format!(
        "vrf-exec: warning: VRF {blue}'s table {} has no default route for {}: a lookup with no route \
         in the VRF falls through to the main table, to the default VRF's neighbours (fix: {})",
        t.blue.table,
        fams.join(" and "),
        fixes.join("; ")
    );
    let r = launch_probe(&t, blue, open)?;
    ensure!(
        r.stderr.lines().collect::<Vec<_>>() == [want.as_str()],
        "{}\nwant exactly this stderr line:\n{want}",
        r.describe("the launch's warning")
    );

    // --strict: refused, exit 125, the command not run (it would have made the marker and printed),
    // through the fast path and through clap.
    let marker = Marker::new(blue)?;
    let touch = format!("touch {}; echo ran", marker.path());
    for args in [
        &["--strict", blue, "sh", "-c", &touch][..],
        &["-v", "--strict", blue, "sh", "-c", &touch][..],
        &["exec", "--strict", blue, "sh", "-c", &touch][..],
    ] {
        let r = vrf_exec(&t, args)?;
        ensure!(
            r.code == Some(125) && r.stdout.is_empty() && !marker.exists(),
            "{}",
            r.describe("--strict into an open VRF ran the command")
        );
        let says = r.stderr.trim();
        ensure!(
            says.lines().count() == 1
                && says.starts_with(&format!("vrf-exec: VRF {blue}'s table "))
                && says.contains(&format!("no default route for {}", fams.join(" and ")))
                && says.contains("--strict")
                && fixes.iter().all(|f| says.contains(f.as_str())),
            "{}",
            r.describe("--strict's refusal should name the VRF, the families and the fix")
        );
    }

    // The fix it gave closes the table: nothing to say, and --strict runs.
    for f in &fixes {
        let words: Vec<&str> = f.split_whitespace().collect();
        t.router_run(words[0], &words[1..])?.ok()?;
    }
    closed_behaviour(&t).context("after the fix")
}

fn closed_tables_say_nothing_and_strict_runs() -> Result<()> {
    let t = Topology::new()?;
    let _outside = t.outside()?;
    closed_behaviour(&t)
}
