//! The egress guard: a `BPF_PROG_TYPE_CGROUP_SKB` program on the VRF's cgroup, attached for
//! `BPF_CGROUP_INET_EGRESS`, that lets a packet of the cgroup's sockets leave only through the VRF device
//! or a device enslaved to it, and drops it otherwise (the sender's `sendmsg` gets `EPERM`).
//!
//! Why it is needed: binding a socket to the VRF does not pin its output device. IPv4's `IP_PKTINFO`
//! control message names an output device per datagram (the kernel's `ip_cmsg_send` takes
//! `ipi_ifindex` even on a device-bound socket), so an unprivileged process in the VRF could send UDP or
//! ICMP through a device of the default VRF. The hook runs once the route, and so the device, is chosen
//! (`ip_finish_output`, `ip6_finish_output`), whatever chose it.
//!
//! What the hook sees on Linux 6.1 (measured in the lab, `escape::` tests): `__sk_buff.ifindex` is the
//! enslaved port for traffic that leaves the VRF (to its peers), and the VRF device itself for traffic to
//! the VRF's own addresses; both are allowed.
//!
//! The devices are read over rtnetlink at each launch and compiled into the program as constants. A
//! device enslaved later is refused until the next launch into the VRF, which replaces the program for
//! every process in the cgroup (fail closed); a device released from the VRF stays allowed until then.
//!
//! Attachment: the guard is the cgroup's one egress program (flags 0, like the sock-create hook), so a
//! launch replaces whatever single program is there in one atomic `BPF_PROG_ATTACH`, and the cgroup is
//! never without a guard once it had one; concurrent launches each attach a complete guard, the last
//! one stays. A cgroup whose egress programs were attached with `BPF_F_ALLOW_MULTI` or
//! `BPF_F_ALLOW_OVERRIDE` by another tool is refused, with the fix, rather than stripped of them.

use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::AsFd;

use vrf_socket::Vrf;

use crate::bpf::{self, Attach};
use crate::sys::{
    self, CGROUP_INET_EGRESS, F_ALLOW_MULTI, F_ALLOW_OVERRIDE, Insn, PROG_TYPE_CGROUP_SKB,
};

const BPF_LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W (0)
const BPF_JMP_JEQ_K: u8 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_ALU64_MOV_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
const BPF_JMP_EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT
/// `offsetof(struct __sk_buff, ifindex)`: the device the packet is about to leave through.
const SKB_IFINDEX: i16 = 40;
/// More devices than this in one VRF is refused rather than compiled (one instruction each).
const MAX_DEVICES: usize = 4000;

/// The name the guard carries (`bpftool prog` shows it).
pub const NAME: &str = "vrf_exec_guard";

/// The guard for `allowed` (ifindexes: the VRF and its ports): returns 1 (pass) when the packet's
/// output device is one of them, 0 (drop) otherwise.
///
/// ```text
/// r2 = skb->ifindex
/// if r2 == allowed[0] goto pass      (one test per device)
/// …
/// r0 = 0; exit
/// pass: r0 = 1; exit
/// ```
pub fn program(allowed: &[u32]) -> Vec<Insn> {
    let n = allowed.len();
    let mut insns = Vec::with_capacity(n + 5);
    insns.push(Insn {
        code: BPF_LDX_MEM_W,
        regs: 2 | (1 << 4),
        off: SKB_IFINDEX,
        imm: 0,
    });
    for (i, &ifindex) in allowed.iter().enumerate() {
        // This test is at index i + 1; a jump counts from the next one (i + 2) to `pass` (n + 3).
        insns.push(Insn {
            code: BPF_JMP_JEQ_K,
            regs: 2,
            off: (n + 1 - i) as i16,
            // The kernel's ifindex is a positive int; the jump compares the low 32 bits.
            imm: ifindex as i32,
        });
    }
    for verdict in [0, 1] {
        insns.push(Insn {
            code: BPF_ALU64_MOV_K,
            regs: 0,
            off: 0,
            imm: verdict,
        });
        insns.push(Insn {
            code: BPF_JMP_EXIT,
            ..Insn::default()
        });
    }
    insns
}

/// What [`ensure_guard`] did, and over which devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub attach: Attach,
    /// The VRF device's name, then its ports', in ifindex order.
    pub devices: Vec<String>,
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} (egress only through {})",
            self.attach,
            self.devices.join(", ")
        )
    }
}

