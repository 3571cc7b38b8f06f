//! The system calls vrf-exec needs that nix does not wrap: bpf(2) for the cgroup mode (and to read the
//! constant of systemd's `BindNetworkInterface=` binder out of its map), seccomp(2) and the
//! seccomp user-notification ioctls for the seccomp mode, and two interface ioctls. Every `unsafe` of the
//! launcher lives here.
//!
//! The bpf attribute structs mirror the members of `union bpf_attr` (linux/bpf.h) that each command
//! reads; the kernel accepts a shorter union as long as what it does not see would be zero.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_LOOKUP_ELEM: libc::c_int = 1;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_OBJ_PIN: libc::c_int = 6;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_MAP_GET_FD_BY_ID: libc::c_int = 14;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

/// `BPF_PROG_TYPE_CGROUP_SKB`: a verdict on each packet of a cgroup's sockets.
pub const PROG_TYPE_CGROUP_SKB: u32 = 8;
/// `BPF_PROG_TYPE_CGROUP_SOCK`.
pub const PROG_TYPE_CGROUP_SOCK: u32 = 9;
/// `BPF_CGROUP_INET_EGRESS`: runs on every IPv4/IPv6 packet a socket of the cgroup sends, once its output
/// device is chosen.
pub const CGROUP_INET_EGRESS: u32 = 1;
/// `BPF_CGROUP_INET_SOCK_CREATE`: runs when a process of the cgroup creates an AF_INET/AF_INET6 socket.
pub const CGROUP_INET_SOCK_CREATE: u32 = 2;
/// `BPF_F_ALLOW_OVERRIDE`: an attach flag; a cgroup below may attach its own program, which runs instead.
pub const F_ALLOW_OVERRIDE: u32 = 1;
/// `BPF_F_ALLOW_MULTI`: an attach flag; several programs per cgroup, all of which run.
pub const F_ALLOW_MULTI: u32 = 2;
/// `BPF_MAP_TYPE_ARRAY`.
pub const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_F_RDONLY_PROG`: a map flag; programs may read the map's values, never write them (libbpf's
/// `.rodata` maps, which hold a program's `const volatile` globals).
pub const F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_RDONLY`: an open flag; the descriptor may read the map, not write it.
const F_RDONLY: u32 = 1 << 3;

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
struct ObjPin {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    /// `prog_id` or `map_id` (one union member), by the command.
    id: u32,
    next_id: u32,
    open_flags: u32,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub name: String,
    /// The kernel's SHA-1 (first 8 bytes) over the whole instruction sequence as it was loaded.
    pub tag: [u8; 8],
    /// The instructions as the verifier rewrote them; empty when the kernel does not show them to us.
    pub xlated: Vec<Insn>,
    /// The ids of the maps the program uses (fixed when it is loaded; the program holds them).
    pub map_ids: Vec<u32>,
}

/// The head of `struct bpf_map_info`, up to `name`.
#[repr(C)]
#[derive(Debug, Default)]
struct MapInfoRaw {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
}

/// What vrf-exec reads of a map. All of it but `frozen` is fixed when the map is created; `frozen`,
/// once true, stays true.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapInfo {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `BPF_F_*` map flags ([`F_RDONLY_PROG`] …).
    pub map_flags: u32,
    pub name: String,
    /// Frozen with `BPF_MAP_FREEZE`: no system call may write its values any more (read from the
    /// descriptor's `/proc/self/fdinfo`, Linux 5.2; false where the kernel does not say).
    pub frozen: bool,
}

/// The programs attached directly to a cgroup for one attach type, and how they were attached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attached {
    /// The attach flags of that cgroup and type (`F_ALLOW_OVERRIDE`, `F_ALLOW_MULTI`, or 0).
    pub flags: u32,
    /// Their ids, in the order they run (at most 64 reported).
    pub ids: Vec<u32>,
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
    bpf(BPF_PROG_ATTACH, &mut attach_attr(prog, cgroup, attach_type)).map(drop)
}

