//! The cgroupfs manager for v1, hybrid and v2 hosts.

use std::collections::BTreeMap;
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

use super::fs::{mkdir_all, parse_flat_keyed, read_string, read_trimmed, write_file, write_in};
use super::host::{CgroupFs, CgroupMode, Hierarchy, clean_path, join_cgroup};
use super::{CgroupError, CgroupMount, Manager, Placement, Result, bpf, errmsg, stats, v1, v2};

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

pub(super) fn open_dir(p: &Path) -> Result<OwnedFd> {
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

    fn exec_placement(&self, subs: &BTreeMap<String, PathBuf>) -> Result<Placement<'_>> {
        if subs.is_empty() {
            return Ok(Placement {
                clone_into: self.clone_into_fd(),
                dirs: self.dirs(),
            });
        }
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
        // A sub-cgroup is written by hand: CLONE_INTO_CGROUP only for the container's own.
        Ok(Placement {
            clone_into: None,
            dirs,
        })
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
