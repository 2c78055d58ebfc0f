//! The on-disk record of a container under `--root`: one directory per id whose creation is the
//! atomic "already exists" check, a state.json replaced atomically, and an flock for mutating
//! verbs. Status is never trusted from disk: see `container::status`.

mod id;
mod lock;

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

pub use id::validate_id;
pub use lock::DirLock;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// The bundle's config.json as create read it, byte for byte (see [`Record::hooks`]).
pub const CONFIG_FILE: &str = "config.json";
/// The directory of the container's notify socket (NOTIFY_SOCKET, container/notify.rs).
pub const NOTIFY_DIR: &str = "notify";
const NOTIFY_SOCKET: &str = "notify.sock";
pub const DEFAULT_ROOT: &str = "/run/rt";
/// A state directory being made is named `claim:<id>:<pid>` (':' is in no id) until it is
/// renamed to `<id>` with its state in it.
const CLAIM_PREFIX: &str = "claim:";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container does not exist")]
    NotExist,
    #[error("container with given ID already exists")]
    AlreadyExists,
    #[error("invalid container id {id:?}: {why}")]
    BadId { id: String, why: &'static str },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to remove {dir}: {why}")]
    NotOurs { dir: PathBuf, why: String },
    #[error("corrupt state file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Everything later verbs need, saved by create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Host pid of the container's init; 0 once known to be gone.
    pub pid: i32,
    /// /proc/<pid>/stat starttime, so a recycled pid is never mistaken for init.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup_path: Option<PathBuf>,
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// rt made the cgroup (it did not exist before create). Only then does delete remove it
    /// and kill what is left in it: a cgroupsPath naming an existing cgroup may hold the
    /// host's processes. (An older rt's state has no field: it always removed the cgroup.)
    #[serde(default = "yes")]
    pub cgroup_owned: bool,
    /// The config's hooks as they were at create: the copy start, delete and create's undo
    /// run. The whole config (for exec's defaults and update) is a verbatim copy of
    /// config.json in [`CONFIG_FILE`] beside state.json, parsed only by the verbs that need it,
    /// and never for its hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    /// `create --no-new-keyring`: `exec` then keeps rt's session keyring, as init did, instead
    /// of joining the container's `_ses.<id>`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_new_keyring: bool,
    /// `linux.intelRdt`: the resctrl group the container's processes are in (intelrdt.rs;
    /// plain fields, not a struct of their own: each serde struct costs the binary ~2 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdt_group: Option<PathBuf>,
    /// rt made `rdt_group` for a config without `closID`: delete removes it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rdt_group_owned: bool,
    /// The MON group of `enableMonitoring`, removed at delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdt_monitor: Option<PathBuf>,
}

fn is_false(b: &bool) -> bool {
    !b
}

fn yes() -> bool {
    true
}

