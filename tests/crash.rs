//! Crash safety: rt SIGKILLed at random moments of `create` and `run -d`; afterwards
//! `delete -f ID` removes every trace (state dir, cgroup dirs, processes).

mod common;

use common::*;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut v = vec![];
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) && pid_alive(pid) {
            v.push(pid);
        }
    }
    v
}

#[test]
fn sigkill_during_create_then_delete_force_leaves_nothing() {
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("crash seed {seed}");
    let mut b = Bundle::new();
    b.long_running();
    let c = Container::new(b);
    c.bundle.write();
    let bundle = c.bundle.path_str();
    let root = c.root_str();
    for i in 0..30 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % 30_000);
        let id = format!("{}-{i}", c.id);
        let mut cmd = Command::new(rt_bin());
        cmd.args(["--root", &root]);
        if i % 2 == 0 {
            cmd.args(["create", "--bundle", &bundle, &id]);
        } else {
            cmd.args(["run", "-d", "--bundle", &bundle, &id]);
        }
        let (mut child, _o, _e) = spawn_to_files(cmd, c.scratch.path());
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let o = c.rt(&["delete", "-f", &id]);
        assert!(!o.stderr.contains("panicked"), "{o}");
        assert!(
            o.success() || o.stderr.contains("does not exist"),
            "iteration {i} (delay {delay:?}): delete -f failed: {o}"
        );
        assert!(
            !c.root.path().join(&id).exists(),
            "iteration {i}: state dir left: {o}"
        );
        let start = Instant::now();
        while !processes_mentioning(&id).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "iteration {i} (delay {delay:?}): processes left: {:?}",
                processes_mentioning(&id)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = c.cgroup_dirs();
        if !left.is_empty()
            && runc_differs(
                "runc 1.1.5 killed during create before it wrote its state leaves the \
                 container's cgroups behind, and `delete -f` no longer knows the container",
            )
        {
            return;
        }
        assert!(
            left.is_empty(),
            "iteration {i} (delay {delay:?}): cgroup left: {left:?}"
        );
    }
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
}

/// rt killed while claiming the id leaves `claim:<id>:<pid>` (the state directory before it is
/// renamed into place): `delete -f` removes it once that pid is gone. `pid_max` is never a pid.
#[test]
fn half_created_state_dir_is_deletable() {
    if runc_differs("runc claims an id by mkdir; rt renames the state directory into place") {
        return;
    }
    let c = Container::new(Bundle::new());
    let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    let claim = c
        .root
        .path()
        .join(format!("claim:{}:{}", c.id, pid_max.trim()));
    fs::create_dir_all(&claim).unwrap();
    fs::write(claim.join("config.json"), "{}").unwrap();
    c.delete(false).failed().stderr_has("does not exist");
    assert!(!claim.exists());
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
}
