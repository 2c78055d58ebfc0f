//! Compiler tests: the generated BPF runs in a small interpreter over
//! synthetic `seccomp_data`, so assertions are about real decisions.

use super::compiler::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::emit::*;
use super::*;
use libc::sock_filter;
use oci_spec::runtime::LinuxSeccomp;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL: u32 = libc::SECCOMP_RET_KILL_THREAD;

fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

/// Runs a classic BPF program over seccomp_data; supports the opcodes rt emits
/// and panics on anything else or on a malformed program.
fn run(prog: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    data[8..16].copy_from_slice(&0x7fff_0000_1234u64.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    assert!(prog.len() <= BPF_MAXINSNS, "program too long");
    let mut a: u32 = 0;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= prog.len(), "looping program");
        let insn = prog
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} out of program"));
        let k = insn.k;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                let off = k as usize;
                assert!(
                    off.is_multiple_of(4) && off + 4 <= 64,
                    "bad load offset {off}"
                );
                a = u32::from_ne_bytes(data[off..off + 4].try_into().unwrap());
                pc += 1;
            }
            c if c == BPF_ALU | BPF_AND | BPF_K => {
                a &= k;
                pc += 1;
            }
            c if c == BPF_RET | BPF_K => return k,
            c if c == BPF_JMP | BPF_JA => pc += 1 + k as usize,
            c if c & 0x07 == BPF_JMP => {
                let taken = match c {
                    c if c == BPF_JMP | BPF_JEQ | BPF_K => a == k,
                    c if c == BPF_JMP | BPF_JGT | BPF_K => a > k,
                    c if c == BPF_JMP | BPF_JGE | BPF_K => a >= k,
                    _ => panic!("unexpected jump opcode {c:#x}"),
                };
                pc += 1 + if taken { insn.jt } else { insn.jf } as usize;
            }
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("valid profile JSON")
}

fn compiled(json: serde_json::Value) -> CompiledSeccomp {
    compile(&profile(json)).expect("profile compiles")
}

fn nr64(name: &str) -> u32 {
    super::compiler::lookup_for_tests("x86_64", name)
}
fn nr32(name: &str) -> u32 {
    super::compiler::lookup_for_tests("i386", name)
}
fn nrx32(name: &str) -> u32 {
    super::compiler::lookup_for_tests("x32", name)
}

fn x64(c: &CompiledSeccomp, name: &str, args: [u64; 6]) -> u32 {
    run(&c.program, nr64(name), AUDIT_ARCH_X86_64, args)
}

