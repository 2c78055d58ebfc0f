//! `linux.sysctl`: which keys a container may set, and setting them. A sysctl write lands in
//! whatever namespace init is in, and most of /proc/sys is not namespaced at all: a key is
//! allowed only where the container owns the namespace it belongs to, as runc's validator
//! decides (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* with an ipc namespace; net.* with
//! a network namespace; kernel.domainname with a uts namespace). Everything else would change
//! the host and is refused. `problems` is what create and `rt check` both run; `write` is what
//! init does once the checks passed.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
#[error("linux.sysctl: write {key:?} to {path}: {source}")]
pub struct SysctlError {
    key: String,
    path: PathBuf,
    source: std::io::Error,
}

/// The IPC sysctls that are namespaced (besides every fs.mqueue.*).
const IPC_KEYS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The components of a key under /proc/sys. sysctl(8) takes `a.b.c` or `a/b/c`; whichever
/// separator comes first is the separator and the other stands for a dot in a name, so
/// `net/ipv4/conf/eth0.100/forwarding` and `net.ipv4.conf.eth0/100.forwarding` are one key.
fn components(key: &str) -> Vec<String> {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key.split('/').map(String::from).collect(),
        _ => key.split('.').map(|c| c.replace('/', ".")).collect(),
    }
}

/// The key in dotted form, for classification and messages.
fn dotted(key: &str) -> String {
    components(key).join(".")
}

/// The namespace a container needs of its own for `key`, or why no namespace makes it safe.
fn namespace_of(key: &str) -> Result<LinuxNamespaceType, &'static str> {
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Ok(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Ok(LinuxNamespaceType::Network)
    } else if key == "kernel.domainname" {
        Ok(LinuxNamespaceType::Uts)
    } else if key == "kernel.hostname" {
        Err("conflicts with the OCI \"hostname\" field; set that instead")
    } else {
        Err("is not in a separate kernel namespace, so it would change the host")
    }
}

/// Does the container get a namespace of type `t` that is not rt's own? A new one does; a
/// joined one does unless its path is the namespace rt runs in ("host" means "current", as in
/// runc's check for network namespaces; rt applies it to ipc and uts too).
fn owns_namespace(namespaces: &[LinuxNamespace], t: LinuxNamespaceType) -> bool {
    let Some(ns) = namespaces.iter().find(|n| n.typ() == t) else {
        return false;
    };
    // An unreadable path is reported by the namespace checks; create fails on it anyway.
    ns.path()
        .as_ref()
        .is_none_or(|p| !crate::namespaces::is_own(t, p))
}

/// Every sysctl the container may not set, each naming the key and the namespace it needs.
pub fn problems(spec: &Spec) -> Vec<String> {
    let Some(linux) = spec.linux() else {
        return vec![];
    };
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let mut keys: Vec<&String> = linux.sysctl().iter().flatten().map(|(k, _)| k).collect();
    // A HashMap's order is random; the messages should not be.
    keys.sort();
    let mut v = Vec::new();
    for key in keys {
        if components(key)
            .iter()
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            v.push(format!("linux.sysctl: bad key {key:?}"));
            continue;
        }
        let name = dotted(key);
        match namespace_of(&name) {
            Ok(t) if owns_namespace(&namespaces, t) => {}
            Ok(t) => v.push(format!(
                "linux.sysctl: {name:?} is not allowed in the host's {} namespace (the \
                 container needs a {} namespace of its own in linux.namespaces)",
                kind(t),
                kind(t)
            )),
            Err(why) => v.push(format!("linux.sysctl: {name:?} {why}")),
        }
    }
    v
}

fn kind(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Ipc => "ipc",
        _ => "uts",
    }
}

/// Write one sysctl of a config that passed [`problems`], from inside the container's
/// namespaces (init, after pivot_root: /proc is the container's own).
pub fn write(key: &str, value: &str) -> Result<(), SysctlError> {
    let path = Path::new("/proc/sys").join(components(key).join("/"));
    std::fs::write(&path, value).map_err(|source| SysctlError {
        key: key.to_string(),
        path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sysctl: serde_json::Value, namespaces: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"sysctl": sysctl, "namespaces": namespaces}
        }))
        .unwrap()
    }

    #[test]
    fn key_forms() {
        assert_eq!(
            components("net.ipv4.ip_forward"),
            ["net", "ipv4", "ip_forward"]
        );
        assert_eq!(
            components("net/ipv4/conf/eth0.100/forwarding"),
            ["net", "ipv4", "conf", "eth0.100", "forwarding"]
        );
        assert_eq!(
            components("net.ipv4.conf.eth0/100.forwarding"),
            ["net", "ipv4", "conf", "eth0.100", "forwarding"]
        );
        assert_eq!(dotted("fs/mqueue/queues_max"), "fs.mqueue.queues_max");
    }

    #[test]
    fn each_key_needs_its_own_namespace() {
        let all = serde_json::json!([{"type": "ipc"}, {"type": "network"}, {"type": "uts"}]);
        let allowed = serde_json::json!({
            "kernel.shmmax": "1", "kernel.sem": "1", "fs.mqueue.queues_max": "1",
            "net.ipv4.ip_forward": "1", "net/ipv4/ping_group_range": "0 0",
            "kernel.domainname": "x"
        });
        assert!(problems(&spec(allowed.clone(), all.clone())).is_empty());
        // Without the namespaces every one of them is the host's.
        let p = problems(&spec(allowed, serde_json::json!([])));
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(
            p.iter()
                .any(|m| m.contains("\"fs.mqueue.queues_max\"") && m.contains("ipc namespace"))
        );
        assert!(p.iter().any(
            |m| m.contains("\"net.ipv4.ping_group_range\"") && m.contains("network namespace")
        ));
        assert!(
            p.iter()
                .any(|m| m.contains("\"kernel.domainname\"") && m.contains("uts namespace"))
        );
        // Never namespaced, or with an OCI field of its own.
        for key in ["vm.overcommit_ratio", "kernel.hostname", "kernel.pid_max"] {
            let p = problems(&spec(serde_json::json!({key: "1"}), all.clone()));
            assert_eq!(p.len(), 1, "{key}: {p:?}");
            assert!(p[0].contains(key), "{p:?}");
        }
        for key in [
            "net..x",
            "net.ipv4.",
            "../x",
            "net/../../vm",
            "net.//.x",
            "net./",
        ] {
            let p = problems(&spec(serde_json::json!({key: "1"}), all.clone()));
            assert!(p[0].contains("bad key"), "{key}: {p:?}");
        }
    }

    #[test]
    fn a_joined_namespace_that_is_rt_own_is_the_host() {
        let ns = serde_json::json!([
            {"type": "network", "path": "/proc/self/ns/net"},
            {"type": "ipc", "path": "/proc/self/ns/ipc"}
        ]);
        let p = problems(&spec(
            serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}),
            ns,
        ));
        assert_eq!(p.len(), 2, "{p:?}");
    }
}