/// The `--root` directory.
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// Make sure the root exists (0700, like runc's) and return a handle.
    pub fn open(path: &Path) -> Result<Root, StateError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io("create state root", path))?;
        Ok(Root {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.path.join(id)
    }

    /// Claim `id` with its first state. The directory is made under a name no id can have
    /// (`claim:<id>:<pid>`), filled with `record` and `config`, and renamed into place without
    /// replacing anything: `<root>/<id>` never exists without state.json, so a directory there
    /// without one is not rt's (delete refuses it). Two creates of one id: one rename wins.
    pub fn claim(&self, id: &str, record: &Record, config: &[u8]) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        let dir = self.dir(id);
        if fs::symlink_metadata(&dir).is_ok() {
            return Err(StateError::AlreadyExists);
        }
        let tmp = self
            .path
            .join(format!("{CLAIM_PREFIX}{id}:{}", std::process::id()));
        // One with our pid is a dead rt's (this process claims an id once).
        remove_by_name(&tmp)?;
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(io("create state dir", &tmp))?;
        let placed = save_config(&tmp, config)
            .and_then(|()| record.save(&tmp))
            .and_then(|()| {
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &tmp,
                    nix::fcntl::AT_FDCWD,
                    &dir,
                    nix::fcntl::RenameFlags::RENAME_NOREPLACE,
                )
                .or_else(|e| match e {
                    // A filesystem without RENAME_NOREPLACE (NFS): the check above has to do.
                    nix::Error::EINVAL => {
                        nix::fcntl::renameat(nix::fcntl::AT_FDCWD, &tmp, nix::fcntl::AT_FDCWD, &dir)
                    }
                    e => Err(e),
                })
                .map_err(|e| match e {
                    nix::Error::EEXIST | nix::Error::ENOTEMPTY => StateError::AlreadyExists,
                    e => io("rename", &dir)(e.into()),
                })
            });
        if placed.is_err() {
            let _ = remove_by_name(&tmp);
        }
        placed.map(|()| dir)
    }

    /// Remove what a create killed between mkdir and rename left for `id`
    /// (`claim:<id>:<pid>` of a pid that is gone), by name.
    pub fn remove_stale_claims(&self, id: &str) -> Result<(), StateError> {
        let prefix = format!("{CLAIM_PREFIX}{id}:");
        for entry in fs::read_dir(&self.path).map_err(io("read", &self.path))? {
            let entry = entry.map_err(io("read", &self.path))?;
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let gone = pid <= 0
                || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                    == Err(nix::Error::ESRCH);
            if gone {
                remove_by_name(&entry.path())?;
            }
        }
        Ok(())
    }

    pub fn load(&self, id: &str) -> Result<Record, StateError> {
        validate_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(StateError::NotExist),
            Err(e) => return Err(io("read", &path)(e)),
        };
        serde_json::from_slice(&data).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Ids of every container with a state file, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.path).map_err(io("read", &self.path))? {
            let entry = entry.map_err(io("read", &self.path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // A claim being made (or left by a killed create) is no container yet.
            if validate_id(&name).is_ok() && entry.path().join(STATE_FILE).exists() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The files in a container's state directory, all of them ones rt writes (None: there
    /// is no directory). See [`own_files`].
    pub fn own_files(&self, id: &str) -> Result<Option<Vec<std::ffi::OsString>>, StateError> {
        own_files(&self.dir(id))
    }

    /// Remove a container's state directory: the files rt writes there, by name, then the
    /// directory itself; nothing at all if [`own_files`] refuses. Never recursive.
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        remove_by_name(&self.dir(id))
    }

    /// The refusal `delete` gives for `<root>/<id>` without a state file, if that exists.
    pub fn stateless_dir(&self, id: &str) -> Option<StateError> {
        let dir = self.dir(id);
        fs::symlink_metadata(&dir).ok()?;
        Some(StateError::NotOurs {
            dir,
            why: format!(
                "it has no {STATE_FILE}, so it is no container rt made (a create killed \
                 before saving state leaves one: remove it by hand)"
            ),
        })
    }
}

/// The files in `dir`, all of them ones rt writes (None: there is no directory). Anything else
/// (a foreign file, a symlink instead of a directory) means rt did not make it, say a --root
/// that is not rt's own: refused.
fn own_files(dir: &Path) -> Result<Option<Vec<std::ffi::OsString>>, StateError> {
    let not_ours = |why: String| StateError::NotOurs {
        dir: dir.to_path_buf(),
        why,
    };
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(not_ours("it is not a directory".into())),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("stat", dir)(e)),
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("read", dir))? {
        let name = entry.map_err(io("read", dir))?.file_name();
        if !written_by_rt(&name.to_string_lossy()) {
            return Err(not_ours(format!(
                "it holds {name:?}, which rt did not write"
            )));
        }
        names.push(name);
    }
    Ok(Some(names))
}

/// Unlink the files rt wrote in `dir`, by name, then rmdir it; nothing if [`own_files`]
/// refuses.
fn remove_by_name(dir: &Path) -> Result<(), StateError> {
    let Some(names) = own_files(dir)? else {
        return Ok(());
    };
    for name in names {
        let path = dir.join(&name);
        if name == NOTIFY_DIR {
            let sock = path.join(NOTIFY_SOCKET);
            match fs::remove_file(&sock) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(io("remove", &sock)(e)),
                _ => {}
            }
            fs::remove_dir(&path).map_err(io("remove", &path))?;
            continue;
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(io("remove", &path)(e)),
            _ => {}
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io("remove", dir)(e)),
        _ => Ok(()),
    }
}

/// The names rt writes in a container's directory: the state, the config copy, exec.fifo,
/// the notify directory, and the `.tmp<pid>` files write_atomic renames into place (left over
/// if rt was killed).
fn written_by_rt(name: &str) -> bool {
    name == NOTIFY_DIR
        || [STATE_FILE, CONFIG_FILE, EXEC_FIFO].iter().any(|f| {
            name == *f
                || name
                    .strip_prefix(f)
                    .and_then(|rest| rest.strip_prefix(".tmp"))
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
}

impl Record {
    /// Write state.json as tmp + rename so a reader never sees half a file.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let data = serde_json::to_vec(self).map_err(|source| StateError::Corrupt {
            path: dir.join(STATE_FILE),
            source,
        })?;
        write_atomic(&dir.join(STATE_FILE), &data, 0o600)
    }
}

