//! What the man pages say beyond the clap definitions: exit status, examples, files and see also, per
//! tool and per vrf-exec subcommand. The exit statuses are the code's (`vrf-exec/src/main.rs`,
//! `launch.rs`, `exec.rs`; vrf-ping's `main.rs` and `ping.rs`; vrf-curl-lite's `error::code`, whose
//! constants are used here), the examples the README's.
//!
//! A subcommand without an entry in [`Tool::subcommands`] still gets its page, from clap alone, with a
//! see-also line; `xtask` says on stderr that its examples are missing.

use vrf_curl_lite::error::code;

/// One binary and its pages.
#[derive(Debug)]
pub struct Tool {
    /// The binary's name, and the name of its page.
    pub name: &'static str,
    /// The manual section: 8 for what root runs (vrf-exec, as ip-vrf(8); vrf-ping, as ping(8)), 1 for
    /// the rest.
    pub section: &'static str,
    /// The clap command, as the binary builds it.
    pub command: fn() -> clap::Command,
    /// The main page's own sections.
    pub extra: Extra,
    /// The subcommands' pages' sections, by subcommand name.
    pub subcommands: &'static [(&'static str, Extra)],
}

/// The sections of a page that clap does not know.
#[derive(Debug, Clone, Copy)]
pub struct Extra {
    /// EXIT STATUS: a paragraph, then one entry per status.
    pub exit_intro: &'static str,
    pub exit_codes: &'static [(u8, &'static str)],
    /// EXAMPLES: a command line and what it does. The command is set as it is typed, unfilled: one
    /// longer than 72 columns goes on in a `\` continuation line (a test checks).
    pub examples: &'static [(&'static str, &'static str)],
    /// FILES: a path and what it is.
    pub files: &'static [(&'static str, &'static str)],
    /// SEE ALSO, after the tool's own pages: a page name and its section.
    pub see_also: &'static [(&'static str, &'static str)],
}

/// Where a VRF's name servers are, for every tool.
const VRF_RESOLV_CONF: (&str, &str) = (
    "/etc/vrf/VRF/resolv.conf",
    "The name servers of VRF (resolv.conf(5) format), reached through the VRF; the host's \
     /etc/resolv.conf when it does not exist.",
);

/// The sshd template the package ships.
const VRF_SSHD_TEMPLATE: (&str, &str) = (
    "/usr/lib/systemd/system/vrf-sshd@.service",
    "sshd in VRF %I, one instance per VRF (systemctl enable --now vrf-sshd@mgmt); it does not start \
     while the VRF is missing, down or not a VRF.",
);

/// The pin template the package ships.
const PIN_TEMPLATE: (&str, &str) = (
    "/usr/lib/systemd/system/vrf-exec-pin@.service",
    "Runs vrf-exec pin VRF before each start of a unit put into VRF with --via bpf-program.",
);

/// A usage error of a vrf-exec subcommand.
const EXEC_USAGE: (u8, &str) = (
    125,
    "A usage error (an unknown option, a missing argument).",
);

