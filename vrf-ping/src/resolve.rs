//! Names: inside a VRF through vrf-socket's DNS API (the VRF's own name servers), in the default VRF
//! through glibc (`getaddrinfo`/`getnameinfo`, as iputils ping resolves).

use std::net::IpAddr;

use anyhow::{Result, anyhow};
use vrf_socket::{AddressFamily, Vrf};

use crate::sys;

/// A destination's addresses, best first, and the name to show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Never empty.
    pub addrs: Vec<IpAddr>,
    /// The canonical name glibc reported (`AI_CANONNAME`), which iputils shows for IPv4 targets.
    pub canonical: Option<String>,
}

/// `destination` as addresses to try, best first: an IP literal as it is; in a VRF, a name looked up
/// with the VRF's name servers (`/etc/vrf/VRF/resolv.conf`, else `/etc/resolv.conf`) over sockets bound
/// to the VRF, in the order glibc's `getaddrinfo` gives by default (RFC 3484's precedence: IPv6 before
/// IPv4); in the default VRF (`vrf` is `None`), whatever glibc's `getaddrinfo` says, as for iputils.
/// Only addresses of `family` when one is asked for.
///
/// Errors read like iputils' (`NAME: Address family for hostname not supported`), prefixed by the
/// caller with `vrf-ping: `.
pub fn resolve(
    vrf: Option<&Vrf>,
    destination: &str,
    family: Option<AddressFamily>,
) -> Result<Resolved> {
    if let Ok(addr) = destination.parse::<IpAddr>() {
        return match family {
            Some(f) if f != AddressFamily::of(addr) => Err(anyhow!(
                "{destination}: Address family for hostname not supported"
            )),
            _ => Ok(Resolved {
                addrs: vec![addr],
                canonical: None,
            }),
        };
    }
    let Some(vrf) = vrf else {
        let (addrs, canonical) =
            sys::getaddrinfo(destination, family).map_err(|why| anyhow!("{destination}: {why}"))?;
        return Ok(Resolved { addrs, canonical });
    };
    let mut found = lookup(vrf, destination)?;
    found.sort_by_key(|a| std::cmp::Reverse(precedence(*a)));
    found.retain(|a| family.is_none_or(|f| f == AddressFamily::of(*a)));
    if found.is_empty() {
        return Err(match family {
            Some(_) => anyhow!("{destination}: Address family for hostname not supported"),
            None => anyhow!("{destination}: No address associated with hostname"),
        });
    }
    Ok(Resolved {
        addrs: found,
        canonical: None,
    })
}

/// The precedence of `addr` in glibc's default policy table (RFC 3484's, used when /etc/gai.conf says
/// nothing): loopback, then IPv6, then 6to4, then IPv4-compatible, then IPv4.
fn precedence(addr: IpAddr) -> u8 {
    let v6 = match addr {
        IpAddr::V4(_) => return 10,
        IpAddr::V6(a) => a,
    };
    let s = v6.segments();
    if v6.is_loopback() {
        50
    } else if s[0] == 0x2002 {
        30
    } else if s[..6] == [0; 6] {
        20
    } else {
        40
    }
}

/// The reverse lookup behind reply lines (`name (address)`): asked through the VRF (hosts file first,
/// then PTR), or glibc's `getnameinfo` in the default VRF. `None` when nothing is found, and reply
/// lines show the address alone, as iputils does.
pub fn reverse(vrf: Option<&Vrf>, addr: IpAddr) -> Option<String> {
    let Some(vrf) = vrf else {
        return sys::getnameinfo(addr);
    };
    let names = vrf.resolver().ok()?.lookup_addr_blocking(addr).ok()?;
    names
        .into_iter()
        .next()
        .map(|n| n.trim_end_matches('.').to_string())
}

/// The one call into the DNS API: A and AAAA records of `name`, asked through the VRF.
fn lookup(vrf: &Vrf, name: &str) -> Result<Vec<IpAddr>> {
    let resolver = vrf.resolver().map_err(|e| anyhow!("{name}: {e}"))?;
    resolver
        .lookup_ip_blocking(name)
        .map_err(|e| anyhow!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_like_getaddrinfo() {
        let mut a: Vec<IpAddr> = ["10.99.0.2", "2002::1", "fd00:99::2", "::1", "2001:db8::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        a.sort_by_key(|a| std::cmp::Reverse(precedence(*a)));
        let want: Vec<IpAddr> = ["::1", "fd00:99::2", "2001:db8::1", "2002::1", "10.99.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(a, want);
    }

    #[test]
    fn literals_are_checked_against_the_family() {
        let v4 = resolve(None, "127.0.0.1", Some(AddressFamily::Ipv4)).unwrap();
        assert_eq!(v4.addrs, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        let e = resolve(None, "127.0.0.1", Some(AddressFamily::Ipv6)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "127.0.0.1: Address family for hostname not supported"
        );
    }

    /// The default VRF asks glibc, which reads /etc/hosts first: `localhost` is there on every
    /// machine, so no query leaves the host.
    #[test]
    fn default_vrf_names_come_from_glibc() {
        let r = resolve(None, "localhost", Some(AddressFamily::Ipv4)).unwrap();
        assert!(
            r.addrs.iter().all(|a| a.is_loopback() && a.is_ipv4()),
            "{r:?}"
        );
        assert_eq!(r.canonical.as_deref(), Some("localhost"));
        let lo = "127.0.0.1".parse().unwrap();
        assert_eq!(reverse(None, lo).as_deref(), Some("localhost"));
    }
}
