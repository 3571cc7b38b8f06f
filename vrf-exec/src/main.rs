//! `vrf-exec`: run an unmodified program inside a VRF.

use std::process::ExitCode;

use clap::Parser;

/// Exit status for errors of vrf-exec itself (the `env`/`chroot` convention).
const EXIT_FAILURE: u8 = 125;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a program inside a VRF",
    long_about = "Run an unmodified program inside a Linux VRF.\n\n\
        Every socket the program (and its children) creates is bound to the VRF device, the mechanism of \
        `ip vrf exec`: a cgroup-v2 group with a BPF sock-create hook, no LD_PRELOAD.\n\n\
        Status: the launcher is under construction; this build checks its arguments and stops.",
    after_help = "Exit status: the command's own; 125 when vrf-exec fails, 126 when COMMAND cannot be \
        executed, 127 when it is not found.\n\nExample:\n  vrf-exec blue curl http://10.99.0.2/"
)]
struct Cli {
    /// The VRF device to run in (as in `ip link add NAME type vrf table N`).
    vrf: String,
    /// The program to run, then its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = vrf_socket::validate_name(&cli.vrf) {
        eprintln!("vrf-exec: {e}");
        return ExitCode::from(EXIT_FAILURE);
    }
    eprintln!(
        "vrf-exec: not implemented yet: {:?} was not run (use `ip vrf exec {} …` meanwhile)",
        cli.command[0], cli.vrf
    );
    ExitCode::from(EXIT_FAILURE)
}
