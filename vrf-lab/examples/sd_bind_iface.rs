//! A stand-in for systemd's `BindNetworkInterface=` (systemd 260; the lab's Debian 12 has 252): loads
//! the program of systemd's `src/core/bpf/bind-iface/bind-iface.bpf.c` as libbpf loads it and attaches
//! it to a cgroup, then exits (the attachment holds the program, the program its map).
//!
//! ```text
//! sd_bind_iface [--wrong CONST] [--unfrozen] IFINDEX CGROUP_DIR
//! ```
//!
//! As libbpf does for that object (`bind_iface_bpf`): its `const volatile __u32 ifindex` lives in an
//! array map of one 4-byte value named `bind_ifa.rodata`, made with `BPF_F_RDONLY_PROG` (and
//! `BPF_F_MMAPABLE`), written with IFINDEX (what systemd sets in `obj->rodata` before loading), then
//! frozen (`BPF_MAP_FREEZE`); the program, `sd_bind_interface` of type cgroup_sock for
//! `BPF_CGROUP_INET_SOCK_CREATE`, is clang's translation of `ctx->bound_dev_if = ifindex; return 1`:
//!
//! ```text
//! r2 = map_value(bind_ifa.rodata) + 0     ; BPF_LD_IMM64, BPF_PSEUDO_MAP_VALUE
//! r2 = *(u32 *)(r2 + 0)
//! *(u32 *)(r1 + 0) = r2                   ; bound_dev_if
//! r0 = 1
//! exit
//! ```
//!
//! attached with `BPF_F_ALLOW_MULTI`, as systemd's programs are (systemd makes a bpf link; the kernel
//! runs both alike). With `--wrong CONST`, the same name and map but the load replaced by `r2 =
//! CONST`: a program that looks like systemd's and binds sockets to CONST, not to the map's value.
//! With `--unfrozen`, the map is not frozen: its value (the ifindex the program binds to) may still be
//! rewritten by anyone holding the map.

use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_MAP_FREEZE: libc::c_int = 22;

const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_F_RDONLY_PROG: u32 = 1 << 7;
const BPF_F_MMAPABLE: u32 = 1 << 10;
const BPF_PROG_TYPE_CGROUP_SOCK: u32 = 9;
const BPF_CGROUP_INET_SOCK_CREATE: u32 = 2;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_PSEUDO_MAP_VALUE: u8 = 2;

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct MapFreeze {
    map_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// bpf(2) with `attr`, one of the `#[repr(C)]` attribute structs above.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised repr(C) struct laid out as the members of union bpf_attr
    // that `cmd` reads, and its exact size is passed; the pointers inside it point at buffers that
    // outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned_fd(r: libc::c_long) -> OwnedFd {
    // SAFETY: bpf(2) returned a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as libc::c_int) }
}

/// A NUL-padded object name (at most 15 bytes kept, as libbpf does).
fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = name.len().min(15);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// libbpf's `.rodata` of the object: made, written with `ifindex`, frozen (unless `unfrozen`).
fn rodata(ifindex: u32, unfrozen: bool) -> io::Result<OwnedFd> {
    let mut create = MapCreate {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        map_flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
        map_name: name16("bind_ifa.rodata"),
        ..Default::default()
    };
    let map = bpf(BPF_MAP_CREATE, &mut create).map(owned_fd)?;
    let key = 0u32;
    let mut update = MapElem {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: &ifindex as *const u32 as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut update)?;
    if unfrozen {
        return Ok(map);
    }
    bpf(
        BPF_MAP_FREEZE,
        &mut MapFreeze {
            map_fd: map.as_raw_fd() as u32,
        },
    )?;
    Ok(map)
}

/// The program over map `map`; with `wrong`, the value's load replaced by that constant.
fn program(map: &OwnedFd, wrong: Option<u32>) -> Vec<Insn> {
    let second = match wrong {
        // r2 = CONST (BPF_ALU64 | BPF_MOV | BPF_K)
        Some(k) => insn(0xb7, 2, 0, 0, k as i32),
        // r2 = *(u32 *)(r2 + 0) (BPF_LDX | BPF_MEM | BPF_W)
        None => insn(0x61, 2, 2, 0, 0),
    };
    vec![
        // r2 = map_value(map) + 0: the map's descriptor in the first slot, the offset in the second.
        insn(0x18, 2, BPF_PSEUDO_MAP_VALUE, 0, map.as_raw_fd()),
        insn(0, 0, 0, 0, 0),
        second,
        // *(u32 *)(r1 + 0) = r2 (BPF_STX | BPF_MEM | BPF_W; offsetof(struct bpf_sock, bound_dev_if))
        insn(0x63, 1, 2, 0, 0),
        // r0 = 1
        insn(0xb7, 0, 0, 0, 1),
        // exit
        insn(0x95, 0, 0, 0, 0),
    ]
}

fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    let license = b"LGPL-2.1-or-later\0";
    let mut log = vec![0u8; 4096];
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_SOCK,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name16("sd_bind_interface"),
        expected_attach_type: BPF_CGROUP_INET_SOCK_CREATE,
        ..Default::default()
    };
    bpf(BPF_PROG_LOAD, &mut attr).map(owned_fd).map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(0);
        io::Error::new(
            e.kind(),
            format!("{e}; verifier: {}", String::from_utf8_lossy(&log[..end])),
        )
    })
}

fn run(args: &[String]) -> Result<(), String> {
    let usage = "usage: sd_bind_iface [--wrong CONST] [--unfrozen] IFINDEX CGROUP_DIR";
    let (mut wrong, mut unfrozen, mut rest) = (None, false, args);
    loop {
        match rest {
            [flag, k, tail @ ..] if flag == "--wrong" => {
                wrong = Some(k.parse::<u32>().map_err(|e| format!("--wrong {k}: {e}"))?);
                rest = tail;
            }
            [flag, tail @ ..] if flag == "--unfrozen" => {
                unfrozen = true;
                rest = tail;
            }
            _ => break,
        }
    }
    let [ifindex, dir] = rest else {
        return Err(usage.into());
    };
    let ifindex: u32 = ifindex.parse().map_err(|e| format!("{ifindex}: {e}"))?;
    let map = rodata(ifindex, unfrozen).map_err(|e| format!("bind_ifa.rodata: {e}"))?;
    let prog = load(&program(&map, wrong)).map_err(|e| format!("loading: {e}"))?;
    let cg = File::open(dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut attach = ProgAttach {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_INET_SOCK_CREATE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| format!("attaching to {dir}: {e}"))?;
    println!("attached");
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sd_bind_iface: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
