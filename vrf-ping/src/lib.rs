//! vrf-ping's command line, as a library: the `vrf-ping` binary parses with it, and `xtask` renders
//! its man page and shell completions from it, so neither can drift from the other.
//!
//! Only the command line lives here (clap and std): the pinging stays in the binary.

pub mod cli;

/// The clap command of `vrf-ping`: what `--help` shows.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}
