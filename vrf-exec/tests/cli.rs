//! vrf-exec's command line on the host kernel (no VRF needed): help, usage errors and lookups that fail
//! before anything is attached. Its behaviour inside VRFs is tested in the lab (vrf-lab/suite/exec.rs).
//! Having this test also makes `cargo test --workspace` build the binary the lab tests run.

use std::process::Command;

fn vrf_exec(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vrf-exec"))
        .args(args)
        .output()
        .expect("run vrf-exec");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn help_teaches_usage_and_exit_codes() {
    let (code, out, _) = vrf_exec(&["--help"]);
    assert_eq!(code, Some(0));
    for want in [
        "Usage: vrf-exec",
        "identify",
        "pids",
        "list",
        "check",
        "--user",
        "125",
        "126",
        "127",
    ] {
        assert!(out.contains(want), "--help lacks {want:?}:\n{out}");
    }
}

#[test]
fn usage_errors_exit_125() {
    let (code, _, err) = vrf_exec(&[]);
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("required arguments were not provided"),
        "{err}"
    );
    let (code, _, err) = vrf_exec(&["blue"]);
    assert_eq!(code, Some(125), "no command: {err}");
    let (code, _, err) = vrf_exec(&["bad/name", "true"]);
    assert_eq!(
        (code, err.trim()),
        (
            Some(125),
            "vrf-exec: invalid VRF name: interface name \"bad/name\" contains '/', which the kernel refuses"
        )
    );
}

#[test]
fn lookups_fail_before_running_anything() {
    let (code, out, err) = vrf_exec(&["nosuchvrf0", "echo", "ran"]);
    assert_eq!(code, Some(125));
    assert_eq!(
        err.trim(),
        "vrf-exec: VRF \"nosuchvrf0\" not found (create it: ip link add nosuchvrf0 type vrf table N)"
    );
    assert!(!out.contains("ran"));
    // Options after the VRF (read by clap, not by the plain-launch fast path) end the same way.
    let (code, out, err) = vrf_exec(&["nosuchvrf0", "--user", "nobody", "echo", "ran"]);
    assert_eq!((code, out.as_str()), (Some(125), ""));
    assert!(err.contains("\"nosuchvrf0\" not found"), "{err}");
    let (code, out, err) = vrf_exec(&["lo", "echo", "ran"]);
    assert_eq!((code, out.as_str()), (Some(125), ""));
    assert!(err.contains("\"lo\" is not a VRF"), "{err}");
}

/// `--strict` is read by both parsers (a leading `--strict` by the fast path, after another option by
/// clap), is explained in `--help`, and a lookup that fails still ends the launch before anything runs.
#[test]
fn strict_is_taught_and_read_by_both_parsers() {
    let (code, out, _) = vrf_exec(&["--help"]);
    assert_eq!(code, Some(0));
    let at = out
        .find("\n      --strict")
        .expect("--help has an entry for --strict");
    let end = out[at..]
        .find("\n  -h, --help")
        .map_or(out.len(), |e| at + e);
    // As one line: --help wraps to the terminal's width.
    let help = out[at..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "exit 125",
        "default route",
        "main table",
        "ip route add vrf VRF unreachable default metric 4278198272",
        "ip -6 route add",
    ] {
        assert!(
            help.contains(want),
            "--strict's help lacks {want:?}:\n{help}"
        );
    }
    for args in [
        &["--strict", "nosuchvrf0", "echo", "ran"][..],
        &["-v", "--strict", "nosuchvrf0", "echo", "ran"][..],
        &["exec", "--strict", "nosuchvrf0", "echo", "ran"][..],
    ] {
        let (code, out, err) = vrf_exec(args);
        assert_eq!((code, out.as_str()), (Some(125), ""), "{args:?}: {err}");
        assert!(err.contains("\"nosuchvrf0\" not found"), "{args:?}: {err}");
    }
    let (code, out, err) = vrf_exec(&["--strict", "--strict", "nosuchvrf0", "echo", "ran"]);
    assert_eq!((code, out.as_str()), (Some(125), ""), "{err}");
}

#[test]
fn identify_outside_any_vrf_prints_nothing() {
    let (code, out, err) = vrf_exec(&["identify"]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    let (code, out, _) = vrf_exec(&["identify", "--json", "1"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["pid"].as_u64(), v["vrf"].is_null()),
        (Some(1), true),
        "{out}"
    );
}

/// `check` says whether this kernel can make VRFs, and fails when it cannot: checked against trying it
/// (as root, in a scratch network namespace) where that is possible.
#[test]
fn check_tells_whether_the_kernel_supports_vrfs() {
    let (code, out, err) = vrf_exec(&["check"]);
    let line = out
        .lines()
        .find(|l| l.contains("VRF support") || l.contains("no VRF support"))
        .unwrap_or_else(|| panic!("no VRF support line:\n{out}{err}"));
    let says_yes = line.starts_with("ok");
    if !says_yes {
        assert!(line.contains("CONFIG_NET_VRF"), "{line}");
        assert_eq!(code, Some(1), "a failed check exits 1:\n{out}");
    }
    let is_root = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")));
    if is_root {
        let tried = Command::new("unshare")
            .args([
                "--net", "ip", "link", "add", "probe0", "type", "vrf", "table", "1",
            ])
            .output()
            .expect("run unshare");
        assert_eq!(
            says_yes,
            tried.status.success(),
            "check says {line:?}, but making a VRF {}: {}",
            if tried.status.success() {
                "works"
            } else {
                "fails"
            },
            String::from_utf8_lossy(&tried.stderr)
        );
    }
}

#[test]
fn pids_of_a_missing_vrf_fails() {
    let (code, out, err) = vrf_exec(&["pids", "nosuchvrf0"]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert!(err.contains("\"nosuchvrf0\" not found"), "{err}");
}
