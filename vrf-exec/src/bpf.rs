//! The sock-create hook: a four-instruction BPF_PROG_TYPE_CGROUP_SOCK program that sets
//! `sk_bound_dev_if` of every new AF_INET/AF_INET6 socket (TCP, UDP, raw, ICMP) to the VRF's ifindex,
//! attached to the VRF's cgroup with `BPF_CGROUP_INET_SOCK_CREATE` (what `ip vrf exec` does).
//!
//! A launch attaches its program unless the cgroup already carries one that is, instruction for
//! instruction, ours or iproute2's for the VRF's current ifindex; anything else attached there (a
//! program for a stale ifindex, or one that merely looks like a binder) is replaced.

use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsFd, OwnedFd};

use crate::sys::{self, CGROUP_INET_SOCK_CREATE, Insn, PROG_TYPE_CGROUP_SOCK, ProgInfo};

const BPF_ALU64_MOV_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
const BPF_ALU64_MOV_X: u8 = 0x07 | 0xb0 | 0x08; // BPF_ALU64 | BPF_MOV | BPF_X
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

/// iproute2's binder (`prog_load` in `ip/ipvrf.c`), as it loads it:
/// `r6 = r1; r3 = ifindex; r2 = 0; ((struct bpf_sock *)r1)->bound_dev_if = r3; return 1`.
pub fn iproute2_program(ifindex: u32) -> [Insn; 6] {
    [
        mov_reg(6, 1),
        mov_imm(3, ifindex as i32),
        mov_imm(2, i32::from(BOUND_DEV_IF)),
        store_w(1, BOUND_DEV_IF, 3),
        mov_imm(0, 1),
        EXIT,
    ]
}

/// `dst = src` (64-bit register move).
const fn mov_reg(dst: u8, src: u8) -> Insn {
    Insn {
        code: BPF_ALU64_MOV_X,
        regs: dst | (src << 4),
        off: 0,
        imm: 0,
    }
}

/// Which binder a program attached for `BPF_CGROUP_INET_SOCK_CREATE` is, judged by its whole
/// verifier-translated instruction sequence (`attached`) against the translation of our own program for
/// the same ifindex (`ours`, just loaded into this kernel): `ours` exactly, or iproute2's program, whose
/// translation differs from what it loads only where ours does (the store's offset, which the verifier
/// rewrites from `struct bpf_sock` to `struct sock`). Anything else, whatever its name, or a program the
/// kernel does not show us, is `None`.
pub fn binder_kind(attached: &[Insn], ours: &[Insn]) -> Option<Binder> {
    if attached == ours {
        return Some(Binder::Ours);
    }
    // Ours, translated: [r2 = ifindex] [*(u32 *)(r1 + K) = r2] [r0 = 1] [exit].
    let [mov, store, verdict, exit] = ours else {
        return None;
    };
    let mut theirs = iproute2_program(mov.imm as u32);
    theirs[3].off = store.off;
    let shape_ok = (store.code, verdict, exit) == (BPF_STX_MEM_W, &mov_imm(0, 1), &EXIT);
    (shape_ok && attached == theirs).then_some(Binder::Iproute2)
}

/// A sock-create program that [`binder_kind`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binder {
    /// vrf-exec's, [`program`].
    Ours,
    /// iproute2's, [`iproute2_program`].
    Iproute2,
}

/// What [`ensure_attached`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// A program binding to the ifindex was already attached.
    Reused,
    /// We loaded and attached one.
    Loaded,
}

/// A program loaded into the kernel and what the kernel says of it.
#[derive(Debug)]
pub struct Loaded {
    pub fd: OwnedFd,
    pub info: ProgInfo,
}

/// Loads `insns` as a program of `prog_type` for `attach_type`, with the verifier's complaints in the
/// error, and reads back its translation.
pub fn load(prog_type: u32, attach_type: u32, insns: &[Insn], name: &str) -> io::Result<Loaded> {
    let mut log = vec![0u8; 4096];
    let fd = sys::prog_load(prog_type, attach_type, insns, name, &mut log).map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(0);
        let verifier = String::from_utf8_lossy(&log[..end]);
        if verifier.trim().is_empty() {
            e
        } else {
            io::Error::new(e.kind(), format!("{e}; verifier: {}", verifier.trim()))
        }
    })?;
    let info = sys::prog_info(fd.as_fd())?;
    Ok(Loaded { fd, info })
}

