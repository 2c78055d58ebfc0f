//! `exec`: the new process joins the container's namespaces and cgroup and gets the configured
//! (or overridden) user, cwd, env and capabilities; exit statuses; --process FILE; -d with
//! --pid-file; --preserve-fds; exec into paused and stopped containers.

mod common;

use common::*;
use std::fs;

const NS: [&str; 6] = ["mnt", "uts", "ipc", "pid", "net", "cgroup"];

/// A running `sleep` container with a cgroup namespace too.
fn running() -> (Container, i32) {
    let mut b = Bundle::new();
    b.long_running().namespace("cgroup", None);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    (c, pid)
}

fn read_pid_file(p: &std::path::Path) -> i32 {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read pid file {}: {e}", p.display()))
        .trim()
        .parse()
        .expect("pid file holds a number")
}

#[test]
fn exec_joins_every_namespace_of_init() {
    let (c, init) = running();
    let script: String = NS
        .iter()
        .map(|n| format!("readlink /proc/self/ns/{n};"))
        .collect();
    let o = c.exec(&["--", "sh", "-c", &script]);
    o.ok();
    let want: Vec<String> = NS.iter().map(|n| ns_link(init, n)).collect();
    assert_eq!(o.stdout_lines(), want, "{o}");
    // And not the host's: the container has its own net and pid namespaces.
    assert_ne!(ns_link(init, "net"), self_ns("net"));
}

#[test]
fn detached_exec_writes_pid_file_and_lives_in_the_container() {
    let (c, init) = running();
    let pid_file = c.scratch.path().join("exec.pid");
    let pf = pid_file.to_string_lossy().into_owned();
    c.exec(&["-d", "--pid-file", &pf, "--", "sleep", "100000"])
        .ok();
    let pid = read_pid_file(&pid_file);
    assert!(pid_alive(pid), "exec'd pid {pid} is not running");
    for n in NS {
        assert_eq!(ns_link(pid, n), ns_link(init, n), "{n} namespace differs");
    }
    // A pid in the container's pid namespace (NSpid: host pid, then the container's).
    let nspid = status_field(&proc_status(pid), "NSpid").unwrap();
    let f: Vec<&str> = nspid.split_whitespace().collect();
    assert_eq!(f.len(), 2, "NSpid: {nspid}");
    assert_ne!(f[1], "1");
    // Same cgroup in every hierarchy, seen from the host.
    let cg = |p: i32| fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(cg(pid), cg(init));
    assert!(
        c.cgroup_pids().contains(&pid),
        "{pid} not in the container's cgroup"
    );
    // Its parent is alive (no zombie intermediate left holding it).
    let ppid: i32 = status_field(&proc_status(pid), "PPid")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ppid == 0 || ppid == 1 || pid_alive(ppid),
        "parent {ppid} is dead"
    );
    // Seen from inside, it is one of the container's processes.
    let o = c.exec(&["--", "sh", "-c", &format!("cat /proc/{}/comm", f[1])]);
    assert_eq!(o.ok().stdout.trim(), "sleep");
}

#[test]
fn exec_cgroup_equals_init_from_inside() {
    let (c, _) = running();
    let o = c.exec(&[
        "--",
        "sh",
        "-c",
        "cat /proc/1/cgroup; echo ---; cat /proc/self/cgroup",
    ]);
    o.ok();
    let (a, b) = o.stdout.split_once("---\n").unwrap();
    assert_eq!(a, b, "{o}");
}

#[test]
fn user_cwd_env_and_groups_flags() {
    let (c, _) = running();
    let o = c.exec(&[
        "-u",
        "1000:1000",
        "-g",
        "10",
        "--cwd",
        "/tmp",
        "-e",
        "FOO=bar",
        "-e",
        "BAZ=-x",
        "--",
        "sh",
        "-c",
        "id -u; id -g; grep ^Groups: /proc/self/status; pwd; echo $FOO $BAZ; echo $PATH",
    ]);
    o.ok();
    let l = o.stdout_lines();
    assert_eq!(l[0], "1000", "{o}");
    assert_eq!(l[1], "1000", "{o}");
    assert_eq!(
        l[2].split_whitespace().collect::<Vec<_>>(),
        ["Groups:", "10"]
    );
    assert_eq!(l[3], "/tmp");
    assert_eq!(l[4], "bar -x");
    // The config's env is kept under the added variables.
    assert!(l[5].contains("/bin"), "{o}");
}

#[test]
fn defaults_come_from_the_container_config() {
    let mut b = Bundle::new();
    b.long_running()
        .user(1234, 4321, &[])
        .cwd("/etc")
        .env("FROM_CONFIG=yes");
    let mut c = Container::new(b);
    c.create_and_start();
    let o = c.exec(&["--", "sh", "-c", "id -u; id -g; pwd; echo $FROM_CONFIG"]);
    assert_eq!(o.ok().stdout_lines(), ["1234", "4321", "/etc", "yes"]);
}

fn cap_line(status: &str, key: &str) -> u64 {
    u64::from_str_radix(&status_field(status, key).unwrap(), 16).unwrap()
}

