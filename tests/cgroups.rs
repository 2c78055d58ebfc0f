//! cgroups end to end: limits land in the real files under /sys/fs/cgroup,
//! the init is placed before `create` returns, and pause/resume, update, ps,
//! events, kill --all and delete act on the whole cgroup. The first part runs
//! on this host's v1/hybrid layout; the `v2_*` tests run rt in a private mount
//! namespace with cgroup2 mounted on /sys/fs/cgroup (a pure v2 view).

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `/sys/fs/cgroup/<ctrl>/<cgroupsPath>`.
fn v1_dir(ctrl: &str, c: &Container) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join(c.bundle.cgroup_name().expect("cgroupsPath"))
}

fn procs(dir: &Path) -> Vec<i32> {
    let mut v: Vec<i32> = read_trim(dir.join("cgroup.procs"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    v.sort();
    v
}

fn has_v1(ctrl: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join("cgroup.procs")
        .exists()
}

/// Skip (loudly) unless this host has the v1 controllers the test reads.
fn need_v1(ctrls: &[&str]) -> bool {
    for c in ctrls {
        if !has_v1(c) {
            skip(&format!(
                "no cgroup v1 {c} hierarchy (no /sys/fs/cgroup/{c}/cgroup.procs)"
            ));
            return false;
        }
    }
    true
}

fn set_resources(c: &mut Container, r: Value) {
    c.bundle.config["linux"]["resources"] = r;
}

/// Pids of the container's init and of its children (by /proc ppid).
fn children_of(pid: i32) -> Vec<i32> {
    let mut out = vec![];
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if status_field(&proc_status(p), "PPid").as_deref() == Some(&pid.to_string()) {
                out.push(p);
            }
        }
    }
    out
}

fn stats(c: &Container) -> Value {
    let o = c.rt(&["events", "--stats", &c.id]);
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 1, "events --stats prints one line: {o}");
    serde_json::from_str(&lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {o}"))
}