/// Every x86_64 entry against libc's SYS_* constants: those libc has are compared one by one,
/// and the few it lacks are named, so a new table entry cannot go unchecked.
#[test]
fn x86_64_table_matches_libc() {
    macro_rules! libc_numbers {
        ($($sys:ident)*) => { [$((&stringify!($sys)[4..], libc::$sys as u32)),*] };
    }
    let libc_has = libc_numbers!(
        SYS__sysctl SYS_accept SYS_accept4 SYS_access SYS_acct SYS_add_key SYS_adjtimex
        SYS_afs_syscall SYS_alarm SYS_arch_prctl SYS_bind SYS_bpf SYS_brk SYS_capget
        SYS_capset SYS_chdir SYS_chmod SYS_chown SYS_chroot SYS_clock_adjtime
        SYS_clock_getres SYS_clock_gettime SYS_clock_nanosleep SYS_clock_settime SYS_clone
        SYS_clone3 SYS_close SYS_close_range SYS_connect SYS_copy_file_range SYS_creat
        SYS_delete_module SYS_dup SYS_dup2 SYS_dup3 SYS_epoll_create SYS_epoll_create1
        SYS_epoll_ctl SYS_epoll_ctl_old SYS_epoll_pwait SYS_epoll_pwait2 SYS_epoll_wait
        SYS_epoll_wait_old SYS_eventfd SYS_eventfd2 SYS_execve SYS_execveat SYS_exit
        SYS_exit_group SYS_faccessat SYS_faccessat2 SYS_fadvise64 SYS_fallocate
        SYS_fanotify_init SYS_fanotify_mark SYS_fchdir SYS_fchmod SYS_fchmodat SYS_fchmodat2
        SYS_fchown SYS_fchownat SYS_fcntl SYS_fdatasync SYS_fgetxattr SYS_finit_module
        SYS_flistxattr SYS_flock SYS_fork SYS_fremovexattr SYS_fsconfig SYS_fsetxattr
        SYS_fsmount SYS_fsopen SYS_fspick SYS_fstat SYS_fstatfs SYS_fsync SYS_ftruncate
        SYS_futex SYS_futex_waitv SYS_futimesat SYS_get_mempolicy SYS_get_robust_list
        SYS_get_thread_area SYS_getcpu SYS_getcwd SYS_getdents SYS_getdents64 SYS_getegid
        SYS_geteuid SYS_getgid SYS_getgroups SYS_getitimer SYS_getpeername SYS_getpgid
        SYS_getpgrp SYS_getpid SYS_getpmsg SYS_getppid SYS_getpriority SYS_getrandom
        SYS_getresgid SYS_getresuid SYS_getrlimit SYS_getrusage SYS_getsid SYS_getsockname
        SYS_getsockopt SYS_gettid SYS_gettimeofday SYS_getuid SYS_getxattr SYS_init_module
        SYS_inotify_add_watch SYS_inotify_init SYS_inotify_init1 SYS_inotify_rm_watch
        SYS_io_cancel SYS_io_destroy SYS_io_getevents SYS_io_setup SYS_io_submit
        SYS_io_uring_enter SYS_io_uring_register SYS_io_uring_setup SYS_ioctl SYS_ioperm
        SYS_iopl SYS_ioprio_get SYS_ioprio_set SYS_kcmp SYS_kexec_file_load SYS_kexec_load
        SYS_keyctl SYS_kill SYS_landlock_add_rule SYS_landlock_create_ruleset
        SYS_landlock_restrict_self SYS_lchown SYS_lgetxattr SYS_link SYS_linkat SYS_listen
        SYS_listxattr SYS_llistxattr SYS_lookup_dcookie SYS_lremovexattr SYS_lseek
        SYS_lsetxattr SYS_lstat SYS_madvise SYS_mbind SYS_membarrier SYS_memfd_create
        SYS_memfd_secret SYS_migrate_pages SYS_mincore SYS_mkdir SYS_mkdirat SYS_mknod
        SYS_mknodat SYS_mlock SYS_mlock2 SYS_mlockall SYS_mmap SYS_modify_ldt SYS_mount
        SYS_mount_setattr SYS_move_mount SYS_move_pages SYS_mprotect SYS_mq_getsetattr
        SYS_mq_notify SYS_mq_open SYS_mq_timedreceive SYS_mq_timedsend SYS_mq_unlink
        SYS_mremap SYS_mseal SYS_msgctl SYS_msgget SYS_msgrcv SYS_msgsnd SYS_msync
        SYS_munlock SYS_munlockall SYS_munmap SYS_name_to_handle_at SYS_nanosleep
        SYS_newfstatat SYS_nfsservctl SYS_open SYS_open_by_handle_at SYS_open_tree
        SYS_openat SYS_openat2 SYS_pause SYS_perf_event_open SYS_personality SYS_pidfd_getfd
        SYS_pidfd_open SYS_pidfd_send_signal SYS_pipe SYS_pipe2 SYS_pivot_root
        SYS_pkey_alloc SYS_pkey_free SYS_pkey_mprotect SYS_poll SYS_ppoll SYS_prctl
        SYS_pread64 SYS_preadv SYS_preadv2 SYS_prlimit64 SYS_process_madvise
        SYS_process_mrelease SYS_process_vm_readv SYS_process_vm_writev SYS_pselect6
        SYS_ptrace SYS_putpmsg SYS_pwrite64 SYS_pwritev SYS_pwritev2 SYS_quotactl
        SYS_quotactl_fd SYS_read SYS_readahead SYS_readlink SYS_readlinkat SYS_readv
        SYS_reboot SYS_recvfrom SYS_recvmmsg SYS_recvmsg SYS_remap_file_pages
        SYS_removexattr SYS_rename SYS_renameat SYS_renameat2 SYS_request_key
        SYS_restart_syscall SYS_rmdir SYS_rseq SYS_rt_sigaction SYS_rt_sigpending
        SYS_rt_sigprocmask SYS_rt_sigqueueinfo SYS_rt_sigreturn SYS_rt_sigsuspend
        SYS_rt_sigtimedwait SYS_rt_tgsigqueueinfo SYS_sched_get_priority_max
        SYS_sched_get_priority_min SYS_sched_getaffinity SYS_sched_getattr
        SYS_sched_getparam SYS_sched_getscheduler SYS_sched_rr_get_interval
        SYS_sched_setaffinity SYS_sched_setattr SYS_sched_setparam SYS_sched_setscheduler
        SYS_sched_yield SYS_seccomp SYS_security SYS_select SYS_semctl SYS_semget SYS_semop
        SYS_semtimedop SYS_sendfile SYS_sendmmsg SYS_sendmsg SYS_sendto SYS_set_mempolicy
        SYS_set_mempolicy_home_node SYS_set_robust_list SYS_set_thread_area
        SYS_set_tid_address SYS_setdomainname SYS_setfsgid SYS_setfsuid SYS_setgid
        SYS_setgroups SYS_sethostname SYS_setitimer SYS_setns SYS_setpgid SYS_setpriority
        SYS_setregid SYS_setresgid SYS_setresuid SYS_setreuid SYS_setrlimit SYS_setsid
        SYS_setsockopt SYS_settimeofday SYS_setuid SYS_setxattr SYS_shmat SYS_shmctl
        SYS_shmdt SYS_shmget SYS_shutdown SYS_sigaltstack SYS_signalfd SYS_signalfd4
        SYS_socket SYS_socketpair SYS_splice SYS_stat SYS_statfs SYS_statx SYS_swapoff
        SYS_swapon SYS_symlink SYS_symlinkat SYS_sync SYS_sync_file_range SYS_syncfs
        SYS_sysfs SYS_sysinfo SYS_syslog SYS_tee SYS_tgkill SYS_time SYS_timer_create
        SYS_timer_delete SYS_timer_getoverrun SYS_timer_gettime SYS_timer_settime
        SYS_timerfd_create SYS_timerfd_gettime SYS_timerfd_settime SYS_times SYS_tkill
        SYS_truncate SYS_tuxcall SYS_umask SYS_umount2 SYS_uname SYS_unlink SYS_unlinkat
        SYS_unshare SYS_uselib SYS_userfaultfd SYS_ustat SYS_utime SYS_utimensat SYS_utimes
        SYS_vfork SYS_vhangup SYS_vmsplice SYS_vserver SYS_wait4 SYS_waitid SYS_write
        SYS_writev
    );
    // Not (or no longer) in the libc crate: removed syscalls and the newest ones.
    let libc_lacks = [
        "cachestat",
        "create_module",
        "file_getattr",
        "file_setattr",
        "futex_requeue",
        "futex_wait",
        "futex_wake",
        "get_kernel_syms",
        "getxattrat",
        "io_pgetevents",
        "listmount",
        "listns",
        "listxattrat",
        "lsm_get_self_attr",
        "lsm_list_modules",
        "lsm_set_self_attr",
        "map_shadow_stack",
        "open_tree_attr",
        "query_module",
        "removexattrat",
        "setxattrat",
        "statmount",
    ];
    for (name, nr) in libc_has {
        assert_eq!(nr64(name), nr, "{name}");
    }
    for (name, _) in super::tables::X86_64 {
        assert!(
            libc_has.iter().any(|(n, _)| n == name) || libc_lacks.contains(name),
            "{name} is not compared with libc"
        );
    }
    assert_eq!(
        libc_has.len() + libc_lacks.len(),
        super::tables::X86_64.len()
    );
}

