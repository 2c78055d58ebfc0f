//! Container lifecycle: `run` exit codes and cleanup, death by signal,
//! create/start/state/kill/delete, `list` in its three formats, the error
//! cases of each verb (duplicate id, double start, delete of a running
//! container, kill of a stopped one, unknown id) and `--pid-file`.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::time::{Duration, Instant};

fn assert_gone(c: &Container) {
    let st = c.state();
    st.failed().stderr_has("does not exist");
    assert!(!c.state_dir_exists(), "state dir {} left", c.id);
    let l = c.rt(&["list", "-q"]);
    l.ok();
    assert!(
        !l.stdout.lines().any(|x| x.trim() == c.id),
        "list still shows {}: {l}",
        c.id
    );
}

#[test]
fn run_prints_output_and_returns_exit_code() {
    let mut b = Bundle::new();
    b.sh("echo hi; exit 3");
    let c = Container::new(b);
    let o = c.run();
    assert_eq!(o.code, Some(3), "{o}");
    assert_eq!(o.stdout, "hi\n", "{o}");
    assert_gone(&c);
    assert!(
        c.cgroup_dirs().is_empty(),
        "cgroups left: {:?}",
        c.cgroup_dirs()
    );
}

#[test]
fn run_exit_zero_and_stderr_passthrough() {
    let mut b = Bundle::new();
    b.sh("echo out; echo err >&2");
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    assert_eq!(o.stdout, "out\n");
    assert!(o.stderr.contains("err"), "{o}");
    assert_gone(&c);
}

/// Without a pid namespace the shell is not pid 1, so `kill -9 $$` really
/// kills it and `run` must report 128+9.
#[test]
fn run_killed_by_own_signal_exits_137() {
    let mut b = Bundle::new();
    b.remove_namespace("pid").sh("kill -9 $$; echo survived");
    let c = Container::new(b);
    let o = c.run();
    assert_eq!(o.code, Some(137), "{o}");
    assert!(!o.stdout.contains("survived"), "{o}");
    assert_gone(&c);
}

/// With a pid namespace, SIGKILL sent from the host to the init pid
/// (read from `run --pid-file`) makes the foreground `run` exit 137.
#[test]
fn run_killed_from_host_exits_137() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]);
    let c = Container::new(b);
    c.bundle.write();
    let pidfile = c.scratch.path().join("run.pid");
    let bp = c.bundle.path_str();
    let pf = pidfile.to_string_lossy().into_owned();
    let (child, out, err, what) = c.rt_spawn(&["run", "--bundle", &bp, "--pid-file", &pf, &c.id]);
    let start = Instant::now();
    let pid: i32 = loop {
        if let Some(p) = fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(pid_alive(pid));
    // Make sure exec happened (the process is `sleep`) before killing.
    let start = Instant::now();
    while status_field(&proc_status(pid), "Name").as_deref() != Some("sleep") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never became sleep"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let o = wait_child(child, &out, &err, what, CMD_TIMEOUT);
    assert_eq!(o.code, Some(137), "{o}");
    assert_gone(&c);
}

#[test]
fn lifecycle_create_start_kill_delete() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create().ok();

    let st = c.state_json();
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"].as_str(), Some(c.id.as_str()), "{st}");
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{st}"
    );
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0, "{st}");
    assert!(pid_alive(pid), "init pid {pid} not alive after create");
    let bundle = st["bundle"].as_str().unwrap_or_default().to_string();
    assert!(bundle.starts_with('/'), "bundle not absolute: {st}");
    assert_eq!(
        fs::canonicalize(&bundle).unwrap(),
        fs::canonicalize(c.bundle.path()).unwrap()
    );
    assert!(c.state_dir_exists());
    // Before start the user process must not have run.
    assert_ne!(
        status_field(&proc_status(pid), "Name").as_deref(),
        Some("sleep")
    );

    c.start().ok();
    let st = c.state_json();
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "{st}");
    assert!(pid_alive(pid));

    // default signal is SIGTERM, which the container traps and exits on
    c.kill(None).ok();
    c.wait_status("stopped");
    wait_pid_gone(pid);
    let st = c.state_json();
    assert_eq!(st["pid"].as_i64(), Some(0), "stopped container pid: {st}");
    assert_eq!(st["status"], "stopped");

    c.delete(false).ok();
    assert_gone(&c);
    assert!(
        c.cgroup_dirs().is_empty(),
        "cgroups left: {:?}",
        c.cgroup_dirs()
    );
}

