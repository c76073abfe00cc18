//! The filter program, checked by running it in a small classic-BPF interpreter against
//! synthetic `seccomp_data` (the runtime behaviour is tested in `tests/sandbox.rs`).

use super::*;

/// Evaluates `prog` the way the kernel would for one system call; panics on anything the
/// kernel's checker (`seccomp_check_filter`) would reject.
fn eval(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            OFF_NR => nr,
            OFF_ARCH => arch,
            o if (16..64).contains(&o) && (o - 16) % 4 == 0 => {
                let a = args[((o - 16) / 8) as usize];
                if (o - 16) % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            o => panic!("load from offset {o}"),
        }
    };
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = prog
            .get(pc)
            .unwrap_or_else(|| panic!("ran off the end at {pc}"));
        let take = |cond: bool| pc + 1 + usize::from(if cond { i.jt } else { i.jf });
        pc = match i.code {
            LD_W_ABS => {
                acc = word(i.k);
                pc + 1
            }
            JEQ_K => take(acc == i.k),
            JGT_K => take(acc > i.k),
            JGE_K => take(acc >= i.k),
            JSET_K => take(acc & i.k != 0),
            RET_K => return i.k,
            c => panic!("opcode {c:#x} at {pc}"),
        };
    }
}

fn arch() -> Arch {
    NATIVE_ARCH.expect("the unit tests run on a Hearth architecture")
}

const GW: u32 = 4242;
const GW_PGID: u32 = 4200;

fn prog(network: bool) -> Vec<sock_filter> {
    program(
        &arch(),
        &Options {
            network,
            gateway_pid: GW,
            gateway_pgid: GW_PGID,
        },
    )
}

fn call(p: &[sock_filter], nr: libc::c_long, args: [u64; 6]) -> u32 {
    eval(p, arch().audit, nr as u32, args)
}

const EPERM: u32 = ret_errno(libc::EPERM);

#[test]
fn program_is_well_formed() {
    for network in [false, true] {
        let p = prog(network);
        assert!(p.len() < 255, "{} instructions", p.len());
        assert_eq!(
            (p[0].code, p[0].k),
            (LD_W_ABS, OFF_ARCH),
            "the architecture is checked first"
        );
        let last = p.last().expect("non-empty");
        assert_eq!((last.code, last.k), (RET_K, RET_ALLOW));
        for (pc, i) in p.iter().enumerate() {
            if i.code & 0x07 == 0x05 {
                let far = pc + 1 + usize::from(i.jt.max(i.jf));
                assert!(far < p.len(), "jump at {pc} lands outside the program");
            }
        }
    }
}

