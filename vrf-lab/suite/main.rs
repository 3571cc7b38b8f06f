//! The end-to-end suite. Every test here runs on a kernel with real VRFs: natively or in the lab VM,
//! booted once for the whole binary (see `vrf_lab::harness`). Each module registers its tests with
//! `vrf_lab::lab_tests!`, which names them `<module>::<function>` (`ping::flood_matches_iputils`).

mod basics;
mod curl;
mod curl_hostile;
mod dns;
mod escape;
mod exec;
mod exec_churn;
mod exec_hardening;
mod harness;
mod http;
mod inventory;
mod open_tables;
mod ping;
mod python;
mod scale;
mod seccomp;
mod seccomp_escape;
mod services;
mod socket_tools;
mod sockets;
mod systemd_binder;
mod tables;

fn main() -> std::process::ExitCode {
    let tests = [
        basics::TESTS,
        harness::TESTS,
        sockets::TESTS,
        socket_tools::TESTS,
        exec::TESTS,
        escape::TESTS,
        exec_hardening::TESTS,
        exec_churn::TESTS,
        seccomp::TESTS,
        seccomp_escape::TESTS,
        services::TESTS,
        systemd_binder::TESTS,
        ping::TESTS,
        dns::TESTS,
        http::TESTS,
        curl::TESTS,
        curl_hostile::TESTS,
        tables::TESTS,
        python::TESTS,
        open_tables::TESTS,
        inventory::TESTS,
        scale::TESTS,
    ]
    .concat();
    vrf_lab::harness::main(&tests)
}
