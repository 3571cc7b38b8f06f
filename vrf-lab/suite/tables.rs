//! A VRF's routing table must end every lookup. The kernel consults it through the l3mdev rule; when it
//! has no route for a destination, the lookup goes on with the next rules, `main` among them, and a
//! socket bound to the VRF reaches what the default VRF routes to. The topology closes each table with
//! an `unreachable default` route; these tests take it away to show the leak, and check that
//! `Vrf::missing_default_routes` tells the two cases apart.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vrf_lab::topology::{OUTSIDE_V4, OUTSIDE_V6};
use vrf_lab::{Topology, netns};
use vrf_socket::{AddressFamily, Vrf};

vrf_lab::lab_tests! {
    open_table_leaks_to_the_default_vrf_v4 = || open_table_leaks(AddressFamily::Ipv4),
    open_table_leaks_to_the_default_vrf_v6 = || open_table_leaks(AddressFamily::Ipv6),
}

const PORT: u16 = 7733;
/// How long the outside host waits for a leaked datagram.
const WAIT: Duration = Duration::from_secs(2);

/// Sends one datagram from a socket bound to VRF `vrf` (in the router namespace) to the outside host,
/// and says whether the outside host received it; the send's own error, if any, comes back too.
fn leaks(
    t: &Topology,
    sink: &UdpSocket,
    vrf: &str,
    to: SocketAddr,
) -> Result<(bool, Option<io::Error>)> {
    let vrf = vrf.to_string();
    let sent = netns::run_in(&t.router_ns, move || {
        let any = SocketAddr::new(AddressFamily::of(to.ip()).unspecified(), 0);
        let s = Vrf::by_name(&vrf)?.udp_bind(any)?;
        Ok(s.send_to(b"leak?", to).err())
    })?;
    let mut buf = [0u8; 16];
    let arrived = match sink.recv_from(&mut buf) {
        Ok((n, _)) => &buf[..n] == b"leak?",
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(e) => return Err(e).context("outside host receiving"),
    };
    Ok((arrived, sent))
}

fn open_table_leaks(family: AddressFamily) -> Result<()> {
    let t = Topology::new()?;
    let outside = t.outside()?;
    let out_ip = match family {
        AddressFamily::Ipv4 => OUTSIDE_V4,
        AddressFamily::Ipv6 => OUTSIDE_V6,
    };
    let to = SocketAddr::new(out_ip.parse()?, PORT);
    let any = SocketAddr::new(family.unspecified(), PORT);
    let sink = netns::run_in(&outside.ns, move || Ok(UdpSocket::bind(any)?))?;
    sink.set_read_timeout(Some(WAIT))?;
    let blue = t.blue.vrf.clone();
    let missing = |t: &Topology| -> Result<Vec<AddressFamily>> {
        let blue = blue.clone();
        netns::run_in(&t.router_ns, move || {
            Ok(Vrf::by_name(&blue)?.missing_default_routes()?)
        })
    };

    // Closed, as the topology makes it: the send fails at once (an unreachable route answers
    // EHOSTUNREACH) and nothing arrives outside.
    ensure!(
        missing(&t)?.is_empty(),
        "the topology's VRF tables are not closed"
    );
    let (arrived, error) = leaks(&t, &sink, &t.blue.vrf, to)?;
    ensure!(
        !arrived && error.as_ref().and_then(io::Error::raw_os_error) == Some(libc::EHOSTUNREACH),
        "with an unreachable default in VRF {}: arrived outside {arrived}, send error {error:?} (want \
         EHOSTUNREACH, the error of an unreachable route)",
        t.blue.vrf
    );

    // Open: without its default route the VRF's lookup falls through to the main table.
    let fam = if family.is_ipv6() { "-6" } else { "-4" };
    let closing = [
        "unreachable",
        "default",
        "metric",
        vrf_lab::topology::CLOSING_METRIC,
    ];
    let del = [
        &[fam, "route", "del", "vrf", t.blue.vrf.as_str()][..],
        &closing[..],
    ]
    .concat();
    t.router_run("ip", &del)?.ok()?;
    ensure!(
        missing(&t)? == [family],
        "VRF {} without its {family} default route: missing_default_routes says {:?}",
        t.blue.vrf,
        missing(&t)?
    );
    let (arrived, error) = leaks(&t, &sink, &t.blue.vrf, to)?;
    ensure!(
        arrived && error.is_none(),
        "expected the datagram from VRF {} to leak to the default VRF's neighbour {to} once the table is \
         open (arrived {arrived}, send error {error:?})",
        t.blue.vrf
    );

    // The fix the library names closes it again.
    let blue = t.blue.vrf.clone();
    let fix = netns::run_in(&t.router_ns, move || {
        Ok(Vrf::by_name(&blue)?.default_route_fix(family))
    })?;
    let words: Vec<&str> = fix.split_whitespace().collect();
    ensure!(words[0] == "ip", "{fix}");
    t.router_run(words[0], &words[1..])?.ok()?;
    ensure!(missing(&t)?.is_empty(), "`{fix}` did not close the table");
    let (arrived, _) = leaks(&t, &sink, &t.blue.vrf, to)?;
    ensure!(!arrived, "still leaking after `{fix}`");
    Ok(())
}