fn kill_with(sig: &str) {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]); // no handler: only SIGKILL can stop it
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    c.kill(Some(sig)).ok();
    c.wait_status("stopped");
    wait_pid_gone(pid);
    assert_eq!(c.pid(), 0);
    c.delete(false).ok();
    assert_gone(&c);
}

#[test]
fn kill_numeric_9() {
    kill_with("9");
}

#[test]
fn kill_name_kill() {
    kill_with("KILL");
}

#[test]
fn kill_name_sigkill() {
    kill_with("SIGKILL");
}

#[test]
fn kill_sigterm_by_name() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    c.kill(Some("SIGTERM")).ok();
    c.wait_status("stopped");
    wait_pid_gone(pid);
}

#[test]
fn list_shows_container_in_all_formats() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();

    let t = c.rt(&["list"]);
    t.ok();
    let lines = t.stdout_lines();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("PID") && lines[0].contains("STATUS"),
        "{t}"
    );
    let row = lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(c.id.as_str()))
        .unwrap_or_else(|| panic!("no row for {}: {t}", c.id));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], pid.to_string(), "{row}");
    assert_eq!(cols[2], "created", "{row}");
    assert_eq!(cols[3], c.bundle.path_str(), "{row}");

    let j = c.rt(&["list", "-f", "json"]);
    j.ok();
    let v: Value = serde_json::from_str(&j.stdout).unwrap_or_else(|e| panic!("{e}: {j}"));
    let arr = v.as_array().expect("list -f json is an array");
    assert_eq!(arr.len(), 1, "{j}");
    assert_eq!(arr[0]["id"].as_str(), Some(c.id.as_str()));
    assert_eq!(arr[0]["pid"].as_i64(), Some(pid as i64));
    assert_eq!(arr[0]["status"], "created");
    assert_eq!(
        arr[0]["bundle"].as_str(),
        Some(c.bundle.path_str().as_str())
    );

    let q = c.rt(&["list", "-q"]);
    q.ok();
    assert_eq!(q.stdout, format!("{}\n", c.id), "{q}");

    c.start().ok();
    let j = c.rt(&["list", "--format", "json"]);
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v[0]["status"], "running", "{j}");
}

#[test]
fn list_empty_root() {
    let c = Container::new(Bundle::new());
    let q = c.rt(&["list", "-q"]);
    q.ok();
    assert_eq!(q.stdout.trim(), "", "{q}");
    let j = c.rt(&["list", "-f", "json"]);
    j.ok();
    let v: Value = serde_json::from_str(j.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {j}"));
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "{j}"
    );
}

#[test]
fn create_existing_id_fails_and_first_is_unharmed() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();

    let mut b2 = Bundle::new();
    b2.sh("echo second > /second; sleep 100000");
    b2.write();
    let o = c.rt(&["create", "--bundle", &b2.path_str(), &c.id]);
    o.failed().stderr_has("already exists");
    // The original container is unchanged and still works.
    let st = c.state_json();
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64));
    assert_eq!(
        fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
        fs::canonicalize(c.bundle.path()).unwrap()
    );
    assert!(pid_alive(pid));
    c.start().ok();
    assert_eq!(c.status(), "running");
    assert!(!b2.rootfs().join("second").exists());
}

#[test]
fn start_of_running_container_fails() {
    let mut b = Bundle::new();
    b.sh("echo started; trap 'exit 143' TERM; sleep 100000 & wait");
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    c.wait_output("started");
    c.start().failed();
    assert_eq!(c.status(), "running");
    assert_eq!(c.pid(), pid);
    // the process was not started twice
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.init_output(), "started\n");
}

#[test]
fn delete_running_requires_force() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    c.delete(false).failed();
    assert_eq!(c.status(), "running");
    assert!(pid_alive(pid));
    assert!(c.state_dir_exists());

    c.delete(true).ok();
    wait_pid_gone(pid);
    assert_gone(&c);
    assert!(
        c.cgroup_dirs().is_empty(),
        "cgroups left: {:?}",
        c.cgroup_dirs()
    );
}

