//! The thin system-call layer: every `unsafe` of the crate lives here.
//!
//! Socket options and device binding go through socket2; what it lacks is message I/O with control data,
//! one datagram at a time (`recvmsg`/`sendmsg`) or in batches (`recvmmsg`/`sendmmsg`).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use socket2::{SockAddr, SockAddrStorage};

/// What [`recvmsg`](crate::cmsg::recvmsg) received; read its control messages with
/// [`Received::cmsgs`]. (Defined with the system calls that fill it, so that this layer imports nothing
/// from above.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// Bytes of payload written into the buffer; with `MSG_TRUNC` among the flags asked for, the
    /// message's full size instead, which may exceed the buffer (then `flags` has `MSG_TRUNC` too).
    pub len: usize,
    /// The sender (`msg_name`). For a message from the error queue, the destination of the packet the
    /// error is about. `None` when the kernel names no address or it is not an IP one.
    pub src: Option<SocketAddr>,
    /// `msg_flags`: `MSG_TRUNC`, `MSG_CTRUNC`, `MSG_ERRQUEUE` …
    pub flags: i32,
    /// Bytes of control data the kernel wrote at the start of the control buffer (`msg_controllen`).
    pub control_len: usize,
}

/// One datagram to send: payload, destination and an encoded control buffer.
#[derive(Debug)]
pub(crate) struct SendMsg<'a> {
    pub payload: &'a [u8],
    pub dst: &'a SockAddr,
    pub control: &'a [u8],
}

/// Buffers for one datagram to receive into.
#[derive(Debug)]
pub(crate) struct RecvMsg<'a> {
    pub payload: &'a mut [u8],
    /// The kernel needs no alignment here (`put_cmsg` copies bytes), nor does `cmsg::decode`.
    pub control: &'a mut [u8],
}

fn msghdr(
    name: *mut SockAddrStorage,
    namelen: u32,
    iov: *mut libc::iovec,
    control: *mut u8,
    controllen: usize,
) -> libc::msghdr {
    // SAFETY: msghdr is plain old data; all-zero is a valid (empty) value.
    let mut h: libc::msghdr = unsafe { mem::zeroed() };
    h.msg_name = name.cast();
    h.msg_namelen = namelen;
    h.msg_iov = iov;
    h.msg_iovlen = 1;
    h.msg_control = if controllen == 0 {
        ptr::null_mut()
    } else {
        control.cast()
    };
    h.msg_controllen = controllen;
    h
}

/// `recvmsg(2)` of one datagram with its control messages, with `flags` (`MSG_TRUNC`, `MSG_ERRQUEUE`,
/// `MSG_DONTWAIT` …) as the caller asks.
pub(crate) fn recvmsg(fd: BorrowedFd<'_>, msg: RecvMsg<'_>, flags: i32) -> io::Result<Received> {
    let mut storage = SockAddrStorage::zeroed();
    let mut iov = libc::iovec {
        iov_base: msg.payload.as_mut_ptr().cast(),
        iov_len: msg.payload.len(),
    };
    let mut h = msghdr(
        &mut storage,
        storage.size_of(),
        &mut iov,
        msg.control.as_mut_ptr(),
        msg.control.len(),
    );
    // SAFETY: every pointer in `h` points into a live buffer of the stated length, borrowed mutably for
    // the duration of the call; the kernel writes at most those lengths.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut h, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised `storage` as the address family it set, with length msg_namelen.
    let src = unsafe { SockAddr::new(storage, h.msg_namelen) };
    Ok(received(n as usize, &src, &h))
}

/// What `recvmsg`/`recvmmsg` reported for one message: `len` bytes, its header and its source.
fn received(len: usize, src: &SockAddr, h: &libc::msghdr) -> Received {
    Received {
        len,
        // An unnamed sender (msg_namelen 0, e.g. a connected stream) or one that is not IP has no address.
        src: src.as_socket(),
        flags: h.msg_flags,
        control_len: h.msg_controllen,
    }
}

