//! vrf-exec's command line, as a library: the `vrf-exec` binary parses with it, and `xtask` renders
//! its man pages and shell completions from it, so neither can drift from the other.
//!
//! Only the command line lives here (clap and std, nothing of the kernel): the launch and the queries
//! stay in the binary.

pub mod cli;

/// The clap command of `vrf-exec`, with its subcommands: what `--help` shows.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}
