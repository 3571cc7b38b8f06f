//! The sock-create hook: a four-instruction BPF_PROG_TYPE_CGROUP_SOCK program that sets
//! `sk_bound_dev_if` of every new AF_INET/AF_INET6 socket (TCP, UDP, raw, ICMP) to the VRF's ifindex,
//! attached to the VRF's cgroup with `BPF_CGROUP_INET_SOCK_CREATE` (what `ip vrf exec` does).
//!
//! A launch attaches its program unless the cgroup already carries one that is, instruction for
//! instruction, ours or iproute2's for the VRF's current ifindex; anything else attached there (a
//! program for a stale ifindex, or one that merely looks like a binder) is replaced.
//!
//! The queries (`identify`, `pids`, `list`: [`cgroup_binder`]) also recognise systemd's binder, the
//! program of `BindNetworkInterface=` (systemd 260), whose ifindex is not in its instructions but in
//! a frozen read-only map ([`systemd_binding`]).

use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsFd, OwnedFd};

use crate::sys::{
    self, CGROUP_INET_SOCK_CREATE, F_RDONLY_PROG, Insn, MAP_TYPE_ARRAY, MapInfo,
    PROG_TYPE_CGROUP_SOCK, ProgInfo,
};

const BPF_ALU64_MOV_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
const BPF_ALU64_MOV_X: u8 = 0x07 | 0xb0 | 0x08; // BPF_ALU64 | BPF_MOV | BPF_X
const BPF_ALU_MOV_K: u8 = 0x04 | 0xb0; // BPF_ALU | BPF_MOV | BPF_K (32-bit, zero-extended)
const BPF_LD_IMM64: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW (two slots)
const BPF_LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
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

/// A sock-create program that [`binder_kind`] or [`systemd_binding`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binder {
    /// vrf-exec's, [`program`].
    Ours,
    /// iproute2's, [`iproute2_program`].
    Iproute2,
    /// systemd's, for `BindNetworkInterface=` ([`systemd_binding`]).
    Systemd,
}

/// The name systemd's binder carries (`sd_bind_interface`, of which the kernel keeps 15 characters).
pub const SYSTEMD_NAME: &str = "sd_bind_interfa";

/// `src_reg` of a `BPF_LD_IMM64` that loads the address of a map's value (`BPF_PSEUDO_MAP_VALUE`). In
/// a translation its `imm` is the map's id and the second slot's `imm` the offset in the value.
const PSEUDO_MAP_VALUE: u8 = 2;

/// The map id and store offset of a translation shaped as systemd's binder (`bind-iface.bpf.c`, built
/// by clang, loaded by libbpf with its `const volatile __u32 ifindex` in the `.rodata` map):
///
/// ```text
/// rA = map_value(id) + 0          ; BPF_LD_IMM64, src_reg BPF_PSEUDO_MAP_VALUE (two slots)
/// rB = *(u32 *)(rA + 0)           ; the ifindex, from the map
/// *(u32 *)(r1 + K) = rB           ; ctx->bound_dev_if, K as translated for `struct sock`
/// r0 = 1                          ; allow (w0 = 1 as well)
/// exit
/// ```
///
/// for any registers A and B the compiler may choose (r0 and r2 to r9: r1 is the context, r10 the
/// read-only frame pointer). Exactly that, nothing before, between or after. (Where the JIT has the
/// verifier zero-extend 32-bit loads, not on x86-64, the translation has one more instruction and is not
/// recognised.)
fn systemd_shape(xlated: &[Insn]) -> Option<(u32, i16)> {
    let [ld, ld_hi, load, store, verdict, exit] = xlated else {
        return None;
    };
    let (a, b) = (ld.regs & 0x0f, load.regs & 0x0f);
    let scratch = |r: u8| r == 0 || (2..=9).contains(&r);
    let returns_1 = |i: &Insn| {
        matches!(i.code, BPF_ALU64_MOV_K | BPF_ALU_MOV_K) && (i.regs, i.off, i.imm) == (0, 0, 1)
    };
    let ok = ld.code == BPF_LD_IMM64
        && ld.regs >> 4 == PSEUDO_MAP_VALUE
        && ld.off == 0
        && ld.imm != 0
        && *ld_hi == Insn::default()
        && *load
            == (Insn {
                code: BPF_LDX_MEM_W,
                regs: b | (a << 4),
                off: 0,
                imm: 0,
            })
        && store.code == BPF_STX_MEM_W
        && store.regs == 1 | (b << 4)
        && store.imm == 0
        && returns_1(verdict)
        && *exit == EXIT
        && scratch(a)
        && scratch(b);
    ok.then_some((ld.imm as u32, store.off))
}