/// The info of attached program `id`; `None` when it is gone or hidden from us.
pub fn attached_info(id: u32) -> Option<ProgInfo> {
    let fd = sys::prog_fd_by_id(id).ok()?;
    sys::prog_info(fd.as_fd()).ok()
}

/// True when `attached` is the very program `reference` is: same type and the same whole instruction
/// sequence: the translated one where the kernel shows it, else the kernel's tag (a SHA-1 over the whole
/// sequence as loaded).
pub fn same_program(attached: &ProgInfo, reference: &ProgInfo) -> bool {
    attached.prog_type == reference.prog_type
        && attached.tag == reference.tag
        && attached.xlated == reference.xlated
}

/// Makes sure cgroup `cgroup` (an open directory) binds new sockets to `ifindex`: reuses the program
/// attached there if it is exactly ours or iproute2's for `ifindex`, else attaches ours in its place.
pub fn ensure_attached(cgroup: impl AsFd, ifindex: NonZeroU32) -> io::Result<Attach> {
    let ifindex = ifindex.get();
    let cg = cgroup.as_fd();
    // Ours is loaded first: its translation is what an attached program is judged against.
    let ours = load(
        PROG_TYPE_CGROUP_SOCK,
        CGROUP_INET_SOCK_CREATE,
        &program(ifindex),
        &program_name(ifindex),
    )?;
    let attached = sys::prog_query(cg, CGROUP_INET_SOCK_CREATE)?;
    if let [id] = attached.ids[..]
        && let Some(info) = attached_info(id)
        && already_binds(&info, &ours.info)
    {
        return Ok(Attach::Reused);
    }
    sys::prog_attach(ours.fd.as_fd(), cg, CGROUP_INET_SOCK_CREATE)?;
    Ok(Attach::Loaded)
}

/// True when `attached` binds sockets exactly as `ours` does: ours, or iproute2's for the same ifindex.
pub fn already_binds(attached: &ProgInfo, ours: &ProgInfo) -> bool {
    if attached.prog_type != PROG_TYPE_CGROUP_SOCK {
        return false;
    }
    if ours.xlated.is_empty() {
        // The kernel hides translations from us: only our own program, by its tag, is recognised.
        return same_program(attached, ours);
    }
    binder_kind(&attached.xlated, &ours.xlated).is_some()
}

/// The ifindex the sockets of cgroup `cgroup` (an open directory) are bound to by a binder attached to
/// it or inherited from above (systemd's `BPFProgram=` with `vrf-exec pin`'s program, or a cgroup-mode
/// group): the last binder among the programs that run, since each one sees what the one before set.
/// `None` when none is recognised, or the kernel does not tell us (no privilege).
pub fn cgroup_binding(cgroup: impl AsFd) -> Option<NonZeroU32> {
    let ids = sys::prog_query_effective(cgroup.as_fd(), CGROUP_INET_SOCK_CREATE).ok()?;
    ids.iter()
        .rev()
        .find_map(|&id| binder_ifindex(&attached_info(id)?))
}

/// The ifindex a sock-create program attached somewhere binds sockets to, when it is a binder
/// [`already_binds`] recognises (ours, or iproute2's): the candidate is read off its translation (the
/// constant that ours moves to r2, iproute2's to r3), then our own program for that ifindex is loaded
/// to judge it. `None` for anything else, or when the kernel hides translations from us.
pub fn binder_ifindex(attached: &ProgInfo) -> Option<NonZeroU32> {
    if attached.prog_type != PROG_TYPE_CGROUP_SOCK {
        return None;
    }
    let candidate = candidate_ifindex(&attached.xlated)?;
    let ours = load(
        PROG_TYPE_CGROUP_SOCK,
        CGROUP_INET_SOCK_CREATE,
        &program(candidate.get()),
        &program_name(candidate.get()),
    )
    .ok()?;
    (!ours.info.xlated.is_empty() && already_binds(attached, &ours.info)).then_some(candidate)
}

