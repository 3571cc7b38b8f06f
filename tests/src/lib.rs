//! The vrf-toolkit kernel lab.
//!
//! Our development machines run kernels without VRF support, so every end-to-end test runs in a lab:
//! natively when the running kernel has VRF and we are root, otherwise inside a small VM (virtme-ng booting
//! Debian's stock kernel under qemu) that sees the host's files. [`lab`] decides and boots, [`harness`]
//! makes `cargo test` use it transparently, and [`topology`] builds the two-VRF network every test and
//! the demo use.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod cmd;
pub mod harness;
pub mod lab;
pub mod netns;
pub mod topology;

/// The path of a binary of this workspace (`vrf-exec`, `vrf-ping` …), built next to the calling one:
/// in the same directory (`target/<profile>/`), or one up for test binaries (`target/<profile>/deps/`).
///
/// `cargo test --workspace` builds every binary; a test that needs one fails with this message otherwise.
pub fn tool(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let candidates: Vec<_> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join(name))
        .collect();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not built: run `cargo test --workspace` (or `cargo build --workspace`) first",
            candidates[0].display()
        )
    })
}

pub use topology::{PEER_V4, PEER_V6, ROUTER_V4, ROUTER_V6, Site, Topology};