#[test]
fn limits_land_in_v1_files_and_init_is_placed_at_create() {
    if !need_v1(&["memory", "pids", "cpu", "cpuset"]) {
        return;
    }
    let mut c = Container::new(Bundle::new());
    c.bundle
        .sh("grep Cpus_allowed_list /proc/self/status; sleep 100000");
    set_resources(
        &mut c,
        json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 67108864},
            "pids": {"limit": 50},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}
        }),
    );
    c.create().ok();
    // Before start: init already sits in its cgroup in every hierarchy.
    let pid = c.pid();
    for ctrl in ["memory", "pids", "cpu", "cpuset", "freezer", "devices"] {
        if has_v1(ctrl) {
            assert_eq!(procs(&v1_dir(ctrl, &c)), vec![pid], "{ctrl} after create");
        }
    }
    if let Some(u) = host_cgroup2_root() {
        let leaf = u.join(c.bundle.cgroup_name().unwrap());
        assert_eq!(procs(&leaf), vec![pid], "cgroup2 leaf after create");
    }
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("pids:/{}", c.bundle.cgroup_name().unwrap());
    assert!(cg.lines().any(|l| l.ends_with(&want)), "{cg}");

    let f = |ctrl: &str, file: &str| read_trim(v1_dir(ctrl, &c).join(file));
    assert_eq!(f("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(f("pids", "pids.max"), "50");
    assert_eq!(f("cpu", "cpu.shares"), "512");
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(f("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(f("cpuset", "cpuset.cpus"), "0");

    // Inside: the scheduler sees only cpu 0.
    c.start().ok();
    let out = c.wait_output("Cpus_allowed_list");
    assert_eq!(out.trim(), "Cpus_allowed_list:\t0", "{out}");
}

#[test]
fn swap_limit_lands_in_memsw() {
    if !need_v1(&["memory"]) {
        return;
    }
    if !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        skip("kernel without swap accounting (no memory.memsw.limit_in_bytes)");
        return;
    }
    let mut c = Container::new(Bundle::new());
    c.bundle.long_running();
    set_resources(
        &mut c,
        json!({"memory": {"limit": 67108864, "swap": 134217728}}),
    );
    c.create().ok();
    let d = v1_dir("memory", &c);
    assert_eq!(read_trim(d.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(
        read_trim(d.join("memory.memsw.limit_in_bytes")),
        "134217728"
    );
}

#[test]
fn blkio_weight_lands_in_weight_file() {
    if !need_v1(&["blkio"]) {
        return;
    }
    let mut c = Container::new(Bundle::new());
    c.bundle.long_running();
    // The weight files exist only below the root (CFQ's or BFQ's): look in a
    // child cgroup of ours.
    let probe = v1_dir("blkio", &c);
    fs::create_dir(&probe).expect("mkdir blkio probe");
    let file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| probe.join(f).exists());
    fs::remove_dir(&probe).expect("rmdir blkio probe");
    let Some(file) = file else {
        skip(
            "no blkio weight file (neither blkio.weight nor blkio.bfq.weight: no CFQ/BFQ scheduler)",
        );
        return;
    };
    set_resources(&mut c, json!({"blockIO": {"weight": 300}}));
    c.create().ok();
    // blkio.bfq.weight shows "default 300" on some kernels, "300" on others.
    let got = read_trim(v1_dir("blkio", &c).join(file));
    assert!(got == "300" || got == "default 300", "{file}: {got:?}");
}

#[test]
fn hugetlb_limit_lands_in_the_controller_that_has_it() {
    let mut c = Container::new(Bundle::new());
    c.bundle.long_running();
    set_resources(
        &mut c,
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
    );
    let file = if has_v1("hugetlb") {
        v1_dir("hugetlb", &c).join("hugetlb.2MB.limit_in_bytes")
    } else {
        let Some(u) = host_cgroup2_root() else {
            skip("no hugetlb controller in v1 nor in cgroup2");
            return;
        };
        let ctrls = read_trim(u.join("cgroup.controllers"));
        if !ctrls.split_whitespace().any(|x| x == "hugetlb") {
            skip("no hugetlb controller in v1 nor in cgroup2");
            return;
        }
        if runc_differs(
            "runc 1.1.5 on a hybrid host looks for hugetlb in v1 only and refuses the limit when \
             only the cgroup2 root has it; rt applies it there (config-linux.md, Unified: a \
             runtime MAY convert v1 settings for a controller enabled on cgroup v2)",
        ) {
            c.create().failed().stderr_has("hugetlb");
            return;
        }
        u.join(c.bundle.cgroup_name().unwrap())
            .join("hugetlb.2MB.max")
    };
    c.create().ok();
    assert_eq!(read_trim(&file), "4194304", "{}", file.display());
}

#[test]
fn devices_deny_all_with_allow_rules_and_linux_devices() {
    if !need_v1(&["devices"]) {
        return;
    }
    if !Path::new("/dev/fuse").exists() {
        skip("host has no /dev/fuse to pass in through linux.devices");
        return;
    }
    let mut c = Container::new(Bundle::new());
    c.bundle.capabilities(&["CAP_MKNOD", "CAP_KILL"]);
    // fuse comes from linux.devices: created, but (as in runc) not allowed by that alone;
    // loop0 (b 7:0) is allowed read-only by an explicit rule; loop1 is denied.
    c.bundle.config["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}
    ]);
    set_resources(
        &mut c,
        json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}
        ]}),
    );
    c.bundle.sh("mknod /dev/l0 b 7 0; mknod /dev/l1 b 7 1; \
         (exec 3<>/dev/fuse) 2>/dev/null; echo fuse=$?; \
         (exec 3</dev/l0) 2>/dev/null; echo l0r=$?; \
         (exec 3<>/dev/l0) 2>/dev/null; echo l0rw=$?; \
         (exec 3</dev/l1) 2>/dev/null; echo l1r=$?; sleep 100000");
    c.create_and_start();
    let out = c.wait_output("l1r=");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["fuse=1", "l0r=0", "l0rw=1", "l1r=1"]
    );
    let list = read_trim(v1_dir("devices", &c).join("devices.list"));
    assert!(!list.lines().any(|l| l == "c 10:229 rwm"), "{list}");
    assert!(list.lines().any(|l| l == "b 7:0 r"), "{list}");
    assert!(!list.lines().any(|l| l.starts_with("a ")), "{list}");
}