/// The constant a binder's translation stores as the bound device: the first `r2 = K` (ours) or
/// `r3 = K` (iproute2's).
fn candidate_ifindex(xlated: &[Insn]) -> Option<NonZeroU32> {
    let first = xlated.first()?;
    let mov = if first.code == BPF_ALU64_MOV_X {
        xlated.get(1)?
    } else {
        first
    };
    (mov.code == BPF_ALU64_MOV_K && matches!(mov.regs, 2 | 3))
        .then(|| NonZeroU32::new(mov.imm as u32))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a kernel might put `sk_bound_dev_if` and `sk_mark` in `struct sock`: what the verifier
    /// turns `bpf_sock` offsets 0 and 16 into.
    const K_BOUND: i16 = 16;
    const K_MARK: i16 = 432;

    /// A program as the verifier would translate it: every store at `bpf_sock` offset 0 moved to `K_BOUND`.
    fn translated(insns: &[Insn]) -> Vec<Insn> {
        insns
            .iter()
            .map(|&i| {
                if i.code == BPF_STX_MEM_W && i.off == BOUND_DEV_IF {
                    Insn { off: K_BOUND, ..i }
                } else {
                    i
                }
            })
            .collect()
    }

    fn info(name: &str, xlated: Vec<Insn>) -> ProgInfo {
        ProgInfo {
            prog_type: PROG_TYPE_CGROUP_SOCK,
            name: name.to_string(),
            tag: [7; 8],
            xlated,
        }
    }

    #[test]
    fn recognises_ours_and_iproute2s_for_the_same_ifindex_only() {
        let ours = translated(&program(42));
        assert_eq!(binder_kind(&ours, &ours), Some(Binder::Ours));
        let theirs = translated(&iproute2_program(42));
        assert_eq!(binder_kind(&theirs, &ours), Some(Binder::Iproute2));
        let other = translated(&program(43));
        assert_eq!(binder_kind(&other, &ours), None);
        assert_eq!(binder_kind(&translated(&iproute2_program(43)), &ours), None);
        assert_eq!(binder_kind(&[], &ours), None);
    }

    #[test]
    fn refuses_look_alikes() {
        let ours = translated(&program(7));
        // Our name, nothing bound: `return 1`.
        let name_only = vec![mov_imm(0, 1), EXIT];
        assert_eq!(binder_kind(&name_only, &ours), None);
        assert!(!already_binds(
            &info(&program_name(7), name_only),
            &info(&program_name(7), ours.clone())
        ));
        // The ifindex stored elsewhere (`sk_mark`), by our code or by iproute2's.
        let mut to_mark = ours.clone();
        to_mark[1].off = K_MARK;
        assert_eq!(binder_kind(&to_mark, &ours), None);
        let mut theirs_to_mark = translated(&iproute2_program(7));
        theirs_to_mark[3].off = K_MARK;
        assert_eq!(binder_kind(&theirs_to_mark, &ours), None);
        // Untranslated offsets are not what this kernel runs.
        assert_eq!(binder_kind(&iproute2_program(7), &ours), None);
        // Extra instructions: the binding undone after it is made, or a different verdict.
        let mut undone = ours.clone();
        undone.splice(
            2..2,
            [
                mov_imm(3, 0),
                Insn {
                    off: K_BOUND,
                    ..store_w(1, 0, 3)
                },
            ],
        );
        assert_eq!(binder_kind(&undone, &ours), None);
        let mut refuse = ours.clone();
        refuse[2] = mov_imm(0, 0);
        assert_eq!(binder_kind(&refuse, &ours), None);
        let mut theirs_longer = translated(&iproute2_program(7));
        theirs_longer.insert(0, mov_reg(7, 1));
        assert_eq!(binder_kind(&theirs_longer, &ours), None);
        // The right instructions in a program of another type.
        let mut skb = info("x", ours.clone());
        skb.prog_type = sys::PROG_TYPE_CGROUP_SKB;
        assert!(!already_binds(&skb, &info("y", ours.clone())));
        assert!(already_binds(&info("x", ours.clone()), &info("y", ours)));
    }

    #[test]
    fn candidate_ifindex_is_read_off_either_binder() {
        let k = |p: &[Insn]| candidate_ifindex(&translated(p)).map(NonZeroU32::get);
        assert_eq!(k(&program(42)), Some(42));
        assert_eq!(k(&iproute2_program(43)), Some(43));
        assert_eq!(k(&[mov_imm(0, 1), EXIT]), None);
        assert_eq!(k(&program(0)), None);
        assert_eq!(k(&[]), None);
    }

    #[test]
    fn hidden_translations_fall_back_to_the_tag() {
        let mut a = info("a", Vec::new());
        let b = info("b", Vec::new());
        assert!(already_binds(&a, &b), "same tag, same type");
        a.tag[0] ^= 1;
        assert!(!already_binds(&a, &b));
    }
}
