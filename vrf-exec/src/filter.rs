//! The seccomp filter of the seccomp mode: which system calls of the command go to the supervisor, which
//! are refused, and which run as they are.
//!
//! Per system call, in the order the program checks them:
//! - another architecture's ABI than vrf-exec's own (the i386 `int 0x80` entry of an x86_64 process, an
//!   arm32 program on arm64): its `socket`, `socketcall` and `io_uring_setup` fail with `EPERM` (the
//!   supervisor only speaks the native ABI); any other architecture kills the process;
//! - the x32 ABI (x86_64 numbers with bit 30 set): `ENOSYS`, every call;
//! - `socket(AF_INET | AF_INET6, …)`: handed to the supervisor (`SECCOMP_RET_USER_NOTIF`), which answers
//!   with a socket bound to the VRF or an error;
//! - `io_uring_setup`: `EPERM`, so that no ring can make a socket (`IORING_OP_SOCKET`) behind the filter's
//!   back (programs fall back to plain system calls, as when `kernel.io_uring_disabled` is set);
//! - everything else, `socket()` of other families (unix, netlink, packet) included: allowed.
//!
//! The filter compares the low 32 bits of `socket`'s first argument, which is what the kernel reads (an
//! `int`). The program is built here and checked by a small interpreter in the tests; the lab checks
//! what the kernel does with it.

/// `struct seccomp_data` offsets.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

/// Audit architecture values (linux/audit.h).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "vrf-exec's seccomp filter knows the system call numbers of x86_64 and aarch64 only"
);

/// The x32 ABI's marker bit in x86_64 system call numbers.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One ABI: its audit architecture and its numbers for the calls the filter looks at.
#[derive(Debug, Clone, Copy)]
pub struct Abi {
    pub arch: u32,
    pub socket: u32,
    /// `socketcall` (the multiplexer of 32-bit x86), where the ABI has it.
    pub socketcall: Option<u32>,
    pub io_uring_setup: u32,
}

/// The native ABI of this build, and the foreign one its kernel may also run in the same process.
#[cfg(target_arch = "x86_64")]
pub const NATIVE: Abi = Abi {
    arch: AUDIT_ARCH_X86_64,
    socket: 41,
    socketcall: None,
    io_uring_setup: 425,
};
#[cfg(target_arch = "x86_64")]
pub const FOREIGN: Abi = Abi {
    arch: AUDIT_ARCH_I386,
    socket: 359,
    socketcall: Some(102),
    io_uring_setup: 425,
};
#[cfg(target_arch = "aarch64")]
pub const NATIVE: Abi = Abi {
    arch: AUDIT_ARCH_AARCH64,
    socket: 198,
    socketcall: None,
    io_uring_setup: 425,
};
#[cfg(target_arch = "aarch64")]
pub const FOREIGN: Abi = Abi {
    arch: AUDIT_ARCH_ARM,
    socket: 281,
    socketcall: None,
    io_uring_setup: 425,
};

/// The return values the filter uses.
pub const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub const RET_NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
pub const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
pub const fn ret_errno(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
}

/// A step of the program before assembly: jumps name their target by label, and only go forward.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `A = seccomp_data[offset]` (32 bits).
    Load(u32),
    /// To `Label` when `A == k`, else on.
    JumpIfEq(u32, Label),
    /// To `Label` when `A != k`, else on.
    JumpIfNe(u32, Label),
    /// To `Label` when `A >= k`, else on.
    JumpIfGe(u32, Label),
    Return(u32),
    /// Where a label points (not an instruction).
    Here(Label),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Foreign,
    Domain,
    Notify,
    Eperm,
    Enosys,
    Kill,
}

/// Classic BPF opcodes (linux/bpf_common.h: class | size | mode, class | op | source).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

/// The filter, ready for `seccomp(2)` (see the module's documentation for what it decides).
pub fn program() -> Vec<libc::sock_filter> {
    use Label::*;
    use Step::*;
    let mut s = vec![Load(ARCH), JumpIfNe(NATIVE.arch, Foreign), Load(NR)];
    if NATIVE.arch == AUDIT_ARCH_X86_64 {
        s.push(JumpIfGe(X32_SYSCALL_BIT, Enosys));
    }
    s.extend([
        JumpIfEq(NATIVE.socket, Domain),
        JumpIfEq(NATIVE.io_uring_setup, Eperm),
        Return(RET_ALLOW),
        Here(Domain),
        Load(ARG0_LOW),
        JumpIfEq(libc::AF_INET as u32, Notify),
        JumpIfEq(libc::AF_INET6 as u32, Notify),
        Return(RET_ALLOW),
        Here(Notify),
        Return(RET_NOTIFY),
        Here(Foreign),
        JumpIfNe(FOREIGN.arch, Kill),
        Load(NR),
        JumpIfEq(FOREIGN.socket, Eperm),
    ]);
    if let Some(n) = FOREIGN.socketcall {
        s.push(JumpIfEq(n, Eperm));
    }
    s.extend([
        JumpIfEq(FOREIGN.io_uring_setup, Eperm),
        Return(RET_ALLOW),
        Here(Kill),
        Return(RET_KILL),
        Here(Eperm),
        Return(ret_errno(libc::EPERM)),
        Here(Enosys),
        Return(ret_errno(libc::ENOSYS)),
    ]);
    assemble(&s)
}

