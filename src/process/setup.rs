//! Per-process settings applied by init (and later exec) just before execve: rlimits, user and
//! groups, umask, oom score, personality, I/O priority, scheduler, CPU affinity, keyring.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, PosixRlimit, Process, Scheduler,
};

#[derive(Debug, thiserror::Error)]
#[error("{what}: {msg}")]
pub struct SetupError {
    pub what: String,
    pub msg: String,
}

fn fail(what: impl Into<String>, msg: impl ToString) -> SetupError {
    SetupError {
        what: what.into(),
        msg: msg.to_string(),
    }
}

fn resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        _ => return None,
    })
}

/// The setrlimit resource for an OCI rlimit type (used by `rt check`).
pub fn rlimit_resource(t: oci_spec::runtime::PosixRlimitType) -> Option<libc::__rlimit_resource_t> {
    resource(&t.to_string())
}

pub fn rlimits(limits: &[PosixRlimit]) -> Result<(), SetupError> {
    for (i, l) in limits.iter().enumerate() {
        let name = l.typ().to_string();
        let what = format!("process.rlimits[{i}] ({name})");
        let res = resource(&name).ok_or_else(|| fail(&what, "unknown rlimit type"))?;
        let lim = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: setrlimit reads the struct we pass by reference and touches nothing else.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            let e = std::io::Error::last_os_error();
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct we own.
            unsafe { libc::getrlimit(res, &mut cur) };
            let hint = if e.raw_os_error() == Some(libc::EPERM) && l.hard() > cur.rlim_max {
                format!(
                    " (hard limit {} is above the current {} and raising it needs CAP_SYS_RESOURCE)",
                    l.hard(),
                    cur.rlim_max
                )
            } else {
                String::new()
            };
            return Err(fail(
                what,
                format!("setrlimit soft={} hard={}: {e}{hint}", l.soft(), l.hard()),
            ));
        }
    }
    Ok(())
}

/// The process fields init and exec apply alike, while still privileged: oomScoreAdj, rlimits,
/// ioPriority, scheduler and the final CPU affinity.
pub fn process_attributes(process: &Process) -> Result<(), SetupError> {
    if let Some(v) = process.oom_score_adj() {
        oom_score_adj(v)?;
    }
    if let Some(l) = process.rlimits() {
        rlimits(l)?;
    }
    if let Some(io) = process.io_priority() {
        io_priority(io.class(), io.priority())?;
    }
    if let Some(s) = process.scheduler() {
        scheduler(s)?;
    }
    Ok(())
}

/// `exec`, before it clones the process, outside the container's cgroup: rt's own affinity
/// becomes `execCPUAffinity.initial`, which the process inherits. (The spec: execCPUAffinity
/// does not apply to the container's init.)
pub fn exec_cpu_affinity_initial(process: &Process) -> Result<(), SetupError> {
    match process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        Some(l) => cpu_affinity("process.execCPUAffinity.initial", l),
        None => Ok(()),
    }
}

/// Once in the container's cgroup: an `exec`'d process takes `execCPUAffinity.final`; init, and a
/// process with no execCPUAffinity at all, every CPU the cgroup's cpuset allows, so the container
/// does not inherit rt's own affinity (a caller's `CPUAffinity=`), as runc resets it.
pub fn cpu_affinity_in_cgroup(process: Option<&Process>) -> Result<(), SetupError> {
    let aff = process.and_then(|p| p.exec_cpu_affinity().as_ref());
    if let Some(a) = aff {
        return match a.cpu_affinity_final() {
            Some(l) => cpu_affinity("process.execCPUAffinity.final", l),
            None => Ok(()),
        };
    }
    // The kernel clamps a full mask to the CPUs that exist and the cgroup allows.
    let mut all = nix::sched::CpuSet::new();
    for c in 0..nix::sched::CpuSet::count() {
        let _ = all.set(c);
    }
    if let Err(e) = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &all) {
        crate::logging::warn(&format!(
            "resetting the CPU affinity failed ({e}): the container may inherit rt's"
        ));
    }
    Ok(())
}

