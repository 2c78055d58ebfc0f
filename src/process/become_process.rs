//! The last steps shared by init and exec: become the configured user with the configured
//! capabilities, no_new_privs, LSM labels and seccomp filter, move to the cwd, and find the
//! program. Both paths must do this identically, or one of them reopens an escape the other
//! closed (CVE-2024-21626 came in through exec).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use super::channel::Channel;
use super::init::{InitError, sys};
use super::msg::Msg;
use super::{passwd, setup};
use crate::security::seccomp::{self, CompiledSeccomp};

/// Everything execve needs, prepared while errors can still reach rt.
pub struct Program {
    exe: PathBuf,
    c_exe: CString,
    c_args: Vec<CString>,
    c_env: Vec<CString>,
    /// The environment as given to execve (process.env and HOME).
    env: Vec<String>,
}

impl Program {
    pub fn env(&self) -> &[String] {
        &self.env
    }

    /// Replace this process with the program; returns only on failure.
    pub fn exec(&self) -> InitError {
        setup::reset_signals();
        let e = nix::unistd::execve(&self.c_exe, &self.c_args, &self.c_env)
            .err()
            .unwrap_or(nix::Error::UnknownErrno);
        sys(format!("exec {}", self.exe.display()))(e)
    }
}

pub fn become_process(
    process: &Process,
    filter: Option<&CompiledSeccomp>,
    chan: &Channel,
    preserve_fds: i32,
) -> Result<Program, InitError> {
    let mut env = dedup_env(process.env().as_deref().unwrap_or(&[]));
    // Like runc: HOME from the container's /etc/passwd when the config leaves it unset or empty.
    match env.iter_mut().find(|e| e.starts_with("HOME=")) {
        Some(h) if h.len() > "HOME=".len() => {}
        Some(h) => *h = format!("HOME={}", passwd::home_dir(process.user().uid())?),
        None => env.push(format!("HOME={}", passwd::home_dir(process.user().uid())?)),
    }
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| InitError::Config("process.args: must not be empty".into()))?;
    let no_new_privs = process.no_new_privileges() == Some(true);

    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which the user switch below
    // may drop: so install it now. With it, as late as possible (fewer syscalls to allow).
    let mut listener = None;
    if let (Some(f), false) = (filter, no_new_privs) {
        listener = seccomp::install(f)?;
    }
    // A joined or new user namespace may forbid setgroups (setgroups=deny); runc skips it then.
    let set_groups = crate::procfs::read_to_string(Path::new("/proc/self/setgroups"), 64)
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    // AppArmor profile and SELinux label for the execve (writable before the user switch).
    crate::security::lsm::apply_exec_labels(process)?;
    // The cwd is entered while still root (a directory only root may search), and if that is
    // refused, again as the user (a directory only the user may enter, such as one whose owner
    // root in a user namespace has no rights over), as runc does.
    let cwd = process.cwd();
    let cwd_err = || sys(format!("chdir to cwd {cwd:?}"));
    let cwd_after_switch = match nix::unistd::chdir(cwd) {
        Ok(()) => false,
        Err(nix::Error::EACCES | nix::Error::EPERM) => true,
        Err(e) => return Err(cwd_err()(e)),
    };
    // An omitted `capabilities` is five empty sets, as in runc: no capabilities, not root's.
    let caps = process
        .capabilities()
        .clone()
        .unwrap_or_else(crate::security::caps::empty);
    crate::security::caps::apply_bounding(&caps)?;
    setup::switch_user(process, set_groups)?;
    if cwd_after_switch {
        nix::unistd::chdir(cwd).map_err(cwd_err())?;
    }
    check_cwd_inside_root(cwd)?;
    crate::security::caps::apply(&caps)?;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(sys("set no_new_privs"))?;
    }
    let exe = setup::find_executable(&args[0], &env)?;
    if let (Some(f), true) = (filter, no_new_privs) {
        listener = seccomp::install(f)?;
    }
    // Step 7: the notify listener goes to rt, which hands it to listenerPath.
    if let Some(l) = &listener {
        chan.send_with_fd(&Msg::SeccompFd, Some(l.as_raw_fd()))?;
    }
    drop(listener);
    setup::cloexec_above(2 + preserve_fds)?;

    let cstrings = |v: &[String]| {
        v.iter()
            .map(|a| cstring(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Program {
        c_exe: cstring(exe.as_os_str().as_bytes())?,
        c_args: cstrings(args)?,
        c_env: cstrings(&env)?,
        env,
        exe,
    })
}

/// One entry per name, the last value winning in the place of the first: what runc's init
/// makes of the list by setting each entry in turn (so `exec --env PATH=...` replaces PATH).
fn dedup_env(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        let name = e.split('=').next().unwrap_or_default();
        match out
            .iter_mut()
            .find(|o| o.split('=').next().unwrap_or_default() == name)
        {
            Some(o) => o.clone_from(e),
            None => out.push(e.clone()),
        }
    }
    out
}

fn cstring(b: &[u8]) -> Result<CString, InitError> {
    CString::new(b).map_err(|_| InitError::Config("process: a string contains a NUL byte".into()))
}

/// CVE-2024-21626: a cwd such as /proc/self/fd/N (a host directory leaked as an fd) resolves
/// outside the container's root; the kernel's getcwd then answers "(unreachable)/...". Refuse it,
/// as runc does since 1.1.12.
fn check_cwd_inside_root(cwd: &Path) -> Result<(), InitError> {
    // glibc turns "(unreachable)" into ENOENT; check both shapes.
    let outside = match nix::unistd::getcwd() {
        Ok(now) => !now.is_absolute() || now.as_os_str().as_bytes().starts_with(b"(unreachable)"),
        Err(nix::Error::ENOENT) => true,
        Err(e) => return Err(sys("getcwd")(e)),
    };
    if outside {
        return Err(InitError::Config(format!(
            "process.cwd: {cwd:?} resolves outside the container's root"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keeps_one_entry_per_name() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            dedup_env(&v(&["PATH=/a", "A=1", "PATH=/b", "B=", "A=2=3"])),
            v(&["PATH=/b", "A=2=3", "B="])
        );
    }
}