#[test]
fn tables_match_headers() {
    assert_eq!(nr32("mkdir"), 39);
    assert_eq!(nr32("socketcall"), 102);
    assert_eq!(nrx32("rt_sigaction"), X32_SYSCALL_BIT | 512);
    assert_eq!(nrx32("read"), X32_SYSCALL_BIT);
    assert_eq!(nr64("listns"), 470);
}

#[test]
fn tables_are_sorted_and_unique() {
    for table in [
        super::tables::X86_64,
        super::tables::I386,
        super::tables::X32,
        super::tables::AARCH64,
    ] {
        assert!(table.windows(2).all(|w| w[0].0 < w[1].0));
    }
    assert_eq!(super::compiler::lookup_for_tests("aarch64", "openat"), 56);
    assert_eq!(super::compiler::lookup_for_tests("aarch64", "mkdirat"), 34);
    assert_eq!(
        super::compiler::lookup_for_tests("aarch64", "newfstatat"),
        79
    );
    assert_eq!(super::compiler::lookup_for_tests("aarch64", "clone3"), 435);
}

#[test]
fn aarch64_section() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(run(&c.program, 34, AUDIT_ARCH_AARCH64, [0; 6]), errno(1));
    assert_eq!(run(&c.program, 83, AUDIT_ARCH_AARCH64, [0; 6]), ALLOW);
    assert_eq!(run(&c.program, 83, AUDIT_ARCH_X86_64, [0; 6]), errno(1));
}

#[test]
fn default_allow_with_errno_rule() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(x64(&c, "mkdir", [5, 0, 0, 0, 0, 0]), errno(libc::EPERM));
    assert_eq!(x64(&c, "getpid", [0; 6]), ALLOW);
    // A permissive default gets no -ENOSYS stub.
    assert_eq!(run(&c.program, 1000, AUDIT_ARCH_X86_64, [0; 6]), ALLOW);
    assert_eq!(c.flags, 0);
    assert_eq!(c.optional_flags, libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    assert!(c.listener_path.is_none());
}

