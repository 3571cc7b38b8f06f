//! The bpf(2) system calls vrf-exec needs; every `unsafe` of the launcher lives here.
//!
//! The attribute structs mirror the members of `union bpf_attr` (linux/bpf.h) that each command reads;
//! the kernel accepts a shorter union as long as what it does not see would be zero.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

/// `BPF_PROG_TYPE_CGROUP_SOCK`.
pub const PROG_TYPE_CGROUP_SOCK: u32 = 9;
/// `BPF_CGROUP_INET_SOCK_CREATE`: runs when a process of the cgroup creates an AF_INET/AF_INET6 socket.
pub const CGROUP_INET_SOCK_CREATE: u32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
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

#[repr(C)]
#[derive(Default)]
struct ProgQuery {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoByFd {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of `struct bpf_prog_info`, up to `name`.
#[repr(C)]
#[derive(Debug, Default)]
struct ProgInfoRaw {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// What vrf-exec reads of a loaded program.
#[derive(Debug, Clone, Default)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub name: String,
    /// The instructions as the verifier rewrote them; empty when the kernel does not show them to us.
    pub xlated: Vec<Insn>,
}

/// Calls bpf(2) with `attr`, which must be one of the `#[repr(C)]` attribute structs above.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised repr(C) struct laid out as the members of union bpf_attr that
    // `cmd` reads, and its exact size is passed; pointers inside it are set by our callers to buffers
    // that outlive the call.
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

/// `BPF_PROG_LOAD`: loads `insns` as a program of `prog_type`; `log` receives the verifier's complaints.
pub fn prog_load(
    prog_type: u32,
    attach_type: u32,
    insns: &[Insn],
    name: &str,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    let license = b"GPL\0";
    let mut attr = ProgLoad {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: if log.is_empty() { 0 } else { 1 },
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        expected_attach_type: attach_type,
        ..Default::default()
    };
    let n = name.len().min(15);
    attr.prog_name[..n].copy_from_slice(&name.as_bytes()[..n]);
    bpf(BPF_PROG_LOAD, &mut attr).map(owned_fd)
}

/// `BPF_PROG_ATTACH` without flags: attaches `prog` to cgroup `cgroup`, replacing the program attached
/// there the same way (by iproute2, or by us) if there is one.
pub fn prog_attach(
    prog: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// `BPF_PROG_QUERY`: the ids of the programs attached directly to cgroup `cgroup` (at most 8 reported).
pub fn prog_query(cgroup: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    let mut ids = [0u32; 8];
    let mut attr = ProgQuery {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    match bpf(BPF_PROG_QUERY, &mut attr) {
        Ok(_) => Ok(ids[..(attr.prog_cnt as usize).min(ids.len())].to_vec()),
        // More than 8 attached (BPF_F_ALLOW_MULTI): report the first 8.
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Ok(ids.to_vec()),
        Err(e) => Err(e),
    }
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdById {
        prog_id: id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(owned_fd)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program, with its translated instructions when the kernel allows it.
pub fn prog_info(prog: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let mut insns = vec![Insn::default(); 64];
    let mut raw = ProgInfoRaw {
        xlated_prog_len: (insns.len() * mem::size_of::<Insn>()) as u32,
        xlated_prog_insns: insns.as_mut_ptr() as u64,
        ..Default::default()
    };
    let mut attr = InfoByFd {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: mem::size_of::<ProgInfoRaw>() as u32,
        info: &mut raw as *mut ProgInfoRaw as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    // The kernel reports the full length even when it copied less (or nothing: no CAP_SYS_ADMIN, or
    // kptr_restrict); only a program that fit, and was copied, is read.
    let copied = (raw.xlated_prog_len as usize) / mem::size_of::<Insn>();
    insns.truncate(if raw.xlated_prog_insns == 0 || copied > insns.len() {
        0
    } else {
        copied
    });
    let end = raw
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(raw.name.len());
    Ok(ProgInfo {
        prog_type: raw.prog_type,
        name: String::from_utf8_lossy(&raw.name[..end]).into_owned(),
        xlated: insns,
    })
}
