//! Names, resolved inside the VRF: the one place vrf-ping calls the DNS API of vrf-socket.

use std::net::IpAddr;

use anyhow::{Result, anyhow};
use vrf_socket::Vrf;

/// The address family asked for with `-4` / `-6` (or implied by `-I ADDRESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// `destination` as addresses to try, best first: an IP literal as it is; a name looked up with the
/// VRF's name servers (`/etc/vrf/VRF/resolv.conf`, else `/etc/resolv.conf`) over sockets bound to the
/// VRF, in the order glibc's `getaddrinfo` gives by default (RFC 3484's precedence: IPv6 before IPv4),
/// only those of `family` when one is asked for. Never empty.
///
/// Errors read like iputils' (`NAME: Address family for hostname not supported`), prefixed by the
/// caller with `vrf-ping: `.
pub fn resolve(vrf: &Vrf, destination: &str, family: Option<Family>) -> Result<Vec<IpAddr>> {
    if let Ok(addr) = destination.parse::<IpAddr>() {
        return match family {
            Some(f) if f != Family::of(addr) => Err(anyhow!(
                "{destination}: Address family for hostname not supported"
            )),
            _ => Ok(vec![addr]),
        };
    }
    let mut found = lookup(vrf, destination)?;
    found.sort_by_key(|a| std::cmp::Reverse(precedence(*a)));
    found.retain(|a| family.is_none_or(|f| f == Family::of(*a)));
    if found.is_empty() {
        return Err(match family {
            Some(_) => anyhow!("{destination}: Address family for hostname not supported"),
            None => anyhow!("{destination}: No address associated with hostname"),
        });
    }
    Ok(found)
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

/// The reverse lookup behind reply lines (`name (address)`), asked through the VRF (hosts file first,
/// then PTR). `None` when nothing is found, and reply lines show the address alone, as iputils does.
pub fn reverse(vrf: &Vrf, addr: IpAddr) -> Option<String> {
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
}
