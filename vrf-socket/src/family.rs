//! IP address families: the one vocabulary for "IPv4 or IPv6" across the library and the tools.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use socket2::Domain;

/// An IP address family: which socket domain (`AF_INET`/`AF_INET6`), which DNS records (A/AAAA), which
/// ICMP (ICMP/ICMPv6). `-4`/`-6` in the tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4: `AF_INET`, A records, ICMP.
    Ipv4,
    /// IPv6: `AF_INET6`, AAAA records, ICMPv6.
    Ipv6,
}

impl AddressFamily {
    /// The family of `ip`.
    ///
    /// ```
    /// use vrf_socket::AddressFamily;
    /// assert_eq!(AddressFamily::of("10.0.0.1".parse().unwrap()), AddressFamily::Ipv4);
    /// assert_eq!(AddressFamily::of("fd00::1".parse().unwrap()), AddressFamily::Ipv6);
    /// ```
    pub fn of(ip: IpAddr) -> AddressFamily {
        if ip.is_ipv4() {
            AddressFamily::Ipv4
        } else {
            AddressFamily::Ipv6
        }
    }

    /// The socket domain of this family: `AF_INET` or `AF_INET6`.
    pub fn domain(self) -> Domain {
        match self {
            AddressFamily::Ipv4 => Domain::IPV4,
            AddressFamily::Ipv6 => Domain::IPV6,
        }
    }

    /// The socket domain for talking to `ip`: what a socket that connects to it, or binds it, needs.
    pub fn domain_for(ip: IpAddr) -> Domain {
        AddressFamily::of(ip).domain()
    }

    /// The unspecified ("any") address of this family: `0.0.0.0` or `::`.
    pub fn unspecified(self) -> IpAddr {
        match self {
            AddressFamily::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            AddressFamily::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// True for [`AddressFamily::Ipv6`].
    pub fn is_ipv6(self) -> bool {
        self == AddressFamily::Ipv6
    }
}

impl From<AddressFamily> for Domain {
    fn from(f: AddressFamily) -> Domain {
        f.domain()
    }
}

/// `IPv4` or `IPv6`.
impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressFamily::Ipv4 => "IPv4",
            AddressFamily::Ipv6 => "IPv6",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_unspecified_addresses() {
        let v4 = AddressFamily::Ipv4;
        let v6 = AddressFamily::Ipv6;
        assert_eq!(Domain::from(v4), Domain::IPV4);
        assert_eq!(v6.domain(), Domain::IPV6);
        assert_eq!(v4.unspecified(), IpAddr::from([0, 0, 0, 0]));
        assert_eq!(AddressFamily::of(v6.unspecified()), v6);
        assert_eq!(
            AddressFamily::domain_for("::ffff:10.0.0.1".parse().unwrap()),
            Domain::IPV6,
            "a mapped address is an IPv6 socket's"
        );
        assert_eq!(v4.to_string(), "IPv4");
    }
}