/// Where the init of a container with `cgroups_path` lands, per hierarchy,
/// as /proc/<pid>/cgroup says; then delete removes those directories.
fn placement(cgroups_path: Option<&str>) {
    if !need_v1(&["pids", "memory"]) {
        return;
    }
    let mut b = Bundle::new();
    match cgroups_path {
        Some(p) => {
            b.cgroups_path(p);
        }
        None => {
            b.config["linux"]
                .as_object_mut()
                .unwrap()
                .remove("cgroupsPath");
        }
    }
    b.long_running();
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let theirs = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path_of = |text: &str, ctrl: &str| -> String {
        text.lines()
            .find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                ctrls
                    .split(',')
                    .any(|x| x == ctrl)
                    .then(|| path.to_string())
            })
            .unwrap_or_else(|| panic!("no {ctrl} line in {text}"))
    };
    let mut dirs = vec![];
    for ctrl in ["pids", "memory"] {
        let want = match cgroups_path {
            Some(p) if p.starts_with('/') => p.to_string(),
            // Relative, or absent (runc's default is the relative path <id>): under rt's own
            // cgroup in each hierarchy (runc's rule).
            rel => {
                let base = path_of(&own, ctrl);
                format!("{}/{}", base.trim_end_matches('/'), rel.unwrap_or(&c.id))
            }
        };
        assert_eq!(path_of(&theirs, ctrl), want, "{ctrl}: {theirs}");
        let d = Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(want.trim_start_matches('/'));
        assert_eq!(procs(&d), vec![pid], "{}", d.display());
        dirs.push(d);
    }
    c.delete(true).ok();
    for d in &dirs {
        let gone = !d.exists();
        // Our own leftovers only: these paths are unique to this test.
        let _ = fs::remove_dir(d);
        assert!(gone, "{} left behind", d.display());
    }
}

#[test]
fn cgroups_path_absolute() {
    placement(Some(&format!("/{}", unique_name("abs"))));
}

#[test]
fn cgroups_path_relative() {
    placement(Some(&unique_name("rel")));
}

#[test]
fn cgroups_path_absent_defaults_to_the_id_under_own_cgroup() {
    placement(None);
}

#[test]
fn pause_and_resume_freeze_the_processes() {
    if !need_v1(&["freezer"]) {
        return;
    }
    let mut c = Container::new(Bundle::new());
    c.bundle
        .sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.01; done");
    c.create_and_start();
    let count_file = c.bundle.rootfs().join("tmp/count");
    let count = || -> u64 {
        fs::read_to_string(&count_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    wait_until("counter never started", || count() > 0);
    let state = v1_dir("freezer", &c).join("freezer.state");

    c.rt(&["pause", &c.id]).ok();
    assert_eq!(read_trim(&state), "FROZEN");
    assert_eq!(c.status(), "paused");
    let frozen_at = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), frozen_at, "the counter advanced while paused");
    // A paused container can't be paused again (runc 1.1.5 says "container not running").
    c.rt(&["pause", &c.id]).failed().rt_stderr_has("paused");

    c.rt(&["resume", &c.id]).ok();
    assert_eq!(read_trim(&state), "THAWED");
    assert_eq!(c.status(), "running");
    wait_until("the counter did not advance after resume", || {
        count() > frozen_at
    });
}

