//! vrf-exec's command line: the clap definition, and the hand-written reader of the plain launch
//! (`vrf-exec VRF COMMAND…`) that spares that launch the cost of building clap's parser. A unit test
//! runs both over the same argument vectors, so the fast path cannot come to mean something clap does not.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a program inside a VRF",
    long_about = "Run an unmodified program inside a Linux VRF.\n\n\
        Every AF_INET/AF_INET6 socket the program and its children create (TCP, UDP, raw, ICMP) is bound \
        to the VRF device as it is created. Two mechanisms (--mode; auto picks the first one that can \
        work, `vrf-exec check` says which):\n\n\
        cgroup (root): a BPF program on a cgroup-v2 group binds each socket, the mechanism of \
        `ip vrf exec`, in the same cgroup layout, so `ip vrf identify` and `ip vrf pids` see these \
        processes. vrf-exec then execs the command in place: no process is left behind, and stdin, \
        stdout, stderr, the environment, signals and the exit status are the command's own.\n\n\
        seccomp (any user, Linux 5.14+, no privilege, no cgroup, no BPF): a seccomp filter hands each \
        socket() call to vrf-exec, which stays as the command's parent, makes the socket, binds it and \
        installs it in the command; a call it cannot bind (VRF deleted, renamed, down) fails with that \
        error. io_uring and the 32-bit socket calls are refused. vrf-exec forwards signals, leaves the \
        terminal alone, and exits as the command did once it and everything it left behind ended.\n\n\
        If anything fails before the command starts, it is not run: vrf-exec never falls back to the \
        default VRF.\n\n\
        If /etc/vrf/VRF/resolv.conf exists, the command sees it as /etc/resolv.conf (private mount \
        namespace; in the seccomp mode a user namespace too, where the kernel allows one), so it resolves \
        names with the VRF's name servers.\n\n\
        A VRF's table without a default route lets lookups fall through to the main table (the \
        default VRF): vrf-exec warns and runs the command, or refuses it with --strict.\n\n\
        Security: a VRF is a routing domain, not a sandbox. In the cgroup mode a second BPF program on the same cgroup, \
        the egress guard, drops every packet of the command's sockets that would leave through a device \
        outside the VRF (the VRF device and its ports as they are at launch; a port enslaved later is \
        refused until the next launch). With --user USER (never root) the command cannot leave the VRF: \
        it has no capability left, no_new_privs is set, and the launch is refused when USER may write a \
        cgroup.procs above the VRF's group. Without --user it runs as root: the guard stops accidental \
        escapes, but a root command can still leave on purpose (move itself to another cgroup, detach \
        the programs, use packet sockets). --group needs --user. vrf-exec refuses to run when installed \
        set-user-ID, set-group-ID or with file capabilities. The seccomp mode has no egress guard (it \
        needs privilege): its command cannot re-bind a socket, but can still send a datagram through a \
        device outside the VRF by naming it (IP_PKTINFO, an IPv6 scope id).",
    after_help = "Exit status: the command's own; 125 when vrf-exec fails (unknown VRF, not a VRF, VRF \
        down, no privilege, no cgroup2 …), 126 when COMMAND cannot be executed, 127 when it is not found. \
        The query commands exit 1 on failure; `check` exits 1 when a check fails, and changes nothing \
        (it may mount cgroup2 in a private mount namespace of its own to look, and loads a BPF program \
        that it frees at once without attaching it).\n\n\
        Examples:\n  vrf-exec blue ping -c1 10.99.0.2\n  vrf-exec --user nobody red curl http://10.99.0.2/\n  \
        vrf-exec --mode seccomp blue python3 client.py   (any user)\n  \
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
    #[arg(long, conflicts_with = "require_vrf_resolv_conf")]
    pub no_vrf_resolv_conf: bool,
    /// Refuse to run the command (exit 125) when /etc/vrf/VRF/resolv.conf exists but cannot be shown as
    /// /etc/resolv.conf (in the seccomp mode, where the kernel refuses an unprivileged user and mount
    /// namespace; by default that is a warning and the command runs with the host's name servers).
    #[arg(long)]
    pub require_vrf_resolv_conf: bool,
    /// How to put the command in the VRF: `cgroup` (root: a BPF sock-create hook on the VRF's
    /// cgroup-v2 group, as `ip vrf exec`; the command is exec'd in place), `seccomp` (anyone, Linux 5.14
    /// or later: vrf-exec stays as the command's parent and binds every socket it creates, through
    /// seccomp user notification), or `auto`: cgroup when vrf-exec runs as root in the host's user
    /// namespace with cgroup2 writable, seccomp otherwise. `vrf-exec check` says which auto picks.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto, value_name = "MODE")]
    pub mode: ModeArg,
    /// Say on stderr what was done (cgroup, hook loaded or reused, resolv.conf).
    #[arg(short, long)]
    pub verbose: bool,
    /// Refuse to run the command (exit 125) when the VRF's routing table has no default route for
    /// IPv4 or IPv6.
    ///
    /// Why: the kernel consults a VRF's table through the l3mdev rule (`ip rule`, preference 1000);
    /// when the table has no route for a destination, the lookup goes on to the main table, and the
    /// VRF's traffic heads for the default VRF's neighbours (vrf-exec's egress guard then drops its
    /// command's packets, with EPERM instead of the EHOSTUNREACH of a closed table; other programs in
    /// the VRF leak). Without --strict, vrf-exec warns on stderr (one line) and runs the command.
    /// With it, a table that cannot be read refuses the launch too. The fix, as in the kernel's VRF
    /// documentation, closes the table with an unreachable default route of the highest metric, once
    /// per family: `ip route add vrf VRF unreachable default metric 4278198272` and `ip -6 route add
    /// vrf VRF unreachable default metric 4278198272`. `vrf-exec check VRF` reports it.
    #[arg(long)]
    pub strict: bool,
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

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ModeArg {
    /// The cgroup mode when this process may use it (root in the host's user namespace, cgroup2
    /// writable), else the seccomp mode.
    #[default]
    Auto,
    /// The cgroup-v2 BPF sock-create hook, as `ip vrf exec` (root).
    Cgroup,
    /// The seccomp user-notification supervisor (no privilege; Linux 5.14 or later).
    Seccomp,
}

