//! config.json: loading with errors that name the JSON path, the checks rt makes before it
//! starts anything, the `spec` template and the `features` document.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {msg}")]
    Parse {
        path: PathBuf,
        field: String,
        msg: String,
    },
    #[error("{0}")]
    Invalid(String),
}

pub const CONFIG: &str = "config.json";

/// Load `bundle/config.json`. Serde errors are given with the JSON path of the field
/// (`process.capabilities.bounding[3]`) and the line and column.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join(CONFIG);
    let data = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&data).map_err(|(field, msg)| SpecError::Parse { path, field, msg })
}

pub fn parse(data: &[u8]) -> Result<Spec, (String, String)> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "(top level)".to_string()
        } else {
            field
        };
        (field, e.into_inner().to_string())
    })
}

/// Checks made before anything is created; each error names the field.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf, SpecError> {
    let bad = |m: String| Err(SpecError::Invalid(m));
    let v = spec.version();
    if !v.starts_with("1.") {
        return bad(format!(
            "ociVersion: unsupported version {v:?} (rt supports 1.x)"
        ));
    }
    let Some(root) = spec.root() else {
        return bad("root: missing".into());
    };
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return bad(format!(
                "root.path: {} is not a directory",
                rootfs.display()
            ));
        }
        Err(e) => return bad(format!("root.path: {}: {e}", rootfs.display())),
    }
    let Some(process) = spec.process() else {
        return bad("process: missing".into());
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return bad("process.args: must not be empty".into());
    }
    if !process.cwd().is_absolute() {
        return bad(format!(
            "process.cwd: {:?} must be an absolute path",
            process.cwd()
        ));
    }
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let has = |t| namespaces.iter().any(|n| n.typ() == t);
    if !has(LinuxNamespaceType::Mount) {
        return bad("linux.namespaces: a mount namespace is required".into());
    }
    let new_uts = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Uts && n.path().is_none());
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !new_uts {
        return bad("hostname: setting it needs a new uts namespace in linux.namespaces".into());
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !new_uts {
        return bad("domainname: setting it needs a new uts namespace in linux.namespaces".into());
    }
    let linux = spec.linux().as_ref();
    let maps = linux.is_some_and(|l| {
        l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty())
    });
    if maps && !has(LinuxNamespaceType::User) {
        return bad("linux.uidMappings: mappings need a user namespace".into());
    }
    if linux.is_some_and(|l| l.time_offsets().is_some()) && !has(LinuxNamespaceType::Time) {
        return bad("linux.timeOffsets: offsets need a time namespace".into());
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.destination().as_os_str().is_empty() {
            return bad(format!("mounts[{i}].destination: must not be empty"));
        }
    }
    for (k, _) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        if k.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
            return bad(format!("linux.sysctl: bad key {k:?}"));
        }
    }
    Ok(rootfs)
}

/// What `rt spec` writes: runc's template (terminal true, `sh`), with a rootless variant.
pub fn template(rootless: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "rt",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        v["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        v["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        v["linux"]["namespaces"] = serde_json::json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
            {"type": "cgroup"}, {"type": "user"}
        ]);
        v["linux"]["resources"] = serde_json::Value::Null;
        v["mounts"][5] = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_validates_shape() {
        let v = template(false);
        let s: Spec = serde_json::from_value(v).unwrap();
        assert_eq!(
            s.process().as_ref().unwrap().args().as_ref().unwrap()[0],
            "sh"
        );
        let r: Spec = serde_json::from_value(template(true)).unwrap();
        assert!(r.linux().as_ref().unwrap().uid_mappings().is_some());
    }

    #[test]
    fn parse_errors_name_the_field() {
        let mut v = template(false);
        v["process"]["capabilities"]["bounding"][1] = "CAP_BOGUS".into();
        let (field, msg) = parse(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(field, "process.capabilities.bounding[1]");
        assert!(msg.contains("CAP_BOGUS"), "{msg}");
        let (_, msg) = parse(b"{\"ociVersion\": ").unwrap_err();
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn exec_cpu_affinity_is_still_validated() {
        // oci-spec checks this field with a regex; rt links regex-lite in place of regex
        // (vendor/regex), which must accept and reject the same CPU lists.
        for ok in ["0", "0-3", "0-3,7", "1,2,10-12"] {
            let mut v = template(false);
            v["process"]["execCPUAffinity"] = serde_json::json!({"initial": ok, "final": ok});
            assert!(parse(v.to_string().as_bytes()).is_ok(), "{ok}");
        }
        for bad in ["", "a", "0-", "1,,2", "0 -3"] {
            let mut v = template(false);
            v["process"]["execCPUAffinity"] = serde_json::json!({"final": bad});
            let (field, _) = parse(v.to_string().as_bytes()).unwrap_err();
            assert_eq!(field, "process.execCPUAffinity.final", "{bad:?}");
        }
    }

    #[test]
    fn validation_names_fields() {
        let dir = std::env::temp_dir().join(format!("rt-spec-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        let ok: Spec = serde_json::from_value(template(false)).unwrap();
        assert_eq!(validate(&ok, &dir).unwrap(), dir.join("rootfs"));
        let mut v = template(false);
        v["process"]["args"] = serde_json::json!([]);
        let s: Spec = serde_json::from_value(v).unwrap();
        assert!(
            validate(&s, &dir)
                .unwrap_err()
                .to_string()
                .starts_with("process.args")
        );
        let mut v = template(false);
        v["root"]["path"] = "nope".into();
        let s: Spec = serde_json::from_value(v).unwrap();
        assert!(
            validate(&s, &dir)
                .unwrap_err()
                .to_string()
                .starts_with("root.path")
        );
        let mut v = template(false);
        v["process"]["cwd"] = "rel".into();
        let s: Spec = serde_json::from_value(v).unwrap();
        assert!(
            validate(&s, &dir)
                .unwrap_err()
                .to_string()
                .starts_with("process.cwd")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
