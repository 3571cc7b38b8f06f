//! Prints the device a new socket of this process is bound to, without binding anything itself:
//! `v4=N v6=N`, where N is the `SO_BINDTOIFINDEX` of a fresh UDP socket of each family (0 when unbound,
//! `-` when the family cannot be used). Under `vrf-exec VRF` both are the VRF's ifindex, set by the
//! sock-create hook; in the default VRF both are 0.
//!
//! The lab runs it as a command that cannot lie about where it is: a small program whose only
//! knowledge of the VRF is what the kernel put on its sockets.

use socket2::{Domain, Socket, Type};

fn bound(domain: Domain) -> String {
    match Socket::new(domain, Type::DGRAM, None) {
        Ok(s) => match vrf_socket::bound_index(&s) {
            Ok(i) => i.map_or(0, |i| i.get()).to_string(),
            Err(e) => format!("error:{e}"),
        },
        Err(_) => "-".to_string(),
    }
}

fn main() {
    println!("v4={} v6={}", bound(Domain::IPV4), bound(Domain::IPV6));
}
