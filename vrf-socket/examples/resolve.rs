//! Resolve names (or addresses) inside a VRF, the way `getent ahosts` would if it knew about VRFs.
//!
//! ```text
//! resolve VRF NAME|ADDRESS… [--conf PATH] [--hosts PATH] [--timeout-ms N]
//! ```
//!
//! The queries leave through the VRF, to the name servers of `/etc/vrf/VRF/resolv.conf` (else
//! `/etc/resolv.conf`, or `--conf`). Prints which file was used, the lines of it that were skipped, the
//! servers that cannot be used from the VRF, and then one line per argument: a name's addresses, or an
//! address's names. Exit status 0 when every argument resolved, 1 otherwise, 2 for usage errors.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use vrf_socket::Vrf;
use vrf_socket::dns::ResolverOptions;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut opts = ResolverOptions::default();
    let mut positional = Vec::new();
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{a} needs {what}"));
        let r = match a.as_str() {
            "--conf" => value("a path").map(|p| opts = opts.clone().resolv_conf(p)),
            "--hosts" => value("a path").map(|p| opts = opts.clone().hosts(p)),
            "--timeout-ms" => value("a number").and_then(|n| {
                n.parse()
                    .map(|ms| opts = opts.clone().timeout(Duration::from_millis(ms)))
                    .map_err(|_| format!("--timeout-ms {n:?} is not a number"))
            }),
            "-h" | "--help" => {
                println!(
                    "usage: resolve VRF NAME|ADDRESS… [--conf PATH] [--hosts PATH] [--timeout-ms N]"
                );
                return ExitCode::SUCCESS;
            }
            _ => {
                positional.push(a.clone());
                Ok(())
            }
        };
        if let Err(e) = r {
            eprintln!("resolve: {e}");
            return ExitCode::from(2);
        }
    }
    if positional.len() < 2 {
        eprintln!("usage: resolve VRF NAME|ADDRESS… [--conf PATH] [--hosts PATH] [--timeout-ms N]");
        return ExitCode::from(2);
    }
    let resolver = match Vrf::by_name(&positional[0])
        .map_err(std::io::Error::from)
        .and_then(|vrf| vrf.resolver_with(&opts))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("resolve: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("# {}", resolver.conf_path().display());
    for w in &resolver.conf().warnings {
        eprintln!("# warning: {w}");
    }
    for s in resolver.skipped() {
        eprintln!("# not used: {s}");
    }
    let mut ok = true;
    for q in &positional[1..] {
        let line = match q.parse::<IpAddr>() {
            Ok(ip) => resolver
                .lookup_addr_blocking(ip)
                .map(|names| names.join(" ")),
            Err(_) => resolver.lookup_ip_blocking(q).map(|ips| {
                ips.iter()
                    .map(|ip| ip.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        };
        match line {
            Ok(l) => println!("{q} {l}"),
            Err(e) => {
                eprintln!("resolve: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
