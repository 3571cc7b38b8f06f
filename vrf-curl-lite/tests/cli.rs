//! vrf-curl-lite's command line on the host (no VRF needed). Also makes `cargo test --workspace` build
//! the binary for the lab suite.

use std::process::Command;

#[test]
fn help_and_refusal_until_built() {
    let out = Command::new(env!("CARGO_BIN_EXE_vrf-curl-lite"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--vrf"));
    let out = Command::new(env!("CARGO_BIN_EXE_vrf-curl-lite"))
        .args(["--vrf", "blue", "http://10.99.0.2/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented yet"));
}