#[test]
fn every_action() {
    let cases: &[(&str, Option<u32>, u32)] = &[
        ("SCMP_ACT_ALLOW", None, ALLOW),
        ("SCMP_ACT_ERRNO", None, errno(libc::EPERM)),
        ("SCMP_ACT_ERRNO", Some(13), errno(libc::EACCES)),
        ("SCMP_ACT_KILL", None, KILL),
        ("SCMP_ACT_KILL_THREAD", None, KILL),
        (
            "SCMP_ACT_KILL_PROCESS",
            None,
            libc::SECCOMP_RET_KILL_PROCESS,
        ),
        ("SCMP_ACT_TRAP", None, libc::SECCOMP_RET_TRAP),
        ("SCMP_ACT_TRACE", None, libc::SECCOMP_RET_TRACE | 1),
        ("SCMP_ACT_TRACE", Some(42), libc::SECCOMP_RET_TRACE | 42),
        ("SCMP_ACT_LOG", None, libc::SECCOMP_RET_LOG),
        ("SCMP_ACT_NOTIFY", None, libc::SECCOMP_RET_USER_NOTIF),
        // errnoRet is ignored for actions that carry no data, like runc.
        ("SCMP_ACT_TRAP", Some(5), libc::SECCOMP_RET_TRAP),
    ];
    for &(action, errno_ret, want) in cases {
        let mut rule = serde_json::json!({"names": ["mkdir"], "action": action});
        if let Some(e) = errno_ret {
            rule["errnoRet"] = e.into();
        }
        let c = compiled(serde_json::json!({
            "defaultAction": "SCMP_ACT_KILL_PROCESS",
            "listenerPath": "/run/agent.sock",
            "syscalls": [rule, {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]
        }));
        assert_eq!(x64(&c, "mkdir", [0; 6]), want, "{action} {errno_ret:?}");
        // Default action for a listed-range syscall without rule.
        assert_eq!(x64(&c, "close", [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(c.listener_path.is_some(), action == "SCMP_ACT_NOTIFY");
        assert_eq!(
            c.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0,
            action == "SCMP_ACT_NOTIFY"
        );
    }
}

#[test]
fn default_actions_and_default_errno() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 6,
        "syscalls": [{"names": ["read", "write", "mkdir"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(x64(&c, "read", [0; 6]), ALLOW);
    assert_eq!(x64(&c, "open", [0; 6]), errno(libc::ENXIO));
    // Above the highest listed syscall: runc's -ENOSYS stub.
    assert_eq!(x64(&c, "clone3", [0; 6]), errno(libc::ENOSYS));
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read", "mkdir"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(x64(&c, "open", [0; 6]), errno(libc::EPERM));
    let c = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_TRAP"}));
    assert_eq!(x64(&c, "open", [0; 6]), libc::SECCOMP_RET_TRAP);
}

/// Reference semantics of one comparison (libseccomp: unsigned 64-bit).
fn cmp(op: &str, arg: u64, v: u64, v2: u64) -> bool {
    match op {
        "SCMP_CMP_EQ" => arg == v,
        "SCMP_CMP_NE" => arg != v,
        "SCMP_CMP_LT" => arg < v,
        "SCMP_CMP_LE" => arg <= v,
        "SCMP_CMP_GT" => arg > v,
        "SCMP_CMP_GE" => arg >= v,
        "SCMP_CMP_MASKED_EQ" => arg & v == v2,
        _ => unreachable!(),
    }
}

const OPS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];

const VALUES: [u64; 12] = [
    0,
    1,
    5,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x1_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

#[test]
fn every_operator_64bit() {
    for op in OPS {
        for &v in &VALUES {
            let v2 = v & 0xffff_0000_ffff_0000;
            let c = compiled(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 2, "value": v, "valueTwo": v2, "op": op}]}]
            }));
            for &arg in &VALUES {
                let want = if cmp(op, arg, v, v2) { errno(1) } else { ALLOW };
                let got = x64(&c, "mkdir", [0, 0, arg, 0, 0, 0]);
                assert_eq!(got, want, "{op} arg={arg:#x} value={v:#x} valueTwo={v2:#x}");
            }
        }
    }
    // The example from the issue.
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_GT"}]}]
    }));
    assert_eq!(x64(&c, "mkdir", [0x1_0000_0000, 0, 0, 0, 0, 0]), errno(1));
    assert_eq!(x64(&c, "mkdir", [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn masked_eq_without_value_two_compares_with_zero() {
    // Docker's and containerd's CRI default profiles: `clone` is allowed only when no
    // namespace flag is set; Go's omitempty drops valueTwo 0, and runc reads it as 0.
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }));
    let clone_vm = libc::CLONE_VM as u64;
    let clone_newns = libc::CLONE_NEWNS as u64;
    assert_eq!(x64(&c, "clone", [clone_vm, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        x64(&c, "clone", [clone_vm | clone_newns, 0, 0, 0, 0, 0]),
        errno(libc::EPERM)
    );
}

#[test]
fn args_and_entries_or() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
             "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    assert_eq!(x64(&c, "mkdir", [5, 0o700, 0, 0, 0, 0]), errno(1));
    assert_eq!(x64(&c, "mkdir", [5, 0o755, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x64(&c, "mkdir", [7, 0o755, 0, 0, 0, 0]), errno(2));
    assert_eq!(x64(&c, "mkdir", [8, 0o700, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn same_index_conditions_are_ored_like_runc() {
    // Docker's personality rules: several values for arg 0 in one entry.
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    assert_eq!(x64(&c, "personality", [0, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x64(&c, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x64(&c, "personality", [9, 0, 0, 0, 0, 0]), errno(1));
}

#[test]
fn unconditional_rule_overrides_conditional_ones() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_TRAP"}
        ]
    }));
    assert_eq!(x64(&c, "mkdir", [5, 0, 0, 0, 0, 0]), libc::SECCOMP_RET_TRAP);
    assert_eq!(x64(&c, "mkdir", [6, 0, 0, 0, 0, 0]), libc::SECCOMP_RET_TRAP);
}

#[test]
fn unknown_names_are_skipped() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall", "mkdir", "vm86"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(x64(&c, "mkdir", [0; 6]), errno(1));
    // vm86 exists only on i386; on x86_64 it is skipped, on i386 it applies.
    assert_eq!(run(&c.program, nr32("vm86"), AUDIT_ARCH_I386, [0; 6]), KILL);
}

#[test]
fn architectures() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "rt_sigaction"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GE"}]}]
    }));
    // x86_64 mkdir is 83, i386 mkdir is 39 (which is getpid on x86_64).
    assert_eq!(
        run(&c.program, 83, AUDIT_ARCH_X86_64, [5, 0, 0, 0, 0, 0]),
        errno(1)
    );
    assert_eq!(
        run(&c.program, 39, AUDIT_ARCH_X86_64, [5, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        run(&c.program, 39, AUDIT_ARCH_I386, [5, 0, 0, 0, 0, 0]),
        errno(1)
    );
    assert_eq!(
        run(&c.program, 83, AUDIT_ARCH_I386, [5, 0, 0, 0, 0, 0]),
        ALLOW
    );
    // i386 compares the low 32 bits only.
    assert_eq!(
        run(
            &c.program,
            39,
            AUDIT_ARCH_I386,
            [0x1_0000_0001, 0, 0, 0, 0, 0]
        ),
        ALLOW
    );
    assert_eq!(
        run(
            &c.program,
            39,
            AUDIT_ARCH_I386,
            [0x1_0000_0005, 0, 0, 0, 0, 0]
        ),
        errno(1)
    );
    // x32: the x32 numbers, with the x32 bit.
    let x32_mkdir = X32_SYSCALL_BIT | 83;
    assert_eq!(
        run(&c.program, x32_mkdir, AUDIT_ARCH_X86_64, [5, 0, 0, 0, 0, 0]),
        errno(1)
    );
    let x32_sigaction = nrx32("rt_sigaction");
    assert_eq!(
        run(
            &c.program,
            x32_sigaction,
            AUDIT_ARCH_X86_64,
            [9, 0, 0, 0, 0, 0]
        ),
        errno(1)
    );
    assert_eq!(
        run(
            &c.program,
            X32_SYSCALL_BIT | 13,
            AUDIT_ARCH_X86_64,
            [9, 0, 0, 0, 0, 0]
        ),
        ALLOW
    );
    // Unlisted architecture: libseccomp's bad-arch action.
    assert_eq!(run(&c.program, 34, AUDIT_ARCH_AARCH64, [0; 6]), KILL);
    assert_eq!(run(&c.program, 34, 0x4000_0028, [0; 6]), KILL);

    // Without X32 listed, an x32 syscall cannot slip through as x86_64.
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(run(&c.program, 83, AUDIT_ARCH_X86_64, [0; 6]), errno(1));
    assert_eq!(run(&c.program, x32_mkdir, AUDIT_ARCH_X86_64, [0; 6]), KILL);
    assert_eq!(run(&c.program, x32_mkdir, AUDIT_ARCH_I386, [0; 6]), KILL);
    // The native arch is always covered, even when not listed (libseccomp).
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(run(&c.program, 83, AUDIT_ARCH_X86_64, [0; 6]), errno(1));
    assert_eq!(run(&c.program, 39, AUDIT_ARCH_I386, [0; 6]), errno(1));
    assert_eq!(run(&c.program, 39, 0x4000_0028, [0; 6]), KILL);
}

#[test]
fn enosys_stub_per_arch() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read", "openat"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let openat64 = nr64("openat");
    assert_eq!(run(&c.program, openat64, AUDIT_ARCH_X86_64, [0; 6]), ALLOW);
    assert_eq!(
        run(&c.program, openat64 - 1, AUDIT_ARCH_X86_64, [0; 6]),
        errno(1)
    );
    assert_eq!(
        run(&c.program, openat64 + 1, AUDIT_ARCH_X86_64, [0; 6]),
        errno(libc::ENOSYS)
    );
    let openat32 = nr32("openat");
    assert_eq!(
        run(&c.program, openat32 + 1, AUDIT_ARCH_I386, [0; 6]),
        errno(libc::ENOSYS)
    );
    assert_eq!(
        run(&c.program, openat32 - 1, AUDIT_ARCH_I386, [0; 6]),
        errno(1)
    );
    let openat_x32 = nrx32("openat");
    assert_eq!(
        run(&c.program, openat_x32, AUDIT_ARCH_X86_64, [0; 6]),
        ALLOW
    );
    assert_eq!(
        run(&c.program, openat_x32 + 1, AUDIT_ARCH_X86_64, [0; 6]),
        errno(libc::ENOSYS)
    );
}

fn compile_err(json: serde_json::Value) -> String {
    match compile(&profile(json)) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_the_field() {
    let e = compile_err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"},
                     {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
                               {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert!(
        e.starts_with("linux.seccomp.syscalls[1].args[1].index: 6"),
        "{e}"
    );
    let e = compile_err(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    assert!(e.starts_with("linux.seccomp.defaultAction:"), "{e}");
    let e = compile_err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(e.starts_with("linux.seccomp.syscalls[0].names[1]:"), "{e}");
    let e = compile_err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(e.starts_with("linux.seccomp.listenerPath:"), "{e}");
    let e = compile_err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]
    }));
    assert!(
        e.starts_with("linux.seccomp.syscalls[0].errnoRet: 70000"),
        "{e}"
    );
    let e = compile_err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536
    }));
    assert!(e.starts_with("linux.seccomp.defaultErrnoRet:"), "{e}");
    let e = compile_err(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    }));
    assert!(e.starts_with("linux.seccomp.flags[1]:"), "{e}");
    // Unknown operators are rejected by oci-spec's deserializer already.
    let bad: Result<LinuxSeccomp, _> = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]
    }));
    assert!(bad.is_err());
}

