//! The cgroupfs manager for v1, hybrid and v2 hosts.

use std::fs;
use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, open};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::fs::{
    CgroupFs, CgroupMode, Hierarchy, clean_path, join_cgroup, mkdir_all, parse_flat_keyed,
    read_string, read_trimmed, write_file, write_in,
};
use super::{CgroupError, CgroupMount, Manager, Result, bpf, errmsg, stats, v1, v2};

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

/// How long freeze/thaw wait for the kernel to report the new state.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long destroy retries rmdir on EBUSY.
const RMDIR_TIMEOUT: Duration = Duration::from_secs(1);

/// A cgroup managed through the cgroup filesystem (runc's "cgroupfs" driver).
pub struct FsManager {
    fs: CgroupFs,
    /// The cleaned cgroupsPath (absolute, or relative to rt's own cgroup).
    path: PathBuf,
    /// v1 hierarchies used, with the container's directory in each.
    v1: Vec<(Hierarchy, PathBuf)>,
    /// The container's directory in the cgroup2 hierarchy (v2 and hybrid).
    unified: Option<PathBuf>,
    resources: Option<LinuxResources>,
    leaf_fd: Option<OwnedFd>,
}

impl FsManager {
    /// A manager for `cgroups_path` (or `/<id>` when absent) on `fs`.
    pub fn new(
        fs: CgroupFs,
        cgroups_path: Option<&Path>,
        id: &str,
        resources: Option<LinuxResources>,
    ) -> Result<Self> {
        let inner = match cgroups_path {
            Some(p) => clean_path(p),
            None => clean_path(&Path::new("/").join(id)),
        };
        if inner.as_os_str().is_empty() || inner == Path::new("/") {
            return Err(CgroupError::Other(format!(
                "invalid cgroups path {:?}: it would be the cgroup root",
                cgroups_path.unwrap_or(Path::new(id))
            )));
        }
        let relative = !inner.is_absolute();
        let mut v1 = Vec::new();
        for h in &fs.hierarchies {
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
                    .find_map(|c| fs.own_path(c))
                    .unwrap_or_else(|| "/".into());
                join_cgroup(&h.mountpoint, Path::new(&own))
            } else {
                h.mountpoint.clone()
            };
            v1.push((h.clone(), join_cgroup(&base, &inner)));
        }
        let unified = fs.unified.as_ref().map(|u| {
            if relative {
                // Like runc's fs2 driver: relative to the parent of rt's own
                // cgroup (which, having processes, cannot have controllers).
                let own = fs.own_path("").unwrap_or_else(|| "/".into());
                let parent = Path::new(&own)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("/"));
                join_cgroup(&join_cgroup(u, &parent), &inner)
            } else {
                join_cgroup(u, &inner)
            }
        });
        Ok(Self {
            fs,
            path: inner,
            v1,
            unified,
            resources,
            leaf_fd: None,
        })
    }

    /// A manager for an existing cgroup at `path` (from state.json).
    pub fn load(fs: CgroupFs, path: &Path) -> Result<Self> {
        let mut m = Self::new(fs, Some(path), "", None)?;
        if m.fs.mode == CgroupMode::V2
            && let Some(u) = &m.unified
            && u.is_dir()
        {
            m.leaf_fd = open_dir(u).ok();
        }
        Ok(m)
    }

    pub fn mode(&self) -> CgroupMode {
        self.fs.mode
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

    fn v1_map(&self) -> v1::Dirs {
        let mut m = v1::Dirs::new();
        for (h, d) in &self.v1 {
            for c in &h.controllers {
                m.insert(c.clone(), d.clone());
            }
        }
        m
    }

    /// Controllers available in the cgroup2 root.
    fn v2_available(&self) -> Result<Vec<String>> {
        let Some(root) = &self.fs.unified else {
            return Ok(Vec::new());
        };
        Ok(read_string(&root.join("cgroup.controllers"))?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// Enable `controllers` in cgroup.subtree_control of every ancestor of
    /// the unified leaf, from the cgroup2 root down, where not yet enabled.
    fn enable_v2(&self, controllers: &[String]) -> Result<()> {
        if controllers.is_empty() {
            return Ok(());
        }
        let (Some(root), Some(leaf)) = (&self.fs.unified, &self.unified) else {
            return Ok(());
        };
        let avail = self.v2_available()?;
        for c in controllers {
            if !avail.contains(c) {
                return Err(CgroupError::ControllerNotAvailable(c.clone()));
            }
        }
        let Ok(rel) = leaf.strip_prefix(root) else {
            return Ok(());
        };
        let mut dir = root.clone();
        let comps: Vec<_> = rel.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            let sc = dir.join("cgroup.subtree_control");
            let enabled = read_string(&sc)?;
            for c in controllers {
                if !enabled.split_whitespace().any(|e| e == c) {
                    write_file(&sc, &format!("+{c}"))?;
                }
            }
            if i + 1 < comps.len() {
                dir.push(comp);
            }
        }
        Ok(())
    }

    fn apply_inner(&self, r: &LinuxResources, at_create: bool) -> Result<()> {
        check_unified_keys(r)?;
        let devices = at_create || r.devices().is_some();
        match self.fs.mode {
            CgroupMode::V2 => {
                let leaf = self.leaf()?;
                self.enable_v2(&v2::required_controllers(r))?;
                v2::apply(leaf, r)?;
                if devices && self.fs.device_filter {
                    self.apply_bpf_devices(leaf, r)?;
                }
            }
            CgroupMode::V1 | CgroupMode::Hybrid => {
                self.check_v1_controllers(r)?;
                v1::apply(&self.v1_map(), r, devices)?;
                self.apply_hybrid_extras(r)?;
            }
        }
        Ok(())
    }

    /// v1/hybrid: fail on a limit whose controller has no hierarchy here (neither a v1 mount nor,
    /// for hugetlb and rdma, the cgroup2 root). runc fails such a create too; dropping the limit
    /// silently would run the container unconfined. `unified` keys are checked where they are
    /// written.
    fn check_v1_controllers(&self, r: &LinuxResources) -> Result<()> {
        let mut plain = r.clone();
        plain.set_unified(None);
        let mut need = v2::required_controllers(&plain);
        if let Some(n) = r.network() {
            if n.class_id().is_some() {
                need.push("net_cls".into());
            }
            if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                need.push("net_prio".into());
            }
        }
        let mut v2_avail: Option<Vec<String>> = None;
        for c in need {
            let c = if c == "io" { "blkio".to_string() } else { c };
            if self.v1_dir(&c).is_some() {
                continue;
            }
            if (c == "hugetlb" || c == "rdma") && self.unified.is_some() {
                if v2_avail.is_none() {
                    v2_avail = Some(self.v2_available()?);
                }
                if v2_avail.as_deref().unwrap_or(&[]).contains(&c) {
                    continue;
                }
            }
            return Err(CgroupError::ControllerNotAvailable(c));
        }
        Ok(())
    }

    /// On hybrid hosts, controllers only in the cgroup2 hierarchy (e.g.
    /// hugetlb) and the `unified` map go to the unified leaf.
    fn apply_hybrid_extras(&self, r: &LinuxResources) -> Result<()> {
        let has_unified = r.unified().as_ref().is_some_and(|u| !u.is_empty());
        let Some(leaf) = &self.unified else {
            if has_unified {
                return Err(CgroupError::Other(
                    "unified resources are only supported on cgroup v2".into(),
                ));
            }
            return Ok(());
        };
        if let Some(h) = r.hugepage_limits()
            && !h.is_empty()
            && self.v1_dir("hugetlb").is_none()
            && self.v2_available()?.iter().any(|c| c == "hugetlb")
        {
            self.enable_v2(&["hugetlb".to_string()])?;
            v2::set_hugetlb(leaf, h)?;
        }
        if let Some(u) = r.unified()
            && !u.is_empty()
        {
            let mut ctrls: Vec<String> = Vec::new();
            for k in u.keys() {
                v2::check_unified_key(k)?;
                if let Some((c, _)) = k.split_once('.')
                    && c != "cgroup"
                    && !ctrls.iter().any(|x| x == c)
                {
                    ctrls.push(c.to_string());
                }
            }
            ctrls.sort();
            self.enable_v2(&ctrls)?;
            v2::set_unified(leaf, u)?;
        }
        Ok(())
    }

    fn apply_bpf_devices(&self, leaf: &Path, r: &LinuxResources) -> Result<()> {
        let rules = r.devices().as_deref().unwrap_or(&[]);
        let fd = match &self.leaf_fd {
            Some(fd) => fd.try_clone().map_err(|source| CgroupError::Open {
                path: leaf.to_path_buf(),
                source,
            })?,
            None => open_dir(leaf)?,
        };
        bpf::apply(&fd, rules).map_err(|e| {
            CgroupError::Other(format!(
                "failed to set up the device filter of {}: {}",
                leaf.display(),
                errmsg(&e)
            ))
        })
    }

    fn leaf(&self) -> Result<&Path> {
        self.unified
            .as_deref()
            .ok_or_else(|| CgroupError::Other("no cgroup2 hierarchy".into()))
    }

    fn create_dirs(&mut self, created: &mut Vec<PathBuf>) -> Result<()> {
        for (h, leaf) in &self.v1 {
            created.extend(mkdir_all(leaf)?);
            if h.controllers.iter().any(|c| c == "cpuset") {
                let mut chain = vec![h.mountpoint.clone()];
                if let Ok(rel) = leaf.strip_prefix(&h.mountpoint) {
                    let mut p = h.mountpoint.clone();
                    for c in rel.components() {
                        p.push(c);
                        chain.push(p.clone());
                    }
                }
                v1::init_cpuset_chain(&chain)?;
            }
        }
        if let Some(u) = &self.unified {
            created.extend(mkdir_all(u)?);
            if self.fs.mode == CgroupMode::V2 {
                self.leaf_fd = Some(open_dir(u)?);
            }
        }
        Ok(())
    }

    /// Which freezer interface to use: (v1 freezer dir) or (v2 leaf).
    fn freezer(&self) -> Result<Freezer<'_>> {
        if let Some(d) = self.v1_dir("freezer") {
            return Ok(Freezer::V1(d));
        }
        if self.fs.mode == CgroupMode::V2
            && let Some(u) = &self.unified
        {
            return Ok(Freezer::V2(u));
        }
        Err(CgroupError::ControllerNotAvailable("freezer".into()))
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        match self.freezer()? {
            Freezer::V1(d) => {
                let want = if frozen { "FROZEN" } else { "THAWED" };
                loop {
                    write_in(d, "freezer.state", want)?;
                    if read_trimmed(&d.join("freezer.state"))? == want {
                        return Ok(());
                    }
                    if Instant::now() > deadline {
                        if frozen {
                            let _ = write_in(d, "freezer.state", "THAWED");
                        }
                        return Err(CgroupError::Other(format!(
                            "timed out waiting for {} to become {want}",
                            d.join("freezer.state").display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Freezer::V2(d) => {
                write_in(d, "cgroup.freeze", if frozen { "1" } else { "0" })?;
                let events = d.join("cgroup.events");
                loop {
                    let ev = parse_flat_keyed(&read_string(&events)?);
                    let state = ev.iter().find(|(k, _)| k == "frozen").map(|(_, v)| *v);
                    if state.is_none() || state == Some(u64::from(frozen)) {
                        return Ok(());
                    }
                    if Instant::now() > deadline {
                        if frozen {
                            let _ = write_in(d, "cgroup.freeze", "0");
                        }
                        return Err(CgroupError::Other(format!(
                            "timed out waiting for {} to report frozen {}",
                            events.display(),
                            u8::from(frozen)
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
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
}

fn check_unified_keys(r: &LinuxResources) -> Result<()> {
    for k in r.unified().iter().flat_map(|u| u.keys()) {
        v2::check_unified_key(k)?;
    }
    Ok(())
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn open_dir(p: &Path) -> Result<OwnedFd> {
    open(
        p,
        // Not O_PATH: bpf(BPF_PROG_ATTACH) needs a real open file.
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CgroupError::Open {
        path: p.to_path_buf(),
        source: e.into(),
    })
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

impl Manager for FsManager {
    fn path(&self) -> &Path {
        &self.path
    }

    fn create(&mut self) -> Result<()> {
        if self.fs.mode == CgroupMode::V2
            && let Some(r) = &self.resources
        {
            // Fail early, before any mkdir, on bad keys or a missing controller.
            check_unified_keys(r)?;
            let avail = self.v2_available()?;
            for c in v2::required_controllers(r) {
                if !avail.contains(&c) {
                    return Err(CgroupError::ControllerNotAvailable(c));
                }
            }
        }
        if self.fs.mode != CgroupMode::V2
            && let Some(r) = &self.resources
        {
            self.check_v1_controllers(r)?;
        }
        let mut created = Vec::new();
        let mut res = self.create_dirs(&mut created);
        if res.is_ok() {
            let r = self.resources.clone().unwrap_or_default();
            res = self.apply_inner(&r, true);
        }
        if res.is_err() {
            // Undo what we made, innermost first.
            self.leaf_fd = None;
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
        res
    }

    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        if self.fs.mode != CgroupMode::V2 {
            return None;
        }
        self.leaf_fd.as_ref().map(|f| f.as_fd())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let v = pid.to_string();
        for d in self.dirs() {
            write_in(&d, "cgroup.procs", &v)?;
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.apply_inner(resources, false)
    }

    fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn is_frozen(&self) -> Result<bool> {
        match self.freezer()? {
            Freezer::V1(d) => Ok(read_trimmed(&d.join("freezer.state"))? == "FROZEN"),
            Freezer::V2(d) => {
                let p = d.join("cgroup.freeze");
                if !p.exists() {
                    return Ok(false);
                }
                Ok(read_trimmed(&p)? == "1")
            }
        }
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if let Some(d) = self.procs_dir() {
            collect_pids(d, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        let sig = Signal::try_from(signal)
            .map_err(|_| CgroupError::Other(format!("invalid signal {signal}")))?;
        if self.fs.mode == CgroupMode::V2
            && sig == Signal::SIGKILL
            && let Some(u) = &self.unified
        {
            let p = u.join("cgroup.kill");
            if p.exists() {
                return write_file(&p, "1");
            }
        }
        // Freeze so nothing forks while we signal; keep a paused container paused.
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze = !was_frozen && self.freeze().is_ok();
        let res = (|| {
            for pid in self.pids()? {
                match kill(Pid::from_raw(pid), sig) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => {
                        return Err(CgroupError::Other(format!(
                            "failed to signal process {pid}: {}",
                            e.desc().to_lowercase()
                        )));
                    }
                }
            }
            Ok(())
        })();
        if froze {
            self.thaw()?;
        }
        res
    }

    fn stats(&self) -> Result<serde_json::Value> {
        match self.fs.mode {
            CgroupMode::V2 => stats::v2(self.leaf()?),
            _ => stats::v1(&self.v1_map(), self.unified.as_deref()),
        }
    }

    fn destroy(&self) -> Result<()> {
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

    fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.exists())
    }

    fn cgroup_mount(&self) -> CgroupMount {
        if let (CgroupMode::V2, Some(u)) = (self.fs.mode, &self.unified) {
            return CgroupMount::V2(u.clone());
        }
        let mut binds = Vec::new();
        for h in &self.fs.hierarchies {
            let Some(name) = h.mountpoint.file_name() else {
                continue;
            };
            let dir = self
                .v1
                .iter()
                .find(|(m, _)| m.mountpoint.as_os_str() == h.mountpoint.as_os_str())
                .map_or_else(|| self.fs.own_dir(h), |(_, d)| d.clone());
            binds.push((name.to_os_string(), dir));
        }
        if let (Some(name), Some(dir)) = (
            self.fs.unified.as_deref().and_then(Path::file_name),
            &self.unified,
        ) {
            binds.push((name.to_os_string(), dir.clone()));
        }
        CgroupMount::Tmpfs(binds)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let (file, dir) = match (self.fs.mode, self.v1_dir("memory"), &self.unified) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::testutil::{TempDir, all_writes, read, touch, writes_to};
    use crate::cgroups::{CgroupFs, CgroupMode};
    use serde_json::json;

    const UNLIMITED: &str = "9223372036854771712";

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    /// Controller directories with the files the kernel would show, in the
    /// root and in the leaf `leaf` (e.g. "test").
    fn fake_v1(root: &Path, leaf: &str) {
        let ctrls: &[(&str, &[(&str, &str)])] = &[
            (
                "cpu",
                &[
                    ("cpu.shares", "1024"),
                    ("cpu.cfs_quota_us", "-1"),
                    ("cpu.cfs_period_us", "100000"),
                    ("cpu.cfs_burst_us", "0"),
                    ("cpu.rt_period_us", "1000000"),
                    ("cpu.rt_runtime_us", "0"),
                    ("cpu.idle", "0"),
                    (
                        "cpu.stat",
                        "nr_periods 7\nnr_throttled 2\nthrottled_time 99\n",
                    ),
                ],
            ),
            (
                "cpuacct",
                &[
                    ("cpuacct.usage", "5000"),
                    ("cpuacct.usage_percpu", "2000 3000 \n"),
                    ("cpuacct.stat", "user 3\nsystem 1\n"),
                ],
            ),
            ("cpuset", &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")]),
            (
                "memory",
                &[
                    ("memory.limit_in_bytes", UNLIMITED),
                    ("memory.memsw.limit_in_bytes", UNLIMITED),
                    ("memory.soft_limit_in_bytes", UNLIMITED),
                    ("memory.kmem.limit_in_bytes", UNLIMITED),
                    ("memory.kmem.tcp.limit_in_bytes", UNLIMITED),
                    ("memory.swappiness", "60"),
                    ("memory.use_hierarchy", "1"),
                    ("memory.usage_in_bytes", "4096"),
                    ("memory.max_usage_in_bytes", "8192"),
                    ("memory.failcnt", "0"),
                    ("memory.stat", "cache 100\nrss 200\n"),
                    (
                        "memory.oom_control",
                        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
                    ),
                ],
            ),
            (
                "devices",
                &[
                    ("devices.allow", ""),
                    ("devices.deny", ""),
                    ("devices.list", ""),
                ],
            ),
            ("freezer", &[("freezer.state", "THAWED\n")]),
            ("pids", &[("pids.max", "max"), ("pids.current", "2")]),
            (
                "blkio",
                &[
                    ("blkio.weight", "500"),
                    ("blkio.leaf_weight", "500"),
                    ("blkio.weight_device", ""),
                    ("blkio.leaf_weight_device", ""),
                    ("blkio.throttle.read_bps_device", ""),
                    ("blkio.throttle.write_bps_device", ""),
                    ("blkio.throttle.read_iops_device", ""),
                    ("blkio.throttle.write_iops_device", ""),
                    (
                        "blkio.throttle.io_service_bytes_recursive",
                        "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
                    ),
                ],
            ),
            ("hugetlb", &[("hugetlb.2MB.limit_in_bytes", UNLIMITED)]),
            (
                "net_cls,net_prio",
                &[("net_cls.classid", "0"), ("net_prio.ifpriomap", "")],
            ),
            ("systemd", &[]),
        ];
        for (c, files) in ctrls {
            for d in [root.join(c), root.join(c).join(leaf)] {
                touch(&d, files);
                touch(&d, &[("cgroup.procs", "")]);
            }
        }
        touch(
            &root.join("cpuset"),
            &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")],
        );
    }

    fn fake_v2(root: &Path, leaf: &str) {
        touch(
            root,
            &[
                (
                    "cgroup.controllers",
                    "cpuset cpu io memory hugetlb pids rdma\n",
                ),
                ("cgroup.subtree_control", "\n"),
                ("cgroup.procs", ""),
            ],
        );
        touch(
            &root.join(leaf),
            &[
                ("cgroup.controllers", ""),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", "10\n11\n"),
                ("cgroup.freeze", "0"),
                ("cgroup.events", "populated 1\nfrozen 0\n"),
                ("cgroup.kill", ""),
                ("cpu.weight", "100"),
                ("cpu.max", "max 100000"),
                ("cpu.max.burst", "0"),
                ("cpu.idle", "0"),
                ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n"),
                ("cpuset.cpus", ""),
                ("cpuset.mems", ""),
                ("memory.max", "max"),
                ("memory.swap.max", "max"),
                ("memory.low", "0"),
                ("memory.high", "max"),
                ("memory.current", "1000"),
                ("memory.stat", "anon 10\nfile 20\n"),
                ("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n"),
                ("pids.max", "max"),
                ("pids.current", "3"),
                ("io.weight", "default 100"),
                ("io.max", ""),
                (
                    "io.stat",
                    "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
                ),
                ("hugetlb.2MB.max", "max"),
            ],
        );
    }

    fn v1_manager(t: &TempDir, r: Option<LinuxResources>) -> FsManager {
        fake_v1(t.path(), "test");
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::V1, "0::/\n").unwrap();
        FsManager::new(fs, Some(Path::new("/test")), "test", r).unwrap()
    }

    fn v2_manager(t: &TempDir, r: Option<LinuxResources>) -> FsManager {
        fake_v2(t.path(), "test");
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::V2, "0::/\n").unwrap();
        FsManager::new(fs, None, "test", r).unwrap()
    }

    fn f(t: &TempDir, rel: &str) -> String {
        read(&t.path().join(rel))
    }

    #[test]
    fn path_defaults_to_slash_id_and_is_cleaned() {
        let t = TempDir::new("cgroups");
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::V2, "0::/\n").unwrap();
        let m = FsManager::new(fs.clone(), None, "abc", None).unwrap();
        assert_eq!(m.path(), Path::new("/abc"));
        assert_eq!(m.unified_dir(), Some(t.path().join("abc").as_path()));
        let m = FsManager::new(fs.clone(), Some(Path::new("/a/../../b")), "x", None).unwrap();
        assert_eq!(m.path(), Path::new("/b"));
        assert!(FsManager::new(fs, Some(Path::new("/")), "x", None).is_err());
    }

    #[test]
    fn relative_path_follows_runc() {
        let t = TempDir::new("cgroups");
        fake_v1(t.path(), "x");
        let own = "5:memory:/process_api/h\n4:pids:/\n0::/user.slice/sess\n";
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::V1, own).unwrap();
        let m = FsManager::new(fs, Some(Path::new("rel/c")), "x", None).unwrap();
        assert_eq!(
            m.v1_dir("memory"),
            Some(t.path().join("memory/process_api/h/rel/c").as_path())
        );
        assert_eq!(
            m.v1_dir("pids"),
            Some(t.path().join("pids/rel/c").as_path())
        );
        // v2: relative to the parent of rt's own cgroup.
        let t2 = TempDir::new("cgroups");
        let fs = CgroupFs::from_layout(t2.path(), CgroupMode::V2, own).unwrap();
        let m = FsManager::new(fs, Some(Path::new("rel")), "x", None).unwrap();
        assert_eq!(
            m.unified_dir(),
            Some(t2.path().join("user.slice/rel").as_path())
        );
    }

    /// The container's cgroup mount binds its own cgroup in each hierarchy, whatever the
    /// hierarchy's mount options (cpuset_v2_mode once made rt bind the host's root cpuset
    /// cgroup) or the escapes in its mount point; rt's own where rt makes none (name=foo, mounted
    /// from a subtree).
    #[test]
    fn cgroup_mount_shows_the_container_its_own_cgroups() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n\
                  32 31 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset,cpuset_v2_mode\n\
                  33 31 0:30 / /sys/fs/cgroup/cpu\\040acct rw - cgroup cgroup rw,cpuacct\n\
                  34 31 0:31 /sub /sys/fs/cgroup/foo rw - cgroup cgroup rw,name=foo\n\
                  35 31 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let own = "4:name=foo:/sub/rt\n3:cpuacct:/rt\n2:cpuset:/\n0::/rt\n".to_string();
        let root = PathBuf::from("/sys/fs/cgroup");
        let fs = CgroupFs::from_mountinfo(root.clone(), CgroupMode::Hybrid, mi, own.clone());
        let m = FsManager::new(fs, Some(Path::new("/ctr")), "x", None).unwrap();
        let bind = |name: &str, dir: &str| (name.into(), root.join(dir));
        assert_eq!(
            m.cgroup_mount(),
            CgroupMount::Tmpfs(vec![
                bind("cpuset", "cpuset/ctr"),
                bind("cpu acct", "cpu acct/ctr"),
                bind("foo", "foo/rt"),
                bind("unified", "unified/ctr"),
            ])
        );
        let fs = CgroupFs::from_mountinfo(root.clone(), CgroupMode::V2, "", own);
        let m = FsManager::new(fs, Some(Path::new("/ctr")), "x", None).unwrap();
        assert_eq!(m.cgroup_mount(), CgroupMount::V2(root.join("ctr")));
    }

    #[test]
    fn systemd_driver_is_refused() {
        let cfg = crate::cgroups::CgroupConfig {
            cgroups_path: None,
            id: "x",
            systemd: true,
            resources: None,
        };
        let e = crate::cgroups::new_manager(&cfg).err().unwrap();
        assert_eq!(e.to_string(), "systemd cgroup driver is not supported");
        let e = crate::cgroups::load_manager(Path::new("/x"), true)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "systemd cgroup driver is not supported");
    }

    #[test]
    fn write_error_names_file_and_errno() {
        let t = TempDir::new("cgroups");
        let p = t.path().join("nope/pids.max");
        let e = write_file(&p, "1").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to write {}: no such file or directory", p.display())
        );
    }

    #[test]
    fn v1_memory_cpu_pids() {
        let t = TempDir::new("cgroups");
        let r = res(json!({
            "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
                       "swappiness": 10, "disableOOMKiller": true, "kernelTCP": 1048576,
                       "useHierarchy": false},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "1", "mems": "0",
                    "realtimeRuntime": 950000, "realtimePeriod": 1000000, "burst": 1000, "idle": 1},
            "pids": {"limit": 50}
        }));
        let mut m = v1_manager(&t, Some(r));
        m.create().unwrap();
        assert_eq!(f(&t, "memory/test/memory.limit_in_bytes"), "67108864");
        assert_eq!(
            f(&t, "memory/test/memory.memsw.limit_in_bytes"),
            "134217728"
        );
        assert_eq!(f(&t, "memory/test/memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(f(&t, "memory/test/memory.swappiness"), "10");
        assert_eq!(f(&t, "memory/test/memory.oom_control"), "1");
        assert_eq!(
            f(&t, "memory/test/memory.kmem.tcp.limit_in_bytes"),
            "1048576"
        );
        assert_eq!(f(&t, "memory/test/memory.use_hierarchy"), "0");
        assert_eq!(f(&t, "cpu/test/cpu.shares"), "512");
        assert_eq!(f(&t, "cpu/test/cpu.cfs_quota_us"), "50000");
        assert_eq!(f(&t, "cpu/test/cpu.cfs_period_us"), "100000");
        assert_eq!(f(&t, "cpu/test/cpu.rt_runtime_us"), "950000");
        assert_eq!(f(&t, "cpu/test/cpu.rt_period_us"), "1000000");
        assert_eq!(f(&t, "cpu/test/cpu.cfs_burst_us"), "1000");
        assert_eq!(f(&t, "cpu/test/cpu.idle"), "1");
        assert_eq!(f(&t, "cpuset/test/cpuset.cpus"), "1");
        assert_eq!(f(&t, "cpuset/test/cpuset.mems"), "0");
        assert_eq!(f(&t, "pids/test/pids.max"), "50");
        // rt period before runtime.
        let w: Vec<String> = all_writes()
            .into_iter()
            .filter(|(p, _)| p.starts_with(t.path().join("cpu/test")))
            .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
            .collect();
        let pos = |n: &str| w.iter().position(|x| x == n).unwrap();
        assert!(pos("cpu.rt_period_us") < pos("cpu.rt_runtime_us"));
        // Limit before memsw when the current limit is already above memsw.
        let w: Vec<String> = all_writes()
            .into_iter()
            .filter(|(p, _)| p.starts_with(t.path().join("memory/test")))
            .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
            .collect();
        let pos = |n: &str| w.iter().position(|x| x == n).unwrap();
        assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
    }

    #[test]
    fn v1_memsw_written_first_when_raising() {
        let t = TempDir::new("cgroups");
        let mut m = v1_manager(&t, None);
        m.create().unwrap();
        touch(
            &t.path().join("memory/test"),
            &[("memory.limit_in_bytes", "67108864")],
        );
        m.apply(&res(
            json!({"memory": {"limit": 134217728, "swap": 268435456}}),
        ))
        .unwrap();
        let w: Vec<String> = all_writes()
            .into_iter()
            .filter(|(p, _)| p.starts_with(t.path().join("memory/test")))
            .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
            .collect();
        assert_eq!(
            w,
            vec!["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
        );
        assert_eq!(f(&t, "memory/test/memory.limit_in_bytes"), "134217728");
        assert_eq!(
            f(&t, "memory/test/memory.memsw.limit_in_bytes"),
            "268435456"
        );
        // -1 memory, swap unset: both unlimited.
        m.apply(&res(json!({"memory": {"limit": -1}}))).unwrap();
        assert_eq!(f(&t, "memory/test/memory.limit_in_bytes"), "-1");
        assert_eq!(f(&t, "memory/test/memory.memsw.limit_in_bytes"), "-1");
    }

    #[test]
    fn v1_cpuset_copied_from_parent() {
        let t = TempDir::new("cgroups");
        let mut m = v1_manager(&t, None);
        m.create().unwrap();
        assert_eq!(f(&t, "cpuset/test/cpuset.cpus"), "0-1");
        assert_eq!(f(&t, "cpuset/test/cpuset.mems"), "0");
    }

    #[test]
    fn v1_pids_unlimited_and_blkio_hugetlb_network() {
        let t = TempDir::new("cgroups");
        let r = res(json!({
            "pids": {"limit": -1},
            "blockIO": {
                "weight": 300, "leafWeight": 200,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 400, "leafWeight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}
        }));
        let mut m = v1_manager(&t, Some(r));
        m.create().unwrap();
        assert_eq!(f(&t, "pids/test/pids.max"), "max");
        assert_eq!(f(&t, "blkio/test/blkio.weight"), "300");
        assert_eq!(f(&t, "blkio/test/blkio.leaf_weight"), "200");
        assert_eq!(f(&t, "blkio/test/blkio.weight_device"), "8:0 400");
        assert_eq!(f(&t, "blkio/test/blkio.leaf_weight_device"), "8:0 100");
        assert_eq!(
            f(&t, "blkio/test/blkio.throttle.read_bps_device"),
            "8:0 1048576"
        );
        assert_eq!(
            f(&t, "blkio/test/blkio.throttle.write_bps_device"),
            "8:16 2097152"
        );
        assert_eq!(
            f(&t, "blkio/test/blkio.throttle.read_iops_device"),
            "8:0 100"
        );
        assert_eq!(
            f(&t, "blkio/test/blkio.throttle.write_iops_device"),
            "8:0 200"
        );
        assert_eq!(f(&t, "hugetlb/test/hugetlb.2MB.limit_in_bytes"), "4194304");
        assert_eq!(f(&t, "net_cls,net_prio/test/net_cls.classid"), "1048577");
        assert_eq!(f(&t, "net_cls,net_prio/test/net_prio.ifpriomap"), "eth0 5");
        // pids 0 also means unlimited.
        m.apply(&res(json!({"pids": {"limit": 0}}))).unwrap();
        assert_eq!(f(&t, "pids/test/pids.max"), "max");
    }

    #[test]
    fn v1_blkio_bfq_fallback() {
        let t = TempDir::new("cgroups");
        let mut m = v1_manager(&t, None);
        m.create().unwrap();
        fs::remove_file(t.path().join("blkio/test/blkio.weight")).unwrap();
        touch(
            &t.path().join("blkio/test"),
            &[("blkio.bfq.weight", "100"), ("blkio.bfq.weight_device", "")],
        );
        m.apply(&res(json!({"blockIO": {"weight": 700,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 50}]}})))
            .unwrap();
        assert_eq!(f(&t, "blkio/test/blkio.bfq.weight"), "700");
        assert_eq!(f(&t, "blkio/test/blkio.bfq.weight_device"), "8:0 50");
    }

    #[test]
    fn v1_devices_deny_all_then_rules_in_order() {
        let t = TempDir::new("cgroups");
        let r = res(json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            {"allow": false, "type": "b", "major": 8, "access": "w"},
            {"allow": true, "type": "c", "major": 4}
        ]}));
        let mut m = v1_manager(&t, Some(r));
        m.create().unwrap();
        let d = t.path().join("devices/test");
        let seq: Vec<(String, String)> = all_writes()
            .into_iter()
            .filter(|(p, _)| p.starts_with(&d))
            .map(|(p, v)| (p.file_name().unwrap().to_string_lossy().into_owned(), v))
            .collect();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            &seq[..5],
            &[
                s("devices.deny", "a"),
                s("devices.deny", "a *:* rwm"),
                s("devices.allow", "c 1:3 rw"),
                s("devices.deny", "b 8:* w"),
                s("devices.allow", "c 4:* rwm"),
            ]
        );
        // Then runc's defaults, e.g. /dev/null and ptys.
        let allows = writes_to(&d.join("devices.allow"));
        assert!(allows.contains(&"c 1:3 rwm".to_string()));
        assert!(allows.contains(&"c 136:* rwm".to_string()));
        assert!(allows.contains(&"b *:* m".to_string()));
        // An update without devices leaves them alone.
        let before = all_writes().len();
        m.apply(&res(json!({"pids": {"limit": 5}}))).unwrap();
        assert_eq!(writes_to(&d.join("devices.deny")).len(), 3);
        assert_eq!(all_writes().len(), before + 1);
    }

    #[test]
    fn v1_add_task_freeze_pids_stats_destroy() {
        let t = TempDir::new("cgroups");
        let mut m = v1_manager(&t, None);
        m.create().unwrap();
        assert!(m.clone_into_fd().is_none());
        m.add_task(4242).unwrap();
        for c in [
            "cpu",
            "memory",
            "pids",
            "freezer",
            "systemd",
            "net_cls,net_prio",
        ] {
            assert_eq!(f(&t, &format!("{c}/test/cgroup.procs")), "4242", "{c}");
        }
        // Root untouched.
        assert_eq!(f(&t, "pids/cgroup.procs"), "");
        assert_eq!(m.pids().unwrap(), vec![4242]);
        m.freeze().unwrap();
        assert_eq!(f(&t, "freezer/test/freezer.state"), "FROZEN");
        assert!(m.is_frozen().unwrap());
        m.thaw().unwrap();
        assert_eq!(f(&t, "freezer/test/freezer.state"), "THAWED");
        assert!(!m.is_frozen().unwrap());
        assert_eq!(m.oom_kill_count().unwrap(), 3);

        let s = m.stats().unwrap();
        assert_eq!(s["cpu"]["usage"]["total"], 5000);
        assert_eq!(s["cpu"]["usage"]["percpu"], json!([2000, 3000]));
        assert_eq!(s["cpu"]["usage"]["user"], 30_000_000u64);
        assert_eq!(s["cpu"]["usage"]["kernel"], 10_000_000u64);
        assert_eq!(s["cpu"]["throttling"]["throttledPeriods"], 2);
        assert_eq!(s["memory"]["usage"]["usage"], 4096);
        assert_eq!(s["memory"]["usage"]["max"], 8192);
        assert_eq!(s["memory"]["cache"], 100);
        assert_eq!(s["memory"]["raw"]["rss"], 200);
        assert_eq!(s["pids"]["current"], 2);
        assert_eq!(
            s["blkio"]["ioServiceBytesRecursive"][0],
            json!({"major": 8, "minor": 0, "op": "Read", "value": 4096})
        );
        assert!(s["hugetlb"]["2MB"].is_object());

        // destroy: a real cgroupfs ignores control files in rmdir; the fake needs them gone.
        for d in m.dirs() {
            for e in fs::read_dir(&d).unwrap() {
                fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
        m.destroy().unwrap();
        assert!(!t.path().join("memory/test").exists());
        assert!(t.path().join("memory").exists());
        m.destroy().unwrap(); // ENOENT is fine
    }

    #[test]
    fn v1_unified_refused() {
        let t = TempDir::new("cgroups");
        let mut m = v1_manager(&t, None);
        m.create().unwrap();
        let e = m
            .apply(&res(json!({"unified": {"memory.high": "1"}})))
            .unwrap_err();
        assert!(e.to_string().contains("cgroup v2"), "{e}");
    }

    #[test]
    fn v2_resources() {
        let t = TempDir::new("cgroups");
        let r = res(json!({
            "memory": {"limit": 67108864, "swap": 100663296, "reservation": 33554432},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0",
                    "burst": 10000, "idle": 0},
            "pids": {"limit": 50},
            "blockIO": {
                "weight": 500,
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 300}]
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "unified": {"memory.high": "50000000"}
        }));
        let mut m = v2_manager(&t, Some(r));
        m.create().unwrap();
        assert_eq!(f(&t, "test/memory.max"), "67108864");
        assert_eq!(f(&t, "test/memory.swap.max"), "33554432");
        assert_eq!(f(&t, "test/memory.low"), "33554432");
        assert_eq!(f(&t, "test/cpu.weight"), "20");
        assert_eq!(f(&t, "test/cpu.max"), "50000 100000");
        assert_eq!(f(&t, "test/cpu.max.burst"), "10000");
        assert_eq!(f(&t, "test/cpu.idle"), "0");
        assert_eq!(f(&t, "test/cpuset.cpus"), "0-1");
        assert_eq!(f(&t, "test/cpuset.mems"), "0");
        assert_eq!(f(&t, "test/pids.max"), "50");
        // 1 + (500-10)*9999/990
        assert_eq!(f(&t, "test/io.weight"), "4950");
        assert_eq!(
            writes_to(&t.path().join("test/io.max")),
            vec!["8:0 rbps=1048576", "8:0 wiops=300"]
        );
        assert_eq!(f(&t, "test/hugetlb.2MB.max"), "2097152");
        assert_eq!(f(&t, "test/memory.high"), "50000000");
        // Controllers enabled in the root only, each once.
        assert_eq!(
            writes_to(&t.path().join("cgroup.subtree_control")),
            vec!["+cpuset", "+cpu", "+memory", "+pids", "+io", "+hugetlb"]
        );
        assert!(writes_to(&t.path().join("test/cgroup.subtree_control")).is_empty());
        assert!(m.clone_into_fd().is_some());
    }

    #[test]
    fn v2_conversions() {
        assert_eq!(crate::cgroups::cpu_shares_to_weight(2), 1);
        assert_eq!(crate::cgroups::cpu_shares_to_weight(1024), 39);
        assert_eq!(crate::cgroups::cpu_shares_to_weight(262144), 10000);
        assert_eq!(crate::cgroups::blkio_weight_to_io_weight(10), 1);
        assert_eq!(crate::cgroups::blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(v2::cpu_max(-1, 100000), "max 100000");
        assert_eq!(v2::cpu_max(20000, 0), "20000");
        assert_eq!(v2::swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(v2::swap_to_v2(-1, 100).unwrap(), -1);
        assert!(v2::swap_to_v2(50, 100).is_err());
        assert!(v2::swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn v2_memory_edge_cases() {
        let t = TempDir::new("cgroups");
        let mut m = v2_manager(&t, None);
        m.create().unwrap();
        // swap == limit: no swap.
        m.apply(&res(json!({"memory": {"limit": 1048576, "swap": 1048576}})))
            .unwrap();
        assert_eq!(f(&t, "test/memory.swap.max"), "0");
        assert_eq!(f(&t, "test/memory.max"), "1048576");
        // -1: unlimited, swap too.
        m.apply(&res(json!({"memory": {"limit": -1}}))).unwrap();
        assert_eq!(f(&t, "test/memory.max"), "max");
        assert_eq!(f(&t, "test/memory.swap.max"), "max");
        // checkBeforeUpdate refuses a limit below usage (memory.current = 1000).
        assert!(
            m.apply(&res(
                json!({"memory": {"limit": 500, "checkBeforeUpdate": true}})
            ))
            .is_err()
        );
        assert_eq!(f(&t, "test/memory.max"), "max");
        m.apply(&res(json!({"pids": {"limit": -1}}))).unwrap();
        assert_eq!(f(&t, "test/pids.max"), "max");
        assert!(
            m.apply(&res(json!({"cpu": {"realtimeRuntime": 1000}})))
                .is_err()
        );
    }

    #[test]
    fn v2_nested_enables_only_ancestors() {
        let t = TempDir::new("cgroups");
        fake_v2(t.path(), "a/b");
        touch(&t.path().join("a"), &[("cgroup.subtree_control", "pids\n")]);
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::V2, "0::/\n").unwrap();
        let r = res(json!({"pids": {"limit": 7}, "memory": {"limit": 4096}}));
        let mut m = FsManager::new(fs, Some(Path::new("/a/b")), "x", Some(r)).unwrap();
        m.create().unwrap();
        assert_eq!(
            writes_to(&t.path().join("cgroup.subtree_control")),
            vec!["+memory", "+pids"]
        );
        // pids was already enabled in /a.
        assert_eq!(
            writes_to(&t.path().join("a/cgroup.subtree_control")),
            vec!["+memory"]
        );
        assert!(writes_to(&t.path().join("a/b/cgroup.subtree_control")).is_empty());
        assert_eq!(f(&t, "a/b/pids.max"), "7");
    }

    #[test]
    fn v2_missing_controller_is_named() {
        let t = TempDir::new("cgroups");
        touch(
            t.path(),
            &[
                ("cgroup.controllers", "cpu memory\n"),
                ("cgroup.subtree_control", ""),
            ],
        );
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::V2, "0::/\n").unwrap();
        let r = res(json!({"pids": {"limit": 50}}));
        let mut m = FsManager::new(fs, None, "c1", Some(r)).unwrap();
        let e = m.create().unwrap_err();
        assert_eq!(e.to_string(), "cgroup controller pids is not available");
        assert!(!t.path().join("c1").exists());
    }

    #[test]
    fn v2_unified_keys_are_checked() {
        let t = TempDir::new("cgroups");
        let mut m = v2_manager(&t, None);
        m.create().unwrap();
        for k in ["../memory.max", "a/b", ".."] {
            let mut u = std::collections::HashMap::new();
            u.insert(k.to_string(), "1".to_string());
            let e = m.apply(&res(json!({"unified": u}))).unwrap_err();
            assert!(
                e.to_string().contains("invalid unified resource key"),
                "{e}"
            );
        }
        let e = m
            .apply(&res(json!({"unified": {"misc.max": "1"}})))
            .unwrap_err();
        assert_eq!(e.to_string(), "cgroup controller misc is not available");
    }

    #[test]
    fn v2_freeze_kill_pids_stats() {
        let t = TempDir::new("cgroups");
        let mut m = v2_manager(&t, None);
        m.create().unwrap();
        touch(
            &t.path().join("test"),
            &[("cgroup.events", "populated 1\nfrozen 1\n")],
        );
        m.freeze().unwrap();
        assert_eq!(f(&t, "test/cgroup.freeze"), "1");
        assert!(m.is_frozen().unwrap());
        touch(
            &t.path().join("test"),
            &[("cgroup.events", "populated 1\nfrozen 0\n")],
        );
        m.thaw().unwrap();
        assert_eq!(f(&t, "test/cgroup.freeze"), "0");
        assert!(!m.is_frozen().unwrap());
        assert_eq!(m.pids().unwrap(), vec![10, 11]);
        m.kill_all(9).unwrap();
        assert_eq!(f(&t, "test/cgroup.kill"), "1");
        m.add_task(77).unwrap();
        assert_eq!(f(&t, "test/cgroup.procs"), "77");
        assert_eq!(m.oom_kill_count().unwrap(), 2);

        let s = m.stats().unwrap();
        assert_eq!(s["cpu"]["usage"]["total"], 5000);
        assert_eq!(s["cpu"]["usage"]["user"], 3000);
        assert_eq!(s["memory"]["usage"]["usage"], 1000);
        assert_eq!(s["memory"]["usage"]["limit"], u64::MAX);
        assert_eq!(s["memory"]["usage"]["failcnt"], 4);
        assert_eq!(s["memory"]["cache"], 20);
        assert_eq!(s["memory"]["raw"]["anon"], 10);
        assert_eq!(s["pids"]["current"], 3);
        assert_eq!(s["pids"]["limit"], 0);
        assert_eq!(
            s["blkio"]["ioServiceBytesRecursive"],
            json!([{"major": 8, "minor": 0, "op": "Read", "value": 512},
                   {"major": 8, "minor": 0, "op": "Write", "value": 1024}])
        );
    }

    #[test]
    fn v2_freeze_without_events_file_fails() {
        // A missing cgroup.events is an error, not a hang.
        let t = TempDir::new("cgroups");
        let mut m = v2_manager(&t, None);
        m.create().unwrap();
        fs::remove_file(t.path().join("test/cgroup.events")).unwrap();
        assert!(m.freeze().is_err());
    }

    #[test]
    fn hybrid_hugetlb_goes_to_unified() {
        let t = TempDir::new("cgroups");
        fake_v1(t.path(), "test");
        fs::remove_dir_all(t.path().join("hugetlb")).unwrap();
        let u = t.path().join("unified");
        touch(
            &u,
            &[
                ("cgroup.controllers", "hugetlb\n"),
                ("cgroup.subtree_control", ""),
            ],
        );
        touch(
            &u.join("test"),
            &[("hugetlb.2MB.max", "max"), ("cgroup.procs", "")],
        );
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::Hybrid, "0::/\n").unwrap();
        let r = res(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
                           "memory": {"limit": 1048576}}),
        );
        let mut m = FsManager::new(fs, Some(Path::new("/test")), "test", Some(r)).unwrap();
        m.create().unwrap();
        assert_eq!(f(&t, "unified/test/hugetlb.2MB.max"), "2097152");
        assert_eq!(
            writes_to(&u.join("cgroup.subtree_control")),
            vec!["+hugetlb"]
        );
        assert_eq!(f(&t, "memory/test/memory.limit_in_bytes"), "1048576");
        assert!(m.clone_into_fd().is_none());
        m.add_task(5).unwrap();
        assert_eq!(f(&t, "unified/test/cgroup.procs"), "5");
        assert_eq!(f(&t, "memory/test/cgroup.procs"), "5");
    }

    #[test]
    fn v1_limit_without_its_controller_fails_before_mkdir() {
        let t = TempDir::new("cgroups");
        fake_v1(t.path(), "test");
        fs::remove_dir_all(t.path().join("pids")).unwrap();
        fs::remove_dir_all(t.path().join("hugetlb")).unwrap();
        let fs = CgroupFs::from_layout(t.path(), CgroupMode::V1, "0::/\n").unwrap();
        for (r, ctrl) in [
            (json!({"pids": {"limit": 5}}), "pids"),
            (
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}),
                "hugetlb",
            ),
        ] {
            let mut m =
                FsManager::new(fs.clone(), Some(Path::new("/new")), "new", Some(res(r))).unwrap();
            let e = m.create().unwrap_err().to_string();
            assert_eq!(e, format!("cgroup controller {ctrl} is not available"));
            assert!(
                !t.path().join("memory/new").exists(),
                "mkdir before the check"
            );
            // update refuses it as well
            let m = FsManager::new(fs.clone(), Some(Path::new("/test")), "test", None).unwrap();
            assert!(m.apply(&res(json!({"pids": {"limit": 5}}))).is_err());
        }
        // net_cls is mounted (as net_cls,net_prio) in the fake tree: a classID is fine.
        let mut m = FsManager::new(
            fs,
            Some(Path::new("/test")),
            "test",
            Some(res(json!({"network": {"classID": 7}}))),
        )
        .unwrap();
        m.create().unwrap();
        assert_eq!(f(&t, "net_cls,net_prio/test/net_cls.classid"), "7");
    }
}

/// Checks on the real host (root, cgroup v1 or hybrid or v2).  They create
/// and remove their own uniquely named cgroups only.  Run with `--ignored`.
#[cfg(test)]
mod host_tests {
    use super::*;
    use serde_json::json;
    use std::process::Command;

    fn unique(tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("/rt-cgtest-{tag}-{}-{nanos}", std::process::id())
    }

    #[test]
    #[ignore]
    fn host_roundtrip() {
        let fs = CgroupFs::detect().unwrap();
        let path = unique("rt");
        let r: LinuxResources = serde_json::from_value(json!({
            "memory": {"limit": 67108864, "reservation": 33554432},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 50},
            "devices": [{"allow": false, "access": "rwm"}]
        }))
        .unwrap();
        let mut m = FsManager::new(fs, Some(Path::new(&path)), "x", Some(r)).unwrap();
        m.create().unwrap();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let res = (|| -> Result<()> {
            m.add_task(pid)?;
            assert_eq!(m.pids()?, vec![pid]);
            if let Some(d) = m.v1_dir("memory") {
                assert_eq!(read_trimmed(&d.join("memory.limit_in_bytes"))?, "67108864");
            }
            if let Some(d) = m.v1_dir("pids") {
                assert_eq!(read_trimmed(&d.join("pids.max"))?, "50");
            }
            if let Some(d) = m.v1_dir("cpu") {
                assert_eq!(read_trimmed(&d.join("cpu.cfs_quota_us"))?, "50000");
            }
            if let Some(d) = m.v1_dir("devices") {
                let list = read_string(&d.join("devices.list"))?;
                assert!(list.contains("c 1:3 rwm"), "{list}");
                assert!(!list.contains("a *:* rwm"), "{list}");
            }
            if m.mode() == CgroupMode::V2 {
                let d = m.unified_dir().unwrap();
                assert_eq!(read_trimmed(&d.join("memory.max"))?, "67108864");
                assert_eq!(read_trimmed(&d.join("cpu.max"))?, "50000 100000");
            }
            m.freeze()?;
            assert!(m.is_frozen()?);
            m.thaw()?;
            assert!(!m.is_frozen()?);
            let s = m.stats()?;
            assert_eq!(s["pids"]["current"], 1, "{s}");
            if m.v1_dir("memory").is_some() {
                assert_eq!(m.oom_kill_count()?, 0);
            }
            m.kill_all(libc::SIGKILL)?;
            Ok(())
        })();
        let _ = child.kill();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        m.destroy().unwrap();
        res.unwrap();
        for d in m.dirs() {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }

    /// The eBPF device filter on a cgroup2 hierarchy (root or `unified`).
    #[test]
    #[ignore]
    fn host_bpf_device_filter() {
        let fs = CgroupFs::detect().unwrap();
        let Some(root) = fs.unified.clone() else {
            return;
        };
        let dir = join_cgroup(&root, Path::new(&unique("bpf")));
        fs::create_dir(&dir).unwrap();
        let res = (|| -> std::io::Result<(bool, bool)> {
            let fd = open_dir(&dir).map_err(std::io::Error::other)?;
            let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
                serde_json::from_value(json!([{"allow": false, "access": "rwm"}])).unwrap();
            super::bpf::apply(&fd, &rules)?;
            // Applying again replaces the program rather than stacking it.
            super::bpf::apply(&fd, &rules)?;
            let run = |dev: &str| {
                Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "echo $$ > {}/cgroup.procs && exec 3< {dev}",
                        dir.display()
                    ))
                    .status()
                    .map(|s| s.success())
            };
            Ok((run("/dev/null")?, run("/dev/kmsg")?))
        })();
        let _ = fs::remove_dir(&dir);
        let (null_ok, kmsg_ok) = res.unwrap();
        assert!(null_ok, "/dev/null must be allowed");
        assert!(!kmsg_ok, "/dev/kmsg must be denied");
    }
}
