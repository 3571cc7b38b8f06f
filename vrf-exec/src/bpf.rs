//! The sock-create hook: a four-instruction BPF_PROG_TYPE_CGROUP_SOCK program that sets
//! `sk_bound_dev_if` of every new AF_INET/AF_INET6 socket (TCP, UDP, raw, ICMP) to the VRF's ifindex,
//! attached to the VRF's cgroup with `BPF_CGROUP_INET_SOCK_CREATE` (what `ip vrf exec` does).
//!
//! A launch only loads and attaches a program when the cgroup does not already carry one that binds to
//! the VRF's current ifindex: ours from an earlier launch, or iproute2's.

use std::io;
use std::num::NonZeroU32;
use std::os::fd::AsFd;

use crate::sys::{self, CGROUP_INET_SOCK_CREATE, Insn, PROG_TYPE_CGROUP_SOCK};

const BPF_ALU64_MOV_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
const BPF_STX_MEM_W: u8 = 0x03 | 0x60; // BPF_STX | BPF_MEM | BPF_W
const BPF_JMP_EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT
/// `offsetof(struct bpf_sock, bound_dev_if)`.
const BOUND_DEV_IF: i16 = 0;

/// `dst = imm` (64-bit move of a constant).
const fn mov_imm(dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU64_MOV_K,
        regs: dst,
        off: 0,
        imm,
    }
}

/// `*(u32 *)(dst + off) = src`.
const fn store_w(dst: u8, off: i16, src: u8) -> Insn {
    Insn {
        code: BPF_STX_MEM_W,
        regs: dst | (src << 4),
        off,
        imm: 0,
    }
}

/// `exit`: return r0.
const EXIT: Insn = Insn {
    code: BPF_JMP_EXIT,
    regs: 0,
    off: 0,
    imm: 0,
};

/// The program: `r2 = ifindex; ((struct bpf_sock *)r1)->bound_dev_if = r2; return 1` (1 = allow).
pub fn program(ifindex: u32) -> [Insn; 4] {
    [
        // The kernel's ifindex is a positive int; the bits are what the 32-bit store writes.
        mov_imm(2, ifindex as i32),
        store_w(1, BOUND_DEV_IF, 2),
        mov_imm(0, 1),
        EXIT,
    ]
}

/// The name our programs carry (`bpftool prog` shows it).
pub fn program_name(ifindex: u32) -> String {
    format!("vrf_exec_{ifindex}")
}

/// True when the (verifier-translated) instructions of a small program store the constant `ifindex`:
/// a `mov rX, ifindex` followed by a 32-bit store of rX. Matches ours and iproute2's binder.
pub fn binds_to(insns: &[Insn], ifindex: u32) -> bool {
    if insns.is_empty() || insns.len() > 16 {
        return false;
    }
    insns.iter().enumerate().any(|(i, mov)| {
        mov.code == BPF_ALU64_MOV_K
            && mov.imm as u32 == ifindex
            && insns[i + 1..]
                .iter()
                .any(|st| st.code == BPF_STX_MEM_W && st.regs >> 4 == mov.regs & 0x0f)
    })
}

/// What [`ensure_attached`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// A program binding to the ifindex was already attached.
    Reused,
    /// We loaded and attached one.
    Loaded,
}

/// Makes sure cgroup `cgroup` (an open directory) binds new sockets to `ifindex`.
pub fn ensure_attached(cgroup: impl AsFd, ifindex: NonZeroU32) -> io::Result<Attach> {
    let ifindex = ifindex.get();
    let cg = cgroup.as_fd();
    let ids = sys::prog_query(cg, CGROUP_INET_SOCK_CREATE)?;
    if let [id] = ids[..]
        && already_binds(id, ifindex)
    {
        return Ok(Attach::Reused);
    }
    let mut log = vec![0u8; 4096];
    let prog = sys::prog_load(
        PROG_TYPE_CGROUP_SOCK,
        CGROUP_INET_SOCK_CREATE,
        &program(ifindex),
        &program_name(ifindex),
        &mut log,
    )
    .map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(0);
        let verifier = String::from_utf8_lossy(&log[..end]);
        if verifier.trim().is_empty() {
            e
        } else {
            io::Error::new(e.kind(), format!("{e}; verifier: {}", verifier.trim()))
        }
    })?;
    sys::prog_attach(prog.as_fd(), cg, CGROUP_INET_SOCK_CREATE)?;
    Ok(Attach::Loaded)
}

fn already_binds(id: u32, ifindex: u32) -> bool {
    let Ok(fd) = sys::prog_fd_by_id(id) else {
        return false;
    };
    let Ok(info) = sys::prog_info(fd.as_fd()) else {
        return false;
    };
    info.prog_type == PROG_TYPE_CGROUP_SOCK
        && (info.name == program_name(ifindex) || binds_to(&info.xlated, ifindex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_program_binds_its_ifindex_only() {
        assert!(binds_to(&program(42), 42));
        assert!(!binds_to(&program(42), 43));
        assert!(!binds_to(&[], 42));
    }

    #[test]
    fn recognises_an_iproute2_style_binder() {
        // r6 = r1; r3 = idx; r2 = 0; *(u32 *)(r1 + 0) = r3; r0 = 1; exit
        const BPF_ALU64_MOV_X: u8 = 0x07 | 0xb0 | 0x08; // BPF_ALU64 | BPF_MOV | BPF_X
        let r6_r1 = Insn {
            code: BPF_ALU64_MOV_X,
            regs: 6 | (1 << 4),
            off: 0,
            imm: 0,
        };
        let p = [
            r6_r1,
            mov_imm(3, 7),
            mov_imm(2, 0),
            store_w(1, 0, 3),
            mov_imm(0, 1),
            EXIT,
        ];
        assert!(binds_to(&p, 7));
        assert!(
            !binds_to(&p, 1),
            "the verdict constant is not an ifindex store"
        );
    }
}
