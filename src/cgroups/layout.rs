//! Where a container's cgroup is: its directory in each hierarchy of the host. And the cgroupfs
//! work that needs nothing else, the same for every driver: placing, listing and counting
//! processes, statistics, what the container's own cgroup mount shows, removal.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::fs::{parse_flat_keyed, read_string, write_in};
use super::host::{CgroupFs, CgroupMode, Hierarchy, clean_path, join_cgroup};
use super::{CgroupError, CgroupMount, Result, stats, v1};

/// The v1 controllers whose hierarchies get a directory for every container.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "name=systemd",
];

/// How long destroy retries rmdir on EBUSY.
const RMDIR_TIMEOUT: Duration = Duration::from_secs(1);

/// A container's cgroup on the host's layout.
pub struct Layout {
    host: CgroupFs,
    /// The cleaned cgroupsPath (absolute, or relative to rt's own cgroup).
    path: PathBuf,
    /// v1 hierarchies used, with the container's directory in each.
    v1: Vec<(Hierarchy, PathBuf)>,
    /// The container's directory in the cgroup2 hierarchy (v2 and hybrid).
    unified: Option<PathBuf>,
}

impl Layout {
    /// The cgroup `cgroups_path` on `host`. When absent, runc's default: the relative path
    /// `<id>`, under rt's own cgroup (buildah sends no cgroupsPath).
    pub fn new(host: CgroupFs, cgroups_path: Option<&Path>, id: &str) -> Result<Layout> {
        let inner = match cgroups_path {
            Some(p) => clean_path(p),
            None => clean_path(Path::new(id)),
        };
        if inner.as_os_str().is_empty() || inner == Path::new("/") {
            return Err(CgroupError::Other(format!(
                "invalid cgroups path {:?}: it would be the cgroup root",
                cgroups_path.unwrap_or(Path::new(id))
            )));
        }
        let relative = !inner.is_absolute();
        let mut v1 = Vec::new();
        for h in &host.hierarchies {
            if !h
                .controllers
                .iter()
                .any(|c| V1_CONTROLLERS.contains(&c.as_str()))
            {
                continue;
            }
            let base = if relative {
                let own = h
                    .controllers
                    .iter()
                    .find_map(|c| host.own_path(c))
                    .unwrap_or_else(|| "/".into());
                join_cgroup(&h.mountpoint, Path::new(&own))
            } else {
                h.mountpoint.clone()
            };
            v1.push((h.clone(), join_cgroup(&base, &inner)));
        }
        let unified = host.unified.as_ref().map(|u| {
            if relative {
                // Like runc's fs2 driver: relative to the parent of rt's own
                // cgroup (which, having processes, cannot have controllers).
                let own = host.own_path("").unwrap_or_else(|| "/".into());
                let parent = Path::new(&own)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("/"));
                join_cgroup(&join_cgroup(u, &parent), &inner)
            } else {
                join_cgroup(u, &inner)
            }
        });
        Ok(Layout {
            host,
            path: inner,
            v1,
            unified,
        })
    }

    /// The host's layout this cgroup is on.
    pub fn host(&self) -> &CgroupFs {
        &self.host
    }

    /// The cgroup path (as runc's state shows it, e.g. `/mycontainer`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mode(&self) -> CgroupMode {
        self.host.mode
    }

    /// The v1 hierarchies used, with the container's directory in each.
    pub fn v1(&self) -> &[(Hierarchy, PathBuf)] {
        &self.v1
    }

    /// Every directory of this cgroup (v1 leaves, then the unified leaf), deduplicated.
    pub fn dirs(&self) -> Vec<PathBuf> {
        // Byte comparison: the paths are built alike from kernel mountpoints, and Path's `==`
        // walks components (~800 instructions a pair, ~50k per create on a v1 host).
        let has = |out: &[PathBuf], p: &PathBuf| out.iter().any(|o| o.as_os_str() == p.as_os_str());
        let mut out: Vec<PathBuf> = Vec::new();
        for (_, d) in &self.v1 {
            if !has(&out, d) {
                out.push(d.clone());
            }
        }
        if let Some(u) = &self.unified
            && !has(&out, u)
        {
            out.push(u.clone());
        }
        out
    }

    /// The container's directory for a v1 controller.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(h, _)| h.controllers.iter().any(|c| c == controller))
            .map(|(_, d)| d.as_path())
    }

    /// The container's directory in the cgroup2 hierarchy.
    pub fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// The container's directory for each v1 controller.
    pub fn v1_map(&self) -> v1::Dirs {
        let mut m = v1::Dirs::new();
        for (h, d) in &self.v1 {
            for c in &h.controllers {
                m.insert(c.clone(), d.clone());
            }
        }
        m
    }

    /// The directory to read the process list from.
    fn procs_dir(&self) -> Option<&Path> {
        for c in [
            "pids",
            "freezer",
            "memory",
            "cpu",
            "devices",
            "name=systemd",
        ] {
            if let Some(d) = self.v1_dir(c) {
                return Some(d);
            }
        }
        self.v1
            .first()
            .map(|(_, d)| d.as_path())
            .or(self.unified.as_deref())
    }

    /// Move `pid` into the cgroup in every hierarchy (idempotent).
    pub fn add_task(&self, pid: i32) -> Result<()> {
        add_to(&self.dirs(), pid)
    }

    /// [`Layout::dirs`] with the controllers `subs` names replaced by their sub-cgroup (every
    /// one for ""), each of which must exist: `exec --cgroup`.
    pub fn sub_cgroup_dirs(
        &self,
        subs: &std::collections::BTreeMap<String, PathBuf>,
    ) -> Result<Vec<PathBuf>> {
        let mut dirs = self.dirs();
        for (ctrl, sub) in subs {
            if ctrl.is_empty() {
                dirs = dirs.iter().map(|d| d.join(sub)).collect();
                continue;
            }
            let base = match ctrl.as_str() {
                "unified" => self.unified_dir(),
                c => self.v1_dir(c),
            }
            .ok_or_else(|| CgroupError::SubCgroupController(ctrl.clone()))?
            .to_path_buf();
            for d in dirs.iter_mut() {
                if *d == base {
                    *d = base.join(sub);
                }
            }
        }
        if let Some(d) = dirs.iter().find(|d| !d.is_dir()) {
            return Err(CgroupError::SubCgroupMissing(d.clone()));
        }
        Ok(dirs)
    }

    /// The processes in the cgroup and its descendants, sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if let Some(d) = self.procs_dir() {
            collect_pids(d, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// runc's `events --stats` "data" object.
    pub fn stats(&self) -> Result<serde_json::Value> {
        match self.host.mode {
            CgroupMode::V2 => stats::v2(
                self.unified
                    .as_deref()
                    .ok_or_else(|| CgroupError::Other("no cgroup2 hierarchy".into()))?,
            ),
            _ => stats::v1(&self.v1_map(), self.unified.as_deref()),
        }
    }

    /// Remove the cgroup directories (waits briefly for them to empty).
    pub fn remove(&self) -> Result<()> {
        let deadline = Instant::now() + RMDIR_TIMEOUT;
        let mut first_err = None;
        for d in self.dirs() {
            if let Err(e) = remove_cgroup_dir(&d, deadline)
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Does any of the cgroup's directories exist?
    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.exists())
    }

    /// What the container's own cgroup filesystem mount shows.
    pub fn cgroup_mount(&self) -> CgroupMount {
        if let (CgroupMode::V2, Some(u)) = (self.host.mode, &self.unified) {
            return CgroupMount::V2(u.clone());
        }
        let mut binds = Vec::new();
        for h in &self.host.hierarchies {
            let Some(name) = h.mountpoint.file_name() else {
                continue;
            };
            let dir = self
                .v1
                .iter()
                .find(|(m, _)| m.mountpoint.as_os_str() == h.mountpoint.as_os_str())
                .map_or_else(|| self.host.own_dir(h), |(_, d)| d.clone());
            binds.push((name.to_os_string(), dir));
        }
        // Not the unified hierarchy of a hybrid host: runc (1.1 and 1.3) shows only the v1
        // ones, and the runtime spec leaves the layout of a `cgroup` mount to the runtime.
        CgroupMount::Tmpfs(binds)
    }

    /// How many times the OOM killer killed a process in this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        let (file, dir) = match (self.host.mode, self.v1_dir("memory"), &self.unified) {
            (CgroupMode::V2, _, Some(u)) => ("memory.events", u.as_path()),
            (_, Some(d), _) => ("memory.oom_control", d),
            _ => return Err(CgroupError::ControllerNotAvailable("memory".into())),
        };
        let kv = parse_flat_keyed(&read_string(&dir.join(file))?);
        Ok(kv
            .iter()
            .find(|(k, _)| k == "oom_kill")
            .map(|(_, v)| *v)
            .unwrap_or(0))
    }
}