#[test]
fn capabilities_match_init_and_cap_adds() {
    let (c, init) = running();
    let o = c.exec(&["--", "cat", "/proc/self/status"]);
    o.ok();
    let host = proc_status(init);
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(cap_line(&o.stdout, k), cap_line(&host, k), "{k}");
    }
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(cap_line(&o.stdout, "CapEff") & CAP_SYS_ADMIN, 0);
    let o = c.exec(&["--cap", "CAP_SYS_ADMIN", "--", "cat", "/proc/self/status"]);
    o.ok();
    for k in ["CapPrm", "CapEff", "CapBnd"] {
        let v = cap_line(&o.stdout, k);
        assert_ne!(v & CAP_SYS_ADMIN, 0, "{k} lacks CAP_SYS_ADMIN: {v:x}");
        assert_eq!(v & !CAP_SYS_ADMIN, cap_line(&host, k), "{k}");
    }
    // Never inheritable or ambient (CVE-2022-29162; tests/host_safety.rs).
    for k in ["CapInh", "CapAmb"] {
        assert_eq!(cap_line(&o.stdout, k), cap_line(&host, k), "{k}: {o}");
    }
}

/// A process file without `capabilities` gets the container's (runc's init falls back to the
/// config's set), and a container without any gets none, in exec as in init.
#[test]
fn process_file_without_capabilities_gets_the_containers() {
    let (c, init) = running();
    let p = c.scratch.path().join("process.json");
    let process = serde_json::json!({
        "user": {"uid": 0, "gid": 0},
        "args": ["cat", "/proc/self/status"],
        "env": ["PATH=/bin"],
        "cwd": "/"
    });
    fs::write(&p, serde_json::to_vec(&process).unwrap()).unwrap();
    let ps = p.to_string_lossy().into_owned();
    let o = c.exec(&["--process", &ps]);
    o.ok();
    let host = proc_status(init);
    for k in ["CapPrm", "CapEff", "CapBnd"] {
        assert_ne!(cap_line(&host, k), 0, "{k}");
        assert_eq!(cap_line(&o.stdout, k), cap_line(&host, k), "{k}: {o}");
    }

    let mut b = Bundle::new();
    b.long_running();
    b.config["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let mut bare = Container::new(b);
    bare.create_and_start();
    for o in [
        bare.exec(&["--", "cat", "/proc/self/status"]),
        bare.exec(&["--process", &ps]),
    ] {
        o.ok();
        for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(cap_line(&o.stdout, k), 0, "{k}: {o}");
        }
    }
}