pub const TOOLS: &[Tool] = &[
    Tool {
        name: "vrf-exec",
        section: "8",
        command: vrf_exec::command,
        extra: Extra {
            exit_intro: "When the command runs, the exit status is the command's own: in the cgroup mode \
                vrf-exec has become the command; in the seccomp mode it exits as the command did (or dies \
                of the same signal), once the command and every process it left behind have ended. \
                Otherwise:",
            exit_codes: &[
                (
                    125,
                    "vrf-exec failed before running the command, which was not run: an unknown VRF, a device \
                     that is not a VRF, a VRF that is down, no privilege for the cgroup mode, no cgroup2, an \
                     unknown or refused user, a table without default routes under --strict, a usage error. \
                     vrf-exec never runs the command in another VRF instead.",
                ),
                (126, "COMMAND was found but could not be executed."),
                (127, "COMMAND was not found."),
            ],
            examples: &[
                (
                    "vrf-exec blue ping -c1 10.99.0.2",
                    "Runs ping in VRF blue: every socket it creates is bound to blue.",
                ),
                (
                    "vrf-exec --user nobody red curl http://10.99.0.2/",
                    "Runs curl in VRF red as nobody, who has no capability left and cannot leave the VRF.",
                ),
                (
                    "vrf-exec --strict blue ping -c1 10.99.0.2",
                    "Refuses the launch (exit 125) unless blue's table ends every lookup with a default \
                     route, for IPv4 and IPv6.",
                ),
                (
                    "ip route add vrf blue unreachable default metric 4278198272",
                    "Closes blue's IPv4 table as the kernel's VRF documentation does (ip -6 route add … for \
                     IPv6), so that nothing falls through to the main table.",
                ),
                (
                    "vrf-exec --mode seccomp blue python3 client.py",
                    "Runs a program in VRF blue as any user, without privilege: the seccomp mode.",
                ),
                (
                    "unshare -Ur vrf-exec red python3 client.py",
                    "The same inside a user namespace, as in a rootless container (auto picks the seccomp \
                     mode).",
                ),
                (
                    "systemd-run --scope vrf-exec --user alice blue ssh 10.99.0.2",
                    "Launches from a new root-owned scope: a --user launch from a cgroup that user may \
                     write is refused.",
                ),
                (
                    "vrf-exec identify $$",
                    "Prints the VRF the shell runs in (nothing when none).",
                ),
                ("vrf-exec pids blue", "Lists the processes in VRF blue."),
                (
                    "vrf-exec sockets blue",
                    "Lists the sockets in VRF blue with their processes, whoever bound them.",
                ),
                (
                    "vrf-exec list --json",
                    "Lists the VRFs with their table, state, devices and process count, as JSON.",
                ),
                (
                    "vrf-exec check blue",
                    "Checks every precondition of a launch into blue, and says how to fix what fails.",
                ),
                (
                    "systemctl enable --now vrf-sshd@mgmt",
                    "Runs sshd in VRF mgmt, from the template the package installs (see FILES).",
                ),
            ],
            files: &[
                VRF_RESOLV_CONF,
                VRF_SSHD_TEMPLATE,
                (
                    "/sys/fs/cgroup/CGROUP/vrf/VRF",
                    "The cgroup of VRF in the cgroup mode, below the caller's cgroup CGROUP (and a NETNS-ns \
                     level inside a named network namespace), as ip vrf exec lays it out: it holds the BPF \
                     program that binds each new socket to the VRF and the egress guard.",
                ),
            ],
            see_also: &[
                ("ip-vrf", "8"),
                ("ip-link", "8"),
                ("vrf-ping", "8"),
                ("vrf-curl-lite", "1"),
                ("systemd.exec", "5"),
                ("cgroups", "7"),
                ("seccomp", "2"),
            ],
        },
        subcommands: &[
            (
                "exec",
                Extra {
                    exit_intro: "As vrf-exec(8): the command's own exit status when it runs, otherwise:",
                    exit_codes: &[
                        (
                            125,
                            "vrf-exec failed before running the command, which was not run.",
                        ),
                        (126, "COMMAND was found but could not be executed."),
                        (127, "COMMAND was not found."),
                    ],
                    examples: &[
                        (
                            "vrf-exec exec list ping -c1 10.99.0.2",
                            "Runs ping in a VRF named list, which vrf-exec without exec would read as the \
                             list subcommand.",
                        ),
                        (
                            "vrf-exec exec --strict blue ping -c1 10.99.0.2",
                            "The same as vrf-exec --strict blue ping -c1 10.99.0.2.",
                        ),
                    ],
                    files: &[VRF_RESOLV_CONF],
                    see_also: &[("ip-vrf", "8")],
                },
            ),
            (
                "identify",
                Extra {
                    exit_intro: "",
                    exit_codes: &[
                        (
                            0,
                            "The VRF was printed, or nothing when the process runs in none.",
                        ),
                        (
                            1,
                            "The process could not be looked at (it does not exist, its /proc entry cannot \
                             be read).",
                        ),
                        EXEC_USAGE,
                    ],
                    examples: &[
                        ("vrf-exec identify $$", "Prints the VRF the shell runs in."),
                        (
                            "vrf-exec blue vrf-exec identify",
                            "Prints blue: a process identifies its own VRF.",
                        ),
                        (
                            "vrf-exec identify --json 1234",
                            "Prints {\"pid\":1234,\"vrf\":\"blue\",\"vrfs\":[\"blue\"],\"how\":\"cgroup\"}: \
                             how is cgroup, unit or seccomp for a process placed in the VRF, sockets for one \
                             found by its bound sockets (mixed is then true when they are in several VRFs); \
                             vrf is null for no VRF or several.",
                        ),
                    ],
                    files: &[(
                        "/proc/PID/cgroup",
                        "Where the cgroup mode's processes are found, as ip vrf identify finds them.",
                    )],
                    see_also: &[("ip-vrf", "8")],
                },
            ),
            (
                "pids",
                Extra {
                    exit_intro: "",
                    exit_codes: &[
                        (0, "The processes were listed (none is not an error)."),
                        (
                            1,
                            "VRF does not exist or is not a VRF, or the processes could not be read.",
                        ),
                        EXEC_USAGE,
                    ],
                    examples: &[
                        (
                            "vrf-exec pids blue",
                            "Lists the processes in VRF blue, launched in either mode (ip vrf pids sees only \
                             the cgroup mode's).",
                        ),
                        ("vrf-exec pids --json blue", "The same, as JSON."),
                        (
                            "vrf-exec pids --all blue",
                            "Also the processes that hold sockets bound to blue without having been \
                             launched into it (daemons that bind their own), found through their sockets.",
                        ),
                    ],
                    files: &[],
                    see_also: &[("ip-vrf", "8")],
                },
            ),
            (
                "list",
                Extra {
                    exit_intro: "",
                    exit_codes: &[
                        (
                            0,
                            "The VRFs were listed; a VRF whose table lets lookups fall through to the main \
                             table is named on stderr, with the fix.",
                        ),
                        (1, "The VRFs could not be read."),
                        EXEC_USAGE,
                    ],
                    examples: &[
                        (
                            "vrf-exec list",
                            "A table: VRF, routing table, state, process count, enslaved devices.",
                        ),
                        (
                            "vrf-exec list --json",
                            "The same as JSON, with \"open_tables\" per VRF ([] when its table is closed).",
                        ),
                    ],
                    files: &[],
                    see_also: &[("ip-vrf", "8")],
                },
            ),
            (
                "sockets",
                Extra {
                    exit_intro: "Warnings (an unbound listener that accepts from every VRF, a launched \
                        process's socket outside its VRF, a kind of socket the kernel cannot list) go to \
                        stderr after the table, and into each socket's \"warnings\" with --json; they \
                        do not change the exit status.",
                    exit_codes: &[
                        (0, "The sockets were listed (none is not an error)."),
                        (
                            1,
                            "VRF does not exist or is not a VRF, or the kernel's socket dumps failed.",
                        ),
                        EXEC_USAGE,
                    ],
                    examples: &[
                        (
                            "vrf-exec sockets",
                            "Every socket: VRF (default first, a * marking an unbound socket that \
                             accepts from every VRF), kind, state, local and peer address, the processes \
                             holding it, and how it got into its VRF (cgroup, unit, systemd, seccomp: its \
                             process was placed there; bound: by the process itself; accepted: by the \
                             kernel, for a connection an unbound listener accepted through the VRF).",
                        ),
                        (
                            "vrf-exec sockets -tl blue",
                            "The TCP listeners in VRF blue, and the unbound ones that accept from it too.",
                        ),
                        (
                            "vrf-exec sockets --json | jq '.[] | select(.vrf == \"default\")'",
                            "The sockets of the default VRF, as JSON.",
                        ),
                    ],
                    files: &[(
                        "/proc/net/icmp, /proc/net/icmp6",
                        "The ICMP datagram (ping) sockets, which sock_diag does not list; their binding \
                         is read from a duplicate of the owner's descriptor (pidfd_getfd, root).",
                    )],
                    see_also: &[("ss", "8"), ("ip-vrf", "8")],
                },
            ),
            (
                "check",
                Extra {
                    exit_intro: "check changes nothing: it may mount cgroup2 in a private mount namespace of \
                        its own to look, and loads a BPF program that it frees at once without attaching it.",
                    exit_codes: &[
                        (
                            0,
                            "Every check passed (a warning, such as an open table, still passes).",
                        ),
                        (1, "A check failed; its line says how to fix it."),
                        EXEC_USAGE,
                    ],
                    examples: &[
                        (
                            "vrf-exec check",
                            "Checks the host: the launch mode auto picks and why, VRF support, cgroup2, BPF.",
                        ),
                        ("vrf-exec check blue", "Also checks VRF blue and its table."),
                        (
                            "vrf-exec check --mode seccomp blue",
                            "Checks a launch in the seccomp mode, as an unprivileged user would make it.",
                        ),
                    ],
                    files: &[],
                    see_also: &[("ip-vrf", "8")],
                },
            ),
            (
                "unit",
                Extra {
                    exit_intro: "",
                    exit_codes: &[
                        (
                            0,
                            "The drop-in was written and systemd reloaded (with --remove: removed; with \
                             --dry-run: printed, nothing changed).",
                        ),
                        (
                            1,
                            "It failed, and the message says why: not a service, a way (--via) this \
                             systemd lacks, a drop-in that cannot be written.",
                        ),
                        EXEC_USAGE,
                    ],
                    examples: &[
                        (
                            "vrf-exec unit --dry-run mgmt ssh.service",
                            "Prints the drop-in that would put ssh.service into VRF mgmt.",
                        ),
                        (
                            "vrf-exec unit mgmt ssh.service && systemctl restart ssh.service",
                            "Puts ssh.service into VRF mgmt; it moves at its restart.",
                        ),
                        (
                            "vrf-exec unit --remove ssh.service && systemctl restart ssh.service",
                            "Takes it out of its VRF again.",
                        ),
                        (
                            "vrf-exec unit --via wrap mgmt ssh.service",
                            "Wraps the unit's commands in vrf-exec mgmt instead, for any systemd.",
                        ),
                    ],
                    files: &[
                        (
                            "/etc/systemd/system/UNIT.d/50-vrf-exec.conf",
                            "The drop-in (an administrator's 90-*.conf still overrides it).",
                        ),
                        PIN_TEMPLATE,
                        VRF_RESOLV_CONF,
                    ],
                    see_also: &[
                        ("systemd.unit", "5"),
                        ("systemd.service", "5"),
                        ("systemd.resource-control", "5"),
                        ("systemctl", "1"),
                    ],
                },
            ),
            (
                "attach",
                Extra {
                    exit_intro: "",
                    exit_codes: &[
                        (
                            0,
                            "The binder and the egress guard are attached (with --check: a socket made \
                             here is bound to VRF).",
                        ),
                        (
                            255,
                            "Any failure: VRF missing, down or not a VRF, not a service's cgroup, a socket \
                             not bound. systemd takes 255 from ExecCondition= as a failed start (1 to 254 \
                             would skip the unit quietly), so the service's own commands never run.",
                        ),
                        EXEC_USAGE,
                    ],
                    examples: &[(
                        "ExecCondition=+/usr/bin/vrf-exec attach mgmt",
                        "The line vrf-exec unit mgmt UNIT writes into the unit's drop-in: it runs first, \
                         as root, at every start.",
                    )],
                    files: &[],
                    see_also: &[("systemd.service", "5")],
                },
            ),
            (
                "pin",
                Extra {
                    exit_intro: "",
                    exit_codes: &[
                        (
                            0,
                            "The programs are pinned (with --remove: the pins are gone).",
                        ),
                        (
                            1,
                            "VRF is missing, down or not a VRF, or the programs could not be pinned; \
                             nothing was changed.",
                        ),
                        EXEC_USAGE,
                    ],
                    examples: &[
                        (
                            "systemctl start vrf-exec-pin@mgmt.service",
                            "What a unit put into mgmt with --via bpf-program requires before each start.",
                        ),
                        ("vrf-exec pin --remove mgmt", "Removes mgmt's pins."),
                    ],
                    files: &[
                        (
                            "/sys/fs/bpf/vrf-exec/VRF/sock_create",
                            "The pinned binder, for systemd's BPFProgram=sock_create:….",
                        ),
                        (
                            "/sys/fs/bpf/vrf-exec/VRF/egress",
                            "The pinned egress guard, for BPFProgram=egress:….",
                        ),
                        PIN_TEMPLATE,
                    ],
                    see_also: &[("systemd.resource-control", "5")],
                },
            ),
        ],
    },
    Tool {
        name: "vrf-ping",
        section: "8",
        command: vrf_ping::command,
        extra: Extra {
            exit_intro: "As iputils ping:",
            exit_codes: &[
                (
                    0,
                    "Replies arrived (with -w DEADLINE and -c COUNT: at least COUNT).",
                ),
                (1, "No reply arrived (with -w and -c: fewer than COUNT)."),
                (
                    2,
                    "Any other error: a usage error, an unknown or down VRF, a device not in the VRF, a name \
                     not found, no route, no permission.",
                ),
            ],
            examples: &[
                (
                    "vrf-ping -V blue 10.99.0.2",
                    "Pings 10.99.0.2 from VRF blue until Ctrl-C, which prints the statistics.",
                ),
                (
                    "vrf-ping -V blue -c 3 -i 0.2 -I 10.99.0.1 10.99.0.2",
                    "Three requests, 0.2 s apart, from the VRF's address 10.99.0.1.",
                ),
                (
                    "vrf-ping -V red -6 -c 3 -I veth-red fd00:99::2",
                    "IPv6, through veth-red, one device of VRF red.",
                ),
                (
                    "vrf-ping -V blue -c 1 -W 2 router.example",
                    "A name, resolved with VRF blue's own name servers.",
                ),
                (
                    "vrf-ping -V blue -f -c 10000 10.99.0.2",
                    "A flood of 10000 requests (root only).",
                ),
                (
                    "vrf-ping -c 3 192.0.2.1",
                    "Without -V: the default VRF, exactly as ping.",
                ),
                ("vrf-ping -I blue 10.99.0.2", "As ping -I blue: VRF blue."),
                (
                    "vrf-ping -I veth-red 10.99.0.2",
                    "A device of VRF red: VRF red, through that device.",
                ),
            ],
            files: &[
                VRF_RESOLV_CONF,
                (
                    "/proc/sys/net/ipv4/ping_group_range",
                    "The groups that may use ICMP datagram sockets, which need no privilege; the kernel's \
                     default, 1 0, allows nobody, and vrf-ping then uses a raw socket (root or \
                     CAP_NET_RAW).",
                ),
            ],
            see_also: &[
                ("ping", "8"),
                ("vrf-exec", "8"),
                ("vrf-curl-lite", "1"),
                ("ip-vrf", "8"),
                ("icmp", "7"),
            ],
        },
        subcommands: &[],
    },
    Tool {
        name: "vrf-curl-lite",
        section: "1",
        command: curl_command,
        extra: Extra {
            exit_intro: "curl's exit codes, those that apply:",
            exit_codes: &[
                (0, "Success."),
                (
                    code::UNSUPPORTED_PROTOCOL,
                    "Unsupported protocol (not http or https).",
                ),
                (code::BAD_OPTION, "A usage error, or a bad option value."),
                (code::URL_MALFORMED, "Malformed URL."),
                (
                    code::COULDNT_RESOLVE_HOST,
                    "The name could not be resolved in the VRF.",
                ),
                (code::COULDNT_CONNECT, "Could not connect, inside the VRF."),
                (
                    code::WEIRD_SERVER_REPLY,
                    "The server's reply could not be parsed.",
                ),
                (code::HTTP2, "An HTTP/2 protocol error."),
                (
                    code::PARTIAL_FILE,
                    "The body ended before its announced end.",
                ),
                (
                    code::HTTP_RETURNED_ERROR,
                    "With -f: the server answered with status 400 or above.",
                ),
                (code::WRITE_ERROR, "The output could not be written."),
                (
                    code::READ_ERROR,
                    "A file to send (-d @FILE, -w @FILE) could not be read.",
                ),
                (
                    code::OPERATION_TIMEDOUT,
                    "Timed out (-m, --connect-timeout).",
                ),
                (code::SSL_CONNECT_ERROR, "The TLS handshake failed."),
                (
                    code::INTERFACE_FAILED,
                    "The VRF or the --interface address cannot be used: missing, not a VRF, down, or an \
                     address not in the VRF.",
                ),
                (
                    code::TOO_MANY_REDIRECTS,
                    "More redirects than --max-redirs.",
                ),
                (code::SETOPT_OPTION_SYNTAX, "A malformed --resolve entry."),
                (
                    code::GOT_NOTHING,
                    "The server closed the connection without a reply.",
                ),
                (
                    code::RECV_ERROR,
                    "Receiving failed, or the response head was too large.",
                ),
                (
                    code::PEER_FAILED_VERIFICATION,
                    "The server's certificate is not trusted.",
                ),
                (
                    code::SSL_CACERT_BADFILE,
                    "The --cacert file cannot be used.",
                ),
            ],
            examples: &[
                (
                    "vrf-curl-lite --vrf blue https://www.example.com/",
                    "Resolves the name and connects inside VRF blue.",
                ),
                (
                    "vrf-curl-lite --vrf blue -fsSL -o image.iso http://mirror.lab/image.iso",
                    "Downloads to image.iso, following redirects, failing on HTTP errors, quietly but for \
                     errors.",
                ),
                (
                    "vrf-curl-lite --vrf red --interface 10.99.0.1 \\\n    -w '%{http_code} %{time_total}\\n' -o /dev/null http://10.99.0.2/",
                    "From VRF red's address 10.99.0.1; prints the status and the time taken.",
                ),
                (
                    "vrf-curl-lite --vrf mgmt -v -X PUT -H 'Content-Type: application/json' \\\n    -d @body.json https://api.lab/v1/x",
                    "A PUT of body.json in VRF mgmt, showing the headers sent and received.",
                ),
                (
                    "vrf-curl-lite --vrf blue --cacert lab-ca.pem \\\n    --resolve www.lab:443:10.99.0.2 https://www.lab/",
                    "HTTPS to a name pinned to an address, trusting the lab's CA.",
                ),
            ],
            files: &[
                VRF_RESOLV_CONF,
                (
                    "/etc/ssl/certs/ca-certificates.crt",
                    "The system's root certificates (Debian's ca-certificates), trusted unless --cacert or \
                     -k is given.",
                ),
            ],
            see_also: &[
                ("curl", "1"),
                ("vrf-exec", "8"),
                ("vrf-ping", "8"),
                ("ip-vrf", "8"),
            ],
        },
        subcommands: &[],
    },
];

/// vrf-curl-lite's command: its library's `cli::Cli`, which its binary parses with.
fn curl_command() -> clap::Command {
    <vrf_curl_lite::cli::Cli as clap::CommandFactory>::command()
}
