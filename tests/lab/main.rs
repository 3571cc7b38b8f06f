//! The end-to-end suite. Every test here runs on a kernel with real VRFs: natively or in the lab VM,
//! booted once for the whole binary (see `vrf_lab::harness`).

mod basics;
mod sockets;

fn main() -> std::process::ExitCode {
    let tests: Vec<vrf_lab::harness::LabTest> = [basics::TESTS, sockets::TESTS].concat();
    vrf_lab::harness::main(&tests)
}
