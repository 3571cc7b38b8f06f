//! Makes sockets through another ABI than the native one, where a seccomp filter that only knows the
//! x86_64 system call numbers would not see them: from this x86_64 program,
//!
//! - `socket`: the i386 `socket(AF_INET, SOCK_DGRAM, 0)` (number 359) through `int 0x80`;
//! - `socketcall`: the i386 multiplexer (number 102, `SYS_SOCKET`), its three arguments in memory below
//!   4 GiB (`MAP_32BIT`: `int 0x80` passes 32-bit pointers);
//! - `io_uring_setup`: the i386 `io_uring_setup` (number 425), a ring that could make sockets
//!   (`IORING_OP_SOCKET`) without any system call at all;
//! - `x32_socket`: the x32 ABI's `socket` (`0x40000000 | 41`) through `syscall`.
//!
//! Prints one line, `socket=R socketcall=R io_uring_setup=R x32_socket=R`, where R is `bound:N` (a socket
//! was made, bound to ifindex N, 0 for none), `fd` (a ring was made), or `errno:NAME`. Under vrf-exec's
//! seccomp mode the i386 calls must fail with `EPERM` and x32 with `ENOSYS`; outside it, on a kernel
//! with i386 emulation, the i386 calls succeed (the door is real) and x32 works only where the kernel
//! enables it (Debian builds it in but turns it off by default: `ENOSYS` either way there).
//!
//! On other architectures it prints `unsupported`.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;
    use std::os::fd::{FromRawFd, OwnedFd};

    use nix::errno::Errno;

    const I386_SOCKETCALL: u32 = 102;
    const I386_SOCKET: u32 = 359;
    const I386_IO_URING_SETUP: u32 = 425;
    const SYS_SOCKET: u32 = 1;
    const X32_SOCKET: u64 = 0x4000_0000 | 41;

    /// A system call through the i386 entry (`int 0x80`): `nr(a, b, c)`, the kernel's return value
    /// (a negative errno on failure).
    fn int80(nr: u32, a: u32, b: u32, c: u32) -> i32 {
        let ret: u64;
        // SAFETY: `int 0x80` enters the kernel's i386 system call path; it reads eax, ebx, ecx, edx and
        // returns in eax, leaving the other registers as they were (r8 to r11 are declared clobbered
        // for kernels before 4.17, which zeroed them). rbx is reserved by the compiler, so the argument
        // goes through another register and rbx is swapped back afterwards. The calls made here take
        // no pointer, or a pointer to memory below 4 GiB that the caller owns (see `low_page`).
        unsafe {
            asm!(
                "xchg {a}, rbx",
                "int 0x80",
                "xchg {a}, rbx",
                a = inout(reg) u64::from(a) => _,
                inlateout("rax") u64::from(nr) => ret,
                in("rcx") u64::from(b),
                in("rdx") u64::from(c),
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
            );
        }
        ret as u32 as i32
    }

    /// `socket(AF_INET, SOCK_DGRAM, 0)` through the x32 ABI (`syscall` with bit 30 set).
    fn x32_socket() -> i64 {
        let ret: i64;
        // SAFETY: the `syscall` instruction with the x32 number of socket(2) and integer arguments; it
        // returns in rax and clobbers rcx and r11, as the ABI says.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") X32_SOCKET as i64 => ret,
                in("rdi") libc::AF_INET as u64,
                in("rsi") libc::SOCK_DGRAM as u64,
                in("rdx") 0u64,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// One page below 4 GiB, zeroed, private to this process; never unmapped (the program is short).
    fn low_page() -> Result<*mut u8, Errno> {
        // SAFETY: a new anonymous private mapping at an address the kernel chooses in the low 2 GiB;
        // nothing else refers to it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        assert!((p as usize) < (1 << 32), "MAP_32BIT gave {p:?}");
        Ok(p.cast())
    }

    /// What a returned descriptor is: `bound:N` for a socket, or the errno.
    fn describe_socket(ret: i64) -> String {
        if ret < 0 {
            return format!("errno:{:?}", Errno::from_raw(-ret as i32));
        }
        // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
        let sock = unsafe { OwnedFd::from_raw_fd(ret as i32) };
        match vrf_socket::bound_index(&sock) {
            Ok(i) => format!("bound:{}", i.map_or(0, |i| i.get())),
            Err(e) => format!("error:{e}"),
        }
    }

    pub fn attempt() -> String {
        let socket = int80(
            I386_SOCKET,
            libc::AF_INET as u32,
            libc::SOCK_DGRAM as u32,
            0,
        );
        let (socketcall, uring) = match low_page() {
            Ok(page) => {
                let args = [libc::AF_INET as u32, libc::SOCK_DGRAM as u32, 0];
                // SAFETY: the page is ours, writable, 4096 bytes: 12 bytes at its start.
                unsafe { page.cast::<[u32; 3]>().write(args) };
                let sc = int80(I386_SOCKETCALL, SYS_SOCKET, page as u32, 0);
                // `struct io_uring_params` (120 bytes, zeroed) after the arguments, 8-byte aligned.
                // SAFETY: in the page, which is ours; zeroed as the call requires.
                let params = unsafe { page.add(64) };
                // SAFETY: as above, 120 bytes inside the page.
                unsafe { params.write_bytes(0, 120) };
                let ring = int80(I386_IO_URING_SETUP, 4, params as u32, 0);
                let ring = if ring < 0 {
                    format!("errno:{:?}", Errno::from_raw(-ring))
                } else {
                    // SAFETY: a new descriptor from the kernel, owned by nothing else: closed here.
                    drop(unsafe { OwnedFd::from_raw_fd(ring) });
                    "fd".to_string()
                };
                (describe_socket(i64::from(sc)), ring)
            }
            Err(e) => (format!("mmap:{e:?}"), format!("mmap:{e:?}")),
        };
        format!(
            "socket={} socketcall={socketcall} io_uring_setup={uring} x32_socket={}",
            describe_socket(i64::from(socket)),
            describe_socket(x32_socket())
        )
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    println!("{}", x86::attempt());
    #[cfg(not(target_arch = "x86_64"))]
    println!("unsupported");
}