pub fn oom_score_adj(v: i32) -> Result<(), SetupError> {
    std::fs::write("/proc/self/oom_score_adj", v.to_string()).map_err(|e| {
        fail(
            "process.oomScoreAdj",
            format!(
                "write {v} to /proc/self/oom_score_adj: {e} (lowering it needs CAP_SYS_RESOURCE)"
            ),
        )
    })
}

pub fn personality(p: &LinuxPersonality) -> Result<(), SetupError> {
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality(2) only sets a process attribute.
    if unsafe { libc::personality(persona) } < 0 {
        return Err(fail("linux.personality", std::io::Error::last_os_error()));
    }
    Ok(())
}

pub fn io_priority(class: IOPriorityClass, prio: i64) -> Result<(), SetupError> {
    let class = match class {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&prio) {
        return Err(fail(
            "process.ioPriority.priority",
            format!("{prio} is not in 0..7"),
        ));
    }
    let ioprio = (class << 13) | prio;
    // SAFETY: ioprio_set(IOPRIO_WHO_PROCESS, 0 = self, value) takes no pointers.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, ioprio) } != 0 {
        return Err(fail("process.ioPriority", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

pub fn scheduler(s: &Scheduler) -> Result<(), SetupError> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy,
        sched_flags: flags,
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: s.priority().unwrap_or(0) as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: sched_setattr(0 = self, attr, 0) reads the struct we own; its size field is exact.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } != 0 {
        return Err(fail("process.scheduler", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// "0-3,7" -> cpu set.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b >= libc::CPU_SETSIZE as usize {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                let c: usize = part.parse().ok()?;
                if c >= libc::CPU_SETSIZE as usize {
                    return None;
                }
                out.push(c)
            }
        }
    }
    Some(out)
}

pub fn cpu_affinity(field: &str, list: &str) -> Result<(), SetupError> {
    let cpus = parse_cpu_list(list).ok_or_else(|| fail(field, format!("bad CPU list {list:?}")))?;
    if cpus.is_empty() {
        return Ok(());
    }
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(c).map_err(|e| fail(field, e))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(|e| fail(field, e))
}

/// A fresh session keyring, so containers don't share the host's (runc's default).
pub fn join_session_keyring(name: &str, search: Option<u32>) -> Result<(), SetupError> {
    let c = CString::new(name).map_err(|e| fail("keyring", e))?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, name) reads a NUL-terminated string we own.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr()) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        // Kernels without keyrings (or seccomp'd ones) answer ENOSYS; runc carries on then.
        if e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(fail("session keyring", e));
        }
        return Ok(());
    }
    match search {
        Some(bit) => add_key_permission(rc, bit).map_err(|e| fail("session keyring", e)),
        None => Ok(()),
    }
}

/// Add `bit` to the permissions of key `serial` (runc's ModKeyringPerm): a new session keyring
/// lacks the search permission that lets an `exec`'d process find it by name.
fn add_key_permission(serial: libc::c_long, bit: u32) -> std::io::Result<()> {
    const KEYCTL_SETPERM: libc::c_long = 5;
    const KEYCTL_DESCRIBE: libc::c_long = 6;
    let mut desc = [0u8; 512];
    // SAFETY: KEYCTL_DESCRIBE writes at most desc.len() bytes into the buffer we own.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            desc.as_mut_ptr(),
            desc.len(),
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // "type;uid;gid;perm;description", perm in hex.
    let text = String::from_utf8_lossy(&desc[..(n as usize).min(desc.len())]).into_owned();
    let perm = text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .ok_or_else(|| std::io::Error::other(format!("unreadable key description {text:?}")))?;
    // SAFETY: keyctl(SETPERM, serial, perm) takes plain integers.
    if unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm | bit) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Switch to the process user. Capabilities are kept across setuid (KEEPCAPS) so that the
