//! Detection of the cgroup layout and small file helpers.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use super::{CgroupError, Result};

/// Where cgroup filesystems are mounted.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 controller hierarchies.
    V1,
    /// v1 controllers plus a cgroup2 mount at `<root>/unified`.
    Hybrid,
    /// cgroup2 mounted at the root.
    V2,
}

/// One mounted v1 hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Controllers bound to it (`cpu`, `cpuacct`, `name=systemd`, ...).
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The cgroup shown at `mountpoint`: `/` unless only a subtree was mounted there.
    pub root: PathBuf,
}

/// The cgroup filesystem(s) of the host, or a fake one for tests.
#[derive(Debug, Clone)]
pub struct CgroupFs {
    pub root: PathBuf,
    pub mode: CgroupMode,
    /// v1 hierarchies (empty on pure v2).
    pub hierarchies: Vec<Hierarchy>,
    /// The cgroup2 mountpoint: `root` on v2, `root/unified` on hybrid.
    pub unified: Option<PathBuf>,
    /// Contents of `/proc/self/cgroup` (for relative cgroupsPath).
    pub own_cgroup: String,
    /// Whether v2 device rules are enforced with an eBPF program (true on
    /// the host; false for a fake tree, where nothing can be attached).
    pub device_filter: bool,
}

impl CgroupFs {
    /// Inspect the host at [`DEFAULT_ROOT`].
    pub fn detect() -> Result<Self> {
        let root = PathBuf::from(DEFAULT_ROOT);
        let mode = detect_mode(&root)?;
        let own = read_string(Path::new("/proc/self/cgroup"))?;
        let mountinfo = match mode {
            CgroupMode::V2 => String::new(),
            _ => crate::procfs::read_mountinfo().map_err(|source| CgroupError::Read {
                path: PathBuf::from("/proc/self/mountinfo"),
                source,
            })?,
        };
        Ok(Self::from_mountinfo(root, mode, &mountinfo, own))
    }

    /// The layout at `root` in `mode`, with the v1 hierarchies below `root` in `mountinfo`
    /// and rt's own cgroups from `own_cgroup` (/proc/self/cgroup).
    pub fn from_mountinfo(root: PathBuf, mode: CgroupMode, mountinfo: &str, own: String) -> Self {
        let hierarchies = match mode {
            CgroupMode::V2 => Vec::new(),
            _ => hierarchies_from_mountinfo(&root, mountinfo),
        };
        Self::build(root, mode, hierarchies, own)
    }

    fn build(root: PathBuf, mode: CgroupMode, hierarchies: Vec<Hierarchy>, own: String) -> Self {
        let unified = match mode {
            CgroupMode::V1 => None,
            CgroupMode::Hybrid => Some(root.join("unified")),
            CgroupMode::V2 => Some(root.clone()),
        };
        Self {
            root,
            mode,
            hierarchies,
            unified,
            own_cgroup: own,
            device_filter: true,
        }
    }

    /// The v1 hierarchy holding `controller`, if mounted.
    pub fn hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    /// rt's own cgroup path for a v1 controller, or for v2 (`controller` = "").
    pub fn own_path(&self, controller: &str) -> Option<String> {
        for line in self.own_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if controller.is_empty() {
                if ctrls.is_empty() {
                    return Some(path.to_string());
                }
            } else if ctrls.split(',').any(|c| c == controller) {
                return Some(path.to_string());
            }
        }
        None
    }

    /// rt's own cgroup directory in the v1 hierarchy `h`.
    pub fn own_dir(&self, h: &Hierarchy) -> PathBuf {
        let own = h.controllers.iter().find_map(|c| self.own_path(c));
        let own = Path::new(own.as_deref().unwrap_or("/"));
        join_cgroup(&h.mountpoint, own.strip_prefix(&h.root).unwrap_or(own))
    }
}

/// v1 / hybrid / v2 from the filesystem types of `root` and `root/unified`.
pub fn detect_mode(root: &Path) -> Result<CgroupMode> {
    let st = statfs(root).map_err(|e| CgroupError::Read {
        path: root.to_path_buf(),
        source: e.into(),
    })?;
    if st.filesystem_type() == CGROUP2_SUPER_MAGIC {
        return Ok(CgroupMode::V2);
    }
    let unified = root.join("unified");
    match statfs(&unified) {
        Ok(st) if st.filesystem_type() == CGROUP2_SUPER_MAGIC => Ok(CgroupMode::Hybrid),
        _ => Ok(CgroupMode::V1),
    }
}

