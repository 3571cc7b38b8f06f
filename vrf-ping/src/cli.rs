//! vrf-ping's command line: iputils ping's options, plus `-V VRF`. The binary parses with it, and
//! `xtask` renders the man page and the shell completions from it.

use std::time::Duration;

use clap::{ArgAction, Parser};

// The options (no doc comment: clap would read it as the about text, which is set below).
#[derive(Parser, Debug)]
#[command(
    name = "vrf-ping",
    version,
    about = "Send ICMP echo requests like iputils ping, from a VRF or from the default VRF",
    long_about = "Send ICMP ECHO_REQUEST packets to a host, with iputils ping's options, output and exit \
        status, from a Linux VRF or from the default VRF.\n\n\
        Without -V, vrf-ping stands in for ping: it pings from the default VRF (sockets bound to no VRF) \
        and resolves names with glibc, as iputils does. -I DEVICE then chooses as `ping -I` does: a VRF \
        device (-I blue) selects that VRF; a device enslaved to a VRF selects its VRF and sends through \
        that device; any other device is bound to as iputils binds it. -I ADDRESS is a source address \
        of the default VRF.\n\n\
        With -V VRF, every socket (the ICMP socket, the UDP probe that picks the source address, DNS) is \
        bound to the VRF, so the requests route with the VRF's table and only replies that come back \
        through the VRF count: two VRFs that use the same addresses reach two different hosts. -I \
        ADDRESS binds a source address of the VRF (IPv4 or IPv6), -I DEVICE the VRF or one of its \
        devices. In a VRF (-V, or -I naming a VRF or one of its devices), DESTINATION is resolved with \
        the VRF's own name servers (/etc/vrf/VRF/resolv.conf).\n\n\
        The ICMP socket is a datagram (\"ping\") socket where net.ipv4.ping_group_range allows the \
        caller's group, which needs no privilege, and a raw socket otherwise (root or CAP_NET_RAW); the \
        kernel's default range \"1 0\" allows nobody, root included. --socket forces one.\n\n\
        Output, timing and exit status follow iputils ping: the PING line, a line per reply \
        (`64 bytes from 10.99.0.2: icmp_seq=1 ttl=64 time=0.123 ms`), duplicates (DUP!), ICMP errors \
        (`From 10.99.0.1 icmp_seq=1 Destination Host Unreachable`), and the statistics with packet loss \
        and rtt min/avg/max/mdev, also on Ctrl-C. Ctrl-\\ (SIGQUIT) prints a status line.",
    after_help = "Exit status: 0 when replies arrived (with -w: at least COUNT), 1 when none did, 2 on other \
        errors (unknown or down VRF, device not in the VRF, name not found, no route, no permission).\n\n\
        Differences from iputils ping: -V names the VRF (the version is --version); -v says on stderr \
        which VRF (or the default VRF), socket and identifier are used.\n\n\
        Examples:\n  vrf-ping -c 3 192.0.2.1                  the default VRF, as ping\n  \
        vrf-ping -I blue 10.99.0.2                VRF blue, as ping -I blue\n  \
        vrf-ping -I veth-red -6 fd00:99::2        VRF red, through its device veth-red\n  \
        vrf-ping -V blue -c 3 -i 0.2 -I 10.99.0.1 10.99.0.2\n  \
        vrf-ping --vrf blue -c 1 -W 2 router.example\n  \
        vrf-ping -V blue -f -c 10000 10.99.0.2",
    disable_version_flag = true
)]
pub struct Cli {
    /// The VRF to ping from (a device made by `ip link add NAME type vrf table N`); without it, the
    /// default VRF, or the VRF of the -I device.
    #[arg(short = 'V', long, value_name = "VRF")]
    pub vrf: Option<String>,
    /// Use IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Stop after COUNT replies (without -w: after sending COUNT requests and waiting for their replies).
    #[arg(short = 'c', value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Wait INTERVAL seconds between requests (default 1; below 0.002 needs root).
    #[arg(short = 'i', value_name = "INTERVAL", value_parser = seconds)]
    pub interval: Option<Duration>,
    /// After the last request, wait TIMEOUT seconds for a reply when none came yet (default 10).
    #[arg(short = 'W', value_name = "TIMEOUT", value_parser = seconds)]
    pub timeout: Option<Duration>,
    /// Stop after DEADLINE seconds, however many requests were sent or answered.
    #[arg(short = 'w', value_name = "DEADLINE", value_parser = seconds)]
    pub deadline: Option<Duration>,
    /// Send SIZE data bytes per request (default 56: 64 bytes of ICMP).
    #[arg(short = 's', value_name = "SIZE", default_value_t = 56, value_parser = clap::value_parser!(u32).range(0..=65527))]
    pub size: u32,
    /// Send with this TTL (IPv4) or hop limit (IPv6).
    #[arg(short = 't', value_name = "TTL", value_parser = clap::value_parser!(u8).range(1..))]
    pub ttl: Option<u8>,
    /// Quiet: print only the PING line and the statistics.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Numeric output: no reverse lookup of addresses.
    #[arg(short = 'n')]
    pub numeric: bool,
    /// Flood: a request as soon as the previous one is answered (or every 10 ms); prints a dot per
    /// request and erases it on the reply. Root only.
    #[arg(short = 'f')]
    pub flood: bool,
    /// Source: an ADDRESS to send from, or a DEVICE to send through (a VRF device selects that VRF, a
    /// device enslaved to a VRF selects its VRF). With -V: an address or device of that VRF.
    #[arg(short = 'I', value_name = "ADDRESS|DEVICE")]
    pub interface: Option<String>,
    /// Which ICMP socket: auto (datagram if ping_group_range allows, else raw), dgram or raw.
    #[arg(long, value_enum, value_name = "KIND", default_value = "auto")]
    pub socket: SocketChoice,
    /// Say on stderr which VRF (or the default VRF), socket, identifier and source address are used.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Print the version.
    #[arg(long, action = ArgAction::Version)]
    pub version: Option<bool>,
    /// The host to ping: an address, or a name (resolved inside the VRF, or by glibc in the default
    /// VRF).
    pub destination: String,
}

