//! Thousands of VRFs in one namespace (FRR users report trouble at ~4,200, and netlink `ENOBUFS` with
//! 5,000 devices): every query, a launch, the library's lookups and a pktinfo server keep working.
//! `VRF_LAB_SCALE_VRFS` sets how many, each with an enslaved dummy and a closed table
//! (`vrf_lab::scale`). The default, 1,000, keeps the suite short under qemu's TCG, where making 4,000
//! VRFs takes over 3 minutes; `VRF_LAB_SCALE_VRFS=4000` runs the full count (and
//! `scripts/bench.sh scale` measures 4,000).

use std::net::UdpSocket;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use vrf_lab::cmd::{self, Run};
use vrf_lab::{ROUTER_V4, Topology, netns, scale};
use vrf_socket::{Vrf, VrfMap, VrfSnapshot, pktinfo};

vrf_lab::lab_tests! {
    #[timeout(900)]
    thousands_of_vrfs,
}

fn vrf_exec(t: &Topology, args: &[&str]) -> Result<Run> {
    let exe = vrf_lab::tool("vrf-exec")?;
    cmd::run(&mut t.router_cmd(exe.to_str().unwrap(), args))
}

fn thousands_of_vrfs() -> Result<()> {
    let n: usize = match std::env::var("VRF_LAB_SCALE_VRFS") {
        Ok(v) => v.parse().context("VRF_LAB_SCALE_VRFS")?,
        Err(_) => 1000,
    };
    ensure!(n >= 2, "VRF_LAB_SCALE_VRFS must be at least 2");
    let t = Topology::new()?;
    let started = Instant::now();
    netns::run_in(&t.router_ns, move || scale::add_vrfs(0, n))?;
    eprintln!(
        "scale: {n} VRFs made in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (last, mid) = (scale::vrf_name(n - 1), scale::vrf_name(n / 2));
    let total = n + 2; // blue and red

    // list, plain and JSON: every VRF, with its port, and no warning (every table is closed).
    let at = Instant::now();
    let list = vrf_exec(&t, &["list"])?.ok()?;
    eprintln!(
        "scale: vrf-exec list took {:.2} s",
        at.elapsed().as_secs_f64()
    );
    ensure!(
        list.stdout.lines().count() == total + 1,
        "list: {} lines for {total} VRFs",
        list.stdout.lines().count()
    );
    ensure!(list.stderr.is_empty(), "list warned: {}", list.stderr);
    let row = list
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(last.as_str()))
        .context("the last VRF is not listed")?;
    ensure!(row.ends_with(&scale::port_name(n - 1)), "{row}");
    let json = vrf_exec(&t, &["list", "--json"])?.ok()?;
    let v: Value = serde_json::from_str(&json.stdout).context("list --json")?;
    let vrfs = v.as_array().context("list --json: not an array")?;
    ensure!(vrfs.len() == total, "list --json: {} VRFs", vrfs.len());
    ensure!(
        vrfs.iter()
            .filter(|v| v["name"].as_str().is_some_and(|n| n.starts_with('s')))
            .all(|v| v["slaves"].as_array().is_some_and(|s| s.len() == 1)
                && v["open_tables"] == serde_json::json!([])),
        "a VRF without its port or with an open table"
    );

    // Dumps under change: while devices come and go, the kernel marks link dumps interrupted
    // (NLM_F_DUMP_INTR) and the library starts them again; every listing must still be whole.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (ns, stop) = (t.router_ns.clone(), stop.clone());
        std::thread::spawn(move || -> Result<usize> {
            netns::enter(&ns)?;
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let add: Vec<String> = (0..50)
                    .map(|i| format!("link add churn{i} type dummy"))
                    .collect();
                let del: Vec<String> = (0..50).map(|i| format!("link del churn{i}")).collect();
                vrf_lab::topology::ip_batch(None, &add)?.ok()?;
                vrf_lab::topology::ip_batch(None, &del)?.ok()?;
                rounds += 1;
            }
            Ok(rounds)
        })
    };
    let listings = (|| -> Result<()> {
        for _ in 0..3 {
            let json = vrf_exec(&t, &["list", "--json"])?.ok()?;
            let v: Value = serde_json::from_str(&json.stdout).context("list --json under churn")?;
            let got = v.as_array().map_or(0, Vec::len);
            ensure!(
                got == total,
                "list --json under churn: {got} VRFs of {total}"
            );
        }
        Ok(())
    })();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = churn
        .join()
        .map_err(|_| anyhow::anyhow!("the churn thread panicked"))??;
    listings?;
    eprintln!(
        "scale: 3 listings whole while devices were added and deleted ({rounds} rounds of 50)"
    );

    // A launch into the last VRF: identify and pids see it.
    let exe = vrf_lab::tool("vrf-exec")?;
    let mut child = t
        .router_cmd(
            exe.to_str().unwrap(),
            &[last.as_str(), "sh", "-c", "echo ready; exec sleep 120"],
        )
        .stdout(Stdio::piped())
        .spawn()?;
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().context("stdout")?),
        &mut ready,
    )?;
    let pid = child.id().to_string();
    let checks = (|| -> Result<()> {
        ensure!(ready.trim() == "ready", "the launch said {ready:?}");
        let id = vrf_exec(&t, &["identify", &pid])?.ok()?;
        ensure!(id.stdout.trim() == last, "{}", id.describe("identify"));
        let pids = vrf_exec(&t, &["pids", &last])?.ok()?;
        ensure!(
            pids.stdout.split_whitespace().any(|w| w == pid),
            "{}",
            pids.describe("pids")
        );
        Ok(())
    })();
    let _ = (child.kill(), child.wait());
    checks?;

    // sockets: a listener bound by itself to the middle VRF's port is listed under that VRF.
    let py = format!(
        "import socket, time\ns = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'{}')\n\
         s.bind(('0.0.0.0', 7201)); s.listen()\nprint('ready', flush=True)\ntime.sleep(120)\n",
        scale::port_name(n / 2)
    );
    let mut listener = t
        .router_cmd("python3", &["-c", &py])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(listener.stdout.take().context("stdout")?),
        &mut ready,
    )?;
    let lpid = listener.id();
    let checks = (|| -> Result<()> {
        let at = Instant::now();
        let r = vrf_exec(&t, &["sockets", "--json", &mid])?.ok()?;
        eprintln!(
            "scale: vrf-exec sockets VRF took {:.2} s",
            at.elapsed().as_secs_f64()
        );
        let v: Value = serde_json::from_str(&r.stdout).context("sockets --json")?;
        let s = v
            .as_array()
            .and_then(|a| {
                a.iter().find(|s| {
                    s["processes"]
                        .as_array()
                        .is_some_and(|p| p.iter().any(|p| p["pid"] == lpid))
                })
            })
            .with_context(|| format!("the listener is not among {mid}'s sockets: {v}"))?;
        ensure!(
            s["vrf"] == mid.as_str()
                && s["device"] == scale::port_name(n / 2).as_str()
                && s["via"] == "bound",
            "{s}"
        );
        let id = vrf_exec(&t, &["identify", &lpid.to_string()])?.ok()?;
        ensure!(id.stdout.trim() == mid, "{}", id.describe("identify"));
        Ok(())
    })();
    let _ = (listener.kill(), listener.wait());
    checks?;

    // The library: a snapshot, lookups by name, VrfMap over many ports.
    let (last2, n2) = (last.clone(), n);
    netns::run_in(&t.router_ns, move || {
        let snap = VrfSnapshot::take()?;
        ensure!(
            snap.vrfs().len() == n2 + 2,
            "snapshot: {}",
            snap.vrfs().len()
        );
        let v = Vrf::by_name(&last2)?;
        ensure!(v.table() == scale::table(n2 - 1)?);
        let mut map = VrfMap::default();
        for i in (0..n2).step_by((n2 / 200).max(1)) {
            let port = snap
                .vrf_named(&scale::vrf_name(i))
                .map(|v| snap.slaves(v)[0].index)
                .context("port")?;
            let got = map.vrf_of(port)?.map(|v| v.name().to_string());
            ensure!(
                got == Some(scale::vrf_name(i)),
                "VrfMap: {got:?} for VRF {i}'s port"
            );
        }
        Ok(())
    })?;

    // A pktinfo server (one unbound socket, udp_l3mdev_accept=1) tells blue's datagram by its VRF.
    t.router_sysctl("net.ipv4.udp_l3mdev_accept", "1")?;
    let ns = t.router_ns.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || -> Result<String> {
        netns::enter(&ns)?;
        let u = UdpSocket::bind("0.0.0.0:7202")?;
        pktinfo::enable(&u)?;
        u.set_read_timeout(Some(Duration::from_secs(20)))?;
        tx.send(())?;
        let mut buf = [0u8; 64];
        let meta = pktinfo::recv(&u, &mut buf)?;
        let vrf = VrfMap::default()
            .vrf_of(meta.ifindex)?
            .map_or("default".to_string(), |v| v.name().to_string());
        pktinfo::send(&u, &meta.reply(vrf.as_bytes()))?;
        Ok(vrf)
    });
    rx.recv_timeout(Duration::from_secs(20))
        .context("the pktinfo server did not start")?;
    let ask = format!(
        "import socket\nu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nu.settimeout(20)\n\
         u.sendto(b'which', ('{ROUTER_V4}', 7202))\nprint(u.recv(64).decode())\n"
    );
    let answer = cmd::run(&mut t.peer_cmd(&t.blue, "python3", &["-c", &ask]))?.ok()?;
    let seen = server
        .join()
        .map_err(|_| anyhow::anyhow!("pktinfo server panicked"))??;
    ensure!(
        seen == t.blue.vrf && answer.stdout.trim() == t.blue.vrf,
        "pktinfo: the server saw {seen:?}, the peer got {:?}",
        answer.stdout
    );
    Ok(())
}