#[test]
fn exit_status_and_signal() {
    let (c, _) = running();
    let o = c.exec(&["--", "sh", "-c", "exit 7"]);
    assert_eq!(o.code, Some(7), "{o}");
    let o = c.exec(&["--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(o.code, Some(137), "{o}");
    let o = c.exec(&["--", "no-such-program"]);
    o.failed().stderr_has("executable file not found");
}

#[test]
fn process_file() {
    let (c, _) = running();
    let p = c.scratch.path().join("process.json");
    fs::write(
        &p,
        serde_json::to_vec(&serde_json::json!({
            "terminal": false,
            "user": {"uid": 7, "gid": 8},
            "args": ["sh", "-c", "id -u; id -g; pwd; echo $X"],
            "env": ["PATH=/bin", "X=from-file"],
            "cwd": "/tmp"
        }))
        .unwrap(),
    )
    .unwrap();
    let ps = p.to_string_lossy().into_owned();
    let o = c.exec(&["--process", &ps]);
    assert_eq!(o.ok().stdout_lines(), ["7", "8", "/tmp", "from-file"]);
    // A bad file is refused with its field named.
    fs::write(&p, br#"{"args": ["true"], "cwd": 5}"#).unwrap();
    c.exec(&["--process", &ps]).failed().stderr_has("cwd");
    fs::write(
        &p,
        br#"{"user": {"uid": 0, "gid": 0}, "args": ["true"], "cwd": "relative"}"#,
    )
    .unwrap();
    c.exec(&["--process", &ps])
        .failed()
        .stderr_has("Cwd must be an absolute path");
}

#[test]
fn bad_arguments_are_refused() {
    let (c, _) = running();
    c.exec(&[])
        .failed()
        .stderr_has("process args cannot be empty");
    c.exec(&["-u", "bob", "--", "true"])
        .failed()
        .stderr_has("uid");
    c.exec(&["-d", "-t", "--", "true"])
        .failed()
        .stderr_has("cannot allocate tty if")
        .stderr_has("will detach without setting console socket");
    c.exec(&["--console-socket", "/nonexistent.sock", "--", "true"])
        .failed()
        .stderr_has("cannot use console socket if")
        .stderr_has("will not detach or allocate tty");
    c.exec(&["--preserve-fds", "40", "--", "true"])
        .failed()
        .stderr_has("unable to stat preserved-fd");
    let o = c.rt(&["exec", "rt-test-no-such-ctr", "true"]);
    o.failed().stderr_has("container does not exist");
    let o = c.exec(&["--cap", "CAP_BOGUS", "--", "true"]);
    o.ok().stderr_has("CAP_BOGUS");
}

#[test]
fn ignore_paused_exec_joins_the_frozen_container_and_runs_after_resume() {
    let (c, init) = running();
    c.rt(&["pause", &c.id]).ok();
    let pid_file = c.scratch.path().join("exec.pid");
    let pid_arg = pid_file.to_string_lossy().into_owned();
    // The new process joins the frozen cgroup, so it freezes too until `resume`.
    let (child, out, err) = spawn_to_files(
        c.command(&[
            "exec",
            "-d",
            "--ignore-paused",
            "--pid-file",
            &pid_arg,
            &c.id,
            "sleep",
            "1001",
        ]),
        c.scratch.path(),
    );
    c.rt(&["resume", &c.id]).ok();
    wait_child(
        child,
        &out,
        &err,
        "exec --ignore-paused".into(),
        std::time::Duration::from_secs(20),
    )
    .ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(pid, init);
    assert!(
        c.cgroup_pids().contains(&pid),
        "{pid} not in the container's cgroup"
    );
    // runc's exec -d returns before its child has called execve: wait for the program.
    let cmdline = || fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    wait_until("the exec'd process never became `sleep 1001`", || {
        cmdline() == "sleep\u{0}1001\u{0}"
    });
}

#[test]
fn exec_into_paused_and_stopped_containers_fails() {
    let (c, init) = running();
    c.rt(&["pause", &c.id]).ok();
    c.exec(&["--", "true"])
        .failed()
        .stderr_has("cannot exec in a paused container (use --ignore-paused to override)");
    c.rt(&["resume", &c.id]).ok();
    c.exec(&["--", "true"]).ok();
    c.kill(Some("KILL")).ok();
    wait_pid_gone(init);
    c.exec(&["--", "true"])
        .failed()
        .stderr_has("cannot exec in a stopped container");
}

#[test]
fn preserve_fds_passes_exactly_those() {
    let (c, _) = running();
    let f = c.scratch.path().join("fd-data");
    fs::write(&f, "through fd 3\n").unwrap();
    let redirs = format!("3<'{}' 4<'{}'", f.display(), f.display());
    // fd 3 is passed, fd 4 is not; `ls` itself opens one more (the directory).
    let o = c.rt_via_shell(
        &redirs,
        "",
        &[
            "exec",
            "--preserve-fds",
            "1",
            &c.id,
            "sh",
            "-c",
            "cat <&3; ls /proc/self/fd | wc -l",
        ],
    );
    assert_eq!(o.ok().stdout_lines(), ["through fd 3", "5"], "{o}");
    let o = c.rt_via_shell(
        &redirs,
        "",
        &["exec", &c.id, "sh", "-c", "ls /proc/self/fd | wc -l"],
    );
    assert_eq!(o.ok().stdout_lines(), ["4"], "{o}");
}

#[test]
fn sub_cgroup_flag() {
    let (c, _) = running();
    let dirs = c.cgroup_dirs();
    let pids_dir = dirs
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
        .expect("pids cgroup of the container")
        .clone();
    let sub = pids_dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let o = c.exec(&["--cgroup", "pids:sub", "--", "cat", "/proc/self/cgroup"]);
    o.ok();
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains(":pids:"))
        .unwrap_or_default()
        .to_string();
    assert!(line.ends_with("/sub"), "{o}");
    c.exec(&["--cgroup", "pids:missing", "--", "true"])
        .failed()
        .stderr_has("missing")
        .rt_stderr_has("does not exist");
    let _ = fs::remove_dir(&sub);
}

#[test]
fn socket_activation_fds_reach_run() {
    let mut b = Bundle::new();
    b.sh("echo $LISTEN_FDS $LISTEN_PID; cat <&3; ls /proc/self/fd | wc -l");
    let c = Container::new(b);
    c.bundle.write();
    let f = c.scratch.path().join("sock-data");
    fs::write(&f, "activated\n").unwrap();
    let redirs = format!("3<'{}' 4<'{}'", f.display(), f.display());
    let bundle = c.bundle.path_str();
    let o = c.rt_via_shell(
        &redirs,
        "LISTEN_FDS=1 LISTEN_PID=$$",
        &["run", "--bundle", &bundle, &c.id],
    );
    // fds 0-2, the activated 3, and ls's own directory fd: fd 4 stays behind.
    assert_eq!(o.ok().stdout_lines(), ["1 1", "activated", "5"], "{o}");
}

#[test]
fn exec_joins_a_user_namespace_first() {
    let mut b = Bundle::new();
    b.long_running().user_namespace(100000, 65536);
    let mut c = Container::new(b);
    let init = c.create_and_start();
    let o = c.exec(&[
        "--",
        "sh",
        "-c",
        "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map",
    ]);
    o.ok();
    let l = o.stdout_lines();
    assert_eq!(l[0], ns_link(init, "user"), "{o}");
    assert_ne!(l[0], self_ns("user"));
    assert_eq!(l[1], "0", "{o}");
    assert_eq!(
        l[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
}