/// Seconds as iputils reads them: a non-negative decimal number.
fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 2_147_483.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

/// How to choose the ICMP socket (`--socket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SocketChoice {
    /// A datagram socket where `net.ipv4.ping_group_range` allows it, a raw socket otherwise.
    Auto,
    /// Only an ICMP datagram socket.
    Dgram,
    /// Only a raw socket (root or CAP_NET_RAW).
    Raw,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn iputils_options_parse() {
        let cli = Cli::try_parse_from([
            "vrf-ping",
            "-V",
            "blue",
            "-4",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "1.5",
            "-w",
            "5",
            "-s",
            "100",
            "-t",
            "9",
            "-q",
            "-n",
            "-I",
            "10.99.0.1",
            "10.99.0.2",
        ])
        .unwrap();
        assert_eq!(cli.vrf.as_deref(), Some("blue"));
        assert_eq!(cli.count, Some(3));
        assert_eq!(cli.interval, Some(Duration::from_millis(200)));
        assert_eq!(cli.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(cli.size, 100);
        assert_eq!(cli.ttl, Some(9));
        assert!(cli.ipv4 && cli.quiet && cli.numeric && !cli.flood);
        assert_eq!(cli.socket, SocketChoice::Auto);
        let long = Cli::try_parse_from(["vrf-ping", "--vrf", "red", "-6f", "--socket", "raw", "x"])
            .unwrap();
        assert!(long.ipv6 && long.flood);
        assert_eq!(long.socket, SocketChoice::Raw);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &["vrf-ping"][..],
            &["vrf-ping", "-V", "blue"],
            &["vrf-ping", "-V", "blue", "-c", "0", "x"],
            &["vrf-ping", "-V", "blue", "-i", "-1", "x"],
            &["vrf-ping", "-V", "blue", "-4", "-6", "x"],
            &["vrf-ping", "-V", "blue", "-t", "0", "x"],
            &["vrf-ping", "-V", "blue", "--socket", "tcp", "x"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert!(e.use_stderr(), "{args:?}");
        }
        // Without -V: the default VRF (or the VRF of the -I device), as `ping` is used.
        let plain =
            Cli::try_parse_from(["vrf-ping", "-c", "1", "-I", "blue", "10.99.0.2"]).unwrap();
        assert_eq!(plain.vrf, None);
        assert_eq!(plain.interface.as_deref(), Some("blue"));
        let v = Cli::try_parse_from(["vrf-ping", "--version"]).unwrap_err();
        assert_eq!(v.kind(), clap::error::ErrorKind::DisplayVersion);
    }
}