#[test]
fn flags() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    }));
    assert_eq!(
        c.flags,
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_LOG
            | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    );
    assert_eq!(c.optional_flags, 0);
    let c = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": []}));
    assert_eq!((c.flags, c.optional_flags), (0, 0));
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert_eq!(
        c.flags,
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
            | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    );
    assert_eq!(
        c.listener_path.as_deref(),
        Some(Path::new("/run/agent.sock"))
    );
    assert_eq!(c.listener_metadata.as_deref(), Some("meta"));
}

/// Tiny deterministic PRNG for the randomized comparison below.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Big random profiles (far jumps, trampolines, deep trees) checked against a
/// straightforward model of the documented semantics.
#[test]
fn random_profiles_match_reference_model() {
    let names: Vec<&str> = super::tables::X86_64.iter().map(|(n, _)| *n).collect();
    let actions = [
        ("SCMP_ACT_ALLOW", ALLOW),
        ("SCMP_ACT_ERRNO", errno(7)),
        ("SCMP_ACT_TRAP", libc::SECCOMP_RET_TRAP),
        ("SCMP_ACT_LOG", libc::SECCOMP_RET_LOG),
        ("SCMP_ACT_KILL_PROCESS", libc::SECCOMP_RET_KILL_PROCESS),
    ];
    let mut rng = Lcg(0x5eed);
    let mut trampolines = 0;
    for round in 0..12 {
        let (default_name, default_ret) = rng.pick(&actions);
        // Model: per syscall, ordered list of (action, conds).
        type Conds = Vec<(usize, &'static str, u64, u64)>;
        let mut model: std::collections::BTreeMap<u32, Vec<(u32, Conds)>> = Default::default();
        let mut entries = Vec::new();
        for _ in 0..(40 + round * 10) {
            let (act_name, act_ret) = rng.pick(&actions);
            let n_names = 1 + rng.next() % 6;
            let entry_names: Vec<&str> = (0..n_names).map(|_| rng.pick(&names)).collect();
            let n_args = rng.next() % 4;
            let mut args = Vec::new();
            let mut used = [false; 6];
            let mut conds: Conds = Vec::new();
            for _ in 0..n_args {
                let index = (rng.next() % 6) as usize;
                if used[index] {
                    continue;
                }
                used[index] = true;
                let op = rng.pick(&OPS);
                let v = rng.pick(&VALUES);
                let v2 = rng.pick(&VALUES) & v;
                args.push(
                    serde_json::json!({"index": index, "value": v, "valueTwo": v2, "op": op}),
                );
                conds.push((index, op, v, v2));
            }
            entries.push(serde_json::json!({"names": entry_names, "action": act_name, "args": args, "errnoRet": 7}));
            if act_ret == default_ret {
                continue;
            }
            for n in &entry_names {
                model
                    .entry(nr64(n))
                    .or_default()
                    .push((act_ret, conds.clone()));
            }
        }
        let c = compiled(serde_json::json!({
            "defaultAction": default_name,
            "defaultErrnoRet": 7,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": entries
        }));
        trampolines += c
            .program
            .iter()
            .filter(|i| i.code == BPF_JMP | BPF_JA)
            .count();
        let max_nr = model.keys().max().copied();
        for _ in 0..3000 {
            let nr = if rng.next().is_multiple_of(8) {
                (rng.next() % 600) as u32
            } else {
                rng.pick(&model.keys().copied().collect::<Vec<_>>())
            };
            let args = [(); 6].map(|_| rng.pick(&VALUES));
            let rules = model.get(&nr);
            let want = match rules {
                None => default_ret,
                Some(rules) => {
                    if let Some((a, _)) = rules.iter().find(|(_, c)| c.is_empty()) {
                        *a
                    } else {
                        rules
                            .iter()
                            .find(|(_, cs)| {
                                cs.iter().all(|&(i, op, v, v2)| cmp(op, args[i], v, v2))
                            })
                            .map(|(a, _)| *a)
                            .unwrap_or(default_ret)
                    }
                }
            };
            let enosys = !matches!(default_name, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG")
                && rules.is_none()
                && max_nr.is_some_and(|m| nr > m)
                // The stub uses the max over all entries, including skipped ones;
                // the model only has kept ones, so only judge clear cases.
                && nr > 470;
            let got = run(&c.program, nr, AUDIT_ARCH_X86_64, args);
            if enosys {
                assert_eq!(got, errno(libc::ENOSYS), "round {round} nr {nr}");
            } else if rules.is_some() || nr <= max_nr.unwrap_or(0) {
                assert_eq!(got, want, "round {round} nr {nr} args {args:x?}");
            }
        }
    }
    assert!(trampolines > 0, "long jumps were not exercised");
}

const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

#[test]
fn podman_profile_compiles_within_limits() {
    let Ok(text) = std::fs::read_to_string(PODMAN_PROFILE) else {
        eprintln!(
            "SKIP podman_profile_compiles_within_limits: {PODMAN_PROFILE} is absent \
             (apt-get install golang-github-containers-common)"
        );
        return;
    };
    // It is in Docker's format; the OCI fields are a subset (archMap,
    // includes/excludes are ignored here, so every conditional entry applies).
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("profile is JSON");
    for arches in [
        serde_json::json!(null),
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ] {
        json["architectures"] = arches.clone();
        let c = compiled(json.clone());
        eprintln!(
            "podman profile, architectures {arches}: {} instructions",
            c.program.len()
        );
        assert!(c.program.len() <= BPF_MAXINSNS);
        assert_eq!(x64(&c, "read", [0; 6]), ALLOW);
        assert_eq!(x64(&c, "kexec_load", [0; 6]), errno(libc::EPERM));
        assert_eq!(
            run(&c.program, 1000, AUDIT_ARCH_X86_64, [0; 6]),
            errno(libc::ENOSYS)
        );
    }
    let c = compiled(json);
    assert_eq!(
        run(&c.program, nr32("read"), AUDIT_ARCH_I386, [0; 6]),
        ALLOW
    );
    assert_eq!(
        run(&c.program, nrx32("read"), AUDIT_ARCH_X86_64, [0; 6]),
        ALLOW
    );
}

// ---- install in a real process -------------------------------------------

const CHILD_ENV: &str = "RT_SECCOMP_TEST_CHILD";

/// Runs one test of this binary in a fresh process with `CHILD_ENV` set, so a
/// filter never lands on the test harness itself.
fn run_in_child(test: &str, extra_env: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .envs(extra_env.iter().copied())
        .output()
        .expect("spawn test child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

fn set_no_new_privs() {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) takes only integers.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_NO_NEW_PRIVS");
}

#[test]
fn install_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 0o711, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    set_no_new_privs();
    // Threads of the harness are not synced (no TSYNC); this thread runs the test.
    let listener = install(&c).expect("install filter");
    assert!(listener.is_none());
    // SAFETY: getppid takes no arguments.
    let rc = unsafe { libc::syscall(libc::SYS_getppid) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    let dir = std::env::temp_dir().join(format!("rt-seccomp-{}", std::process::id()));
    let cdir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: cdir is a valid NUL-terminated path; mode is an integer.
    let rc = unsafe { libc::syscall(libc::SYS_mkdir, cdir.as_ptr(), 0o711) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EACCES)
    );
    // Another mode passes the filter.
    // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_mkdir, cdir.as_ptr(), 0o700) };
    assert_eq!(rc, 0);
    std::fs::remove_dir(&dir).unwrap();
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
}

#[test]
fn install_in_subprocess() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    run_in_child("security::seccomp::tests::install_child", &[]);
}

#[test]
fn notify_child() {
    let Ok(path) = std::env::var("RT_SECCOMP_TEST_SOCK") else {
        return;
    };
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path,
        "listenerMetadata": "hello",
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    set_no_new_privs();
    let listener = install(&c)
        .expect("install notify filter")
        .expect("listener fd");
    let state = r#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":4242,"bundle":"/b"}"#;
    send_listener(
        &listener,
        c.listener_path.as_deref().unwrap(),
        state,
        c.listener_metadata.as_deref(),
    )
    .expect("send listener");
}

#[test]
fn notify_listener_is_sent() {
    use nix::sys::socket::{ControlMessageOwned, recvmsg};
    use std::io::IoSliceMut;
    use std::os::unix::net::UnixListener;
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rt-seccomp-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("agent.sock");
    let _ = std::fs::remove_file(&sock);
    let server = UnixListener::bind(&sock).unwrap();
    let sock_str = sock.to_str().unwrap().to_owned();
    let child = std::thread::spawn(move || {
        run_in_child(
            "security::seccomp::tests::notify_child",
            &[("RT_SECCOMP_TEST_SOCK", &sock_str)],
        )
    });
    // Don't hang if the child fails before connecting.
    server.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let conn = loop {
        match server.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if child.is_finished() || std::time::Instant::now() > deadline {
                    child.join().unwrap();
                    panic!("child never connected to {}", sock.display());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (n, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fds = Vec::new();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(f) = c {
                fds.extend(f);
            }
        }
        (msg.bytes, fds)
    };
    child.join().unwrap();
    let mut payload = buf[..n].to_vec();
    // Read the rest, if the message came in pieces.
    use std::io::Read;
    let mut conn = conn;
    conn.read_to_end(&mut payload).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(v["pid"], 4242);
    assert_eq!(v["metadata"], "hello");
    assert_eq!(v["ociVersion"], "1.2.0");
    assert_eq!(v["state"]["id"], "c1");
    assert_eq!(fds.len(), 1);
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fds[0])).unwrap();
    assert_eq!(link.to_str(), Some("anon_inode:seccomp notify"));
    // SAFETY: the fd was just received and is owned by nobody else.
    drop(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn payload_without_metadata() {
    let p = listener_payload(
        r#"{"ociVersion":"1.0.2","pid":7,"status":"creating"}"#,
        None,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&p).unwrap();
    assert_eq!(v["pid"], 7);
    assert!(v.get("metadata").is_none());
    assert!(listener_payload("[1]", None).is_err());
}

#[test]
fn install_podman_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let text = std::fs::read_to_string(PODMAN_PROFILE).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["architectures"] =
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    let c = compiled(json);
    set_no_new_privs();
    // The kernel's checker accepts the big program (long jumps, trampolines).
    install(&c).expect("install podman profile");
    // SAFETY: getpid takes no arguments.
    assert!(unsafe { libc::syscall(libc::SYS_getpid) } > 0);
    // SAFETY: an unassigned syscall number; the filter answers before the kernel.
    let rc = unsafe { libc::syscall(1000) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENOSYS)
    );
    // SAFETY: kexec_load with null segments; the filter refuses it first.
    let rc = unsafe { libc::syscall(libc::SYS_kexec_load, 0, 0, 0, 0) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
}

#[test]
fn install_podman_profile_in_subprocess() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    if !Path::new(PODMAN_PROFILE).exists() {
        eprintln!("SKIP install_podman_profile_in_subprocess: {PODMAN_PROFILE} is absent");
        return;
    }
    run_in_child("security::seccomp::tests::install_podman_child", &[]);
}