/// configured sets can then be applied.
pub fn switch_user(p: &Process, set_groups: bool) -> Result<(), SetupError> {
    let u = p.user();
    give_stdio_to(u.uid())?;
    if set_groups {
        let gids: Vec<nix::unistd::Gid> = u
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&gids).map_err(|e| fail("process.user.additionalGids", e))?;
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| fail("keepcaps", e))?;
    let gid = nix::unistd::Gid::from_raw(u.gid());
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| fail("process.user.gid", format!("setresgid {}: {e}", u.gid())))?;
    let uid = nix::unistd::Uid::from_raw(u.uid());
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| fail("process.user.uid", format!("setresuid {}: {e}", u.uid())))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| fail("keepcaps", e))?;
    if let Some(m) = u.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
    }
    Ok(())
}

/// Make the process's stdio (a pty rt made, a pipe, a file) belong to `uid`, so that it can use
/// its terminal and reopen its stdout through /proc/self/fd (as images logging to /dev/stdout
/// do). runc's fixStdioPermissions: only the owner changes, /dev/null is left alone, and so is
/// a file whose owner or group the user namespace cannot map (EPERM, EINVAL) or that sits on a
/// read-only filesystem (EROFS).
fn give_stdio_to(uid: u32) -> Result<(), SetupError> {
    for fd in 0..3 {
        // SAFETY: the stdio numbers are valid for the call; a closed one only gives EBADF.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let st = match nix::sys::stat::fstat(fd) {
            Ok(st) => st,
            Err(nix::Error::EBADF) => continue,
            Err(e) => return Err(fail(format!("stat stdio fd {}", fd.as_raw_fd()), e)),
        };
        let dev_null =
            st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
        if st.st_uid == uid || dev_null {
            continue;
        }
        match nix::unistd::fchown(
            fd,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(st.st_gid)),
        ) {
            Ok(()) | Err(nix::Error::EPERM | nix::Error::EINVAL | nix::Error::EROFS) => {}
            Err(e) => {
                return Err(fail(
                    format!("chown stdio fd {} to uid {uid}", fd.as_raw_fd()),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// PATH lookup as exec.LookPath does it, inside the container (after pivot_root).
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf, SetupError> {
    let exec_bits = |m: &std::fs::Metadata| {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    };
    let is_exec = |p: &Path| std::fs::metadata(p).is_ok_and(|m| exec_bits(&m));
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Ok(m) if exec_bits(&m) => Ok(p),
            Ok(_) => Err(fail(format!("exec {arg0:?}"), "permission denied")),
            Err(e) => Err(fail(format!("exec {arg0:?}"), e)),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        if is_exec(&cand) {
            return Ok(cand);
        }
    }
    Err(fail(
        format!("exec: {arg0:?}"),
        "executable file not found in $PATH",
    ))
}

/// Start the container's program with every signal at its default and none blocked, whatever
/// the caller of rt had ignored or blocked (ignored signals survive execve).
pub fn reset_signals() {
    // The raw syscall, because glibc's wrappers refuse the two real-time signals it reserves
    // (32 and 33), which a caller may well have left ignored.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a SIG_DFL action we own and no old-action pointer; the
        // size argument is the kernel's sigset size (8 bytes).
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &act as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
}

/// Mark every fd above `keep_upto` close-on-exec, so nothing of rt's (or the host's) reaches
/// the container's program (CVE-2024-21626).
pub fn cloexec_above(keep_upto: i32) -> Result<(), SetupError> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only flips flags on our own fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            (keep_upto + 1) as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Older kernels: walk /proc/self/fd.
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|e| fail("list fds", e))?;
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > keep_upto)
        .collect();
    for fd in fds {
        // SAFETY: fcntl F_SETFD on an fd number; a stale one only yields EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn path_lookup() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        let sh = find_executable("sh", &env).unwrap();
        assert!(sh.ends_with("sh"));
        let e = find_executable("no-such-binary-rt", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("executable file not found in $PATH"), "{e}");
        assert!(find_executable("/no/such", &env).is_err());
    }

    #[test]
    fn rlimit_names_cover_the_spec() {
        for n in [
            "RLIMIT_NOFILE",
            "RLIMIT_NPROC",
            "RLIMIT_CORE",
            "RLIMIT_RTTIME",
        ] {
            assert!(resource(n).is_some(), "{n}");
        }
        assert!(resource("RLIMIT_BOGUS").is_none());
    }
}