/// The guard for `vrf` as its devices are now, loaded (not attached), and the names of the devices it
/// lets packets out through: the VRF device first, then its ports.
pub fn load_for(vrf: &Vrf) -> io::Result<(bpf::Loaded, Vec<String>)> {
    let slaves = vrf.slaves()?;
    if slaves.len() >= MAX_DEVICES {
        return Err(io::Error::other(format!(
            "VRF {vrf} has {} devices; the egress guard takes at most {MAX_DEVICES}",
            slaves.len()
        )));
    }
    let mut devices = vec![(vrf.index().get(), vrf.name().to_string())];
    devices.extend(slaves.into_iter().map(|s| (s.index.get(), s.name)));
    let allowed: Vec<u32> = devices.iter().map(|d| d.0).collect();
    // Loaded first: its translation is what the attached program is judged against.
    let ours = bpf::load(
        PROG_TYPE_CGROUP_SKB,
        CGROUP_INET_EGRESS,
        &program(&allowed),
        NAME,
    )?;
    Ok((ours, devices.into_iter().map(|d| d.1).collect()))
}

/// Makes sure cgroup `cgroup` (an open directory) carries the guard for VRF `vrf` as its devices are now:
/// reuses the attached program if it is exactly that guard, else attaches a new one in place of it.
pub fn ensure_guard(cgroup: impl AsFd, vrf: NonZeroU32) -> io::Result<Guard> {
    let cg = cgroup.as_fd();
    let vrf = Vrf::by_index(vrf)?;
    let (ours, devices) = load_for(&vrf)?;
    let guard = Guard {
        attach: Attach::Loaded,
        devices,
    };
    let attached = sys::prog_query(cg, CGROUP_INET_EGRESS)?;
    if let [id] = attached.ids[..]
        && attached.flags == 0
        && bpf::attached_info(id).is_some_and(|info| bpf::same_program(&info, &ours.info))
    {
        return Ok(Guard {
            attach: Attach::Reused,
            ..guard
        });
    }
    if !attached.ids.is_empty() && attached.flags & (F_ALLOW_MULTI | F_ALLOW_OVERRIDE) != 0 {
        return Err(io::Error::other(format!(
            "another tool attached egress program(s) {ids:?} with flags {flags:#x}, which the guard cannot \
             replace without removing them (detach them: bpftool cgroup detach CGROUP egress id ID)",
            ids = attached.ids,
            flags = attached.flags
        )));
    }
    sys::prog_attach(ours.fd.as_fd(), cg, CGROUP_INET_EGRESS)?;
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a guard program the way the kernel would, for a packet leaving through `ifindex`.
    fn verdict(insns: &[Insn], ifindex: u32) -> i32 {
        let (mut pc, mut r0, mut r2) = (0usize, None, None);
        for _ in 0..=insns.len() {
            let i = insns[pc];
            match (i.code, i.regs, i.off) {
                (BPF_LDX_MEM_W, 0x12, SKB_IFINDEX) => r2 = Some(ifindex as i32),
                (BPF_JMP_JEQ_K, 2, off) => {
                    if r2.expect("r2 read before the test") == i.imm {
                        pc = (pc as isize + off as isize) as usize;
                    }
                }
                (BPF_ALU64_MOV_K, 0, 0) => r0 = Some(i.imm),
                (BPF_JMP_EXIT, 0, 0) => return r0.expect("r0 set before exit"),
                other => panic!("unexpected instruction {other:?} at {pc}"),
            }
            pc += 1;
        }
        panic!("no exit")
    }

    #[test]
    fn passes_exactly_the_listed_devices() {
        for allowed in [&[7u32][..], &[7, 3], &[12, 13, 14, 15, 1000]] {
            let p = program(allowed);
            assert_eq!(p.len(), allowed.len() + 5);
            for &dev in allowed {
                assert_eq!(verdict(&p, dev), 1, "{dev} in {allowed:?}");
            }
            for dev in [0, 1, 2, 4, 11, 16, 999, 1001, u32::MAX] {
                if !allowed.contains(&dev) {
                    assert_eq!(verdict(&p, dev), 0, "{dev} not in {allowed:?}");
                }
            }
        }
        assert_eq!(verdict(&program(&[]), 5), 0, "no device: nothing leaves");
    }

    #[test]
    fn the_name_fits_the_kernel() {
        assert!(NAME.len() < 16);
    }
}