/// Move `pid` into each of the cgroups `dirs`.
pub(super) fn add_to(dirs: &[PathBuf], pid: i32) -> Result<()> {
    let pid = pid.to_string();
    for d in dirs {
        write_in(d, "cgroup.procs", &pid)?;
    }
    Ok(())
}

/// Pids in `dir`'s cgroup.procs and in every descendant cgroup's.
fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match crate::procfs::read_to_string(&procs, 4096) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: procs,
                source,
            });
        }
    }
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out)?;
            }
        }
    }
    Ok(())
}

/// rmdir `dir` after its child cgroups, retrying EBUSY for a short while. The rmdir comes
/// first: a container's cgroup almost never has children, and listing a cgroup directory
/// (dozens of control files) for nothing on each of a v1 host's ten hierarchies is most of
/// what `delete` costs. Children or remaining processes show as EBUSY (ENOTEMPTY on a
/// filesystem that is not cgroupfs).
fn remove_cgroup_dir(dir: &Path, deadline: Instant) -> Result<()> {
    let mut children_removed = false;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY))
                    && !children_removed =>
            {
                children_removed = true;
                remove_child_cgroups(dir, deadline)?;
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

fn remove_child_cgroups(dir: &Path, deadline: Instant) -> Result<()> {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_dir(&e.path(), deadline)?;
            }
        }
    }
    Ok(())
}
