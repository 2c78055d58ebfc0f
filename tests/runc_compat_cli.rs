//! The command line as runc's users drive it, where rt used to differ from runc 1.1.5: `kill`
//! with signal 0 and real-time signals, `ps` and `kill --all` of a stopped container, the key
//! order of `events`, `update`'s negative values and spellings, exec's exit code 255 and
//! environment, `exec --process` without a user, the `spec` template, and config.json that is
//! not a regular file. Every test passes on rt and on runc (`RT_BIN=/usr/sbin/runc`).

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Debian's runc, the reference the template is compared with.
const RUNC: &str = "/usr/sbin/runc";

/// A container that records the real-time signals 34 and 64 in /tmp/sigs and exits on TERM.
fn signal_recorder() -> Container {
    let mut b = Bundle::new();
    b.sh(
        "trap 'echo 34 >> /tmp/sigs' 34; trap 'echo 64 >> /tmp/sigs' 64; \
          trap 'exit 143' TERM; touch /tmp/traps-set; while :; do sleep 0.1; done",
    );
    Container::new(b)
}

/// pid 1 drops a signal it has no handler for: wait until the traps are in place.
fn wait_for_traps(c: &Container) {
    let ready = c.bundle.rootfs().join("tmp/traps-set");
    wait_until("traps never set", || ready.exists());
}

#[test]
fn kill_signal_zero_checks_existence_and_numbered_signals_reach_init() {
    let mut c = signal_recorder();
    c.create_and_start();
    wait_for_traps(&c);
    // Signal 0: only "does it exist"; the container goes on running.
    c.kill(Some("0")).ok();
    assert_eq!(c.status(), "running");
    // Real-time signals by number, up to the kernel's SIGRTMAX (64).
    c.kill(Some("34")).ok();
    let sigs = c.bundle.rootfs().join("tmp/sigs");
    wait_until("signal 34 not seen", || {
        fs::read_to_string(&sigs).is_ok_and(|s| s.contains("34"))
    });
    c.kill(Some("64")).ok();
    wait_until("signal 64 not seen", || {
        fs::read_to_string(&sigs).is_ok_and(|s| s.contains("64"))
    });
    // Past SIGRTMAX there is no such signal.
    c.kill(Some("65")).failed();
    assert_eq!(c.status(), "running");
    c.kill(None).ok();
    c.wait_status("stopped");
    // A stopped container does not exist for signal 0.
    c.kill(Some("0")).failed().stderr_has("not running");
}

/// A container whose process ran and exited (not deleted).
fn stopped() -> Container {
    let mut b = Bundle::new();
    b.args(&["true"]);
    let mut c = Container::new(b);
    c.create().ok();
    c.start().ok();
    c.wait_status("stopped");
    c
}

#[test]
fn kill_all_of_a_stopped_container_is_not_an_error() {
    let c = stopped();
    c.rt(&["kill", "--all", &c.id, "KILL"]).ok();
    c.rt(&["kill", &c.id, "KILL"]).failed();
}

#[test]
fn ps_of_a_stopped_container_prints_the_header() {
    let c = stopped();
    let o = c.rt(&["ps", &c.id]);
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 1, "only the header: {o}");
    assert!(lines[0].split_whitespace().any(|h| h == "PID"), "{o}");
    // As JSON: Go's empty (nil) list.
    let o = c.rt(&["ps", "--format", "json", &c.id]);
    assert_eq!(o.ok().stdout.trim(), "null", "{o}");
}

