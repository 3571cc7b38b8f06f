//! The system calls nix and socket2 do not wrap; every `unsafe` of vrf-ping lives here.
//!
//! - `ICMP_FILTER` (raw ICMPv4) and `ICMP6_FILTER` (raw ICMPv6): which ICMP types reach the socket.
//! - glibc's `getaddrinfo` and `getnameinfo`: names in the default VRF, resolved as iputils resolves
//!   them (NSS: /etc/hosts, then DNS through /etc/resolv.conf).
//! - SIGPIPE back to its default action (die quietly, like iputils, when the reader of our output goes
//!   away). SIGINT and SIGQUIT are caught through signal-hook (`crate::signals`).

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::ptr;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use socket2::SockAddr;
use vrf_socket::AddressFamily;

/// `ICMP_FILTER` (linux/icmp.h), at level `SOL_RAW`.
const ICMP_FILTER: libc::c_int = 1;
/// `ICMP6_FILTER` (linux/icmpv6.h), at level `IPPROTO_ICMPV6`.
const ICMP6_FILTER: libc::c_int = 1;

/// Lets only the ICMPv4 types in `pass` reach the raw socket `fd` (`struct icmp_filter`: a bit set is a
/// type blocked; types above 31 always pass).
pub fn set_icmp_filter(fd: BorrowedFd<'_>, pass: &[u8]) -> io::Result<()> {
    let mut blocked: u32 = !0;
    for &t in pass.iter().filter(|t| **t < 32) {
        blocked &= !(1 << t);
    }
    setsockopt(fd.as_raw_fd(), libc::SOL_RAW, ICMP_FILTER, &blocked)
}

/// Lets only the ICMPv6 types in `pass` reach the raw socket `fd` (`struct icmp6_filter`: 256 bits, a
/// bit set is a type blocked).
pub fn set_icmp6_filter(fd: BorrowedFd<'_>, pass: &[u8]) -> io::Result<()> {
    let mut blocked = [!0u32; 8];
    for &t in pass {
        blocked[usize::from(t >> 5)] &= !(1 << (t & 31));
    }
    setsockopt(fd.as_raw_fd(), libc::IPPROTO_ICMPV6, ICMP6_FILTER, &blocked)
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live reference to a plain value of `size_of::<T>()` bytes, which the kernel
    // only reads; an invalid fd or option is reported as an error.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getaddrinfo(host)` with iputils' hints: the family of `-4`/`-6` (any without), datagram sockets,
/// `AI_CANONNAME`. Returns the addresses in glibc's order (RFC 3484 and /etc/gai.conf), without
/// repeats, and the canonical name; or glibc's message (`Name or service not known` …).
pub fn getaddrinfo(
    host: &str,
    family: Option<AddressFamily>,
) -> Result<(Vec<IpAddr>, Option<String>), String> {
    // A name with a NUL byte cannot exist.
    let c_host = CString::new(host).map_err(|_| gai_message(libc::EAI_NONAME))?;
    // SAFETY: `addrinfo` is plain old data; all-zero is the "no hints" value that fields are set on.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = match family {
        None => libc::AF_UNSPEC,
        Some(AddressFamily::Ipv4) => libc::AF_INET,
        Some(AddressFamily::Ipv6) => libc::AF_INET6,
    };
    hints.ai_socktype = libc::SOCK_DGRAM;
    hints.ai_protocol = libc::IPPROTO_UDP;
    hints.ai_flags = libc::AI_CANONNAME;
    let mut list: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: `c_host` is a NUL-terminated string and `hints` a valid addrinfo, both alive for the call;
    // no service is asked for (null); on success `list` is set to a list we free below.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), ptr::null(), &hints, &mut list) };
    if rc != 0 {
        return Err(gai_message(rc));
    }
    let mut addrs = Vec::new();
    let mut canonical = None;
    let mut node = list;
    while !node.is_null() {
        // SAFETY: `node` is an element of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*node };
        if canonical.is_none() && !ai.ai_canonname.is_null() {
            // SAFETY: glibc sets ai_canonname to a NUL-terminated string that lives with the list.
            let name = unsafe { CStr::from_ptr(ai.ai_canonname) };
            canonical = Some(name.to_string_lossy().into_owned());
        }
        if let Some(ip) = ip_of(ai)
            && !addrs.contains(&ip)
        {
            addrs.push(ip);
        }
        node = ai.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once; nothing of it is used after.
    unsafe { libc::freeaddrinfo(list) };
    if addrs.is_empty() {
        return Err(gai_message(libc::EAI_NODATA));
    }
    Ok((addrs, canonical))
}

/// The IP address of one `getaddrinfo` result.
fn ip_of(ai: &libc::addrinfo) -> Option<IpAddr> {
    if ai.ai_addr.is_null() {
        return None;
    }
    let len = ai.ai_addrlen as usize;
    match ai.ai_family {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the result says its address is a sockaddr_in of `len` bytes, and it lives as long
            // as the list; read_unaligned makes no assumption about its alignment.
            let sin = unsafe { ptr::read_unaligned(ai.ai_addr.cast::<libc::sockaddr_in>()) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let sin6 = unsafe { ptr::read_unaligned(ai.ai_addr.cast::<libc::sockaddr_in6>()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// glibc's text for a `getaddrinfo` error (`EAI_SYSTEM`: errno's).
fn gai_message(rc: libc::c_int) -> String {
    if rc == libc::EAI_SYSTEM {
        return io::Error::last_os_error().to_string();
    }
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated message for any code.
    unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }
        .to_string_lossy()
        .into_owned()
}

/// The name of `addr` as glibc finds it (`getnameinfo` with `NI_NAMEREQD`: /etc/hosts, then PTR), or
/// `None` when it has none.
pub fn getnameinfo(addr: IpAddr) -> Option<String> {
    let sa = SockAddr::from(SocketAddr::new(addr, 0));
    let mut host = [0u8; libc::NI_MAXHOST as usize];
    // SAFETY: `sa` is a valid socket address of `sa.len()` bytes; `host` is a writable buffer of the
    // stated length, which glibc NUL-terminates on success; no service is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast(),
            sa.len(),
            host.as_mut_ptr().cast(),
            host.len() as libc::socklen_t,
            ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&host).ok()?;
    Some(name.to_string_lossy().into_owned())
}

/// Restores SIGPIPE's default action (the Rust runtime ignores it), so that `vrf-ping … | head` ends
/// like iputils ping instead of reporting a write error.
pub fn default_sigpipe() {
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing the default disposition runs no code of ours in signal context.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &action) };
}