/// How the unit is put into the VRF (`--via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    /// The best the running systemd offers: bind-interface on 260 and later, hook on 243 to 259,
    /// wrap before.
    Auto,
    /// `ExecCondition=+vrf-exec attach VRF`: vrf-exec's binder and egress guard on the unit's cgroup
    /// (systemd 243 and later).
    Hook,
    /// `BindNetworkInterface=VRF` (systemd 260 and later), and the hook.
    BindInterface,
    /// `BPFProgram=` with programs pinned before each start (systemd 249 and later), checked.
    BpfProgram,
    /// `ExecStart=vrf-exec VRF …` around the unit's own command lines (any systemd).
    Wrap,
}

impl Via {
    /// The way `auto` picks for systemd `version`.
    pub fn for_version(version: u32) -> Via {
        match version {
            260.. => Via::BindInterface,
            243.. => Via::Hook,
            _ => Via::Wrap,
        }
    }

    /// The oldest systemd that has what this way writes.
    pub fn needs(self) -> u32 {
        match self {
            Via::BindInterface => 260,
            Via::BpfProgram => 249,
            Via::Hook => 243,
            Via::Auto | Via::Wrap => 0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Via::Auto => "auto",
            Via::Hook => "hook",
            Via::BindInterface => "bind-interface",
            Via::BpfProgram => "bpf-program",
            Via::Wrap => "wrap",
        }
    }
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
        /// Also list the processes that hold sockets bound to the VRF without having been launched
        /// into it (daemons that bind their own sockets, such as FRR's or a vrf-socket program).
        #[arg(short, long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List every TCP, UDP, raw and ICMP socket with the VRF it is in, the processes holding it and
    /// how it got there; warn about unbound listeners that accept from every VRF.
    ///
    /// A socket is in a VRF when it is bound to the VRF device or to a device enslaved to it. Unlike
    /// `ss`, which shows only non-listening sockets unless asked, every state is shown unless -l is
    /// given. With several of -t, -u, -w, --icmp, the kinds named are shown.
    Sockets {
        /// Only the sockets in this VRF, and the unbound ones that accept from it too
        /// (`*_l3mdev_accept`). `default` names the default VRF.
        vrf: Option<String>,
        /// TCP sockets.
        #[arg(short = 't', long)]
        tcp: bool,
        /// UDP sockets.
        #[arg(short = 'u', long)]
        udp: bool,
        /// Raw sockets.
        #[arg(short = 'w', long)]
        raw: bool,
        /// ICMP datagram ("ping") sockets, which ss does not show.
        #[arg(long)]
        icmp: bool,
        /// Only listening sockets (TCP LISTEN; unconnected UDP, raw and ICMP sockets).
        #[arg(short = 'l', long, conflicts_with = "all")]
        listening: bool,
        /// Sockets in every state (the default; accepted as ss spells it).
        #[arg(short = 'a', long)]
        all: bool,
        /// Only IPv4 sockets.
        #[arg(short = '4', long, conflicts_with = "ipv6")]
        ipv4: bool,
        /// Only IPv6 sockets.
        #[arg(short = '6', long)]
        ipv6: bool,
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
        /// Check for this launch mode (default: the one `auto` picks, which is reported first).
        #[arg(long, value_enum, default_value_t = ModeArg::Auto, value_name = "MODE")]
        mode: ModeArg,
    },
    /// Put an existing systemd service into VRF with a drop-in that fails closed (or take it out).
    #[command(
        long_about = "Put an existing, unmodified systemd service into VRF with a drop-in \
            (/etc/systemd/system/UNIT.d/50-vrf-exec.conf), then `systemctl daemon-reload`; the service \
            moves at its next (re)start.\n\n\
            Whatever the way (--via), the unit does not start while VRF is missing, down or not a VRF \
            (it never runs in the default VRF); a VRF deleted and re-created gets a fresh binding at the \
            next start; /etc/vrf/VRF/resolv.conf, when it exists, is the service's /etc/resolv.conf \
            (BindReadOnlyPaths=); `vrf-exec identify` and `vrf-exec pids` see the service's processes.\n\n\
            The ways: hook (systemd 243 and later; the default up to 259): \
            `ExecCondition=+vrf-exec attach VRF` attaches vrf-exec's sock-create binder and egress guard \
            to the unit's own cgroup before anything else of the start runs, and checks that a socket \
            made there is bound to VRF; nothing wraps the service, so Type=notify and Type=forking, \
            User=, DynamicUser= and ProtectControlGroups= work unchanged. bind-interface (systemd 260 \
            and later; the default there): systemd's BindNetworkInterface=, with the same hook (systemd \
            alone starts the unit unbound when the name does not resolve). bpf-program (systemd 249 and \
            later): BPFProgram= with programs pinned by vrf-exec-pin@VRF.service before each start, and \
            `vrf-exec attach --check` to fail the start when systemd did not attach them. wrap (any \
            systemd): ExecStart= becomes `vrf-exec VRF` + the unit's own command lines (for a unit that \
            runs as an ordinary user, Type=notify gets NotifyAccess=all and Type=forking is refused).",
        after_help = "Examples:\n  vrf-exec unit --dry-run mgmt ssh.service   (print the drop-in)\n  \
            vrf-exec unit mgmt ssh.service && systemctl restart ssh.service\n  \
            vrf-exec unit --remove ssh.service && systemctl restart ssh.service"
    )]
    Unit {
        /// VRF then UNIT (a service: `ssh` means ssh.service); with --remove, UNIT alone.
        #[arg(required = true, num_args = 1..=2, value_names = ["VRF", "UNIT"])]
        names: Vec<String>,
        /// Print what would be written (or removed) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Take the unit out of its VRF: remove the drop-in (and reload systemd).
        #[arg(long)]
        remove: bool,
        /// Write (or remove) the drop-in without `systemctl daemon-reload` (a script that puts several
        /// units reloads once, after the last).
        #[arg(long)]
        no_reload: bool,
        /// How: auto, hook, bind-interface, bpf-program or wrap (see above).
        #[arg(long, value_enum, default_value_t = Via::Auto, value_name = "WAY")]
        via: Via,
    },
    /// Attach VRF's binder and egress guard to this service's cgroup (a unit's ExecCondition=+).
    #[command(
        long_about = "What a service put into VRF by `vrf-exec unit` runs first, as \
            `ExecCondition=+vrf-exec attach VRF`: attach vrf-exec's sock-create binder and egress guard \
            for VRF as it is now to the cgroup of the service it runs in (BPF_F_ALLOW_MULTI, beside \
            systemd's own programs; stale ones of an earlier start are detached), then make a test \
            socket and check that the kernel bound it to VRF. Exit status 255 on any failure (VRF \
            missing, down or not a VRF; not a service's cgroup; no binding), which systemd takes as a \
            failed start, so the service's own commands never run."
    )]
    Attach {
        /// The VRF.
        vrf: String,
        /// Attach nothing: only check that a socket made here is bound to VRF (for BPFProgram=).
        #[arg(long)]
        check: bool,
    },
    /// Pin VRF's socket binder and egress guard for systemd's BPFProgram= (what vrf-exec-pin@VRF runs).
    #[command(
        long_about = "Load vrf-exec's sock-create binder and egress guard for VRF as it is now and pin \
            them at /sys/fs/bpf/vrf-exec/VRF/sock_create and …/egress, replacing pins made for an \
            older state of the VRF (re-created with another ifindex, ports changed); the programs are \
            loaded anew each time, as systemd 252 attaches a restarted unit's BPFProgram= only when \
            its id is new. When VRF is missing, down or not a VRF, exit 1 and change nothing, so that \
            a unit that requires vrf-exec-pin@VRF.service does not start. Units already running keep \
            what was attached to them at their start."
    )]
    Pin {
        /// The VRF.
        vrf: String,
        /// Remove the VRF's pins instead.
        #[arg(long)]
        remove: bool,
    },
}

