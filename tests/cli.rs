//! Runtime-level CLI verbs that need no container: `spec` (writes a config
//! that `run` accepts once terminal is switched off, refuses to overwrite),
//! `features` (JSON with ociVersionMin/Max) and `--version`.

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;

#[test]
fn spec_writes_config_that_run_accepts() {
    let dir = TempDir::new("spec");
    let o = rt_raw(&["spec"], Some(dir.path()), dir.path());
    o.ok();
    let path = dir.path().join("config.json");
    let mut cfg: Value = serde_json::from_str(&fs::read_to_string(&path).expect("config.json"))
        .expect("spec output is JSON");
    assert!(
        cfg["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with('1')),
        "{cfg}"
    );
    assert_eq!(cfg["process"]["terminal"], json!(true), "{cfg}");
    assert_eq!(cfg["root"]["path"], "rootfs");
    assert!(cfg["process"]["args"].is_array());
    assert!(cfg["linux"]["namespaces"].is_array());

    // Make it runnable here: no terminal, our rootfs, a unique cgroup.
    make_rootfs(&dir.path().join("rootfs"));
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = json!(["sh", "-c", "echo spec-ok; hostname"]);
    cfg["linux"]["cgroupsPath"] = json!(format!("/{}", unique_name("cg")));
    fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();

    let mut b = Bundle::new();
    b.config = cfg.clone();
    // reuse the harness for cleanup, but run the spec bundle itself
    let c = Container::new(b);
    let root = c.root_str();
    let bp = dir.path().to_string_lossy().into_owned();
    let o = rt_raw(
        &["--root", &root, "run", "--bundle", &bp, &c.id],
        None,
        c.scratch.path(),
    );
    o.ok();
    let host = cfg["hostname"].as_str().unwrap_or_default();
    assert_eq!(o.stdout, format!("spec-ok\n{host}\n"), "{o}");
    assert!(c.root_entries().is_empty());
}

#[test]
fn spec_refuses_to_overwrite() {
    let dir = TempDir::new("spec");
    fs::write(dir.path().join("config.json"), "keep").unwrap();
    let o = rt_raw(&["spec"], Some(dir.path()), dir.path());
    o.failed().stderr_has("config.json");
    assert_eq!(
        fs::read_to_string(dir.path().join("config.json")).unwrap(),
        "keep"
    );
}

#[test]
fn spec_with_bundle_flag() {
    let dir = TempDir::new("spec");
    let cwd = TempDir::new("cwd");
    let d = dir.path().to_string_lossy().into_owned();
    rt_raw(&["spec", "--bundle", &d], Some(cwd.path()), cwd.path()).ok();
    assert!(dir.path().join("config.json").exists());
    assert!(!cwd.path().join("config.json").exists());
}

#[test]
fn features_prints_json() {
    let dir = TempDir::new("features");
    let o = rt_raw(&["features"], None, dir.path());
    o.ok();
    let v: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o}"));
    let min = v["ociVersionMin"].as_str().expect("ociVersionMin");
    let max = v["ociVersionMax"].as_str().expect("ociVersionMax");
    assert!(min.starts_with("1."), "{min}");
    assert!(max.starts_with("1."), "{max}");
    assert!(
        v["hooks"]
            .as_array()
            .is_some_and(|h| h.iter().any(|x| x == "prestart")),
        "{v}"
    );
    assert!(
        v["mountOptions"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x == "ro")),
        "{v}"
    );
    // the config version the suite writes must be within range
    let ours = oci_version();
    assert!(ours.as_str() >= min, "{ours} < {min}");
}

#[test]
fn version_output() {
    let dir = TempDir::new("version");
    let o = rt_raw(&["--version"], None, dir.path());
    o.ok();
    let lines = o.stdout_lines();
    assert!(lines.len() >= 3, "{o}");
    let first: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(first.len(), 3, "{o}");
    assert_eq!(first[1], "version", "{o}");
    let name = rt_bin().file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(first[0], name, "{o}");
    assert!(lines[1].starts_with("commit:"), "{o}");
    assert!(lines[2].starts_with("spec: 1."), "{o}");
}

#[test]
fn unknown_command_fails() {
    let dir = TempDir::new("cli");
    let o = rt_raw(&["rt-test-no-such-verb"], None, dir.path());
    o.failed();
    assert!(!o.stderr.trim().is_empty(), "{o}");
}