#[test]
fn update_flags_and_resources_json() {
    if !need_v1(&["memory", "pids", "cpu", "cpuset"]) {
        return;
    }
    let mut c = Container::new(Bundle::new());
    c.bundle.long_running();
    set_resources(
        &mut c,
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 50}, "cpu": {"shares": 512}}),
    );
    c.create_and_start();
    let f = |ctrl: &str, file: &str| read_trim(v1_dir(ctrl, &c).join(file));

    c.rt(&[
        "update",
        "--memory",
        "32m",
        "--cpu-share",
        "256",
        "--pids-limit",
        "20",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "20000",
        "--cpuset-cpus",
        "0",
        &c.id,
    ])
    .ok();
    assert_eq!(f("memory", "memory.limit_in_bytes"), "33554432");
    assert_eq!(f("cpu", "cpu.shares"), "256");
    assert_eq!(f("pids", "pids.max"), "20");
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(f("cpuset", "cpuset.cpus"), "0");
    let s = stats(&c);
    assert_eq!(s["data"]["pids"]["limit"], json!(20), "{s}");
    assert_eq!(
        s["data"]["memory"]["usage"]["limit"],
        json!(33554432),
        "{s}"
    );

    // containerd / CRI-O: LinuxResources JSON on stdin.
    c.rt_stdin(
        &["update", "--resources", "-", &c.id],
        r#"{"memory": {"limit": 50331648}, "pids": {"limit": 33}, "cpu": {"shares": 300}}"#,
    )
    .ok();
    assert_eq!(f("memory", "memory.limit_in_bytes"), "50331648");
    assert_eq!(f("pids", "pids.max"), "33");
    assert_eq!(f("cpu", "cpu.shares"), "300");
    // Earlier values not in this update stay.
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "20000");
    let s = stats(&c);
    assert_eq!(s["data"]["pids"]["limit"], json!(33), "{s}");
    // Each update starts from the resources the last one saved: a stale saved config would
    // write the create-time memory limit and shares back here.
    c.rt(&["update", "--pids-limit", "40", &c.id]).ok();
    assert_eq!(f("pids", "pids.max"), "40");
    assert_eq!(f("memory", "memory.limit_in_bytes"), "50331648");
    assert_eq!(f("cpu", "cpu.shares"), "300");

    // Bad input: clear error, nothing changed.
    c.rt_stdin(&["update", "--resources", "-", &c.id], "{not json")
        .failed();
    c.rt(&["update", "--memory", "lots", &c.id])
        .failed()
        .stderr_has("memory");
    assert_eq!(f("memory", "memory.limit_in_bytes"), "50331648");
}

#[test]
fn ps_lists_the_cgroup_processes() {
    if !need_v1(&["pids"]) {
        return;
    }
    let mut c = Container::new(Bundle::new());
    c.bundle.sh("sleep 100000 & sleep 100001 & wait");
    let init = c.create_and_start();
    wait_until("the two sleeps did not start", || {
        procs(&v1_dir("pids", &c)).len() == 3
    });
    let o = c.rt(&["ps", "--format", "json", &c.id]);
    o.ok();
    let got: Vec<i32> = serde_json::from_str(o.stdout.trim()).expect("bare JSON array");
    assert_eq!(got, procs(&v1_dir("pids", &c)));
    assert!(got.contains(&init));

    let o = c.rt(&["ps", &c.id]);
    o.ok();
    let lines = o.stdout_lines();
    assert!(lines[0].contains("PID"), "{o}");
    assert_eq!(lines.len(), 4, "header + 3 processes: {o}");
    assert!(o.stdout.contains("sleep 100001"), "{o}");
}