/// `sendmsg(2)` of one datagram with control messages.
pub(crate) fn sendmsg(fd: BorrowedFd<'_>, msg: &SendMsg<'_>) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: msg.payload.as_ptr().cast_mut().cast(),
        iov_len: msg.payload.len(),
    };
    let h = msghdr(
        msg.dst.as_ptr().cast_mut(),
        msg.dst.len(),
        &mut iov,
        msg.control.as_ptr().cast_mut(),
        msg.control.len(),
    );
    // SAFETY: `h` points to the payload, address and control buffers, all alive for the call; sendmsg
    // only reads through the pointers despite their `*mut` type.
    let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &h, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recvmmsg(2)`: receives up to `msgs.len()` datagrams, waiting only for the first (`MSG_WAITFORONE`).
/// Returns one [`Received`] per datagram.
pub(crate) fn recvmmsg(fd: BorrowedFd<'_>, msgs: &mut [RecvMsg<'_>]) -> io::Result<Vec<Received>> {
    let n = msgs.len();
    let mut storages: Vec<SockAddrStorage> = (0..n).map(|_| SockAddrStorage::zeroed()).collect();
    let mut iovs: Vec<libc::iovec> = msgs
        .iter_mut()
        .map(|m| libc::iovec {
            iov_base: m.payload.as_mut_ptr().cast(),
            iov_len: m.payload.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = (0..n)
        .map(|i| libc::mmsghdr {
            msg_hdr: msghdr(
                &mut storages[i],
                storages[i].size_of(),
                &mut iovs[i],
                msgs[i].control.as_mut_ptr(),
                msgs[i].control.len(),
            ),
            msg_len: 0,
        })
        .collect();
    // SAFETY: `hdrs` holds `n` headers whose pointers reach `storages`, `iovs` and the caller's buffers,
    // none of which moves or is freed before the call returns.
    let got = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_WAITFORONE,
            ptr::null_mut(),
        )
    };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(hdrs
        .iter()
        .zip(storages)
        .take(got as usize)
        .map(|(h, storage)| {
            // SAFETY: the kernel initialised this storage as the address of datagram i, of msg_namelen bytes.
            let src = unsafe { SockAddr::new(storage, h.msg_hdr.msg_namelen) };
            received(h.msg_len as usize, &src, &h.msg_hdr)
        })
        .collect())
}

/// `sendmmsg(2)`: sends the datagrams in order; returns how many the kernel took (at least one, or an
/// error for the first).
pub(crate) fn sendmmsg(fd: BorrowedFd<'_>, msgs: &[SendMsg<'_>]) -> io::Result<usize> {
    let mut iovs: Vec<libc::iovec> = msgs
        .iter()
        .map(|m| libc::iovec {
            iov_base: m.payload.as_ptr().cast_mut().cast(),
            iov_len: m.payload.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = msgs
        .iter()
        .zip(iovs.iter_mut())
        .map(|(m, iov)| libc::mmsghdr {
            msg_hdr: msghdr(
                m.dst.as_ptr().cast_mut(),
                m.dst.len(),
                iov,
                m.control.as_ptr().cast_mut(),
                m.control.len(),
            ),
            msg_len: 0,
        })
        .collect();
    // SAFETY: each header points at buffers borrowed for the call (`iovs`, the caller's payloads, addresses
    // and control data); sendmmsg only reads through them.
    let sent = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            hdrs.len() as libc::c_uint,
            libc::MSG_NOSIGNAL,
        )
    };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

/// `setsockopt(2)` of an `int` option.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: i32,
    name: i32,
    value: i32,
) -> io::Result<()> {
    // SAFETY: the option value is a live c_int and its exact size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(&value).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Registers an owned UDP socket with tokio's reactor.
#[cfg(feature = "tokio")]
pub(crate) fn register_async(
    socket: std::net::UdpSocket,
) -> io::Result<tokio::io::unix::AsyncFd<std::net::UdpSocket>> {
    // SAFETY: the AsyncFd owns the socket, so its descriptor stays open and the same for the AsyncFd's
    // whole life; UdpSocket::as_raw_fd always returns that one descriptor.
    unsafe { tokio::io::unix::AsyncFd::register(socket) }.map_err(io::Error::from)
}

/// A descriptor of process `pid` (`pidfd_open(2)`, Linux 5.3).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a pid and flags, touches no memory of ours, and returns a new descriptor
    // or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    owned(fd)
}

/// A duplicate, in this process, of descriptor `target` of the process behind `pidfd`
/// (`pidfd_getfd(2)`, Linux 5.6; needs ptrace access to that process, as root has).
pub(crate) fn pidfd_getfd(pidfd: BorrowedFd<'_>, target: i32) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: pidfd_getfd takes two descriptors and flags, touches no memory of ours, and returns a new
    // descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
    owned(fd)
}

/// The descriptor a system call returned, owned, or its error.
fn owned(fd: libc::c_long) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