/// The subcommand names: a first argument spelled like one goes to clap.
const SUBCOMMANDS: [&str; 10] = [
    "exec", "identify", "pids", "list", "sockets", "check", "unit", "attach", "pin", "help",
];

/// `vrf-exec VRF COMMAND [ARGS]…` without options, the launch that scripts repeat, read from `argv`
/// (program name first, as `std::env::args_os()` gives it), and `vrf-exec --strict VRF COMMAND…`,
/// without clap: building clap's parser is a large part of vrf-exec's own start-up. Anything else
/// (another option, or one after the VRF, a subcommand, a
/// missing COMMAND, arguments that are not UTF-8) is left to clap: `None`. What it accepts, clap reads
/// the same way (see the tests).
pub fn plain_launch(argv: impl IntoIterator<Item = OsString>) -> Option<RunArgs> {
    let mut args = argv.into_iter().skip(1).peekable();
    // `--strict`, once and first, is the one option read here: scripts that want the launch to fail
    // closed repeat it as often as the plain launch.
    let strict = args.next_if(|a| a == "--strict").is_some();
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
        require_vrf_resolv_conf: false,
        mode: ModeArg::Auto,
        verbose: false,
        strict,
        vrf: Some(vrf),
        command,
    })
}

/// The launch that command line `argv` (program name first) asks for, read as vrf-exec reads it; `None`
/// for a subcommand other than `exec`, or a command line vrf-exec would refuse.
pub fn launch_of(argv: Vec<OsString>) -> Option<RunArgs> {
    if let Some(args) = plain_launch(argv.clone()) {
        return Some(args);
    }
    match Cli::try_parse_from(argv).ok()? {
        Cli { sub: None, run } => Some(run),
        Cli {
            sub: Some(Sub::Exec(run)),
            ..
        } => Some(run),
        _ => None,
    }
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
        // `--strict`, once, first: the fast path's one option.
        (&[b"--strict", b"blue", b"true"], true),
        (&[b"--strict", b"default", b"true"], true),
        (&[b"--strict", b"blue", b"sh", b"-c", b"exit 7"], true),
        (&[b"--strict", b"blue", b"true", b"--strict"], true),
        (&[b"blue", b"env", b"--strict"], true),
        (&[b"--strict", b"--strict", b"blue", b"true"], false),
        (&[b"--strict", b"-v", b"blue", b"true"], false),
        (&[b"-v", b"--strict", b"blue", b"true"], false),
        (&[b"--strict", b"-u", b"nobody", b"blue", b"true"], false),
        (&[b"--strict=true", b"blue", b"true"], false),
        (&[b"--stric", b"blue", b"true"], false),
        (&[b"--Strict", b"blue", b"true"], false),
        (&[b"blue", b"--strict", b"true"], false),
        (&[b"--strict", b"--", b"blue", b"true"], false),
        (&[b"--strict", b"blue", b"--", b"true"], false),
        (&[b"--strict", b"exec", b"blue", b"true"], false),
        (&[b"--strict", b"list"], false),
        (&[b"--strict", b"blue"], false),
        (&[b"--strict"], false),
        (&[b"--strict", b"blue", b"-x"], false),
        (&[b"--strict", b"bl\xffe", b"true"], false),
        (&[b"exec", b"--strict", b"blue", b"true"], false),
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
            require_vrf_resolv_conf: false,
            mode: ModeArg::Auto,
            verbose: false,
            strict: false,
            vrf: Some("blue".into()),
            command: vec!["ls".into(), "-l".into()],
        };
        assert_eq!(cli.run, want);
        let cli = Cli::try_parse_from(argv(&[b"--mode", b"seccomp", b"blue", b"true"])).unwrap();
        assert_eq!(cli.run.mode, ModeArg::Seccomp);
        let launch = launch_of(argv(&[b"--mode=seccomp", b"red", b"sh"])).unwrap();
        assert_eq!(
            (launch.mode, launch.vrf.as_deref()),
            (ModeArg::Seccomp, Some("red"))
        );
        assert!(launch_of(argv(&[b"pids", b"blue"])).is_none());
        assert!(Cli::try_parse_from(argv(&[b"--mode", b"ebpf", b"blue", b"true"])).is_err());
        let cli = Cli::try_parse_from(argv(&[b"-v", b"--strict", b"blue", b"true"])).unwrap();
        assert!(cli.run.strict && cli.run.verbose, "{:?}", cli.run);
        let cli = Cli::try_parse_from(argv(&[b"exec", b"--strict", b"blue", b"true"])).unwrap();
        assert!(
            matches!(&cli.sub, Some(Sub::Exec(r)) if r.strict),
            "{:?}",
            cli.sub
        );
        let cli = Cli::try_parse_from(argv(&[b"exec", b"list", b"true"])).unwrap();
        assert!(
            matches!(&cli.sub, Some(Sub::Exec(r)) if r.vrf.as_deref() == Some("list")),
            "{:?}",
            cli.sub
        );
    }
}
