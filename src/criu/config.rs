//! What CRIU must be told about a container, read from its config: the mounts whose source lies
//! outside the container (binds, device nodes, masked files, the v1 cgroup binds), the
//! namespaces it joined by path, and which CRIU configuration file applies. runc's rules.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups::CgroupMount;
use crate::rootfs::{options, resolve, sources};

/// The annotation naming a container's own CRIU configuration file (empty: none at all).
pub const CONFIG_ANNOTATION: &str = "org.criu.config";
/// rt's default CRIU configuration file, as runc's is /etc/criu/runc.conf. CRIU ignores a
/// missing one; options in it override rt's.
pub const DEFAULT_CONFIG: &str = "/etc/criu/rt.conf";

/// A mount CRIU cannot dump by itself: where it is in the container and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub dest: PathBuf,
    pub source: PathBuf,
}

/// The config's bind mounts, then its device nodes (runc also lists those: in a user namespace
/// they are binds of the host's). Destinations are resolved in `rootfs` the way the mount was
/// made, so a symlink on the way names the real mount point.
pub fn binds_and_devices(spec: &Spec, bundle: &Path, rootfs: &Path) -> Vec<External> {
    let root = resolve::open_root(rootfs).ok();
    let in_root = |dest: &Path| -> PathBuf {
        root.as_ref()
            .and_then(|r| resolved(r.as_fd(), rootfs, dest))
            .unwrap_or_else(|| Path::new("/").join(resolve::relative(dest)))
    };
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
        if !(opts.is_bind() || m.typ().as_deref() == Some("bind")) {
            continue;
        }
        let Some(src) = m.source() else { continue };
        out.push(External {
            dest: in_root(m.destination()),
            source: sources::host_path(src, bundle),
        });
    }
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for path in DEFAULT_DEVICES
        .iter()
        .map(Path::new)
        .chain(devices.into_iter().flatten().map(|d| d.path().as_path()))
    {
        let dest = in_root(path);
        // A configured device replaces a default one, and a bind of it comes first.
        if out.iter().any(|e| e.dest == dest) {
            continue;
        }
        out.push(External {
            dest,
            source: path.to_path_buf(),
        });
    }
    out
}

/// The nodes every container gets (runc's default devices).
const DEFAULT_DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/urandom",
    "/dev/random",
];

/// `dest` opened inside `root` and named by the path it resolved to, relative to `rootfs`.
fn resolved(root: std::os::fd::BorrowedFd, rootfs: &Path, dest: &Path) -> Option<PathBuf> {
    let fd = resolve::open_in_root(root, dest, resolve::Create::No).ok()?;
    let real = std::fs::read_link(resolve::fd_path(&fd)).ok()?;
    let rel = real.strip_prefix(rootfs).ok()?;
    Some(Path::new("/").join(rel))
}

/// With cgroup v1 (or hybrid) and no cgroup namespace, a cgroup mount is a tmpfs holding a bind
/// of the container's cgroup from each hierarchy (see rootfs/mounts.rs): those binds, as the
/// container's cgroup manager lays them out (`view`).
pub fn cgroup_binds(spec: &Spec, view: &CgroupMount) -> Vec<External> {
    let CgroupMount::Tmpfs(binds) = view else {
        return Vec::new();
    };
    if joins_or_creates(spec, LinuxNamespaceType::Cgroup) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        if !matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            continue;
        }
        for (name, source) in binds {
            out.push(External {
                dest: Path::new("/")
                    .join(resolve::relative(m.destination()))
                    .join(name),
                source: source.clone(),
            });
        }
    }
    out
}

fn joins_or_creates(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec).any(|(typ, _)| typ == t)
}

fn namespaces(spec: &Spec) -> impl Iterator<Item = (LinuxNamespaceType, Option<&Path>)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .map(|n| (n.typ(), n.path().as_deref()))
}

/// The namespaces the container joined by path.
pub fn joined(spec: &Spec) -> Vec<(LinuxNamespaceType, PathBuf)> {
    namespaces(spec)
        .filter_map(|(t, p)| {
            p.filter(|p| !p.as_os_str().is_empty())
                .map(|p| (t, p.into()))
        })
        .collect()
}

