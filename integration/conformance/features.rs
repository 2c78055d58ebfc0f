//! features.md: the document parses, has the required fields, and what it advertises works.

use crate::common::*;
use crate::*;
use serde_json::{Value, json};

fn features() -> Value {
    let scratch = TempDir::new("scratch");
    let o = rt_raw(&["features"], None, scratch.path());
    o.ok();
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("features is not JSON ({e}): {o}"))
}

fn semver_core(v: &str) -> Vec<u64> {
    v.split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("not SemVer: {v:?}")))
        .collect()
}

#[test]
fn features_has_oci_version_range() {
    let f = features();
    let min = semver_core(f["ociVersionMin"].as_str().expect("ociVersionMin missing"));
    let max = semver_core(f["ociVersionMax"].as_str().expect("ociVersionMax missing"));
    assert_eq!((min.len(), max.len()), (3, 3), "{f}");
    assert!(min <= max, "ociVersionMin > ociVersionMax: {f}");
}

#[test]
fn features_lists_hooks_known_to_the_spec() {
    let f = features();
    let known = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    for h in f["hooks"].as_array().expect("hooks missing") {
        assert!(
            known.contains(&h.as_str().unwrap_or("")),
            "unknown hook {h}"
        );
    }
}

/// Each advertised namespace type can really be created.
#[test]
fn features_advertised_namespaces_work() {
    let f = features();
    let nss = f["linux"]["namespaces"]
        .as_array()
        .expect("linux.namespaces");
    assert!(!nss.is_empty());
    for ns in nss {
        let kind = ns.as_str().unwrap();
        let mut b = bundle(&["ns"]);
        b.namespace(kind, None);
        if kind == "user" {
            b.user_namespace(0, 65536);
        }
        let (_c, o) = run_ok(b);
        assert!(fact(&o, "ns").is_object(), "{kind}: {o}");
    }
}

/// Spot-check advertised mount options on a tmpfs: each must show in mountinfo.
#[test]
fn features_advertised_mount_options_work() {
    let f = features();
    let opts: Vec<&str> = f["mountOptions"]
        .as_array()
        .expect("mountOptions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let probe = ["ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"];
    let mut checked = 0;
    for opt in probe.iter().filter(|o| opts.contains(o)) {
        let mut b = bundle(&["mounts"]);
        b.add_mount(
            json!({"destination": "/mnt/o", "type": "tmpfs", "source": "tmpfs",
            "options": [opt]}),
        );
        let (_c, o) = run_ok(b);
        let line = mount_line(&o, "/mnt/o").expect("no /mnt/o");
        let (per, _) = mount_opts(&line);
        assert!(
            per.iter().any(|p| p == opt),
            "{opt} advertised but not applied: {line}"
        );
        checked += 1;
    }
    assert!(checked > 0, "none of {probe:?} advertised: {opts:?}");
}

#[test]
fn features_advertised_hooks_run() {
    let f = features();
    let hooks = f["hooks"].as_array().expect("hooks");
    let mut b = bundle(&["exit", "0"]);
    let log = b.path().join("log");
    for h in hooks.iter().filter_map(Value::as_str) {
        if h == "startContainer" {
            b.hook(h, "/checker", &["checker", "exit", "0"]);
            continue;
        }
        let cmd = format!("echo {h} >> {}", log.display());
        b.hook(h, "/bin/sh", &["sh", "-c", &cmd]);
    }
    let mut c = Container::new(b);
    c.create().ok();
    c.start().ok();
    c.wait_status("stopped");
    c.delete(false).ok();
    let ran = std::fs::read_to_string(&log).unwrap_or_default();
    for h in hooks.iter().filter_map(Value::as_str) {
        if h != "startContainer" {
            assert!(
                ran.lines().any(|l| l == h),
                "{h} advertised but did not run: {ran:?}"
            );
        }
    }
}