#[test]
fn events_stats_keys_are_in_runc_order() {
    let mut c = Container::new({
        let mut b = Bundle::new();
        b.long_running();
        b
    });
    c.create_and_start();
    let o = c.rt(&["events", "--stats", &c.id]);
    let line = o.ok().stdout.trim().to_string();
    let head = format!(r#"{{"type":"stats","id":"{}","data":{{"#, c.id);
    assert!(line.starts_with(&head), "want {head}...: {o}");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert!(
        v["data"]["pids"]["current"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
}

#[test]
fn events_report_an_oom_kill_in_runc_shape() {
    let mut b = Bundle::new();
    // tail keeps a newline-free stream in memory: the OOM killer takes it, init lives on.
    b.sh(
        "trap 'exit 143' TERM; sleep 1; head -c 300m /dev/zero | tail; \
          sleep 100000 & wait",
    );
    b.config["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
    let mut c = Container::new(b);
    c.create().ok();
    if cgroup_file(&c, "memory", "memory.oom_control", "memory.events").is_none() {
        skip("no memory cgroup controller");
        return;
    }
    let (mut events, out, err, what) = c.rt_spawn(&["events", "--interval", "100ms", &c.id]);
    c.start().ok();
    let want = format!(r#"{{"type":"oom","id":"{}"}}"#, c.id);
    let start = Instant::now();
    let seen = loop {
        let text = fs::read_to_string(&out).unwrap_or_default();
        if text.lines().any(|l| l == want) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = events.kill();
    let _ = events.wait();
    assert!(
        seen,
        "{what}: no {want} line:\n{}\n{}",
        fs::read_to_string(&out).unwrap_or_default(),
        fs::read_to_string(&err).unwrap_or_default()
    );
    assert_eq!(c.status(), "running", "only the hog was killed");
}

#[test]
fn update_takes_runc_negative_values_and_spellings() {
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    b.config["linux"]["resources"]["pids"] = json!({"limit": 50});
    b.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000});
    let mut c = Container::new(b);
    c.create_and_start();
    let Some(mem) = cgroup_file(&c, "memory", "memory.limit_in_bytes", "memory.max") else {
        skip("no memory cgroup controller");
        return;
    };
    let v1 = mem.ends_with("memory.limit_in_bytes");
    let pids = cgroup_file(&c, "pids", "pids.max", "pids.max").expect("pids controller");
    let quota = cgroup_file(&c, "cpu", "cpu.cfs_quota_us", "cpu.max").expect("cpu controller");
    let shares = cgroup_file(&c, "cpu", "cpu.shares", "cpu.weight").expect("cpu controller");
    assert_eq!(read_trim(&pids), "50");

    c.rt(&["update", "--memory", "64m", "--memory-swap", "-1", &c.id])
        .ok();
    assert_eq!(read_trim(&mem), "67108864");
    let swap = mem.with_file_name(if v1 {
        "memory.memsw.limit_in_bytes"
    } else {
        "memory.swap.max"
    });
    if swap.exists() {
        let unlimited = if v1 { "9223372036854771712" } else { "max" };
        assert_eq!(read_trim(&swap), unlimited);
    }
    c.rt(&["update", "--memory-reservation", "-1", &c.id]).ok();
    c.rt(&["update", "--pids-limit", "-1", &c.id]).ok();
    assert_eq!(read_trim(&pids), "max");
    c.rt(&["update", "--cpu-quota", "-1", &c.id]).ok();
    let q = read_trim(&quota);
    assert!(q == "-1" || q.starts_with("max "), "quota: {q}");
    c.rt(&["update", "--cpu-share", "256", &c.id]).ok();
    // v2: runc 1.3.2+'s conversion of shares to a weight (256 -> 35).
    let old_conversion = || {
        runc_differs(
            "runc 1.1.5 converts cpu shares to cpu.weight linearly (256 -> 10, 128 -> 5); runc 1.3.2+ and rt: 35 and 21",
        )
    };
    let runc_1_1 = !v1 && old_conversion();
    let want = |v1_value, v2_value, runc_1_1_value| match (v1, runc_1_1) {
        (true, _) => v1_value,
        (false, true) => runc_1_1_value,
        (false, false) => v2_value,
    };
    assert_eq!(read_trim(&shares), want("256", "35", "10"));
    // Kernel memory is accepted and ignored (with runc's warning).
    c.rt(&[
        "update",
        "--kernel-memory",
        "-1",
        "--kernel-memory-tcp",
        "-1",
        &c.id,
    ])
    .ok()
    .stderr_has("kernel memory");
    // Nothing runc refuses got through: a bad byte count and a negative period are errors.
    c.rt(&["update", "--memory", "lots", &c.id]).failed();
    c.rt(&["update", "--cpu-period", "-1", &c.id]).failed();
    if runc_differs("runc 1.1.5 spells it only --cpu-share") {
        return;
    }
    c.rt(&["update", "--cpu-shares", "128", &c.id]).ok();
    assert_eq!(read_trim(&shares), want("128", "21", "5"));
}

fn running() -> Container {
    let mut c = Container::new({
        let mut b = Bundle::new();
        b.long_running();
        b
    });
    c.create_and_start();
    c
}

#[test]
fn exec_failures_exit_255() {
    let c = running();
    let o = c.exec(&["--", "no-such-program"]);
    assert_eq!(o.code, Some(255), "{o}");
    o.stderr_has("exec failed");
    let o = c.rt(&["exec", "rt-test-no-such-container", "true"]);
    assert_eq!(o.code, Some(255), "{o}");
    o.stderr_has("does not exist");
    // The program's own status still comes through.
    assert_eq!(c.exec(&["--", "sh", "-c", "exit 3"]).code, Some(3));
}

#[test]
fn exec_env_replaces_a_variable_instead_of_adding_a_second() {
    let c = running();
    let o = c.exec(&["--env", "PATH=/bin", "--env", "NEW=1", "--", "env"]);
    let lines = o.ok().stdout_lines();
    let paths: Vec<&String> = lines.iter().filter(|l| l.starts_with("PATH=")).collect();
    assert_eq!(paths, ["PATH=/bin"], "{o}");
    assert!(lines.iter().any(|l| l == "NEW=1"), "{o}");
    // runc's rule: an entry without '=' is refused.
    let o = c.exec(&["--env", "NOEQUALS", "--", "true"]);
    assert_eq!(o.code, Some(255), "{o}");
    o.stderr_has("NOEQUALS");
}

#[test]
fn exec_process_file_without_user_runs_as_root() {
    let mut b = Bundle::new();
    b.long_running().user(1000, 1000, &[]);
    let mut c = Container::new(b);
    c.create_and_start();
    let p = c.scratch.path().join("process.json");
    fs::write(
        &p,
        serde_json::to_vec(&json!({"args": ["sh", "-c", "id -u; id -g"], "cwd": "/",
                                   "env": ["PATH=/bin"]}))
        .unwrap(),
    )
    .unwrap();
    let o = c.exec(&["--process", &p.to_string_lossy()]);
    assert_eq!(o.ok().stdout_lines(), ["0", "0"], "{o}");
}

/// `spec [--rootless]` of `bin` in a fresh directory (through `wrapper`, if any), as JSON.
fn spec_of(bin: &Path, rootless: bool, wrapper: &[String]) -> Value {
    let dir = TempDir::new("spec-cmp");
    let mut cmd = match wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("spec").current_dir(dir.path());
    if rootless {
        cmd.arg("--rootless");
    }
    let (child, out, err) = spawn_to_files(cmd, dir.path());
    wait_child(
        child,
        &out,
        &err,
        format!("{} spec", bin.display()),
        CMD_TIMEOUT,
    )
    .ok();
    serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap()
}

/// Every key of `a` and `b` compared; the paths that differ.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(va, vb, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

#[test]
fn spec_template_matches_runc_key_by_key() {
    if !Path::new(RUNC).exists() {
        skip("no reference runc at /usr/sbin/runc");
        return;
    }
    // On this host, and on a pure cgroup v2 view of it (runc adds a cgroup namespace there).
    for (wrapper, what) in [(vec![], "host"), (v2_wrapper(), "cgroup v2")] {
        for rootless in [false, true] {
            let ours = spec_of(&rt_bin(), rootless, &wrapper);
            let theirs = spec_of(Path::new(RUNC), rootless, &wrapper);
            let mut diff = Vec::new();
            differences(&ours, &theirs, "", &mut diff);
            // Each runtime names itself, and rt writes the spec version it implements
            // (`template_oci_version_is_accepted` runs it on runc).
            diff.retain(|d| !d.starts_with(".hostname:") && !d.starts_with(".ociVersion:"));
            assert!(diff.is_empty(), "{what}, rootless {rootless}: {diff:#?}");
        }
    }
}

#[test]
fn template_oci_version_is_accepted() {
    let ours = spec_of(Path::new(env!("CARGO_BIN_EXE_rt")), false, &[]);
    let mut b = Bundle::new();
    b.config["ociVersion"] = ours["ociVersion"].clone();
    b.args(&["true"]);
    Container::new(b).run().ok();
}

/// `rt ARGS` in `cwd`, failing the test if it takes more than 10 s (a FIFO used to hang).
fn quick(c: &Container, args: &[&str]) -> Output {
    let (child, out, err, what) = c.rt_spawn(args);
    wait_child(child, &out, &err, what, Duration::from_secs(10))
}

#[test]
fn config_json_must_be_a_regular_file() {
    let c = Container::new(Bundle::new());
    let b = c.bundle.path_str();
    let config = c.bundle.path().join("config.json");
    // /dev/zero through a symlink: refused at once, nothing left.
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    quick(&c, &["run", "--bundle", &b, &c.id]).failed();
    assert!(!c.state_dir_exists());
    fs::remove_file(&config).unwrap();
    fs::create_dir(&config).unwrap();
    quick(&c, &["create", "--bundle", &b, &c.id]).failed();
    fs::remove_dir(&config).unwrap();
    if runc_differs("runc blocks opening a FIFO config.json until a writer comes") {
        return;
    }
    nix::unistd::mkfifo(&config, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for verb in ["create", "run"] {
        quick(&c, &[verb, "--bundle", &b, &c.id])
            .failed()
            .stderr_has("not a regular file");
    }
    let o = quick(&c, &["check", &b]);
    assert!(
        o.failed().stdout.contains("a FIFO, not a regular file"),
        "{o}"
    );
    assert!(!c.state_dir_exists());
}

#[test]
fn a_50_mb_config_runs() {
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.annotation("rt.test/padding", &"x".repeat(50 << 20));
    let c = Container::new(b);
    c.run().ok();
}

#[test]
fn env_entries_must_be_name_equals_value() {
    for bad in ["NOEQUALS", "=value"] {
        let mut b = Bundle::new();
        b.args(&["true"]).env(bad);
        let c = Container::new(b);
        let o = c.run();
        o.failed();
        assert!(!c.state_dir_exists(), "{o}");
    }
    // An empty value is fine.
    let mut b = Bundle::new();
    b.sh("echo \"[$EMPTY]\"").env("EMPTY=");
    assert_eq!(Container::new(b).run().ok().stdout, "[]\n");
}

#[test]
fn check_lists_every_problem_past_type_and_enum_errors() {
    if runc_differs("runc has no check verb") {
        return;
    }
    let scratch = TempDir::new("check-all");
    let mut b = Bundle::new();
    b.capabilities(&["CAP_KILL", "CAP_NO_SUCH_THING"]);
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1},
        {"type": "RLIMIT_NOFILE", "soft": "many", "hard": 1},
        {"type": "RLIMIT_NPROC", "soft": 10, "hard": 5}
    ]);
    b.config["linux"]["namespaces"][0]["type"] = json!("bogus");
    b.config["hostname"] = json!(5);
    b.cwd("relative");
    b.write();
    let o = rt_raw(&["check", &b.path_str()], None, scratch.path());
    assert_eq!(o.code, Some(1), "{o}");
    for want in [
        "process.capabilities.bounding",
        "CAP_NO_SUCH_THING",
        "process.rlimits[0].type",
        "process.rlimits[1].soft",
        "process.rlimits[2]: soft limit",
        "linux.namespaces[0].type",
        "hostname",
        "process.cwd",
    ] {
        assert!(o.stdout.contains(want), "missing {want:?}: {o}");
    }
}

/// An unknown command exits 3 (runc's CLI library), naming the command, and makes nothing.
#[test]
fn unknown_command_exits_3() {
    let root = TempDir::new("argv-root");
    let scratch = TempDir::new("argv-scratch");
    let r = root.path().to_string_lossy().into_owned();
    let o = rt_raw(&["--root", &r, "bogusverb"], None, scratch.path());
    assert_eq!(o.code, Some(3), "{o}");
    assert!(o.stderr.contains("bogusverb"), "{o}");
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
}
