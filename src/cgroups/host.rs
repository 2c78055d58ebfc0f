//! The host's cgroup layout: v1, hybrid or v2, the v1 hierarchies (from mountinfo) and rt's
//! own cgroup in each (from /proc/self/cgroup).

use std::path::{Component, Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use super::fs::read_string;
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