#[test]
fn delete_force_of_created_container() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();
    c.delete(true).ok();
    wait_pid_gone(pid);
    assert_gone(&c);
}

#[test]
fn kill_of_stopped_container_fails() {
    let mut b = Bundle::new();
    b.args(&["true"]);
    let mut c = Container::new(b);
    c.create().ok();
    c.start().ok();
    c.wait_status("stopped");
    let o = c.kill(Some("KILL"));
    assert_eq!(o.code, Some(1), "{o}");
    o.stderr_has("container not running");
    // still there, still stopped, deletable without -f
    assert_eq!(c.status(), "stopped");
    c.delete(false).ok();
    assert_gone(&c);
}

#[test]
fn state_of_unknown_id_fails() {
    let c = Container::new(Bundle::new());
    let o = c.rt(&["state", "rt-test-no-such-container"]);
    o.failed().stderr_has("does not exist");
    assert!(o.stdout.trim().is_empty(), "{o}");
    c.rt(&["kill", "rt-test-no-such-container", "9"])
        .failed()
        .stderr_has("does not exist");
    c.rt(&["start", "rt-test-no-such-container"])
        .failed()
        .stderr_has("does not exist");
}

#[test]
fn create_pid_file_has_init_pid() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pidfile = c.scratch.path().join("init.pid");
    let pf = pidfile.to_string_lossy().into_owned();
    c.create_with(&["--pid-file", &pf]).ok();
    let content = fs::read_to_string(&pidfile).expect("pid file written");
    let filepid: i32 = content.trim().parse().expect("pid file holds a number");
    assert_eq!(filepid, c.pid());
    assert!(pid_alive(filepid));
    // the pid really is the container's init: it lives in another pid ns
    assert_ne!(ns_link(filepid, "pid"), self_ns("pid"));
}

#[test]
fn state_json_fields_like_runc() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"])
        .annotation("org.rt-test.a", "1")
        .annotation("org.rt-test.b", "two");
    let mut c = Container::new(b);
    c.create().ok();
    let o = c.state();
    o.ok();
    let st: Value = serde_json::from_str(&o.stdout).unwrap();
    // runc's field order (Go struct order), pretty-printed
    let keys = [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "annotations",
        "owner",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            o.stdout
                .find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("key {k} missing: {o}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "key order: {o}");
    assert!(o.stdout.starts_with("{\n  \"ociVersion\""), "{o}");
    assert_eq!(
        st["rootfs"].as_str(),
        Some(c.bundle.rootfs().to_string_lossy().as_ref())
    );
    let created = st["created"].as_str().unwrap();
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.contains('T'),
        "created not RFC 3339: {created}"
    );
    assert_eq!(st["annotations"]["org.rt-test.a"], "1");
    assert_eq!(st["annotations"]["org.rt-test.b"], "two");
    assert_eq!(st["owner"], "");
}

#[test]
fn list_table_header_like_runc() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    c.create().ok();
    let t = c.rt(&["list"]);
    t.ok();
    let header: Vec<&str> = t
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{t}"
    );
    let row = t.stdout.lines().nth(1).unwrap();
    assert_eq!(row.split_whitespace().last(), Some("root"), "{t}");
}

#[test]
fn run_detached_then_kill_and_delete() {
    let mut b = Bundle::new();
    b.sh("echo detached-ok; trap 'exit 143' TERM; sleep 100000 & wait");
    let mut c = Container::new(b);
    c.bundle.write();
    let bp = c.bundle.path_str();
    let id = c.id.clone();
    let (child, out, err, what) = c.rt_spawn(&["run", "-d", "--bundle", &bp, &id]);
    let o = wait_child(child, &out, &err, what, CMD_TIMEOUT);
    o.ok();
    c.init_stdout = Some(out);
    c.init_stderr = Some(err);
    c.wait_output("detached-ok");
    assert_eq!(c.status(), "running");
    let pid = c.pid();
    assert!(pid_alive(pid));
    c.kill(None).ok();
    c.wait_status("stopped");
    wait_pid_gone(pid);
    c.delete(false).ok();
    assert_gone(&c);
}
