//! Checkpoint/restore through CRIU's RPC (`criu swrk`), as runc does it: the options a user
//! gives, the session, and what CRIU must be told about a container's config.

pub mod config;
pub mod proto;
pub mod swrk;

use std::path::{Path, PathBuf};

use proto::{CgMode, ReqType, Resp};
pub use swrk::Swrk;

#[derive(thiserror::Error)]
pub enum CriuError {
    #[error("cannot run {}: {source}", .path.display())]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("criu: {what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::Error,
    },
    #[error("criu: {0}")]
    Protocol(String),
    #[error(transparent)]
    Decode(#[from] proto::DecodeError),
    /// runc's text, plus CRIU's own message and the log's last error line when there are any.
    #[error("criu failed: type {kind} errno {errno}{detail}\nlog file: {}", .log.display())]
    Failed {
        kind: &'static str,
        errno: i32,
        detail: String,
        log: PathBuf,
    },
    #[error("criu failed: exit status {code}{detail}\nlog file: {}", .log.display())]
    Exit {
        code: i32,
        detail: String,
        log: PathBuf,
    },
    #[error("{0}")]
    Notify(String),
    #[error("invalid --parent-path {}: {why}", .path.display())]
    Parent { path: PathBuf, why: &'static str },
    #[error("{what} {}: {source}", .path.display())]
    Dir {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// As Display: a derived Debug of every variant is code nobody reads.
impl std::fmt::Debug for CriuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl CriuError {
    fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> CriuError {
        move |source| CriuError::Sys { what, source }
    }
}

/// What the user asked of CRIU on the command line: runc's CriuOpts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The criu binary (`--criu`, default `criu` from PATH).
    pub criu: PathBuf,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    /// Relative to `image_path` (checked by the caller).
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub pre_dump: bool,
    pub auto_dedup: bool,
    pub page_server: Option<(String, i32)>,
    pub manage_cgroups_mode: Option<CgMode>,
    /// Namespaces created empty on restore (CLONE_NEW* bits); the network always is: rt, like
    /// runc, does not manage network devices.
    pub empty_ns: u32,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

impl Options {
    /// The fields of `criu_opts` shared by dump and restore. `images` and `work` are rt's open
    /// directory fds.
    pub fn base(&self, images: i32, work: Option<i32>, log_file: &str) -> proto::Opts {
        use proto::{Flag, Int, Text};
        let mut o = proto::Opts::new(images);
        if let Some(w) = work {
            o.int(Int::WorkDirFd, w.into());
        }
        o.int(Int::LogLevel, 4);
        o.text(Text::LogFile, log_file);
        o.flag(Flag::ManageCgroups, true);
        if let Some(m) = self.manage_cgroups_mode {
            o.int(Int::ManageCgroupsMode, m as i64);
        }
        o.flag(Flag::NotifyScripts, true);
        o.flag(Flag::ShellJob, self.shell_job);
        o.flag(Flag::TcpEstablished, self.tcp_established);
        o.flag(Flag::ExtUnixSk, self.ext_unix_sk);
        o.flag(Flag::FileLocks, self.file_locks);
        o.int(
            Int::EmptyNs,
            (self.empty_ns | libc::CLONE_NEWNET as u32).into(),
        );
        o.flag(Flag::OrphanPtsMaster, true);
        o.flag(Flag::AutoDedup, self.auto_dedup);
        o
    }

    /// Where CRIU writes `log_file`: the work directory, else the images directory.
    pub fn log_path(&self, log_file: &str) -> PathBuf {
        self.work_path
            .as_deref()
            .unwrap_or(&self.image_path)
            .join(log_file)
    }
}

/// Open a directory for CRIU (which reads it through /proc/<rt>/fd/N), creating it (0700, as
/// runc does) when `create`.
pub fn open_dir(path: &Path, create: bool) -> Result<std::fs::File, CriuError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let err = |what| {
        move |source| CriuError::Dir {
            what,
            path: path.to_path_buf(),
            source,
        }
    };
    if create {
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(err("create")(e));
            }
            _ => {}
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(err("open"))
}

/// runc's rule for `--parent-path`: relative to the images directory (which exists by now), and
/// there.
pub fn check_parent(images: &Path, parent: &Path) -> Result<(), CriuError> {
    let real = images.join(parent);
    let why = if parent.is_absolute() {
        "must be relative"
    } else {
        match std::fs::metadata(&real) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => "is not a directory",
            Err(_) => "does not exist",
        }
    };
    Err(CriuError::Parent { path: real, why })
}

/// The error for a failed response (None: criu hung up without one): runc's words, with CRIU's
/// message and the last error line of its log, which is what a caller showing one line
/// (containerd) needs.
pub fn failed(kind: ReqType, resp: Option<&Resp>, log: &Path) -> CriuError {
    let msg = match resp {
        Some(r) => r.cr_errmsg.as_deref(),
        None => Some("criu exited without an answer"),
    };
    CriuError::Failed {
        kind: kind.name(),
        errno: resp.map_or(0, |r| r.cr_errno),
        detail: detail(msg, log),
        log: log.to_path_buf(),
    }
}

/// criu exited badly after it had answered (runc treats that as a failure too): `code` is its
/// exit status, or 128 + the signal that killed it.
pub fn exited(code: i32, log: &Path) -> CriuError {
    CriuError::Exit {
        code,
        detail: detail(None, log),
        log: log.to_path_buf(),
    }
}

fn detail(errmsg: Option<&str>, log: &Path) -> String {
    let mut out = String::new();
    if let Some(m) = errmsg.filter(|m| !m.is_empty()) {
        out.push_str(": ");
        out.push_str(m.trim_end());
    }
    if let Some(line) = last_error_line(log) {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The last line of a CRIU log that reports an error (`(00.1) Error (criu/...): ...`).
fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .rev()
        .find(|l| l.contains("Error ("))
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_quote_criu_and_the_log() {
        let t = crate::testutil::TempDir::new("criu-failed");
        let log = t.path().join("dump.log");
        std::fs::write(
            &log,
            "(00.1) Dumping\n(00.2) Error (criu/a.c:1): first\n(00.3) Error (criu/b.c:2): last one\n(00.4) Unlock\n",
        )
        .unwrap();
        let resp = Resp {
            cr_errno: 22,
            cr_errmsg: Some("bad thing".into()),
            ..Default::default()
        };
        let e = failed(ReqType::Dump, Some(&resp), &log).to_string();
        assert_eq!(
            e,
            format!(
                "criu failed: type DUMP errno 22: bad thing\n(00.3) Error (criu/b.c:2): last one\nlog file: {}",
                log.display()
            )
        );
        // No log (criu died before writing one): runc's words alone.
        let e = failed(
            ReqType::Restore,
            Some(&Resp::default()),
            &t.path().join("x"),
        )
        .to_string();
        assert!(
            e.starts_with("criu failed: type RESTORE errno 0\nlog file: "),
            "{e}"
        );
    }

    #[test]
    fn parent_path_is_relative_and_there() {
        let t = crate::testutil::TempDir::new("criu-parent");
        std::fs::create_dir(t.path().join("pre")).unwrap();
        std::fs::write(t.path().join("file"), "").unwrap();
        assert!(check_parent(t.path(), Path::new("pre")).is_ok());
        for bad in ["/abs", "missing", "file"] {
            let e = check_parent(t.path(), Path::new(bad))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("invalid --parent-path "), "{e}");
        }
    }

    #[test]
    fn base_options_always_leave_the_network_namespace_empty() {
        let o = Options {
            shell_job: true,
            empty_ns: 0,
            work_path: Some("/w".into()),
            image_path: "/i".into(),
            ..Default::default()
        };
        let b = proto::request(ReqType::Dump, Some(&o.base(5, Some(6), "dump.log")));
        // `protoc --decode=criu_req rpc.proto` reads this as: type: DUMP opts { images_dir_fd: 5
        //   shell_job: true log_level: 4 log_file: "dump.log" notify_scripts: true
        //   work_dir_fd: 6 manage_cgroups: true empty_ns: 1073741824 orphan_pts_master: true }
        let want: &[u8] = &[
            0x08, 0x01, 0x12, 0x22, 0x08, 0x05, 0x88, 0x01, 0x06, 0x48, 0x04, 0x52, 0x08, b'd',
            b'u', b'm', b'p', b'.', b'l', b'o', b'g', 0xc0, 0x01, 0x01, 0x60, 0x01, 0x38, 0x01,
            0xb0, 0x02, 0x80, 0x80, 0x80, 0x80, 0x04, 0x90, 0x03, 0x01,
        ];
        assert_eq!(b, want);
        assert_eq!(o.log_path("dump.log"), Path::new("/w/dump.log"));
        let o = Options {
            image_path: "/i".into(),
            ..Default::default()
        };
        assert_eq!(o.log_path("restore.log"), Path::new("/i/restore.log"));
    }
}