/// Create's copy of config.json in a freshly claimed state dir; 0600 like state.json, as the
/// config holds the process env.
pub fn save_config(dir: &Path, data: &[u8]) -> Result<(), StateError> {
    let path = dir.join(CONFIG_FILE);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(io("create", &path))?
        .write_all(data)
        .map_err(io("write", &path))
}

/// tmp + rename in the target's directory.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), StateError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    // No fsync: rename alone keeps readers from seeing half a file, and durability across a
    // crash buys nothing here: the processes a state file describes do not survive a reboot
    // either. On a disk-backed --root fsync cost a journal commit on every create.
    f.write_all(data).map_err(io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io("rename", path)(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> Record {
        Record {
            id: id.into(),
            pid: 42,
            pid_start_time: 7,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00.000000000Z".into(),
            annotations: HashMap::new(),
            cgroup_path: Some("/x".into()),
            systemd_cgroup: false,
            cgroup_owned: true,
            hooks: None,
            no_new_keyring: false,
            rdt_group: None,
            rdt_group_owned: false,
            rdt_monitor: None,
        }
    }

    fn tmp_root(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("rt-state-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn claim_save_load_remove() {
        let p = tmp_root("cycle");
        let root = Root::open(&p).unwrap();
        let dir = root.claim("c1", &record("c1"), b"{}").unwrap();
        assert!(matches!(
            root.claim("c1", &record("c1"), b"{}"),
            Err(StateError::AlreadyExists)
        ));
        assert_eq!(fs::read(dir.join(CONFIG_FILE)).unwrap(), b"{}");
        let back = root.load("c1").unwrap();
        assert_eq!(back.pid, 42);
        assert_eq!(back.cgroup_path.as_deref(), Some(Path::new("/x")));
        assert_eq!(root.ids().unwrap(), vec!["c1".to_string()]);
        root.remove("c1").unwrap();
        assert!(matches!(root.load("c1"), Err(StateError::NotExist)));
        fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn remove_takes_only_what_rt_wrote() {
        let p = tmp_root("remove");
        let root = Root::open(&p).unwrap();
        let dir = root.claim("c4", &record("c4"), b"{}").unwrap();
        fs::write(dir.join("state.json.tmp123"), b"").unwrap();
        fs::write(dir.join("precious"), b"keep").unwrap();
        let err = root.remove("c4").unwrap_err().to_string();
        assert!(err.contains("precious"), "{err}");
        assert!(dir.join(STATE_FILE).exists() && dir.join("precious").exists());
        fs::remove_file(dir.join("precious")).unwrap();
        root.remove("c4").unwrap();
        assert!(!dir.exists());
        assert!(root.stateless_dir("c4").is_none());
        fs::create_dir(&dir).unwrap();
        assert!(root.stateless_dir("c4").is_some());
        assert!(!written_by_rt("state.json.tmp") && !written_by_rt("exec.fifo.tmpx"));
        fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn stale_claims_of_dead_creates_are_removed() {
        let p = tmp_root("claims");
        let root = Root::open(&p).unwrap();
        // pid_max is never a pid; our own pid is alive.
        let dead = p.join("claim:c5:4194304");
        let live = p.join(format!("claim:c5:{}", std::process::id()));
        let other = p.join("claim:c55:4194304");
        for d in [&dead, &live, &other] {
            fs::create_dir(d).unwrap();
            fs::write(d.join(CONFIG_FILE), b"{}").unwrap();
        }
        root.remove_stale_claims("c5").unwrap();
        assert!(!dead.exists() && live.exists() && other.exists());
        assert!(root.ids().unwrap().is_empty());
        fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn corrupt_state_is_reported_with_path() {
        let p = tmp_root("corrupt");
        let root = Root::open(&p).unwrap();
        let dir = root.claim("c2", &record("c2"), b"{}").unwrap();
        fs::write(dir.join(STATE_FILE), b"{not json").unwrap();
        let err = root.load("c2").unwrap_err().to_string();
        assert!(err.contains("state.json"), "{err}");
        fs::remove_dir_all(&p).unwrap();
    }
}
