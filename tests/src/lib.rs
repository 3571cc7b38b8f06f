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

pub use topology::{PEER_V4, PEER_V6, ROUTER_V4, ROUTER_V6, Site, Topology};
