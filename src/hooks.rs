//! OCI hooks: each is run with its args and env, the container state JSON on stdin, and an
//! optional timeout. Which failures are fatal is the caller's business (the runtime spec says).
//!
//! As in runc, a hook's stdout and stderr are captured, not passed on, and shown only when it
//! fails. They are read while the hook runs (a hook writing more than a pipe holds would block
//! otherwise), and only their ends are kept, so a flood of output costs no memory.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use oci_spec::runtime::Hook;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: {source}")]
    Spawn {
        kind: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{kind} hook {path} failed ({status}){output}")]
    Failed {
        kind: &'static str,
        path: String,
        status: String,
        output: String,
    },
    #[error("{kind} hook {path} timed out after {secs}s")]
    Timeout {
        kind: &'static str,
        path: String,
        secs: i64,
    },
}

/// How much of the end of a failing hook's stdout and of its stderr its error shows.
const KEPT: usize = 4096;

/// Run the create-time hooks (prestart, createRuntime) in order in the bundle directory,
/// stopping at the first failure: runc's create chdirs to the bundle before it runs them, and
/// hooks such as NVIDIA's fall back to the cwd for the bundle. A hook without `env` gets rt's own
/// environment (runc runs hooks with Go's nil Env, which means its own).
pub fn run_all_in(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &str,
    bundle: &Path,
) -> Result<(), HookError> {
    hooks.iter().try_for_each(|h| {
        let mut cmd = command(h, None);
        cmd.current_dir(bundle);
        run_one(kind, h, state_json, cmd)
    })
}

/// [`run_all`] for the hooks init runs (createContainer, startContainer): a hook without `env`
/// gets `env`, the container process's, which is what runc's init has as its own by then.
pub fn run_all_with_env(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &str,
    env: &[String],
) -> Result<(), HookError> {
    hooks
        .iter()
        .try_for_each(|h| run_one(kind, h, state_json, command(h, Some(env))))
}

/// Run every hook even when one fails, logging each failure as a warning: the spec's rule for
/// poststart and poststop ("the remaining hooks and lifecycle continue").
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state_json: &str) {
    for h in hooks {
        if let Err(e) = run_one(kind, h, state_json, command(h, None)) {
            crate::logging::warn(&e.to_string());
        }
    }
}

/// The command for `hook`: its args, and its env (`default_env` when it has none).
fn command(hook: &Hook, default_env: Option<&[String]>) -> Command {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args()
        && let Some((arg0, rest)) = args.split_first()
    {
        cmd.arg0(arg0);
        cmd.args(rest);
    }
    // `env: []` is an empty environment; no `env` at all is the default one.
    if let Some(env) = hook.env().as_deref().or(default_env) {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd
}

fn run_one(
    kind: &'static str,
    hook: &Hook,
    state_json: &str,
    mut cmd: Command,
) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawn_err = |source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let timeout = hook.timeout().filter(|t| *t > 0);
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs(t as u64));
    let mut out = Tail::default();
    let mut err = Tail::default();
    let ended = exchange(
        &mut child,
        state_json.as_bytes(),
        deadline,
        [&mut out, &mut err],
    );
    let status = match ended {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout {
                kind,
                path,
                secs: timeout.unwrap_or(0),
            });
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_err(e));
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut output = String::new();
    for (name, tail) in [("stdout", &out), ("stderr", &err)] {
        let text = tail.text();
        if !text.is_empty() {
            output.push_str(&format!(", {name}: {text}"));
        }
    }
    Err(HookError::Failed {
        kind,
        path,
        status: status.to_string(),
        output,
    })
}

/// The last bytes written to one of the hook's outputs.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
        // Trim in batches, not at every read.
        if self.0.len() > 2 * KEPT {
            self.0.drain(..self.0.len() - KEPT);
        }
    }

    fn text(&self) -> String {
        let start = self.0.len().saturating_sub(KEPT);
        let text = String::from_utf8_lossy(&self.0[start..]);
        let text = text.trim();
        if start > 0 {
            format!("...{text}")
        } else {
            text.to_string()
        }
    }
}

/// Feed `input` to the hook's stdin and read its stdout and stderr into `tails` until it exits
/// (`Some(status)`) or `deadline` passes (`None`). One poll loop does all three, so neither a
/// hook that never reads its stdin nor one that floods its outputs can stall rt or outlive its
/// timeout. Once the hook has exited, what its outputs still hold is read without waiting for
/// their end: a process it left behind may keep them open.
fn exchange(
    child: &mut Child,
    input: &[u8],
    deadline: Option<Instant>,
    mut tails: [&mut Tail; 2],
) -> std::io::Result<Option<ExitStatus>> {
    let nonblocking = |fd: Option<OwnedFd>| -> std::io::Result<Option<OwnedFd>> {
        if let Some(fd) = &fd {
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        }
        Ok(fd)
    };
    let mut stdin = nonblocking(child.stdin.take().map(OwnedFd::from))?;
    let mut outputs = [
        nonblocking(child.stdout.take().map(OwnedFd::from))?,
        nonblocking(child.stderr.take().map(OwnedFd::from))?,
    ];
    // Readable once the hook has exited; without one (kernels before 5.3) look every 10 ms.
    let pidfd = pidfd_open(child.id());
    let mut written = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(status) = child.try_wait()? {
            // Bounded: a process the hook left behind may still be writing.
            for (fd, tail) in outputs.iter_mut().zip(tails.iter_mut()) {
                for _ in 0..16 {
                    if !read_some(fd, &mut buf, tail) {
                        break;
                    }
                }
            }
            return Ok(Some(status));
        }
        let mut wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => return Ok(None),
            },
            None => Duration::MAX,
        };
        if pidfd.is_none() {
            wait = wait.min(Duration::from_millis(10));
        }
        let mut fds: Vec<PollFd> = stdin
            .iter()
            .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLOUT))
            .chain(outputs.iter().flatten().chain(&pidfd).map(readable))
            .collect();
        match poll(
            &mut fds,
            PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        // Which fds are ready does not matter: every one is non-blocking, so just try each.
        drop(fds);
        if let Some(fd) = &stdin {
            match nix::unistd::write(fd, &input[written..]) {
                Ok(n) => written += n,
                Err(nix::Error::EAGAIN) => {}
                // A hook may exit, or close its stdin, without reading the state: fine.
                Err(_) => written = input.len(),
            }
            if written == input.len() {
                stdin = None;
            }
        }
        for (fd, tail) in outputs.iter_mut().zip(tails.iter_mut()) {
            read_some(fd, &mut buf, tail);
        }
    }
}

fn readable(f: &OwnedFd) -> PollFd<'_> {
    PollFd::new(f.as_fd(), PollFlags::POLLIN)
}

/// One read from a hook output into `tail`; closes `fd` at its end. True if data came.
fn read_some(fd: &mut Option<OwnedFd>, buf: &mut [u8], tail: &mut Tail) -> bool {
    let Some(f) = fd else { return false };
    match nix::unistd::read(f.as_fd(), buf) {
        Ok(0) => {
            *fd = None;
            false
        }
        Ok(n) => {
            tail.push(&buf[..n]);
            true
        }
        Err(nix::Error::EAGAIN | nix::Error::EINTR) => false,
        Err(_) => {
            *fd = None;
            false
        }
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers; a returned fd is new and ours.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if rc < 0 {
        return None;
    }
    // SAFETY: rc is a fresh fd (close-on-exec, as every pidfd) owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}
