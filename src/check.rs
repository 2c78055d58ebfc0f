//! `rt check [BUNDLE]`: every problem of a bundle against the runtime spec and this host, each
//! named by its JSON path, without creating anything.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::rootfs::resolve::{self, Create};
use crate::spec;

/// The problems found; empty means the bundle should run here.
pub fn check(bundle: &Path) -> Vec<String> {
    let path = bundle.join(spec::CONFIG);
    let data = match spec::read_regular(&path) {
        Ok(d) => d,
        Err(e) => return vec![e.to_string()],
    };
    // Every problem of the JSON itself; the checks below then run on what is left of it.
    let parsed = spec::parse_all(&data);
    let mut v: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
    // `create` only warns about capabilities it cannot map (config.md: SHOULD NOT fail); a
    // check should still say which.
    v.extend(
        parsed
            .warnings
            .iter()
            .map(|w| format!("{w} (a warning at create)")),
    );
    let Some(spec) = &parsed.value else {
        return v;
    };
    let (rootfs, mut problems) = spec::problems(spec, bundle);
    problems.extend(host_problems(spec, rootfs.as_deref()));
    v.extend(problems.into_iter().map(|p| parsed.with_original_path(p)));
    v
}

/// Controllers the kernel has enabled (/proc/cgroups, plus cgroup2's root list).
fn controllers() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"1")).then(|| f[0].to_string())
        })
        .collect();
    for p in [
        "/sys/fs/cgroup/cgroup.controllers",
        "/sys/fs/cgroup/unified/cgroup.controllers",
    ] {
        if let Ok(s) = std::fs::read_to_string(p) {
            v.extend(s.split_whitespace().map(String::from));
        }
    }
    v
}

fn has_cap(bit: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << bit) != 0)
}

fn host_problems(spec: &Spec, rootfs: Option<&Path>) -> Vec<String> {
    let mut v = Vec::new();
    let linux = spec.linux().as_ref();
    for (i, n) in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = crate::namespaces::proc_name(n.typ());
        if !Path::new("/proc/self/ns").join(f).exists() {
            v.push(format!(
                "linux.namespaces[{i}].type: the kernel has no {} namespace (/proc/self/ns/{f})",
                n.typ()
            ));
        }
    }
    if let Some(r) = linux.and_then(|l| l.resources().as_ref()) {
        let have = controllers();
        let mut need = |field: &str, set: bool, ctrl: &str| {
            if set && !have.iter().any(|c| c == ctrl) {
                v.push(format!(
                    "linux.resources.{field}: the {ctrl} cgroup controller is not available"
                ));
            }
        };
        need("memory", r.memory().is_some(), "memory");
        need(
            "cpu",
            r.cpu().as_ref().is_some_and(|c| {
                c.shares().is_some() || c.quota().is_some() || c.period().is_some()
            }),
            "cpu",
        );
        need(
            "cpu",
            r.cpu()
                .as_ref()
                .is_some_and(|c| c.cpus().is_some() || c.mems().is_some()),
            "cpuset",
        );
        need("pids", r.pids().is_some(), "pids");
        need("blockIO", r.block_io().is_some(), "blkio");
        need(
            "hugepageLimits",
            r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
            "hugetlb",
        );
        need(
            "network",
            r.network().as_ref().is_some_and(|n| n.class_id().is_some()),
            "net_cls",
        );
        need(
            "network",
            r.network()
                .as_ref()
                .is_some_and(|n| n.priorities().is_some()),
            "net_prio",
        );
    }
    if linux.is_some_and(|l| l.seccomp().is_some())
        && !std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .contains("Seccomp:")
    {
        v.push("linux.seccomp: the kernel has no seccomp support".into());
    }
    let process = spec.process().as_ref();
    if let Some(l) = linux.and_then(|l| l.mount_label().as_deref())
        && !l.is_empty()
        && !crate::security::lsm::selinux_enabled()
    {
        v.push(format!(
            "linux.mountLabel: {l:?} asked for but SELinux is not enabled on this host (ignored)"
        ));
    }
    // Raising a hard limit needs CAP_SYS_RESOURCE.
    let can_raise = has_cap(24 /* CAP_SYS_RESOURCE */);
    for (i, r) in process
        .and_then(|p| p.rlimits().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(res) = crate::process::setup::rlimit_resource(r.typ()) else {
            continue;
        };
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit struct we own.
        if unsafe { libc::getrlimit(res, &mut cur) } != 0 {
            continue;
        }
        if !can_raise && cur.rlim_max != libc::RLIM_INFINITY && r.hard() > cur.rlim_max {
            v.push(format!(
                "process.rlimits[{i}].hard: {} is above this host's hard limit {} and rt lacks \
                 CAP_SYS_RESOURCE",
                r.hard(),
                cur.rlim_max
            ));
        }
    }
    if let (Some(rootfs), Some(p)) = (rootfs, process)
        && let Some(arg0) = p.args().as_ref().and_then(|a| a.first())
        && !arg0.is_empty()
        && let Some(msg) = missing_executable(spec, rootfs, arg0, p.env().as_deref().unwrap_or(&[]))
    {
        v.push(msg);
    }
    v
}

/// `process.args[0]` looked up in the rootfs the way init will (PATH from process.env),
/// resolved inside the root. Paths under a mount destination are not judged: the mount may
/// provide them.
fn missing_executable(spec: &Spec, rootfs: &Path, arg0: &str, env: &[String]) -> Option<String> {
    let root = resolve::open_root(rootfs).ok()?;
    let under_mount = |p: &Path| {
        spec.mounts()
            .iter()
            .flatten()
            .any(|m| m.destination() != Path::new("/") && p.starts_with(m.destination()))
    };
    let is_exec = |p: &Path| -> Option<bool> {
        if under_mount(p) {
            return None;
        }
        let fd = resolve::open_in_root(root.as_fd(), p, Create::No).ok()?;
        let st = nix::sys::stat::fstat(fd.as_fd()).ok()?;
        Some(st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0)
    };
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![PathBuf::from(arg0)]
    } else {
        let path = env
            .iter()
            .rev()
            .find_map(|kv| kv.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| Path::new(d).join(arg0))
            .collect()
    };
    let mut unknown = false;
    for c in &candidates {
        match is_exec(c) {
            Some(true) => return None,
            Some(false) => {}
            None => unknown |= under_mount(c),
        }
    }
    if unknown {
        return None;
    }
    Some(format!(
        "process.args[0]: {arg0:?} is not an executable file in the rootfs {}{}",
        rootfs.display(),
        if arg0.contains('/') {
            ""
        } else {
            " (searched PATH)"
        }
    ))
}