/// The id of the map whose value a sock-create program attached somewhere binds sockets to, when its
/// translation (`attached`) is systemd's binder ([`systemd_shape`]) storing where ours (`ours`, our own
/// program just loaded into this kernel, translated) stores the bound device.
pub fn systemd_kind(attached: &[Insn], ours: &[Insn]) -> Option<u32> {
    // Ours, translated: [r2 = ifindex] [*(u32 *)(r1 + K) = r2] [r0 = 1] [exit].
    let [mov, store, verdict, exit] = ours else {
        return None;
    };
    let ours_ok = mov.code == BPF_ALU64_MOV_K
        && mov.regs == 2
        && (store.code, store.regs, store.imm) == (BPF_STX_MEM_W, 1 | (2 << 4), 0)
        && (verdict, exit) == (&mov_imm(0, 1), &EXIT);
    let (map, off) = systemd_shape(attached)?;
    (ours_ok && off == store.off).then_some(map)
}

/// True when map `info` holds a constant as libbpf's `.rodata` map of systemd's binder does: an array
/// of one entry (32-bit key) whose value has room for a `u32`, that programs may only read
/// (`BPF_F_RDONLY_PROG`) and no system call may write any more (frozen), named `<object>.rodata`.
pub fn constant_rodata(info: &MapInfo) -> bool {
    info.map_type == MAP_TYPE_ARRAY
        && info.key_size == 4
        && info.max_entries == 1
        && info.value_size >= 4
        && info.map_flags & F_RDONLY_PROG != 0
        && info.frozen
        && info.name.ends_with(".rodata")
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

/// The ifindex the sockets of cgroup `cgroup` (an open directory) are bound to, and by which binder
/// ([`binder_of`]): the last binder among the programs that run, attached to it or inherited from
/// above, since each one sees what the one before set. `None` when none is recognised, or the kernel
/// does not tell us (no privilege).
pub fn cgroup_binder(cgroup: impl AsFd) -> Option<(NonZeroU32, Binder)> {
    let ids = sys::prog_query_effective(cgroup.as_fd(), CGROUP_INET_SOCK_CREATE).ok()?;
    ids.iter().rev().find_map(|&id| {
        // Held open while it is judged, so that the map ids it names stay its own maps.
        let prog = sys::prog_fd_by_id(id).ok()?;
        binder_of(&sys::prog_info(prog.as_fd()).ok()?)
    })
}

/// The ifindex a sock-create program attached somewhere binds sockets to, and which binder it is:
/// ours or iproute2's ([`binder_ifindex`]), or systemd's ([`systemd_binding`]). `None` for anything
/// else, or when the kernel hides translations from us.
pub fn binder_of(attached: &ProgInfo) -> Option<(NonZeroU32, Binder)> {
    ours_or_iproute2(attached)
        .or_else(|| systemd_binding(attached).map(|ifindex| (ifindex, Binder::Systemd)))
}

/// The ifindex a sock-create program attached somewhere binds sockets to, when it is a binder
/// [`already_binds`] recognises (ours, or iproute2's: what `vrf-exec attach` may detach as its own
/// stale binders; systemd's is [`binder_of`]'s). `None` for anything else, or when the kernel hides
/// translations from us.
pub fn binder_ifindex(attached: &ProgInfo) -> Option<NonZeroU32> {
    ours_or_iproute2(attached).map(|(ifindex, _)| ifindex)
}

/// [`binder_ifindex`] with the kind: the candidate is read off the translation (the constant that
/// ours moves to r2, iproute2's to r3), then our own program for that ifindex is loaded to judge it.
fn ours_or_iproute2(attached: &ProgInfo) -> Option<(NonZeroU32, Binder)> {
    if attached.prog_type != PROG_TYPE_CGROUP_SOCK {
        return None;
    }
    let candidate = candidate_ifindex(&attached.xlated)?;
    let ours = load_ours(candidate)?;
    // Not empty (a candidate was read off it), so never equal to a hidden translation of ours.
    binder_kind(&attached.xlated, &ours.info.xlated).map(|kind| (candidate, kind))
}

/// Our own program for `ifindex`, loaded to judge another against its translation (never attached).
fn load_ours(ifindex: NonZeroU32) -> Option<Loaded> {
    load(
        PROG_TYPE_CGROUP_SOCK,
        CGROUP_INET_SOCK_CREATE,
        &program(ifindex.get()),
        &program_name(ifindex.get()),
    )
    .ok()
}

/// The ifindex systemd's `BindNetworkInterface=` program binds sockets to, when `attached` is that
/// program: named [`SYSTEMD_NAME`], using one map and no other, the map a [`constant_rodata`] whose
/// first four bytes are the ifindex (a value that can no longer change: frozen, read-only for
/// programs), and its translation [`systemd_kind`]: loads those four bytes and stores them as the bound
/// device where our own program for that ifindex, loaded to judge it, stores it. A program merely named
/// like systemd's, or one whose value the program or anyone else may still write, is `None`.
pub fn systemd_binding(attached: &ProgInfo) -> Option<NonZeroU32> {
    if attached.prog_type != PROG_TYPE_CGROUP_SOCK || attached.name != SYSTEMD_NAME {
        return None;
    }
    let (map_id, _) = systemd_shape(&attached.xlated)?;
    if attached.map_ids != [map_id] {
        return None;
    }
    let ifindex = constant_u32(map_id)?;
    let ours = load_ours(ifindex)?;
    (systemd_kind(&attached.xlated, &ours.info.xlated) == Some(map_id)).then_some(ifindex)
}

/// The first four bytes of the value of map `id`, as a nonzero `u32`, when the map is a
/// [`constant_rodata`] (checked before the value is read: once frozen, it stays so).
fn constant_u32(id: u32) -> Option<NonZeroU32> {
    let map = sys::map_fd_by_id(id).ok()?;
    if !constant_rodata(&sys::map_info(map.as_fd()).ok()?) {
        return None;
    }
    let value = sys::map_lookup(map.as_fd(), 0).ok()?;
    NonZeroU32::new(u32::from_ne_bytes(value.get(..4)?.try_into().ok()?))
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
            map_ids: Vec::new(),
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

    /// systemd's binder as the verifier translates it: `rA = map_value(map)+0; rB = *(u32 *)(rA + 0);
    /// *(u32 *)(r1 + K_BOUND) = rB; r0 = 1; exit`.
    fn systemd(a: u8, b: u8, map: i32) -> Vec<Insn> {
        vec![
            Insn {
                code: BPF_LD_IMM64,
                regs: a | (PSEUDO_MAP_VALUE << 4),
                off: 0,
                imm: map,
            },
            Insn::default(),
            Insn {
                code: BPF_LDX_MEM_W,
                regs: b | (a << 4),
                off: 0,
                imm: 0,
            },
            store_w(1, K_BOUND, b),
            mov_imm(0, 1),
            EXIT,
        ]
    }

    #[test]
    fn recognises_systemds_binder_whatever_its_registers() {
        let ours = translated(&program(42));
        assert_eq!(systemd_shape(&systemd(2, 2, 9)), Some((9, K_BOUND)));
        for (a, b) in [(2, 2), (2, 3), (6, 7), (0, 0), (9, 0)] {
            assert_eq!(
                systemd_kind(&systemd(a, b, 9), &ours),
                Some(9),
                "r{a}, r{b}"
            );
        }
        // `w0 = 1` (32-bit move, what clang emits with alu32) is the same verdict.
        let mut w0 = systemd(2, 2, 9);
        w0[4].code = BPF_ALU_MOV_K;
        assert_eq!(systemd_kind(&w0, &ours), Some(9));
        // Judged against a translation of ours that is not ours: nothing.
        assert_eq!(systemd_kind(&systemd(2, 2, 9), &[]), None);
        let mut ours_elsewhere = ours.clone();
        ours_elsewhere[1].off = K_MARK;
        assert_eq!(systemd_kind(&systemd(2, 2, 9), &ours_elsewhere), None);
    }

    #[test]
    fn refuses_systemd_look_alikes() {
        let ours = translated(&program(42));
        let kind = |x: &[Insn]| systemd_kind(x, &ours);
        let base = systemd(2, 3, 9);
        let edit = |f: &dyn Fn(&mut Vec<Insn>)| {
            let mut x = base.clone();
            f(&mut x);
            x
        };
        // `--wrong`: the same name and map, a constant stored instead of the map's value.
        assert_eq!(kind(&edit(&|x| x[2] = mov_imm(3, 7))), None);
        // The map's address itself stored, or the value loaded from another register or offset.
        assert_eq!(kind(&edit(&|x| x[3] = store_w(1, K_BOUND, 2))), None);
        assert_eq!(kind(&edit(&|x| x[2].regs = 3 | (4 << 4))), None);
        assert_eq!(kind(&edit(&|x| x[2].off = 4)), None);
        assert_eq!(kind(&edit(&|x| x[1].imm = 4)), None);
        assert_eq!(kind(&edit(&|x| x[2].code = 0x71)), None, "a byte load");
        // A map's address (BPF_PSEUDO_MAP_FD: the map itself), not its value; a plain constant.
        assert_eq!(kind(&edit(&|x| x[0].regs = 2 | (1 << 4))), None);
        assert_eq!(kind(&edit(&|x| x[0].regs = 2)), None);
        assert_eq!(kind(&edit(&|x| x[0].imm = 0)), None);
        // Stored elsewhere (`sk_mark`), through another pointer, or with the context clobbered.
        assert_eq!(kind(&edit(&|x| x[3].off = K_MARK)), None);
        assert_eq!(kind(&edit(&|x| x[3].regs = 4 | (3 << 4))), None);
        assert_eq!(kind(&systemd(1, 3, 9)), None);
        assert_eq!(kind(&systemd(2, 1, 9)), None);
        assert_eq!(kind(&systemd(10, 3, 9)), None);
        // Another verdict, or more instructions: the binding undone, or a second one.
        assert_eq!(kind(&edit(&|x| x[4] = mov_imm(0, 0))), None);
        assert_eq!(kind(&edit(&|x| x[4] = mov_imm(2, 1))), None);
        let undone = edit(&|x| drop(x.splice(4..4, [mov_imm(3, 0), store_w(1, K_BOUND, 3)])));
        assert_eq!(kind(&undone), None);
        assert_eq!(kind(&edit(&|x| x.insert(0, mov_reg(6, 1)))), None);
        assert_eq!(kind(&base[..5]), None);
        // Ours and iproute2's are not systemd's.
        assert_eq!(kind(&ours), None);
        assert_eq!(kind(&translated(&iproute2_program(42))), None);
        // What systemd_binding refuses before any map is read: another type or another name.
        let mut p = info(SYSTEMD_NAME, base.clone());
        p.prog_type = sys::PROG_TYPE_CGROUP_SKB;
        assert_eq!(systemd_binding(&p), None);
        assert_eq!(systemd_binding(&info("sd_bind_other", base.clone())), None);
        // The map the translation names must be the program's one and only map.
        let mut p = info(SYSTEMD_NAME, base);
        p.map_ids = vec![9, 10];
        assert_eq!(systemd_binding(&p), None);
        p.map_ids = vec![10];
        assert_eq!(systemd_binding(&p), None);
    }

    #[test]
    fn only_a_frozen_read_only_rodata_holds_a_constant() {
        let rodata = MapInfo {
            map_type: MAP_TYPE_ARRAY,
            id: 9,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            map_flags: F_RDONLY_PROG | 0x400, // BPF_F_MMAPABLE, as libbpf makes it
            name: "bind_ifa.rodata".into(),
            frozen: true,
        };
        assert!(constant_rodata(&rodata));
        assert!(constant_rodata(&MapInfo {
            value_size: 8,
            ..rodata.clone()
        }));
        let not = |m: MapInfo| assert!(!constant_rodata(&m), "{m:?}");
        not(MapInfo {
            frozen: false,
            ..rodata.clone()
        });
        not(MapInfo {
            map_flags: 0x400,
            ..rodata.clone()
        });
        not(MapInfo {
            max_entries: 2,
            ..rodata.clone()
        });
        not(MapInfo {
            value_size: 2,
            ..rodata.clone()
        });
        not(MapInfo {
            map_type: 1, // BPF_MAP_TYPE_HASH
            ..rodata.clone()
        });
        not(MapInfo {
            key_size: 8,
            ..rodata.clone()
        });
        not(MapInfo {
            name: "bind_ifa.bss".into(),
            ..rodata
        });
    }

    #[test]
    fn frozen_is_read_off_fdinfo() {
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1043\nmap_type:\t2\n\
                    key_size:\t4\nvalue_size:\t4\nmax_entries:\t1\nmap_flags:\t0x480\n\
                    map_extra:\t0x0\nmemlock:\t4096\nmap_id:\t9\nfrozen:\t1\n";
        assert!(sys::fdinfo_frozen(text));
        assert!(!sys::fdinfo_frozen(
            &text.replace("frozen:\t1", "frozen:\t0")
        ));
        assert!(!sys::fdinfo_frozen(&text.replace("frozen:\t1\n", "")));
        assert!(!sys::fdinfo_frozen(""));
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
