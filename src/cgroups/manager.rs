//! The cgroupfs driver (runc's "cgroupfs"): makes the container's cgroup directories and writes
//! `linux.resources` to the v1, hybrid or v2 controller files. The rest of what a manager does
//! works on the [`Layout`] alone, and is the trait's own.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxResources;

use super::fs::{mkdir_all, read_string, write_file};
use super::host::{CgroupFs, CgroupMode};
use super::layout::Layout;
use super::{CgroupError, Manager, Result, bpf, errmsg, v1, v2};

/// A cgroup managed through the cgroup filesystem (runc's "cgroupfs" driver).
pub struct FsManager {
    layout: Layout,
    resources: Option<LinuxResources>,
    /// The v2 leaf, open once made: for clone3(CLONE_INTO_CGROUP) and the eBPF device filter.
    leaf_fd: Option<OwnedFd>,
}

impl FsManager {
    /// A manager for `cgroups_path` on `fs` (absent: the relative path `<id>`, see [`Layout::new`]).
    pub fn new(
        fs: CgroupFs,
        cgroups_path: Option<&Path>,
        id: &str,
        resources: Option<LinuxResources>,
    ) -> Result<Self> {
        Ok(Self {
            layout: Layout::new(fs, cgroups_path, id)?,
            resources,
            leaf_fd: None,
        })
    }

    /// A manager for an existing cgroup at `path` (from state.json).
    pub fn load(fs: CgroupFs, path: &Path) -> Result<Self> {
        let mut m = Self::new(fs, Some(path), "", None)?;
        if m.layout.mode() == CgroupMode::V2
            && let Some(u) = m.layout.unified_dir()
            && u.is_dir()
        {
            m.leaf_fd = open_dir(u).ok();
        }
        Ok(m)
    }

    /// Controllers available in the cgroup2 root.
    fn v2_available(&self) -> Result<Vec<String>> {
        let Some(root) = &self.layout.host().unified else {
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
        let (Some(root), Some(leaf)) = (&self.layout.host().unified, self.layout.unified_dir())
        else {
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
        match self.layout.mode() {
            CgroupMode::V2 => {
                let leaf = self.leaf()?;
                self.enable_v2(&v2::required_controllers(r))?;
                v2::apply(leaf, r)?;
                if devices && self.layout.host().device_filter {
                    self.apply_bpf_devices(leaf, r)?;
                }
            }
            CgroupMode::V1 | CgroupMode::Hybrid => {
                self.check_v1_controllers(r)?;
                v1::apply(&self.layout.v1_map(), r, devices)?;
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
            if self.layout.v1_dir(&c).is_some() {
                continue;
            }
            if (c == "hugetlb" || c == "rdma") && self.layout.unified_dir().is_some() {
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
        let Some(leaf) = self.layout.unified_dir() else {
            if has_unified {
                return Err(CgroupError::Other(
                    "unified resources are only supported on cgroup v2".into(),
                ));
            }
            return Ok(());
        };
        if let Some(h) = r.hugepage_limits()
            && !h.is_empty()
            && self.layout.v1_dir("hugetlb").is_none()
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
        self.layout
            .unified_dir()
            .ok_or_else(|| CgroupError::Other("no cgroup2 hierarchy".into()))
    }

    fn create_dirs(&mut self, created: &mut Vec<PathBuf>) -> Result<()> {
        for (h, leaf) in self.layout.v1() {
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
        if let Some(u) = self.layout.unified_dir() {
            created.extend(mkdir_all(u)?);
            if self.layout.mode() == CgroupMode::V2 {
                self.leaf_fd = Some(open_dir(u)?);
            }
        }
        Ok(())
    }
}

fn check_unified_keys(r: &LinuxResources) -> Result<()> {
    for k in r.unified().iter().flat_map(|u| u.keys()) {
        v2::check_unified_key(k)?;
    }
    Ok(())
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

impl Manager for FsManager {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn create(&mut self) -> Result<()> {
        if self.layout.mode() == CgroupMode::V2
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
        if self.layout.mode() != CgroupMode::V2
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
        if self.layout.mode() != CgroupMode::V2 {
            return None;
        }
        self.leaf_fd.as_ref().map(|f| f.as_fd())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.apply_inner(resources, false)
    }
}
