//! OCI seccomp profile -> BPF, compiled by rt's own small compiler into
//! classic BPF (libc's `sock_filter`) and installed with seccomp(2).
//!
//! Semantics follow runc (and through it libseccomp):
//! - default errno/trace data EPERM; `errnoRet` is ignored for other actions;
//! - unknown syscall names are skipped;
//! - rules repeating the default action are skipped;
//! - several conditions on the same argument index become separate rules (OR),
//!   otherwise all conditions of a rule must hold (AND);
//! - several entries for one syscall: a rule without conditions wins, else the
//!   first matching rule in profile order;
//! - an architecture not covered gets KILL_THREAD (libseccomp's bad-arch action);
//! - when the default action is not permissive, syscalls numbered above the
//!   highest one the profile names get ENOSYS (runc's -ENOSYS stub), so newer
//!   syscalls make programs fall back instead of failing with EPERM;
//! - without `flags` in the profile, SPEC_ALLOW is requested (dropped again if
//!   the kernel rejects it), as runc does.

mod compiler;
mod emit;
mod tables;
#[cfg(test)]
mod tests;

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, connect, send, sendmsg,
    socket,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompFilterFlag};

pub use compiler::BPF_MAXINSNS;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile is invalid; the message starts with the JSON path of the field.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "linux.seccomp: the compiled filter has {0} instructions, more than BPF_MAXINSNS ({max})",
        max = BPF_MAXINSNS
    )]
    TooLarge(usize),
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, flags {flags:#x}) failed: {source}{hint}")]
    Install {
        flags: libc::c_ulong,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("seccomp notify: {context}: {source}")]
    Notify {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A filter compiled in the parent before clone, so the child only has to install it.
#[derive(Debug, Clone)]
pub struct CompiledSeccomp {
    pub program: Vec<libc::sock_filter>,
    /// SECCOMP_FILTER_FLAG_* bits.
    pub flags: libc::c_ulong,
    /// Some when any rule uses SCMP_ACT_NOTIFY: where the listener fd must be sent.
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
    /// Flags rt added on its own (SPEC_ALLOW when the profile sets no `flags`,
    /// as runc does); `install` retries without them if the kernel rejects them.
    pub optional_flags: libc::c_ulong,
}

fn flag_bits(flag: LinuxSeccompFilterFlag) -> libc::c_ulong {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        }
    }
}

pub fn compile(seccomp: &LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    let compiled = compiler::compile_program(seccomp)?;

    let mut flags: libc::c_ulong = 0;
    let mut optional_flags: libc::c_ulong = 0;
    match seccomp.flags() {
        None => optional_flags |= libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        Some(list) => {
            for (i, flag) in list.iter().enumerate() {
                let bits = flag_bits(*flag);
                if bits == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV && !compiled.uses_notify {
                    return Err(SeccompError::Invalid(format!(
                        "linux.seccomp.flags[{i}]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY"
                    )));
                }
                flags |= bits;
            }
        }
    }

    let listener_path = if compiled.uses_notify {
        let path = seccomp.listener_path().clone().ok_or_else(|| {
            SeccompError::Invalid(
                "linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY".into(),
            )
        })?;
        if path.as_os_str().is_empty() {
            return Err(SeccompError::Invalid(
                "linux.seccomp.listenerPath: empty path".into(),
            ));
        }
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // The kernel refuses TSYNC with NEW_LISTENER unless TSYNC_ESRCH says
            // how to report a thread that cannot sync.
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
        Some(path)
    } else {
        None
    };

    Ok(CompiledSeccomp {
        program: compiled.program,
        flags,
        listener_path,
        listener_metadata: seccomp.listener_metadata().clone(),
        optional_flags,
    })
}