/// The cgroup v1 mounts below `root` from /proc/self/mountinfo text.
pub fn hierarchies_from_mountinfo(root: &Path, mountinfo: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for m in crate::procfs::mountinfo(mountinfo) {
        if m.fstype != "cgroup" || !m.mount_point.starts_with(root) {
            continue;
        }
        let controllers: Vec<String> = m
            .super_options
            .split(',')
            .filter(|o| {
                !matches!(
                    *o,
                    "rw" | "ro" | "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode"
                ) && !o.starts_with("release_agent=")
            })
            .map(str::to_string)
            .collect();
        if controllers.is_empty()
            || out
                .iter()
                .any(|h| h.mountpoint.as_os_str() == m.mount_point.as_os_str())
        {
            continue;
        }
        out.push(Hierarchy {
            controllers,
            mountpoint: m.mount_point,
            root: m.root,
        });
    }
    out
}

/// Lexically clean `p` like runc's CleanPath: `..` never escapes the start.
pub fn clean_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let abs = p.is_absolute();
    if abs {
        out.push("/");
    }
    let mut depth = 0usize;
    for c in p.components() {
        match c {
            Component::Normal(n) => {
                out.push(n);
                depth += 1;
            }
            Component::ParentDir if depth > 0 => {
                out.pop();
                depth -= 1;
            }
            _ => {}
        }
    }
    out
}

/// `base` joined with the absolute cgroup path `inner` (its leading `/` dropped).
pub fn join_cgroup(base: &Path, inner: &Path) -> PathBuf {
    let rel = inner.strip_prefix("/").unwrap_or(inner);
    if rel.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// A cgroup (or /proc) file: most are a line, the largest (memory.stat) a few KiB.
pub fn read_string(path: &Path) -> Result<String> {
    crate::procfs::read_to_string(path, 4096).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The trimmed contents of a cgroup file.
pub fn read_trimmed(path: &Path) -> Result<String> {
    Ok(read_string(path)?.trim().to_string())
}

/// Write `value` to an existing cgroup file in one write(2).
pub fn write_file(path: &Path, value: &str) -> Result<()> {
    RepeatedWriter::new(path.to_path_buf()).write(value)
}

/// A cgroup file written value after value, each in its own write(2), on one open file (opened
/// at the first write, so [`write_file`] is one of these written once): v1 devices.allow/deny
/// take one rule per write, and a container's dozen rules then cost a dozen writes, not a dozen
/// opens and closes as well.
pub struct RepeatedWriter {
    path: PathBuf,
    file: Option<fs::File>,
}

impl RepeatedWriter {
    pub fn new(path: PathBuf) -> RepeatedWriter {
        RepeatedWriter { path, file: None }
    }

    pub fn write(&mut self, value: &str) -> Result<()> {
        #[cfg(test)]
        testutil::WRITES.with(|w| w.borrow_mut().push((self.path.clone(), value.to_string())));
        let res = match &mut self.file {
            Some(f) => f.write_all(value.as_bytes()),
            None => fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.path)
                .and_then(|mut f| {
                    f.write_all(value.as_bytes())?;
                    self.file = Some(f);
                    Ok(())
                }),
        };
        res.map_err(|source| CgroupError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Write `value` to `dir/name`.
pub fn write_in(dir: &Path, name: &str, value: &str) -> Result<()> {
    write_file(&dir.join(name), value)
}

/// Parse a u64 file; "max" reads as u64::MAX.
pub fn read_u64(path: &Path) -> Result<u64> {
    let s = read_trimmed(path)?;
    parse_u64(&s).ok_or_else(|| {
        CgroupError::Other(format!(
            "unexpected content {s:?} in {}",
            path.to_string_lossy()
        ))
    })
}

pub fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse::<u64>().ok().or_else(|| {
        s.parse::<i64>()
            .ok()
            .map(|v| if v < 0 { u64::MAX } else { 0 })
    })
}

/// `mkdir -p`, returning the directories that were actually created (outermost first).
pub fn mkdir_all(path: &Path) -> Result<Vec<PathBuf>> {
    // Usually only the last directory is missing: one mkdir instead of a stat of it and of its
    // parent first. Any failure takes the walk below, which sorts out what exists.
    if fs::create_dir(path).is_ok() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut missing = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.exists() {
            break;
        }
        missing.push(p.to_path_buf());
        cur = p.parent();
    }
    missing.reverse();
    for p in &missing {
        match fs::create_dir(p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(CgroupError::Mkdir {
                    path: p.clone(),
                    source,
                });
            }
        }
    }
    Ok(missing)
}

/// "key value" lines (memory.stat, cpu.stat, ...) as pairs.
pub fn parse_flat_keyed(s: &str) -> Vec<(String, u64)> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = parse_u64(it.next()?)?;
            Some((k.to_string(), v))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// Every write_file call made on this thread, in order.
        pub static WRITES: RefCell<Vec<(PathBuf, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// The values written to `path` on this thread so far, in order.
    pub fn writes_to(path: &Path) -> Vec<String> {
        WRITES.with(|w| {
            w.borrow()
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    /// All (path, value) writes so far on this thread.
    pub fn all_writes() -> Vec<(PathBuf, String)> {
        WRITES.with(|w| w.borrow().clone())
    }
}