/// Turns steps into instructions, resolving each label to the distance from the jump.
fn assemble(steps: &[Step]) -> Vec<libc::sock_filter> {
    let mut at = Vec::new();
    let mut pc = 0usize;
    for s in steps {
        match s {
            Step::Here(l) => at.push((*l, pc)),
            _ => pc += 1,
        }
    }
    let target = |l: Label, pc: usize| -> u8 {
        let (_, to) = at
            .iter()
            .find(|(m, _)| *m == l)
            .expect("every label is placed");
        u8::try_from(to - pc - 1).expect("jumps are short and forward")
    };
    let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut out = Vec::new();
    for s in steps {
        let pc = out.len();
        out.push(match *s {
            Step::Here(_) => continue,
            Step::Load(off) => ins(BPF_LD_W_ABS, 0, 0, off),
            Step::JumpIfEq(k, l) => ins(BPF_JMP_JEQ_K, target(l, pc), 0, k),
            Step::JumpIfNe(k, l) => ins(BPF_JMP_JEQ_K, 0, target(l, pc), k),
            Step::JumpIfGe(k, l) => ins(BPF_JMP_JGE_K, target(l, pc), 0, k),
            Step::Return(k) => ins(BPF_RET_K, 0, 0, k),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `prog` on (arch, nr, first argument) as the kernel's classic BPF interpreter would, for the
    /// instructions `program` uses.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        let word = |off: u32| match off {
            NR => nr,
            ARCH => arch,
            ARG0_LOW => arg0 as u32,
            _ => panic!("unexpected load at {off}"),
        };
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => a = word(i.k),
                BPF_JMP_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                BPF_JMP_JGE_K => pc += usize::from(if a >= i.k { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn inet_sockets_go_to_the_supervisor_and_nothing_else_does() {
        let p = program();
        let n = NATIVE;
        for domain in [libc::AF_INET, libc::AF_INET6] {
            assert_eq!(run(&p, n.arch, n.socket, domain as u64), RET_NOTIFY);
            // The kernel reads an int: high bits do not hide the family.
            let high = (1u64 << 32) | domain as u64;
            assert_eq!(run(&p, n.arch, n.socket, high), RET_NOTIFY);
        }
        for domain in [libc::AF_UNIX, libc::AF_NETLINK, libc::AF_PACKET, 0, 99] {
            assert_eq!(run(&p, n.arch, n.socket, domain as u64), RET_ALLOW);
        }
        // Other calls, with AF_INET-like first arguments.
        for nr in [0, 1, 2, 42, 54, 59, 231] {
            assert_eq!(run(&p, n.arch, nr, libc::AF_INET as u64), RET_ALLOW);
        }
    }

    #[test]
    fn side_doors_are_closed() {
        let p = program();
        let eperm = ret_errno(libc::EPERM);
        assert_eq!(run(&p, NATIVE.arch, NATIVE.io_uring_setup, 8), eperm);
        let f = FOREIGN;
        assert_eq!(run(&p, f.arch, f.socket, libc::AF_INET as u64), eperm);
        assert_eq!(run(&p, f.arch, f.socket, libc::AF_UNIX as u64), eperm);
        if let Some(sc) = f.socketcall {
            assert_eq!(run(&p, f.arch, sc, 1), eperm);
        }
        assert_eq!(run(&p, f.arch, f.io_uring_setup, 8), eperm);
        // A foreign ABI's other calls still work (a 32-bit program can run, without the network).
        assert_eq!(run(&p, f.arch, 1, 0), RET_ALLOW);
        // Any other architecture is killed.
        assert_eq!(run(&p, 0x1234, NATIVE.socket, 2), RET_KILL);
        if NATIVE.arch == AUDIT_ARCH_X86_64 {
            let x32_socket = X32_SYSCALL_BIT | NATIVE.socket;
            assert_eq!(
                run(&p, NATIVE.arch, x32_socket, libc::AF_INET as u64),
                ret_errno(libc::ENOSYS)
            );
        }
    }
}
