//! Many containers at once under one `--root`: N (env `RT_SCALE_N`, default 100) `create` +
//! `start` calls of `sleep` containers run in parallel, every one must succeed, `list -q` must
//! show exactly those N, `state` must say running for each, and after parallel `delete -f`
//! nothing is left: no state directory, no cgroup, no process.

mod common;

use common::*;
use std::collections::BTreeSet;

fn scale_n() -> usize {
    std::env::var("RT_SCALE_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
}

/// A bundle with only a config.json: every container shares one rootfs (read-only, as the
/// benchmark does), so N containers cost N small files instead of N busybox copies.
fn light_bundle(rootfs: &std::path::Path) -> Bundle {
    let mut config = default_config();
    config["root"]["path"] = serde_json::json!(rootfs.to_string_lossy());
    config["root"]["readonly"] = serde_json::json!(true);
    config["linux"]["cgroupsPath"] = serde_json::json!(format!("/{}", unique_name("cg")));
    config["process"]["args"] = serde_json::json!(["sleep", "100000"]);
    Bundle {
        dir: TempDir::new("bundle"),
        config,
    }
}

#[test]
fn many_parallel_containers_share_one_root() {
    let n = scale_n();
    let shared = TempDir::new("rootfs");
    let rootfs = shared.path().join("rootfs");
    make_rootfs(&rootfs);
    let first = Container::new(light_bundle(&rootfs));
    let mut all = vec![first];
    for _ in 1..n {
        let c = all[0].sibling(light_bundle(&rootfs));
        all.push(c);
    }

    // One thread per container, each running the real binary: create then start.
    std::thread::scope(|s| {
        let handles: Vec<_> = all
            .iter_mut()
            .map(|c| {
                s.spawn(move || {
                    let o = c.create();
                    if !o.success() {
                        return Err(format!("create {}: {o}", c.id));
                    }
                    let o = c.start();
                    if !o.success() {
                        return Err(format!("start {}: {o}", c.id));
                    }
                    Ok(())
                })
            })
            .collect();
        let errors: Vec<String> = handles
            .into_iter()
            .filter_map(|h| h.join().expect("thread panicked").err())
            .collect();
        assert!(
            errors.is_empty(),
            "{} of {n} failed:\n{}",
            errors.len(),
            errors.join("\n")
        );
    });

    let want: BTreeSet<String> = all.iter().map(|c| c.id.clone()).collect();
    let l = all[0].rt(&["list", "-q"]);
    l.ok();
    let got: BTreeSet<String> = l.stdout.lines().map(|x| x.trim().to_string()).collect();
    assert_eq!(got, want, "list -q: {l}");
    for c in &all {
        assert_eq!(c.status(), "running", "{}", c.id);
    }
    let pids: Vec<i32> = all.iter().map(|c| c.pid()).collect();

    std::thread::scope(|s| {
        for c in &all {
            s.spawn(move || {
                c.delete(true).ok();
            });
        }
    });
    let l = all[0].rt(&["list", "-q"]);
    l.ok();
    assert!(l.stdout.trim().is_empty(), "containers left: {l}");
    assert!(
        all[0].root_entries().is_empty(),
        "left under --root: {:?}",
        all[0].root_entries()
    );
    for c in &all {
        assert!(
            c.cgroup_dirs().is_empty(),
            "cgroups left: {:?}",
            c.cgroup_dirs()
        );
    }
    for p in pids {
        wait_pid_gone(p);
    }
}
