//! vrf-ping's command line on the host (no VRF needed): help and errors that come before any packet.
//! Its behaviour in VRFs is tested in the lab (vrf-lab/suite/ping.rs); this test also makes
//! `cargo test --workspace` build the binary the lab suite runs.

use std::process::Command;

fn vrf_ping(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vrf-ping"))
        .args(args)
        .output()
        .expect("run vrf-ping");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn help_lists_the_iputils_options() {
    let (code, out, _) = vrf_ping(&["--help"]);
    assert_eq!(code, Some(0));
    for opt in [
        "--vrf", "-c", "-i", "-W", "-w", "-s", "-t", "-q", "-n", "-f", "-I",
    ] {
        assert!(out.contains(opt), "--help lacks {opt}:\n{out}");
    }
}

#[test]
fn bad_vrf_exits_2_with_a_message() {
    let (code, _, err) = vrf_ping(&["-V", "nosuchvrf0", "-c", "1", "127.0.0.1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("nosuchvrf0") && err.contains("not found"),
        "{err}"
    );
    let (code, _, err) = vrf_ping(&["-V", "lo", "-c", "1", "127.0.0.1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a VRF"), "{err}");
}
