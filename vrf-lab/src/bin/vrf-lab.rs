//! `vrf-lab`: bring up the kernel lab (natively or in a VM) and show or use the two-VRF topology.

use std::process::{Command, ExitCode};

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use vrf_lab::topology::netns_cmd;
use vrf_lab::{PEER_V4, PEER_V6, Topology, cmd, lab};

/// The namespace that holds the demo's VRFs `blue` and `red`.
const DEMO_NS: &str = "vrf-demo";

#[derive(Parser, Debug)]
#[command(
    version,
    about = "The vrf-toolkit kernel lab: real VRFs on any machine",
    long_about = "The vrf-toolkit kernel lab: real VRFs on any machine.\n\n\
        Runs natively when this kernel supports VRF and you are root; otherwise boots Debian's stock kernel \
        under qemu with virtme-ng (the host's files, read-only) and runs there. Either way it builds the lab \
        topology: namespace `vrf-demo` with VRFs `blue` (table 10) and `red` (table 20), both using \
        10.99.0.1/24 and fd00:99::1/64, each reaching its own peer namespace at 10.99.0.2 / fd00:99::2.",
    after_help = "Environment: VRF_LAB=auto|native|vm, VRF_LAB_KERNEL, VRF_LAB_KVM=auto|1|0, VRF_LAB_MEM, \
        VRF_LAB_CPUS, VRF_LAB_TIMEOUT, VRF_LAB_VERBOSE=1.\n\n\
        Examples:\n  vrf-lab demo\n  vrf-lab run -- ip vrf exec blue ping -c1 10.99.0.2"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show two VRFs isolating the same address: each reaches its own peer, the default VRF neither.
    Demo,
    /// Run COMMAND inside namespace `vrf-demo` with the lab topology up; exits with its status.
    Run {
        /// The command and its arguments (put `--` before it).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("vrf-lab: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> Result<i32> {
    if let Some(code) = lab::enter()? {
        return Ok(code);
    }
    let topo = Topology::named(DEMO_NS)?;
    match cli.command {
        Cmd::Demo => demo(&topo),
        Cmd::Run { command } => {
            let mut c = netns_cmd(DEMO_NS, &command[0], &command[1..]);
            Ok(c.status()?.code().unwrap_or(1))
        }
    }
}

/// Runs `args` in the demo namespace, echoing the command line and its output, and returns its exit code.
fn show(args: &[&str]) -> Result<i32> {
    show_as(args, args[0])
}

