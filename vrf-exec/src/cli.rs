//! vrf-exec's command line: the clap definition, and the hand-written reader of the plain launch
//! (`vrf-exec VRF COMMAND…`) that spares that launch the cost of building clap's parser. A unit test
//! runs both over the same argument vectors, so the fast path cannot come to mean something clap does not.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a program inside a VRF",
    long_about = "Run an unmodified program inside a Linux VRF.\n\n\
        Every AF_INET/AF_INET6 socket the program and its children create (TCP, UDP, raw, ICMP) is bound \
        to the VRF device as it is created, by a BPF program on a cgroup-v2 group: the mechanism of \
        `ip vrf exec`, in the same cgroup layout, so `ip vrf identify` and `ip vrf pids` see these \
        processes. vrf-exec then execs the command in place: no process is left behind, and stdin, \
        stdout, stderr, the environment, signals and the exit status are the command's own. If anything \
        fails before exec, the command is not run: it never falls back to the default VRF.\n\n\
        If /etc/vrf/VRF/resolv.conf exists, the command sees it as /etc/resolv.conf (private mount \
        namespace), so it resolves names with the VRF's name servers.\n\n\
        Security: a VRF is a routing domain, not a sandbox. A second BPF program on the same cgroup, \
        the egress guard, drops every packet of the command's sockets that would leave through a device \
        outside the VRF (the VRF device and its ports as they are at launch; a port enslaved later is \
        refused until the next launch). With --user USER (never root) the command cannot leave the VRF: \
        it has no capability left, no_new_privs is set, and the launch is refused when USER may write a \
        cgroup.procs above the VRF's group. Without --user it runs as root: the guard stops accidental \
        escapes, but a root command can still leave on purpose (move itself to another cgroup, detach \
        the programs, use packet sockets). --group needs --user. vrf-exec refuses to run when installed \
        set-user-ID, set-group-ID or with file capabilities.",
    after_help = "Exit status: the command's own; 125 when vrf-exec fails (unknown VRF, not a VRF, VRF \
        down, no privilege, no cgroup2 …), 126 when COMMAND cannot be executed, 127 when it is not found. \
        The query commands exit 1 on failure; `check` exits 1 when a check fails, and changes nothing \
        (it may mount cgroup2 in a private mount namespace of its own to look, and loads a BPF program \
        that it frees at once without attaching it).\n\n\
        Examples:\n  vrf-exec blue ping -c1 10.99.0.2\n  vrf-exec --user nobody red curl http://10.99.0.2/\n  \
        vrf-exec identify $$\n  vrf-exec list --json\n  vrf-exec check blue\n\n\
        A VRF named like a subcommand: vrf-exec exec list COMMAND…",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub sub: Option<Sub>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// What a launch is asked to do: `vrf-exec [OPTIONS] VRF COMMAND…`.
