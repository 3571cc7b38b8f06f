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

#[test]
fn identify_outside_any_vrf_prints_nothing() {
    let (code, out, err) = vrf_exec(&["identify"]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    let (code, out, _) = vrf_exec(&["identify", "--json", "1"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("{\"pid\":1,"), "{out}");
}
