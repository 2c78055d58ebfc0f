//! OCI seccomp profile -> BPF, installed through seccompiler. STUB: to be filled by the seccomp work.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::LinuxSeccomp;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{0}")]
    Other(String),
}

/// A filter compiled in the parent before clone, so the child only has to install it.
pub struct CompiledSeccomp {
    pub program: seccompiler::BpfProgram,
    /// SECCOMP_FILTER_FLAG_* bits.
    pub flags: libc::c_ulong,
    /// Some when any rule uses SCMP_ACT_NOTIFY: where the listener fd must be sent.
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
}

pub fn compile(seccomp: &LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    let _ = seccomp;
    Err(SeccompError::Other("seccomp not implemented".into()))
}

/// Install in the calling process; returns the notify listener fd when the filter asks for one.
pub fn install(filter: &CompiledSeccomp) -> Result<Option<OwnedFd>, SeccompError> {
    let _ = filter;
    Err(SeccompError::Other("seccomp not implemented".into()))
}

/// Send the listener fd to `listenerPath` with the container state, as the runtime spec says.
pub fn send_listener(
    listener: &OwnedFd,
    path: &std::path::Path,
    state_json: &str,
    metadata: Option<&str>,
) -> Result<(), SeccompError> {
    let _ = (listener, path, state_json, metadata);
    Err(SeccompError::Other("seccomp notify not implemented".into()))
}