#[derive(Args, Debug, PartialEq, Eq)]
pub struct RunArgs {
    /// Run the command as USER (name or uid, not root), after attaching; it cannot leave the VRF.
    /// Refused when USER may write a cgroup.procs above the VRF's group (a cgroup delegated to USER).
    /// Sets HOME, USER and LOGNAME as `runuser -u USER` does (SHELL is kept, as runuser keeps it).
    /// Without it the command runs as root, which can leave the VRF on purpose.
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// With --user: run the command with GROUP (name or gid) as its primary group.
    #[arg(short, long, value_name = "GROUP")]
    pub group: Option<String>,
    /// With --user: keep the environment as it is (no HOME, USER, LOGNAME of USER).
    #[arg(long, requires = "user", visible_alias = "preserve-environment")]
    pub preserve_env: bool,
    /// Keep the host's /etc/resolv.conf even if /etc/vrf/VRF/resolv.conf exists.
    #[arg(long)]
    pub no_vrf_resolv_conf: bool,
    /// Say on stderr what was done (cgroup, hook loaded or reused, resolv.conf).
    #[arg(short, long)]
    pub verbose: bool,
    /// The VRF (a device made by `ip link add NAME type vrf table N`), or `default` to leave any VRF.
    #[arg(required = true)]
    pub vrf: Option<String>,
    /// The program to run, then its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Run COMMAND in VRF (the default action, spelled out).
    Exec(RunArgs),
    /// Print the VRF a process runs in (nothing when none), like `ip vrf identify`.
    Identify {
        /// The process (default: this one, which is in the VRF of the shell that runs it).
        pid: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the processes running in VRF, like `ip vrf pids`.
    Pids {
        /// The VRF.
        vrf: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the VRFs with table, state, enslaved devices and process count.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every precondition of `vrf-exec VRF …` and say how to fix what fails (changes nothing).
    Check {
        /// Also check this VRF.
        vrf: Option<String>,
    },
}

/// The subcommand names: a first argument spelled like one goes to clap.
const SUBCOMMANDS: [&str; 6] = ["exec", "identify", "pids", "list", "check", "help"];

/// `vrf-exec VRF COMMAND [ARGS]…` without options, the launch that scripts repeat, read from `argv`
/// (program name first, as `std::env::args_os()` gives it) without clap: building clap's parser is a
/// large part of vrf-exec's own start-up. Anything else (an option before COMMAND, a subcommand, a
/// missing COMMAND, arguments that are not UTF-8) is left to clap: `None`. What it accepts, clap reads
/// the same way (see the tests).
pub fn plain_launch(argv: impl IntoIterator<Item = OsString>) -> Option<RunArgs> {
    let mut args = argv.into_iter().skip(1);
    let vrf = args.next()?.into_string().ok()?;
    if vrf.starts_with('-') || SUBCOMMANDS.contains(&vrf.as_str()) {
        return None;
    }
    let command: Vec<String> = args.map(|a| a.into_string().ok()).collect::<Option<_>>()?;
    if command.first().is_none_or(|c| c.starts_with('-')) {
        return None;
    }
    Some(RunArgs {
        user: None,
        group: None,
        preserve_env: false,
        no_vrf_resolv_conf: false,
        verbose: false,
        vrf: Some(vrf),
        command,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn argv(args: &[&[u8]]) -> Vec<OsString> {
        std::iter::once(&b"vrf-exec"[..])
            .chain(args.iter().copied())
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    }

    /// Every argument vector, and whether the fast path should take it. Where it does, clap must read
    /// the same launch from it; where it declines, clap alone decides (and may refuse).
    const CASES: &[(&[&[u8]], bool)] = &[
        // Plain launches, the fast path's whole purpose.
        (&[b"blue", b"true"], true),
        (&[b"blue", b"ping", b"-c1", b"10.99.0.2"], true),
        (&[b"blue", b"sh", b"-c", b"exit 7"], true),
        (&[b"default", b"true"], true),
        (&[b"bad/name", b"true"], true),
        (&[b"vrf-bl\xc3\xa9", b"true"], true),
        (&[b"blue", b""], true),
        // Options of vrf-exec's after COMMAND belong to COMMAND.
        (&[b"blue", b"true", b"--help"], true),
        (&[b"blue", b"true", b"-v", b"--user", b"nobody"], true),
        (&[b"blue", b"env", b"-u", b"X", b"sh"], true),
        (
            &[b"blue", b"env", b"--preserve-env", b"--group", b"g"],
            true,
        ),
        (&[b"blue", b"true", b"--version"], true),
        // `--` after COMMAND is COMMAND's.
        (&[b"blue", b"ls", b"--", b"-x"], true),
        (&[b"blue", b"sh", b"-c", b"echo $0", b"--"], true),
        // Subcommand names after the VRF are a COMMAND; spelled otherwise, they are VRFs.
        (&[b"blue", b"list"], true),
        (&[b"blue", b"exec", b"identify"], true),
        (&[b"Exec", b"true"], true),
        (&[b"lists", b"true"], true),
        // Options before or right after the VRF: clap's.
        (&[b"-u", b"nobody", b"blue", b"true"], false),
        (&[b"--user=nobody", b"blue", b"true"], false),
        (&[b"-v", b"blue", b"true"], false),
        (&[b"--no-vrf-resolv-conf", b"blue", b"true"], false),
        (
            &[b"-u", b"nobody", b"--preserve-env", b"blue", b"env"],
            false,
        ),
        (
            &[b"--preserve-environment", b"-u", b"nobody", b"blue", b"env"],
            false,
        ),
        (
            &[b"-u", b"nobody", b"-g", b"nogroup", b"blue", b"id"],
            false,
        ),
        (&[b"blue", b"--user", b"nobody", b"true"], false),
        (&[b"blue", b"-v", b"true"], false),
        (&[b"--help"], false),
        (&[b"-V"], false),
        // `--` before the VRF or before COMMAND.
        (&[b"--", b"blue", b"true"], false),
        (&[b"blue", b"--", b"true"], false),
        // Subcommand names first.
        (&[b"exec", b"blue", b"true"], false),
        (&[b"exec", b"list", b"true"], false),
        (&[b"identify"], false),
        (&[b"identify", b"1"], false),
        (&[b"pids", b"blue"], false),
        (&[b"list", b"--json"], false),
        (&[b"check", b"blue"], false),
        (&[b"help"], false),
        (&[b"help", b"exec"], false),
        // Missing VRF or COMMAND.
        (&[], false),
        (&[b"blue"], false),
        // A `-x` style command, or VRF.
        (&[b"blue", b"-x"], false),
        (&[b"blue", b"-"], false),
        (&[b"-x", b"true"], false),
        (&[b"-", b"true"], false),
        // Not UTF-8.
        (&[b"bl\xffe", b"true"], false),
        (&[b"blue", b"echo", b"\xff"], false),
    ];

    #[test]
    fn the_fast_path_reads_what_clap_reads() {
        for (args, fast) in CASES {
            let argv = argv(args);
            let plain = plain_launch(argv.clone());
            assert_eq!(plain.is_some(), *fast, "fast path on {argv:?}: {plain:?}");
            let Some(plain) = plain else { continue };
            let cli = Cli::try_parse_from(&argv)
                .unwrap_or_else(|e| panic!("the fast path took {argv:?}, clap refuses it: {e}"));
            assert!(
                cli.sub.is_none(),
                "the fast path took {argv:?}, clap reads {:?}",
                cli.sub
            );
            assert_eq!(cli.run, plain, "{argv:?}");
        }
    }

    #[test]
    fn preserve_env_needs_user() {
        let e = Cli::try_parse_from(argv(&[b"--preserve-env", b"blue", b"env"])).unwrap_err();
        assert!(e.to_string().contains("--user"), "{e}");
        let cli = Cli::try_parse_from(argv(&[
            b"-u",
            b"nobody",
            b"--preserve-env",
            b"blue",
            b"env",
        ]));
        assert!(cli.unwrap().run.preserve_env);
    }

    #[test]
    fn clap_reads_the_launches_the_fast_path_declines() {
        let cli = Cli::try_parse_from(argv(&[b"-u", b"nobody", b"blue", b"ls", b"-l"])).unwrap();
        assert!(cli.sub.is_none());
        let want = RunArgs {
            user: Some("nobody".into()),
            group: None,
            preserve_env: false,
            no_vrf_resolv_conf: false,
            verbose: false,
            vrf: Some("blue".into()),
            command: vec!["ls".into(), "-l".into()],
        };
        assert_eq!(cli.run, want);
        let cli = Cli::try_parse_from(argv(&[b"exec", b"list", b"true"])).unwrap();
        assert!(
            matches!(&cli.sub, Some(Sub::Exec(r)) if r.vrf.as_deref() == Some("list")),
            "{:?}",
            cli.sub
        );
    }
}
