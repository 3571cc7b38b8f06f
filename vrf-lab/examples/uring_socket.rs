//! Makes a socket behind the back of `socket(2)`: sets up an io_uring (`io_uring_setup`, raw system
//! calls) and submits `IORING_OP_SOCKET` (Linux 5.19+) for a UDP/IPv4 socket, which the kernel creates
//! without any `socket` system call a seccomp filter could see. Prints one line:
//!
//! - `setup=errno:EPERM` (or another errno) when `io_uring_setup` fails, as under vrf-exec's seccomp
//!   mode;
//! - `setup=ok socket=errno:E` when the ring works but the operation fails (`EINVAL` before 5.19);
//! - `setup=ok socket=bound:N` when it made a socket: N is the ifindex it is bound to, 0 for none (the
//!   door a seccomp supervisor must keep shut: an unbound socket, in the default VRF).
//!
//! The lab runs it under vrf-exec and outside it, so that a refusal is measured against a kernel where
//! the door is really there.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `struct io_sqring_offsets` (linux/io_uring.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_cqring_offsets`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// `struct io_uring_sqe`, the fields `IORING_OP_SOCKET` reads (64 bytes in all).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    /// The domain.
    fd: i32,
    /// The type (with `SOCK_CLOEXEC`/`SOCK_NONBLOCK`).
    off: u64,
    addr: u64,
    /// The protocol.
    len: u32,
    rw_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    file_index: u32,
    addr3: u64,
    pad: u64,
}

/// `struct io_uring_cqe`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

const IORING_OP_SOCKET: u8 = 45;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_FEAT_SINGLE_MMAP: u32 = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x0800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;

/// A shared mapping of the ring's file, unmapped on drop.
#[derive(Debug)]
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(ring: &OwnedFd, len: usize, offset: i64) -> Result<Map, Errno> {
        use std::os::fd::AsRawFd;
        // SAFETY: a new shared mapping of the ring's file at an address the kernel chooses; nothing else
        // in this process refers to that range.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                ring.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        Ok(Map {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The `u32` at byte `offset`, which the kernel may change: read and written atomically.
    fn word(&self, offset: u32) -> &std::sync::atomic::AtomicU32 {
        assert!(offset as usize + 4 <= self.len && offset.is_multiple_of(4));
        // SAFETY: in bounds and aligned (checked above; the mapping is page-aligned); the mapping lives
        // as long as `self`, and the kernel and this program only access these words atomically.
        unsafe {
            &*self
                .ptr
                .add(offset as usize)
                .cast::<std::sync::atomic::AtomicU32>()
        }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no reference into it outlives `self`.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

fn errno(e: Errno) -> String {
    format!("errno:{e:?}")
}

/// Sets up a ring and has it make a UDP/IPv4 socket; the line to print.
fn attempt() -> String {
    let mut p = Params::default();
    // SAFETY: io_uring_setup(2) reads and fills the `io_uring_params` it is given, which lives across
    // the call; it returns a new file descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            4u32,
            &raw mut p as *mut libc::c_void,
        )
    };
    if fd < 0 {
        return format!("setup={}", errno(Errno::last()));
    }
    // SAFETY: a new descriptor, owned by nothing else.
    let ring = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    match socket_op(&ring, &p) {
        Ok(bound) => format!("setup=ok socket=bound:{bound}"),
        Err(e) => format!("setup=ok socket={}", errno(e)),
    }
}

/// Submits one `IORING_OP_SOCKET` on `ring` and waits for it: the ifindex of the socket it made.
fn socket_op(ring: &OwnedFd, p: &Params) -> Result<u32, Errno> {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;
    let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
    let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<Cqe>();
    let single = p.features & IORING_FEAT_SINGLE_MMAP != 0;
    let sq = Map::new(
        ring,
        if single { sq_len.max(cq_len) } else { sq_len },
        IORING_OFF_SQ_RING,
    )?;
    let cq_own = if single {
        None
    } else {
        Some(Map::new(ring, cq_len, IORING_OFF_CQ_RING)?)
    };
    let cq = cq_own.as_ref().unwrap_or(&sq);
    let sqes = Map::new(
        ring,
        p.sq_entries as usize * std::mem::size_of::<Sqe>(),
        IORING_OFF_SQES,
    )?;
    let mask = sq.word(p.sq_off.ring_mask).load(Ordering::Acquire);
    let tail = sq.word(p.sq_off.tail).load(Ordering::Acquire);
    let slot = tail & mask;
    let sqe = Sqe {
        opcode: IORING_OP_SOCKET,
        fd: libc::AF_INET,
        off: libc::SOCK_DGRAM as u64,
        user_data: 42,
        ..Sqe::default()
    };
    // SAFETY: `slot` < sq_entries (it is masked), so the entry lies inside the SQE mapping, which is
    // page-aligned and a whole number of 64-byte entries; the kernel reads it only after the tail moves.
    unsafe {
        sqes.ptr
            .add(slot as usize * std::mem::size_of::<Sqe>())
            .cast::<Sqe>()
            .write(sqe);
    }
    sq.word(p.sq_off.array + slot * 4)
        .store(slot, Ordering::Release);
    sq.word(p.sq_off.tail)
        .store(tail.wrapping_add(1), Ordering::Release);
    // SAFETY: io_uring_enter(2) with no argument structure: submit one, wait for one completion.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            ring.as_raw_fd(),
            1u32,
            1u32,
            IORING_ENTER_GETEVENTS,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    let head = cq.word(p.cq_off.head).load(Ordering::Acquire);
    if cq.word(p.cq_off.tail).load(Ordering::Acquire) == head {
        return Err(Errno::EAGAIN);
    }
    let cq_mask = cq.word(p.cq_off.ring_mask).load(Ordering::Acquire);
    let at = p.cq_off.cqes as usize + (head & cq_mask) as usize * std::mem::size_of::<Cqe>();
    assert!(at + std::mem::size_of::<Cqe>() <= cq.len);
    // SAFETY: in bounds (checked), 16-byte aligned (cqes is, and entries are 16 bytes); the kernel wrote
    // this entry before moving the tail, which was read with Acquire above.
    let cqe = unsafe { cq.ptr.add(at).cast::<Cqe>().read() };
    cq.word(p.cq_off.head)
        .store(head.wrapping_add(1), Ordering::Release);
    if cqe.res < 0 {
        return Err(Errno::from_raw(-cqe.res));
    }
    // SAFETY: the completion's result is a new descriptor of this process, owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(cqe.res) };
    match vrf_socket::bound_index(&sock) {
        Ok(i) => Ok(i.map_or(0, |i| i.get())),
        Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
    }
}

fn main() {
    println!("{}", attempt());
}
