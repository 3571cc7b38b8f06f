//! `vrf-ping`: an iputils-compatible ping that lives inside a VRF.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Send ICMP echo requests inside a VRF",
    long_about = "Send ICMP ECHO_REQUEST packets to a host through a Linux VRF, with iputils ping's options \
        and output.\n\nStatus: under construction; this build checks its arguments and stops.",
    after_help = "Exit status: 0 when replies arrived, 1 when none did, 2 on other errors.\n\n\
        Example:\n  vrf-ping -V blue -c 3 10.99.0.2"
)]
struct Cli {
    /// The VRF to send from.
    #[arg(short = 'V', long)]
    vrf: String,
    /// Stop after sending COUNT requests.
    #[arg(short = 'c', value_name = "COUNT")]
    count: Option<u32>,
    /// The host to ping: an address or a name resolved inside the VRF.
    destination: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = vrf_socket::validate_name(&cli.vrf) {
        eprintln!("vrf-ping: {e}");
        return ExitCode::from(2);
    }
    eprintln!(
        "vrf-ping: not implemented yet: {} was not pinged",
        cli.destination
    );
    ExitCode::from(2)
}