/// `BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI`: adds `prog` to the programs of cgroup `cgroup` for
/// `attach_type`, after those attached there before (all of them run, in that order). What systemd
/// uses for its own programs, so that both can be on a unit's cgroup.
pub fn prog_attach_multi(
    prog: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = attach_attr(prog, cgroup, attach_type);
    attr.attach_flags = F_ALLOW_MULTI;
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// `BPF_PROG_DETACH` of program `prog` from cgroup `cgroup` (where it was attached with
/// `BPF_F_ALLOW_MULTI`).
pub fn prog_detach(
    prog: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    bpf(BPF_PROG_DETACH, &mut attach_attr(prog, cgroup, attach_type)).map(drop)
}

/// The attributes of `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` of `prog` on `cgroup`, without flags.
fn attach_attr(prog: BorrowedFd<'_>, cgroup: BorrowedFd<'_>, attach_type: u32) -> ProgAttach {
    ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    }
}

/// `BPF_PROG_QUERY`: the programs attached directly to cgroup `cgroup` for `attach_type`, and their
/// attach flags. A cgroup holds at most 64 per type (`BPF_CGROUP_MAX_PROGS`), so all are reported.
pub fn prog_query(cgroup: BorrowedFd<'_>, attach_type: u32) -> io::Result<Attached> {
    let mut ids = [0u32; 64];
    let mut attr = ProgQuery {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    let count = match bpf(BPF_PROG_QUERY, &mut attr) {
        Ok(_) => (attr.prog_cnt as usize).min(ids.len()),
        // More attached than the buffer holds: report what it holds.
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => ids.len(),
        Err(e) => return Err(e),
    };
    Ok(Attached {
        flags: attr.attach_flags,
        ids: ids[..count].to_vec(),
    })
}

/// `BPF_PROG_QUERY` with `BPF_F_QUERY_EFFECTIVE`: the ids of every program that runs for `attach_type`
/// on the sockets of cgroup `cgroup`, those attached to its ancestors (and inherited) included.
pub fn prog_query_effective(cgroup: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    // Up to 64 per level; a deep hierarchy could hold more, and the first 64 are enough to recognise
    // a binder (they run in order from the root down, each seeing what the one before set).
    let mut ids = [0u32; 256];
    let mut attr = ProgQuery {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        query_flags: 1, // BPF_F_QUERY_EFFECTIVE
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    let count = match bpf(BPF_PROG_QUERY, &mut attr) {
        Ok(_) => (attr.prog_cnt as usize).min(ids.len()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => ids.len(),
        Err(e) => return Err(e),
    };
    Ok(ids[..count].to_vec())
}

/// `BPF_OBJ_PIN`: makes `path` (in a bpf file system) hold program `prog`, so that it outlives us.
/// Fails with EEXIST when `path` exists.
pub fn obj_pin(prog: BorrowedFd<'_>, path: &std::ffi::CStr) -> io::Result<()> {
    let mut attr = ObjPin {
        pathname: path.as_ptr() as u64,
        bpf_fd: prog.as_raw_fd() as u32,
        file_flags: 0,
    };
    bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdById {
        id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(owned_fd)
}

/// `BPF_MAP_GET_FD_BY_ID` with `BPF_F_RDONLY`: a descriptor of map `id` that may only read it.
pub fn map_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdById {
        id,
        open_flags: F_RDONLY,
        ..Default::default()
    };
    bpf(BPF_MAP_GET_FD_BY_ID, &mut attr).map(owned_fd)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a map: its type, sizes, flags and name, and whether it is frozen.
pub fn map_info(map: BorrowedFd<'_>) -> io::Result<MapInfo> {
    let mut raw = MapInfoRaw::default();
    let mut attr = InfoByFd {
        bpf_fd: map.as_raw_fd() as u32,
        info_len: mem::size_of::<MapInfoRaw>() as u32,
        info: &mut raw as *mut MapInfoRaw as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", map.as_raw_fd()))?;
    Ok(MapInfo {
        map_type: raw.map_type,
        id: raw.id,
        key_size: raw.key_size,
        value_size: raw.value_size,
        max_entries: raw.max_entries,
        map_flags: raw.map_flags,
        name: c_name(&raw.name),
        frozen: fdinfo_frozen(&fdinfo),
    })
}

/// Whether a bpf map's `/proc/PID/fdinfo/FD` text says it is frozen (`frozen:\t1`).
pub fn fdinfo_frozen(text: &str) -> bool {
    text.lines()
        .find_map(|l| l.strip_prefix("frozen:"))
        .is_some_and(|v| v.trim() == "1")
}

/// `BPF_MAP_LOOKUP_ELEM` of the 32-bit key `key` in array map `map`: the whole value. Only for
/// `BPF_MAP_TYPE_ARRAY` (`EINVAL` otherwise): the one kind whose value the kernel copies out as
/// exactly `value_size` bytes, which is what is made room for here.
pub fn map_lookup(map: BorrowedFd<'_>, key: u32) -> io::Result<Vec<u8>> {
    let info = map_info(map)?;
    if info.map_type != MAP_TYPE_ARRAY || info.key_size != 4 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut value = vec![0u8; info.value_size as usize];
    let mut attr = MapElem {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    // The map's type and value size are fixed when it is made: the kernel writes `value.len()` bytes.
    bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
    Ok(value)
}

/// A NUL-terminated name of at most 16 bytes (a program's or map's), as text.
fn c_name(name: &[u8; 16]) -> String {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).into_owned()
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program: its type, name, tag, the ids of its maps and, when the kernel
/// shows them to us, all of its translated instructions.
pub fn prog_info(prog: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    // The first call says how long the translated program is and how many maps it uses, the second
    // copies both.
    let mut raw = info_by_fd(prog, &mut [], &mut [])?;
    let len = raw.xlated_prog_len as usize / mem::size_of::<Insn>();
    let mut insns = vec![Insn::default(); len];
    // At most 64 (`MAX_USED_MAPS`).
    let mut map_ids = vec![0u32; (raw.nr_map_ids as usize).min(64)];
    if len > 0 || !map_ids.is_empty() {
        raw = info_by_fd(prog, &mut insns, &mut map_ids)?;
        // The kernel reports the full length even when it copied nothing (no CAP_SYS_ADMIN, or
        // kptr_restrict), and the program cannot change between the calls: use only a complete copy.
        let copied = raw.xlated_prog_len as usize / mem::size_of::<Insn>();
        if len > 0 && (raw.xlated_prog_insns == 0 || copied != len) {
            insns.clear();
        }
        map_ids.truncate(raw.nr_map_ids as usize);
    }
    Ok(ProgInfo {
        prog_type: raw.prog_type,
        name: c_name(&raw.name),
        tag: raw.tag,
        xlated: insns,
        map_ids,
    })
}

/// One `BPF_OBJ_GET_INFO_BY_FD` call, asking for the translated instructions in `insns` and the map
/// ids in `map_ids`.
fn info_by_fd(
    prog: BorrowedFd<'_>,
    insns: &mut [Insn],
    map_ids: &mut [u32],
) -> io::Result<ProgInfoRaw> {
    let mut raw = ProgInfoRaw {
        xlated_prog_len: mem::size_of_val(insns) as u32,
        xlated_prog_insns: if insns.is_empty() {
            0
        } else {
            insns.as_mut_ptr() as u64
        },
        nr_map_ids: map_ids.len() as u32,
        map_ids: if map_ids.is_empty() {
            0
        } else {
            map_ids.as_mut_ptr() as u64
        },
        ..Default::default()
    };
    let mut attr = InfoByFd {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: mem::size_of::<ProgInfoRaw>() as u32,
        info: &mut raw as *mut ProgInfoRaw as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(raw)
}

// ---- seccomp user notification (the seccomp mode) ----

/// A classic BPF instruction of a seccomp filter (`struct sock_filter`).
pub type SockFilter = libc::sock_filter;

/// `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, prog)`: installs `filter` on
/// this thread (and every process it later becomes or forks; it cannot be removed) and returns the
/// listener on which its `SECCOMP_RET_USER_NOTIF` verdicts arrive. Needs `no_new_privs` (or
/// CAP_SYS_ADMIN).
pub fn seccomp_filter_with_listener(filter: &[SockFilter]) -> io::Result<OwnedFd> {
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `filter`, which outlives the call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: with NEW_LISTENER, seccomp(2) returns a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) })
}

/// `seccomp(SECCOMP_GET_ACTION_AVAIL, SECCOMP_RET_USER_NOTIF)`: whether the kernel knows the verdict
/// that hands a system call to a supervisor (Linux 5.0).
pub fn seccomp_user_notif_available() -> bool {
    let action: u32 = libc::SECCOMP_RET_USER_NOTIF;
    // SAFETY: the kernel reads one u32 from the pointer, which points at `action`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    r == 0
}

/// A system call a filtered process is blocked in, waiting for the supervisor.
pub type Notif = libc::seccomp_notif;

/// `SECCOMP_IOCTL_NOTIF_RECV`: the next system call waiting on `listener` (blocks when none is).
/// `ENOENT`: the process went away before it was read.
pub fn notif_recv(listener: BorrowedFd<'_>) -> io::Result<Notif> {
    // SAFETY: all-zero is a valid seccomp_notif (plain integers), and the kernel wants it zeroed.
    let mut n: Notif = unsafe { mem::zeroed() };
    // SAFETY: the ioctl writes one seccomp_notif into `n`.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n)
    }
}

/// `SECCOMP_IOCTL_NOTIF_SEND`: ends system call `id` with `-errno` (never 0: this supervisor only
/// answers with a file descriptor, through [`notif_addfd_send`], or an error).
pub fn notif_send_error(listener: BorrowedFd<'_>, id: u64, errno: i32) -> io::Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: -errno.abs(),
        flags: 0,
    };
    // SAFETY: the ioctl reads one seccomp_notif_resp from `resp`.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND` (Linux 5.14): installs a duplicate of
/// `fd` in the process blocked in system call `id`, at its lowest free number, and ends that call
/// with the new number as its result, in one step. Returns that number. `ENOENT`: the process went
/// away; other errors (`EMFILE`) leave the call waiting for an answer.
pub fn notif_addfd_send(
    listener: BorrowedFd<'_>,
    id: u64,
    fd: BorrowedFd<'_>,
    cloexec: bool,
) -> io::Result<i32> {
    let mut add = libc::seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        srcfd: fd.as_raw_fd() as u32,
        newfd: 0,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: the ioctl reads one seccomp_notif_addfd from `add`.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &mut add,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `socket(domain, ty, protocol)` with the caller's integers as they are (the supervisor repeats a
/// filtered call verbatim, protocol numbers nix has no names for included).
pub fn socket(domain: i32, ty: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes plain integers.
    let r = unsafe { libc::socket(domain, ty, protocol) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket(2) returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// The name and `IFF_*` flags of the device with index `ifindex` (`SIOCGIFNAME`, then `SIOCGIFFLAGS`),
/// asked through socket `sock`. `ENODEV` when there is none.
pub fn if_name_and_flags(sock: BorrowedFd<'_>, ifindex: u32) -> io::Result<(String, i16)> {
    // SAFETY: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    req.ifr_ifru.ifru_ifindex = ifindex as libc::c_int;
    // SAFETY: SIOCGIFNAME reads ifr_ifindex and writes ifr_name of `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFNAME, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS reads ifr_name and writes ifr_flags of `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let name: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    // SAFETY: SIOCGIFFLAGS wrote ifr_flags, the union member read here.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok((String::from_utf8_lossy(&name).into_owned(), flags))
}

// ---- processes (the seccomp mode's fork, and `check`'s) ----

/// `fork()`. Only for a single-threaded process: the child may then run any code until it execs or
/// calls [`exit_now`] (vrf-exec starts no thread before a launch or `check` forks).
pub fn fork() -> nix::Result<nix::unistd::ForkResult> {
    // SAFETY: vrf-exec is single-threaded where it forks (no thread, no runtime is started before), so
    // the child inherits no lock held by another thread.
    unsafe { nix::unistd::fork() }
}

/// `_exit(status)`: ends a forked child at once, without the parent's atexit handlers or destructors
/// (buffered output of the parent's copy would be written twice).
pub fn exit_now(status: i32) -> ! {
    // SAFETY: _exit takes an int and does not return.
    unsafe { libc::_exit(status) }
}

/// Takes ownership of a descriptor this process just received with `SCM_RIGHTS`.
pub fn received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed `fd` in this process for this message; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Restores the default action of `sig` (for a supervisor about to die of the command's signal).
pub fn default_action(sig: nix::sys::signal::Signal) {
    // SAFETY: SIG_DFL installs no handler of ours, so no handler can run with broken invariants.
    let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`: no capability survives an exec as ambient.
pub fn clear_ambient_caps() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `prctl(PR_CAPBSET_DROP, cap)`: capability `cap` out of the bounding set, for this process and every
/// program it execs. Needs CAP_SETPCAP (`EPERM` without it).
pub fn drop_bounding_cap(cap: u32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