#[test]
fn a_foreign_architecture_is_killed() {
    let p = prog(false);
    for foreign in [
        0x4000_0003u32, /* i386 */
        0x4000_0028,    /* arm */
        0xC000_003E,
        0xC000_00B7,
    ] {
        if foreign != arch().audit {
            assert_eq!(
                eval(&p, foreign, 0, [0; 6]),
                RET_KILL_PROCESS,
                "{foreign:#x}"
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_x32_abi_is_killed() {
    let p = prog(true);
    assert_eq!(call(&p, 0x4000_0000 | 39, [0; 6]), RET_KILL_PROCESS); // x32 getpid
    assert_eq!(call(&p, 0x4000_0000 | 1, [0; 6]), RET_KILL_PROCESS);
    assert_eq!(call(&p, libc::SYS_getpid, [0; 6]), RET_ALLOW);
}

#[test]
fn ordinary_calls_pass() {
    let p = prog(false);
    for nr in [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_openat,
        libc::SYS_execve,
        libc::SYS_wait4,
        libc::SYS_landlock_restrict_self,
        libc::SYS_socketpair,
        libc::SYS_prlimit64,
        libc::SYS_close_range,
    ] {
        assert_eq!(call(&p, nr, [0; 6]), RET_ALLOW, "nr {nr}");
    }
    assert_eq!(call(&p, MAX_KNOWN as libc::c_long, [0; 6]), RET_ALLOW);
}

#[test]
fn escape_calls_are_refused_with_eperm() {
    let p = prog(true);
    for nr in [
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_setsid,
        libc::SYS_setpgid,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_fsopen,
        libc::SYS_open_by_handle_at,
        libc::SYS_pidfd_getfd,
    ] {
        assert_eq!(call(&p, nr, [0; 6]), EPERM, "nr {nr}");
    }
}

#[test]
fn clone_with_namespace_flags_is_refused_and_clone3_is_enosys() {
    let p = prog(true);
    let sigchld = libc::SIGCHLD as u64;
    assert_eq!(
        call(&p, libc::SYS_clone, [sigchld, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    assert_eq!(
        call(&p, libc::SYS_clone, [thread, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    for ns in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ] {
        assert_eq!(
            call(&p, libc::SYS_clone, [ns as u64 | sigchld, 0, 0, 0, 0, 0]),
            EPERM,
            "{ns:#x}"
        );
    }
    assert_eq!(call(&p, libc::SYS_clone3, [0; 6]), ret_errno(libc::ENOSYS));
}

#[test]
fn sockets_follow_the_network_switch() {
    let off = prog(false);
    let on = prog(true);
    let eafnosupport = ret_errno(libc::EAFNOSUPPORT);
    for family in [
        libc::AF_INET,
        libc::AF_INET6,
        libc::AF_NETLINK,
        libc::AF_PACKET,
    ] {
        let args = [family as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
        assert_eq!(
            call(&off, libc::SYS_socket, args),
            eafnosupport,
            "family {family}"
        );
        assert_eq!(
            call(&on, libc::SYS_socket, args),
            RET_ALLOW,
            "family {family}"
        );
    }
    assert_eq!(
        call(
            &off,
            libc::SYS_socket,
            [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]
        ),
        RET_ALLOW
    );
    // The kernel reads the int argument's low 32 bits; so does the filter.
    assert_eq!(
        call(
            &off,
            libc::SYS_socket,
            [0xdead_beef_0000_0001, 1, 0, 0, 0, 0]
        ),
        RET_ALLOW
    );
    assert_eq!(
        call(
            &off,
            libc::SYS_socket,
            [0x0000_0001_0000_0002, 1, 0, 0, 0, 0]
        ),
        eafnosupport
    );
}

#[test]
fn the_gateway_cannot_be_signalled() {
    let p = prog(true);
    let neg = |v: u32| u64::from(v.wrapping_neg());
    for target in [
        u64::from(u32::MAX),
        u64::from(GW),
        neg(GW),
        neg(GW_PGID),
        u64::MAX,
    ] {
        assert_eq!(
            call(&p, libc::SYS_kill, [target, 9, 0, 0, 0, 0]),
            EPERM,
            "kill({target:#x})"
        );
    }
    assert_eq!(
        call(&p, libc::SYS_kill, [0, 9, 0, 0, 0, 0]),
        RET_ALLOW,
        "own group"
    );
    assert_eq!(call(&p, libc::SYS_kill, [777, 9, 0, 0, 0, 0]), RET_ALLOW);
    for nr in [
        libc::SYS_tgkill,
        libc::SYS_tkill,
        libc::SYS_pidfd_open,
        libc::SYS_rt_sigqueueinfo,
    ] {
        assert_eq!(
            call(&p, nr, [u64::from(GW), 0, 0, 0, 0, 0]),
            EPERM,
            "nr {nr}"
        );
        assert_eq!(call(&p, nr, [777, 0, 0, 0, 0, 0]), RET_ALLOW, "nr {nr}");
    }
    assert_eq!(
        call(&p, libc::SYS_pidfd_send_signal, [3, 9, 0, 0, 0, 0]),
        EPERM
    );
}

#[test]
#[allow(clippy::unnecessary_cast)] // TCGETS's type differs between targets
fn personality_and_terminal_injection() {
    let p = prog(true);
    assert_eq!(
        call(&p, libc::SYS_personality, [0, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        call(&p, libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        call(
            &p,
            libc::SYS_personality,
            [0x0040000 /* ADDR_NO_RANDOMIZE */, 0, 0, 0, 0, 0]
        ),
        EPERM
    );
    assert_eq!(
        call(&p, libc::SYS_ioctl, [0, u64::from(TIOCSTI), 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        call(&p, libc::SYS_ioctl, [0, u64::from(TIOCLINUX), 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        call(&p, libc::SYS_ioctl, [0, libc::TCGETS as u64, 0, 0, 0, 0]),
        RET_ALLOW
    );
}

#[test]
fn unknown_numbers_fail_with_enosys() {
    let p = prog(true);
    let enosys = ret_errno(libc::ENOSYS);
    for nr in [MAX_KNOWN + 1, 600, 1000, 0x3fff_ffff] {
        assert_eq!(eval(&p, arch().audit, nr, [0; 6]), enosys, "nr {nr}");
    }
    if let Some((lo, hi)) = arch().private {
        assert_eq!(
            eval(&p, arch().audit, lo + 5, [0; 6]),
            RET_ALLOW,
            "ARM set_tls"
        );
        assert_eq!(eval(&p, arch().audit, hi + 1, [0; 6]), enosys);
    }
}

#[test]
fn errno_values_are_encoded() {
    assert_eq!(ret_errno(libc::EPERM), 0x0005_0001);
    assert_eq!(ret_errno(libc::ENOSYS), 0x0005_0026);
}
