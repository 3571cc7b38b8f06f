//! `vrf-curl-lite`: an HTTP(S) client inside a VRF, with curl's habits.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Transfer a URL inside a VRF",
    long_about = "Fetch a URL over HTTP or HTTPS with name resolution and connections entirely inside a \
        Linux VRF, with curl's options and exit codes.\n\nStatus: under construction; this build checks its \
        arguments and stops.",
    after_help = "Example:\n  vrf-curl-lite --vrf blue -o page.html http://10.99.0.2/"
)]
struct Cli {
    /// The VRF to resolve and connect in.
    #[arg(long)]
    vrf: String,
    /// Write the body to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<String>,
    /// The URL to fetch.
    url: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = vrf_socket::validate_name(&cli.vrf) {
        eprintln!("vrf-curl-lite: {e}");
        return ExitCode::from(2);
    }
    eprintln!(
        "vrf-curl-lite: not implemented yet: {} was not fetched",
        cli.url
    );
    ExitCode::from(2)
}