/// Like [`show`], printing the program as `shown`.
fn show_as(args: &[&str], shown: &str) -> Result<i32> {
    println!(
        "\n$ ip netns exec {DEMO_NS} {shown} {}",
        args[1..]
            .iter()
            .map(cmd::shell_quote)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let r = cmd::run(&mut netns_cmd(DEMO_NS, args[0], &args[1..]))?;
    print!("{}{}", r.stdout, r.stderr);
    Ok(r.code.unwrap_or(-1))
}

fn demo(topo: &Topology) -> Result<i32> {
    let kernel = cmd::run(Command::new("uname").arg("-r"))?.stdout;
    println!("vrf-lab demo on kernel {}", kernel.trim());
    println!(
        "VRFs blue (table {}) and red (table {}) both own 10.99.0.1 and fd00:99::1; the peer behind blue \
         answers with TTL {}, the one behind red with TTL {}.",
        topo.blue.table, topo.red.table, topo.blue.peer_ttl, topo.red.peer_ttl
    );
    show(&["ip", "-br", "link", "show", "type", "vrf"])?;
    show(&["ip", "-br", "addr", "show", "vrf", "blue"])?;
    show(&["ip", "-br", "addr", "show", "vrf", "red"])?;
    let mut wrong = Vec::new();
    for s in topo.sites() {
        for dst in [PEER_V4, PEER_V6] {
            let code = show(&[
                "ip", "vrf", "exec", &s.vrf, "ping", "-c", "1", "-W", "2", dst,
            ])?;
            if code != 0 {
                wrong.push(format!("{} could not reach {dst}", s.vrf));
            }
        }
    }
    let vx = vrf_lab::tool("vrf-exec")?;
    let vx = vx.to_str().unwrap_or("vrf-exec");
    println!("\nvrf-exec runs unmodified programs inside a VRF (shown here as `vrf-exec`):");
    for s in topo.sites() {
        let code = show_as(
            &[vx, &s.vrf, "ping", "-c", "1", "-W", "2", PEER_V4],
            "vrf-exec",
        )?;
        if code != 0 {
            wrong.push(format!("vrf-exec {} ping failed", s.vrf));
        }
    }
    show_as(&[vx, "blue", "ip", "vrf", "identify"], "vrf-exec")?;
    show_as(&[vx, "list"], "vrf-exec")?;
    let vp = vrf_lab::tool("vrf-ping")?;
    let vp = vp.to_str().unwrap_or("vrf-ping");
    println!(
        "\nvrf-ping needs no launcher: its sockets are bound to the VRF, with a source address of it:"
    );
    for s in topo.sites() {
        let args = [
            vp,
            "-V",
            &s.vrf,
            "-c",
            "1",
            "-W",
            "2",
            "-I",
            "10.99.0.1",
            PEER_V4,
        ];
        if show_as(&args, "vrf-ping")? != 0 {
            wrong.push(format!("vrf-ping -V {} failed", s.vrf));
        }
    }
    // A web server in each peer, both at 10.99.0.2:80, each answering with its own name.
    let _web = [
        vrf_lab::http::http_server(&topo.blue.peer_ns, "[::]:80".parse()?, "blue", None)?,
        vrf_lab::http::http_server(&topo.red.peer_ns, "[::]:80".parse()?, "red", None)?,
    ];
    let vc = vrf_lab::tool("vrf-curl-lite")?;
    let vc = vc.to_str().unwrap_or("vrf-curl-lite");
    println!(
        "\nvrf-curl-lite fetches http://10.99.0.2/ in each VRF: two web servers, one address, each answers with its name:"
    );
    for s in topo.sites() {
        let args = [
            vc,
            "--vrf",
            &s.vrf,
            "-sS",
            "-w",
            "  (HTTP %{http_code} from %{remote_ip}, VRF %{vrf})\\n",
            "http://10.99.0.2/",
        ];
        if show_as(&args, "vrf-curl-lite")? != 0 {
            wrong.push(format!("vrf-curl-lite --vrf {} failed", s.vrf));
        }
    }
    // The socket inventory: a server launched into blue, vrf-ping binding its own socket in red, and an
    // unbound listener that tcp_l3mdev_accept=1 opens to every VRF.
    println!(
        "\nvrf-exec sockets lists every socket with its VRF and process: a server launched into blue, \
         vrf-ping running in red, and an unbound listener that net.ipv4.tcp_l3mdev_accept=1 opens to every VRF:"
    );
    cmd::run(&mut netns_cmd(
        DEMO_NS,
        "sysctl",
        &["-qw", "net.ipv4.tcp_l3mdev_accept=1"],
    ))?
    .ok()?;
    let listen = |port: u16| {
        format!(
            "import socket, time\ns = socket.socket()\ns.bind(('0.0.0.0', {port}))\ns.listen()\n\
             print('ready', flush=True)\ntime.sleep(60)\n"
        )
    };
    let mut background = Background(Vec::new());
    background.ready(netns_cmd(
        DEMO_NS,
        vx,
        &["blue", "python3", "-c", &listen(8080)],
    ))?;
    background.ready(netns_cmd(DEMO_NS, "python3", &["-c", &listen(2222)]))?;
    background.spawn(netns_cmd(
        DEMO_NS,
        vp,
        &["-V", "red", "-q", "-c", "30", "-i", "0.2", PEER_V4],
    ))?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    if show_as(&[vx, "sockets"], "vrf-exec")? != 0 {
        wrong.push("vrf-exec sockets failed".into());
    }
    drop(background);
    cmd::run(&mut netns_cmd(
        DEMO_NS,
        "sysctl",
        &["-qw", "net.ipv4.tcp_l3mdev_accept=0"],
    ))?
    .ok()?;
    println!("\nThe default VRF has no route to 10.99.0.0/24: ping must fail.");
    if show(&["ping", "-c", "1", "-W", "1", PEER_V4])? == 0 {
        wrong.push("the default VRF reached a VRF peer".into());
    }
    if !wrong.is_empty() {
        bail!("the demo did not behave as expected: {}", wrong.join("; "));
    }
    println!(
        "\nOK: same address, two VRFs, two different hosts answered (ping and HTTP); the default VRF reached \
         neither."
    );
    Ok(0)
}

/// Programs the demo runs in the background, killed when it is dropped.
struct Background(Vec<std::process::Child>);

impl Background {
    /// Starts `cmd`, output discarded.
    fn spawn(&mut self, mut cmd: Command) -> Result<()> {
        use std::process::Stdio;
        self.0
            .push(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?);
        Ok(())
    }

    /// Starts `cmd` and waits until it prints a line (`ready`).
    fn ready(&mut self, mut cmd: Command) -> Result<()> {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let out = child.stdout.take();
        self.0.push(child);
        let mut line = String::new();
        if let Some(out) = out {
            std::io::BufReader::new(out).read_line(&mut line)?;
        }
        if line.trim() != "ready" {
            bail!("{cmd:?} did not start");
        }
        Ok(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