#[test]
fn events_stats_one_json_line() {
    let mut c = Container::new(Bundle::new());
    c.bundle.long_running();
    c.create_and_start();
    let s = stats(&c);
    assert_eq!(s["type"], json!("stats"));
    assert_eq!(s["id"], json!(c.id));
    let usage = s["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(usage > 0, "memory usage: {s}");
    let pids = s["data"]["pids"]["current"].as_u64().unwrap_or(0);
    assert!(pids > 0, "pids current: {s}");
    assert!(s["data"]["cpu"]["usage"]["total"].is_u64(), "{s}");
}

#[test]
fn kill_all_kills_every_process_and_delete_leaves_no_cgroup() {
    let mut c = Container::new(Bundle::new());
    c.bundle.sh("sleep 100000 & sleep 100001 & wait");
    let init = c.create_and_start();
    wait_until("the sleeps did not start", || children_of(init).len() == 2);
    let all = c.cgroup_pids();
    assert_eq!(all.len(), 3, "{all:?}");
    c.rt(&["kill", "--all", &c.id, "KILL"]).ok();
    for p in &all {
        wait_pid_gone(*p);
    }
    c.wait_status("stopped");
    assert!(!c.cgroup_dirs().is_empty());
    c.delete(false).ok();
    assert!(c.cgroup_dirs().is_empty(), "left: {:?}", c.cgroup_dirs());
    assert!(!c.state_dir_exists());
}

#[test]
fn delete_removes_nested_child_cgroups() {
    let mut c = Container::new(Bundle::new());
    c.bundle.long_running();
    c.create_and_start();
    // A shim or `exec --cgroup` may leave sub-cgroups (two levels here) under the container's.
    let dirs = c.cgroup_dirs();
    assert!(!dirs.is_empty());
    for d in &dirs {
        fs::create_dir_all(d.join("sub").join("leaf")).unwrap();
    }
    c.delete(true).ok();
    assert!(c.cgroup_dirs().is_empty(), "left: {:?}", c.cgroup_dirs());
    for d in &dirs {
        assert!(!d.exists(), "{} left", d.display());
    }
}

/// No pid namespace: the container's processes are ordinary host processes,
/// and a child of init outlives init unless the whole cgroup is killed.
fn host_pidns_container() -> (Container, i32, i32) {
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    b.sh("sleep 100000 & echo child=$!; trap 'exit 143' TERM; sleep 100001 & wait");
    let mut c = Container::new(b);
    let init = c.create_and_start();
    let out = c.wait_output("child=");
    let child: i32 = out
        .trim()
        .strip_prefix("child=")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(pid_alive(child));
    assert!(c.cgroup_pids().contains(&child), "{:?}", c.cgroup_pids());
    (c, init, child)
}

#[test]
fn host_pidns_kill_all_reaches_background_children() {
    let (c, init, child) = host_pidns_container();
    c.rt(&["kill", "--all", &c.id, "KILL"]).ok();
    wait_pid_gone(init);
    wait_pid_gone(child);
    c.delete(false).ok();
    assert!(c.cgroup_dirs().is_empty(), "left: {:?}", c.cgroup_dirs());
}

#[test]
fn host_pidns_delete_force_reaches_background_children() {
    let (c, init, child) = host_pidns_container();
    c.delete(true).ok();
    wait_pid_gone(init);
    wait_pid_gone(child);
    assert!(c.cgroup_dirs().is_empty(), "left: {:?}", c.cgroup_dirs());
    assert!(!c.state_dir_exists());
}

/// A limit for a controller this host lacks: create fails naming it and
/// leaves no state, no cgroup and no process.
fn absent_controller_fails(mut c: Container, resources: Value, ctrl: &str) {
    c.bundle.long_running();
    set_resources(&mut c, resources);
    let o = c.create();
    o.failed().stderr_has(ctrl);
    assert!(!c.state_dir_exists(), "state dir left");
    assert!(c.cgroup_dirs().is_empty(), "left: {:?}", c.cgroup_dirs());
    let o = c.rt(&["list", "-q"]);
    assert!(!o.stdout.contains(&c.id), "{o}");
}

#[test]
fn limit_for_absent_v1_controller_fails_create() {
    // rdma is mounted on few hosts; skip where it is.
    let in_v2 = host_cgroup2_root()
        .map(|u| fs::read_to_string(u.join("cgroup.controllers")).unwrap_or_default())
        .unwrap_or_default();
    if has_v1("rdma") || in_v2.split_whitespace().any(|c| c == "rdma") {
        skip("this host has the rdma controller (the test needs one it lacks)");
        return;
    }
    absent_controller_fails(
        Container::new(Bundle::new()),
        json!({"rdma": {"mlx5_0": {"hcaHandles": 3}}}),
        "rdma",
    );
}

/// The names of this host's cgroup v1 hierarchies under /sys/fs/cgroup.
fn v1_hierarchies() -> Vec<String> {
    mountinfo(std::process::id() as i32)
        .lines()
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, t)| t.starts_with("cgroup "))
        })
        .filter_map(|l| l.split_whitespace().nth(4)?.strip_prefix("/sys/fs/cgroup/"))
        .map(String::from)
        .collect()
}

/// The container's /sys/fs/cgroup (v1/hybrid) shows its own cgroup in every hierarchy, with a
/// cgroup namespace as without: its init (pid 1) is in each cgroup.procs there. rt's init once
/// read its cgroup paths after unsharing the cgroup namespace, where every path is "/", and so
/// bound the host's root cgroup of each hierarchy into the container.
#[test]
fn cgroup_mount_shows_the_container_its_own_cgroups() {
    let names = v1_hierarchies();
    if names.is_empty() {
        skip("no cgroup v1 hierarchy on this host");
        return;
    }
    for cgroupns in [false, true] {
        let mut b = Bundle::new();
        if cgroupns {
            b.namespace("cgroup", None);
        }
        b.sh("for d in /sys/fs/cgroup/*; do echo \"${d##*/}: $(tr '\\n' ' ' <$d/cgroup.procs)\"; done");
        let o = Container::new(b).run();
        o.ok();
        let lines = o.stdout_lines();
        for n in &names {
            let procs = lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{n}: ")))
                .unwrap_or_else(|| panic!("no /sys/fs/cgroup/{n} (cgroupns {cgroupns}): {o}"));
            assert!(
                procs.split_whitespace().any(|p| p == "1"),
                "/sys/fs/cgroup/{n} is not the container's cgroup (cgroupns {cgroupns}): {o}"
            );
        }
    }
}

