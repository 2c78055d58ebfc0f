//! `features`: the OCI features document (runtime-spec 1.3), listing only what rt really does.

use crate::rootfs::options;

/// The fixed part, as JSON text: the json! macro's code would cost ~10 KB of the binary.
/// runc's checkpoint annotation: callers written for runc look for it, and rt's checkpoint and
/// restore are runc's CLI.
/// `linux.intelRdt` is true: rt implements it (runc's meaning: support compiled in, whatever
/// the host has; on a host without resctrl a config using it is refused).
const FIXED: &str = r#"{
    "ociVersionMin": "1.0.0",
    "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop"],
    "linux": {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
        "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
        "seccomp": {
            "enabled": true,
            "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                        "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                        "SCMP_ACT_TRAP"],
            "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                          "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
            "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
            "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                           "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                               "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                               "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
        },
        "apparmor": {"enabled": false},
        "selinux": {"enabled": false},
        "intelRdt": {"enabled": true, "schemata": true, "monitoring": true},
        "mountExtensions": {"idmap": {"enabled": true}},
        "memoryPolicy": {"modes": [], "flags": []},
        "netDevices": {"enabled": true}
    },
    "annotations": {"org.opencontainers.runtime-spec.features": "rt",
                    "org.opencontainers.runc.checkpoint.enabled": "true"}
}"#;

/// Annotations of config.json that change what rt does (features.md; a trailing `.` is a
/// prefix). rt runs no systemd units (runc's `org.systemd.property.`), but checkpoint and
/// restore hand CRIU the configuration file `org.criu.config` names, as runc does.
const UNSAFE_ANNOTATIONS: &[&str] = &[crate::criu::config::CONFIG_ANNOTATION];

pub fn features_json() -> String {
    use serde_json::Value;
    let strings = |v: &[&str]| Value::Array(v.iter().map(|s| Value::from(*s)).collect());
    let mut v: Value = serde_json::from_str(FIXED).unwrap_or_default();
    v["ociVersionMax"] = crate::container::OCI_VERSION.into();
    v["mountOptions"] = strings(&options::known_options());
    v["potentiallyUnsafeConfigAnnotations"] = strings(UNSAFE_ANNOTATIONS);
    // In the kernel's order, as runc lists them (a HashSet's order would change every run).
    let caps = crate::security::caps::all_by_index();
    v["linux"]["capabilities"] = caps.iter().map(|c| c.to_string()).collect();
    v["linux"]["memoryPolicy"]["modes"] = strings(crate::mempolicy::MODES);
    v["linux"]["memoryPolicy"]["flags"] = strings(crate::mempolicy::FLAGS);
    // This host's init is systemd and its manager is reachable (a bus socket).
    v["linux"]["cgroup"]["systemd"] = crate::cgroups::systemd_reachable().into();
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