fn seccomp_set_filter(
    program: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> Result<libc::c_long, std::io::Error> {
    let len = u16::try_from(program.len())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel never writes through this pointer; sock_fprog just declares it mutable.
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel
    // only reads `len` instructions from it (copy_from_user) and keeps no
    // reference. The remaining arguments are plain integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Install in the calling process; returns the notify listener fd when the filter asks for one.
///
/// Without no_new_privs set the kernel requires CAP_SYS_ADMIN; ordering is the
/// caller's business, a failure says so.
pub fn install(filter: &CompiledSeccomp) -> Result<Option<OwnedFd>, SeccompError> {
    if filter.program.is_empty() {
        return Err(SeccompError::Other("seccomp: empty BPF program".into()));
    }
    let mut flags = filter.flags | filter.optional_flags;
    let rc = match seccomp_set_filter(&filter.program, flags) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && filter.optional_flags != 0 => {
            flags = filter.flags;
            seccomp_set_filter(&filter.program, flags)
        }
        other => other,
    };
    let rc = rc.map_err(|source| {
        let hint = match source.raw_os_error() {
            Some(libc::EACCES) => " (no_new_privs is not set and the process lacks CAP_SYS_ADMIN)",
            Some(libc::EINVAL) => " (flag or filter not supported by this kernel)",
            Some(libc::ESRCH) => " (another thread could not be synchronized)",
            _ => "",
        };
        SeccompError::Install {
            flags,
            source,
            hint,
        }
    })?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0
        && flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0
        && rc > 0
    {
        // TSYNC without TSYNC_ESRCH reports a thread that could not sync by
        // returning its id; the filter was not installed.
        return Err(SeccompError::Install {
            flags,
            source: std::io::Error::from_raw_os_error(libc::ESRCH),
            hint: " (SECCOMP_FILTER_FLAG_TSYNC: a thread could not be synchronized)",
        });
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        let fd = i32::try_from(rc).map_err(|_| {
            SeccompError::Other(format!("seccomp returned an invalid listener fd {rc}"))
        })?;
        // SAFETY: with NEW_LISTENER a successful seccomp(2) returns a new file
        // descriptor that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    } else {
        Ok(None)
    }
}

/// The message the seccomp agent receives: the runtime spec's "container
/// process state" (runtime.md), with `fds` naming the passed descriptor.
pub fn listener_payload(state_json: &str, metadata: Option<&str>) -> Result<String, SeccompError> {
    let state: serde_json::Value = serde_json::from_str(state_json)
        .map_err(|e| SeccompError::Other(format!("seccomp notify: invalid state JSON: {e}")))?;
    let obj = state.as_object().ok_or_else(|| {
        SeccompError::Other("seccomp notify: container state is not a JSON object".into())
    })?;
    let oci_version = obj
        .get("ociVersion")
        .cloned()
        .unwrap_or_else(|| serde_json::Value::String(crate::container::OCI_VERSION.into()));
    let pid = obj
        .get("pid")
        .cloned()
        .unwrap_or(serde_json::Value::from(0));
    let mut msg = serde_json::Map::new();
    msg.insert("ociVersion".into(), oci_version);
    msg.insert("fds".into(), serde_json::json!(["seccompFd"]));
    msg.insert("pid".into(), pid);
    if let Some(m) = metadata {
        msg.insert("metadata".into(), serde_json::Value::String(m.into()));
    }
    msg.insert("state".into(), state.clone());
    serde_json::to_string(&serde_json::Value::Object(msg))
        .map_err(|e| SeccompError::Other(format!("seccomp notify: {e}")))
}

/// Send the listener fd to `listenerPath` with the container state, as the runtime spec says.
pub fn send_listener(
    listener: &OwnedFd,
    path: &Path,
    state_json: &str,
    metadata: Option<&str>,
) -> Result<(), SeccompError> {
    let payload = listener_payload(state_json, metadata)?;
    let err = |context: String| {
        move |e: nix::Error| SeccompError::Notify {
            context,
            source: std::io::Error::from(e),
        }
    };
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err("socket(AF_UNIX, SOCK_STREAM)".into()))?;
    let addr = UnixAddr::new(path).map_err(err(format!("bad listenerPath {}", path.display())))?;
    connect(sock.as_raw_fd(), &addr).map_err(err(format!("connect to {}", path.display())))?;

    let bytes = payload.as_bytes();
    let fds = [listener.as_fd().as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(bytes)];
    let mut sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(err(format!("sendmsg to {}", path.display())))?;
    // A stream socket may take the message in pieces; the fd went with the first.
    while sent < bytes.len() {
        let n = send(sock.as_raw_fd(), &bytes[sent..], MsgFlags::MSG_NOSIGNAL)
            .map_err(err(format!("send to {}", path.display())))?;
        if n == 0 {
            return Err(SeccompError::Notify {
                context: format!("send to {}", path.display()),
                source: std::io::Error::from(std::io::ErrorKind::WriteZero),
            });
        }
        sent += n;
    }
    // The spec wants one state per connection, closed after sending: `sock` drops here.
    Ok(())
}