// ---- pure cgroup v2 (a private mount namespace with cgroup2 on /sys/fs/cgroup)

/// The host's cgroup2 hierarchy, when rt can be shown it as a pure v2 host.
fn v2_root() -> Option<PathBuf> {
    let u = host_cgroup2_root();
    if u.is_none() {
        skip("no cgroup2 hierarchy mounted on this host");
    }
    u
}

fn v2_container() -> Container {
    let mut b = Bundle::new();
    // The container's own /sys/fs/cgroup would be cgroup v1 otherwise.
    b.remove_mount("/sys/fs/cgroup");
    Container::new(b).wrapped(v2_wrapper())
}

fn controllers(u: &Path) -> Vec<String> {
    read_trim(u.join("cgroup.controllers"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn v2_placement_hugetlb_devices_freeze_kill_and_delete() {
    let Some(u) = v2_root() else { return };
    let mut c = v2_container();
    let leaf = u.join(c.bundle.cgroup_name().unwrap());
    let hugetlb = controllers(&u).iter().any(|c| c == "hugetlb");
    let mut r = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if hugetlb {
        r["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4194304}]);
    } else {
        skip("(part) no hugetlb in the cgroup2 root");
    }
    set_resources(&mut c, r);
    c.bundle.capabilities(&["CAP_MKNOD", "CAP_KILL"]);
    c.bundle.sh(
        "mknod /dev/l0 b 7 0; (exec 3</dev/l0) 2>/dev/null; echo l0=$?; \
         (exec 3>/dev/null) && echo null=0; sleep 100000 & wait",
    );
    c.create().ok();
    let init = c.pid();
    // Born in the leaf (clone3 CLONE_INTO_CGROUP): there before start.
    assert_eq!(procs(&leaf), vec![init]);
    let cg = fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    assert!(
        cg.lines()
            .any(|l| l == format!("0::/{}", c.bundle.cgroup_name().unwrap())),
        "{cg}"
    );
    if hugetlb {
        assert_eq!(read_trim(leaf.join("hugetlb.2MB.max")), "4194304");
    }
    c.start().ok();
    // The eBPF device filter: denied block device, allowed /dev/null.
    let out = c.wait_output("null=");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["l0=1", "null=0"]);

    c.rt(&["pause", &c.id]).ok();
    assert_eq!(read_trim(leaf.join("cgroup.freeze")), "1");
    assert!(read_trim(leaf.join("cgroup.events")).contains("frozen 1"));
    assert_eq!(c.status(), "paused");
    c.rt(&["resume", &c.id]).ok();
    assert_eq!(read_trim(leaf.join("cgroup.freeze")), "0");
    assert_eq!(c.status(), "running");

    wait_until("the sleep did not start", || procs(&leaf).len() == 2);
    let all = procs(&leaf);
    c.rt(&["kill", "--all", &c.id, "KILL"]).ok();
    for p in &all {
        wait_pid_gone(*p);
    }
    c.wait_status("stopped");
    c.delete(false).ok();
    assert!(!leaf.exists(), "{} left behind", leaf.display());
    assert!(!c.state_dir_exists());
}

#[test]
fn v2_limit_for_absent_controller_fails_create() {
    let Some(u) = v2_root() else { return };
    let avail = controllers(&u);
    let mut tried = 0;
    for (r, ctrl) in [
        (json!({"pids": {"limit": 10}}), "pids"),
        (json!({"memory": {"limit": 67108864}}), "memory"),
    ] {
        if avail.iter().any(|c| c == ctrl) {
            skip(&format!(
                "(part) the cgroup2 root has {ctrl} (the test needs one it lacks)"
            ));
            continue;
        }
        tried += 1;
        let c = v2_container();
        let leaf = u.join(c.bundle.cgroup_name().unwrap());
        absent_controller_fails(c, r, ctrl);
        assert!(!leaf.exists(), "{} left behind", leaf.display());
    }
    if tried == 0 {
        skip("the cgroup2 root has both pids and memory (the test needs one it lacks)");
    }
}