/// The key CRIU records an external network or pid namespace under (runc's: `extRootNetNS`).
pub fn external_ns_key(t: LinuxNamespaceType) -> String {
    let name = crate::namespaces::proc_name(t);
    let mut title = name[..1].to_uppercase();
    title.push_str(&name[1..]);
    format!("extRoot{title}NS")
}

/// The CRIU configuration file for a container with `annotations`.
pub fn config_file(
    annotations: Option<&std::collections::HashMap<String, String>>,
) -> Option<&str> {
    // A scan, not a lookup: the map is small, and hashing is code rt has no other use for here.
    let set = annotations.and_then(|a| a.iter().find(|(k, _)| *k == CONFIG_ANNOTATION));
    match set.map(|(_, v)| v) {
        Some(f) if f.is_empty() => None,
        Some(f) => Some(f),
        None => Some(DEFAULT_CONFIG),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn binds_devices_and_symlinked_destinations() {
        let t = crate::testutil::TempDir::new("criu-cfg");
        let rootfs = t.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("real/conf")).unwrap();
        std::os::unix::fs::symlink("/real/conf", rootfs.join("conf")).unwrap();
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/conf", "type": "none", "source": "data", "options": ["rbind"]},
                {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts"},
            ],
            "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}
        }));
        let got = binds_and_devices(&s, Path::new("/b"), &rootfs);
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|e| (e.dest.to_str().unwrap(), e.source.to_str().unwrap()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("/real/conf", "/b/data"),
                ("/etc/hosts", "/etc/hosts"),
                ("/dev/null", "/dev/null"),
                ("/dev/zero", "/dev/zero"),
                ("/dev/full", "/dev/full"),
                ("/dev/tty", "/dev/tty"),
                ("/dev/urandom", "/dev/urandom"),
                ("/dev/random", "/dev/random"),
                ("/dev/fuse", "/dev/fuse"),
            ]
        );
    }

    #[test]
    fn cgroup_binds_only_for_v1_without_cgroupns() {
        let h = CgroupMount::Tmpfs(vec![
            ("memory".into(), "/sys/fs/cgroup/memory/c1".into()),
            ("unified".into(), "/sys/fs/cgroup/unified/c1".into()),
        ]);
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}],
        }));
        let got = cgroup_binds(&s, &h);
        assert_eq!(
            got,
            [
                External {
                    dest: "/sys/fs/cgroup/memory".into(),
                    source: "/sys/fs/cgroup/memory/c1".into()
                },
                External {
                    dest: "/sys/fs/cgroup/unified".into(),
                    source: "/sys/fs/cgroup/unified/c1".into()
                },
            ]
        );
        let mut with_ns = s.clone();
        with_ns.set_linux(Some(
            serde_json::from_value(serde_json::json!({"namespaces": [{"type": "cgroup"}]}))
                .unwrap(),
        ));
        assert!(cgroup_binds(&with_ns, &h).is_empty());
        let v2 = CgroupMount::V2("/sys/fs/cgroup/c1".into());
        assert!(cgroup_binds(&s, &v2).is_empty());
    }

    #[test]
    fn namespaces_keys_and_config_file() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"namespaces": [
                {"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "ipc", "path": ""}
            ]}
        }));
        assert_eq!(
            joined(&s),
            [(LinuxNamespaceType::Network, PathBuf::from("/run/netns/x"))]
        );
        assert_eq!(external_ns_key(LinuxNamespaceType::Network), "extRootNetNS");
        assert_eq!(external_ns_key(LinuxNamespaceType::Pid), "extRootPidNS");
        let mut a = std::collections::HashMap::new();
        assert_eq!(config_file(None), Some(DEFAULT_CONFIG));
        a.insert(CONFIG_ANNOTATION.to_string(), "/c.conf".to_string());
        assert_eq!(config_file(Some(&a)), Some("/c.conf"));
        a.insert(CONFIG_ANNOTATION.to_string(), String::new());
        assert_eq!(config_file(Some(&a)), None);
    }
}
