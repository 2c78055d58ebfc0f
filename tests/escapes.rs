//! Container escapes rt must not allow. Each test mounts the attack from inside a container (or
//! its bundle) and checks the effect from the host: binary unchanged, canary unchanged, host
//! mount table unchanged, the innocent process alive.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

fn host_mounts() -> String {
    mountinfo(std::process::id() as i32)
}

/// CVE-2019-5736. A created container's init is still rt's image (waiting for `start`), with the
/// container's own capabilities already. A second container sharing the host pid namespace and
/// holding the same capabilities tries to open that init's /proc/<pid>/exe for reading (the first
/// step of the attack) and writing, and its fd table. rt keeps init non-dumpable until execve, so
/// every attempt is refused and the binary is unchanged. (rt's own process is out of reach too:
/// a container lacks rt's full capability set, which ptrace_may_access requires.)
#[test]
fn cve_2019_5736_rt_binary_unreachable_through_proc_exe() {
    let tmp = TempDir::new("exe");
    // The victim runs from a copy, so even a successful attack cannot damage the build output.
    let rt = tmp.path().join("rt");
    fs::copy(rt_bin(), &rt).unwrap();
    let before = fs::read(&rt).unwrap();
    let mut victim = Bundle::new();
    victim.remove_namespace("pid").long_running();
    // Driven by the copy; the guard force-deletes it (with rt_bin) even if a check fails.
    let v = Container::new(victim);
    v.bundle.write();
    let rt_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&rt);
        cmd.arg("--root").arg(v.root.path()).args(args);
        let (child, out, err) = spawn_to_files(cmd, tmp.path());
        wait_child(child, &out, &err, format!("rt {args:?}"), CMD_TIMEOUT)
    };
    rt_cmd(&["create", "--bundle", &v.bundle.path_str(), &v.id]).ok();
    let state: serde_json::Value =
        serde_json::from_str(&rt_cmd(&["state", &v.id]).ok().stdout).unwrap();
    let vpid = state["pid"].as_i64().unwrap();
    assert!(vpid > 0);

    let mut b = Bundle::new();
    b.remove_namespace("pid");
    b.sh(&format!(
        "p={vpid}; grep -q {} /proc/$p/cmdline && echo VISIBLE; \
          (exec 3</proc/$p/exe) 2>/dev/null && echo OPENED-READ; \
          (echo pwned >/proc/$p/exe) 2>/dev/null && echo OPENED-WRITE; \
          readlink /proc/$p/exe && echo LINKED; \
          for f in /proc/$p/fd/*; do (exec 3<$f) 2>/dev/null && echo FD-OPENED; done; \
          echo done",
        rt.display()
    ));
    let c = Container::new(b);
    let o = c.run();
    rt_cmd(&["delete", "-f", &v.id]).ok();
    o.ok();
    assert!(o.stdout.contains("done"), "{o}");
    assert!(
        o.stdout.contains("VISIBLE"),
        "the victim init is not visible, the test proves nothing: {o}"
    );
    assert!(
        !o.stdout.contains("OPENED-WRITE"),
        "container reached rt: {o}"
    );
    assert_eq!(fs::read(&rt).unwrap(), before, "rt binary changed");
    if runc_differs(
        "runc 1.1.5 leaves its waiting `runc init` dumpable: a container sharing the host pid \
         namespace reads its /proc/<pid>/exe (a sealed memfd copy, so the binary stays unchanged) \
         and opens its fds",
    ) {
        return;
    }
    for bad in ["OPENED-READ", "LINKED", "FD-OPENED"] {
        assert!(!o.stdout.contains(bad), "container reached rt: {bad}: {o}");
    }
}

/// CVE-2024-21626: rt started with host directories open on fds 5 and 7. None reaches the
/// container, and a cwd of /proc/self/fd/7 (the host directory) is refused before the process
/// runs.
#[test]
fn cve_2024_21626_no_host_fd_or_cwd_leaks() {
    let host = TempDir::new("leak-host");
    let canary = host.path().join("canary");
    fs::write(&canary, "host").unwrap();
    let run_with_fds = |b: &Bundle| {
        b.write();
        let root = TempDir::new("leak-root");
        let scratch = TempDir::new("leak-scratch");
        let id = unique_name("leak");
        let script = format!(
            "exec 5<{} 7<{}; exec {} --root {} run --bundle {} {}",
            host.path().display(),
            host.path().display(),
            rt_bin().display(),
            root.path().display(),
            b.path().display(),
            id
        );
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", &script]);
        let (child, out, err) = spawn_to_files(cmd, scratch.path());
        let o = wait_child(child, &out, &err, script, CMD_TIMEOUT);
        let left: Vec<_> = fs::read_dir(root.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "state left behind: {left:?}");
        o
    };
    let mut b = Bundle::new();
    b.sh("ls /proc/self/fd; ls /proc/self/fd/5/ /proc/self/fd/7/ 2>&1; echo done");
    let o = run_with_fds(&b);
    o.ok();
    let fds: Vec<&str> = o.stdout.lines().take_while(|l| !l.contains('/')).collect();
    assert!(o.stdout.contains("done"), "{o}");
    assert!(!o.stdout.contains("canary"), "host dir listed: {o}");
    for fd in &fds {
        assert!(["0", "1", "2", "3"].contains(fd), "fd {fd} leaked: {o}");
    }

    let mut b = Bundle::new();
    b.cwd("/proc/self/fd/7").sh("echo pwned > pwned; echo ran");
    let o = run_with_fds(&b);
    o.failed()
        .stderr_has("/proc/self/fd/7")
        .rt_stderr_has("process.cwd");
    assert!(!o.stdout.contains("ran"), "{o}");
    assert!(
        !host.path().join("pwned").exists(),
        "container wrote into the host dir"
    );
    assert_eq!(fs::read_to_string(&canary).unwrap(), "host");
}

/// CVE-2021-30465 and kin: /proc, a bind destination, a masked path and a read-only path that
/// are symlinks to host paths (absolute) or to `/`. Everything resolves inside the rootfs: the
/// host directory and the host mount table do not change.
#[test]
fn symlinked_mount_targets_stay_inside_the_rootfs() {
    let host = TempDir::new("sym-host");
    let canary = host.path().join("canary");
    fs::write(&canary, "host").unwrap();
    let hostdir = host.path().to_string_lossy().into_owned();
    let src = TempDir::new("sym-src");
    let before = host_mounts();

    let mut b = Bundle::new();
    let r = b.rootfs();
    fs::remove_dir(r.join("proc")).unwrap();
    symlink(&hostdir, r.join("proc")).unwrap();
    symlink("/", r.join("mnt/toroot")).unwrap();
    symlink(canary.to_string_lossy().as_ref(), r.join("etc/masked")).unwrap();
    symlink(&hostdir, r.join("etc/ro")).unwrap();
    b.add_mount(json!({"destination": "/mnt/toroot", "type": "bind",
                       "source": src.path(), "options": ["rbind"]}));
    b.add_mount(
        json!({"destination": format!("{hostdir}/sub"), "type": "tmpfs",
                       "source": "tmpfs"}),
    );
    b.masked_paths(&["/etc/masked", &canary.to_string_lossy()]);
    b.readonly_paths(&["/etc/ro"]);
    b.sh(&format!(
        "echo x > {hostdir}/canary 2>/dev/null; touch /etc/ro/new 2>/dev/null; true"
    ));
    let c = Container::new(b);
    let o = c.run();
    // Whether rt runs it or refuses it, the host must be untouched.
    assert!(!o.stderr.contains("panicked"), "{o}");
    assert_eq!(fs::read_to_string(&canary).unwrap(), "host", "{o}");
    let names: Vec<_> = fs::read_dir(host.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "host dir changed: {names:?} {o}");
    // (Other suites may mount on this machine meanwhile: look only for our paths.)
    let now = host_mounts();
    for p in [
        hostdir.as_str(),
        &src.path().to_string_lossy(),
        &c.bundle.path_str(),
    ] {
        assert!(!now.contains(p), "a mount of {p} reached the host: {o}");
    }
    let _ = before;
}

/// /proc must be a real procfs on a real directory: a file, a symlink to a file, and a "proc"
/// that is a bind of an ordinary directory (a fake procfs that masks nothing) are refused.
#[test]
fn proc_and_sys_targets_must_be_real() {
    let before = host_mounts();
    // /proc a regular file
    let b = Bundle::new();
    fs::remove_dir(b.rootfs().join("proc")).unwrap();
    fs::write(b.rootfs().join("proc"), "").unwrap();
    let c = Container::new(b);
    c.run().failed().stderr_has("directory");
    assert!(!c.state_dir_exists());
    // /proc a symlink to a file inside the root
    let b = Bundle::new();
    fs::remove_dir(b.rootfs().join("proc")).unwrap();
    symlink("/etc/passwd", b.rootfs().join("proc")).unwrap();
    let c = Container::new(b);
    c.run().failed().stderr_has("directory");
    // /sys a symlink to a file
    let b = Bundle::new();
    fs::remove_dir(b.rootfs().join("sys")).unwrap();
    symlink("/etc/group", b.rootfs().join("sys")).unwrap();
    let c = Container::new(b);
    c.run().failed().stderr_has("directory");
    // fake procfs: a tmp dir bound as "proc"
    let fake = TempDir::new("fakeproc");
    fs::create_dir_all(fake.path().join("sys")).unwrap();
    let mut b = Bundle::new();
    b.remove_mount("/proc");
    b.add_mount(
        json!({"destination": "/proc", "type": "proc", "source": fake.path(),
                       "options": ["rbind"]}),
    );
    let c = Container::new(b);
    c.run()
        .failed()
        .stderr_has("proc")
        .rt_stderr_has("fake procfs");
    let mut b = Bundle::new();
    b.remove_mount("/proc");
    b.add_mount(
        json!({"destination": "/proc", "type": "bind", "source": fake.path(),
                       "options": ["rbind"]}),
    );
    let c = Container::new(b);
    c.run()
        .failed()
        .stderr_has("proc")
        .rt_stderr_has("fake procfs");
    assert!(c.cgroup_dirs().is_empty());
    let now = host_mounts();
    assert!(
        !now.contains(&*fake.path().to_string_lossy()),
        "fake proc mounted on the host"
    );
    assert!(
        !now.contains("rt-test-bundle"),
        "a bundle mount reached the host"
    );
    let _ = (before, Path::new("/"));
}

/// A stopped container whose pid was reused: simulated by pointing state.json at a live `sleep`
/// of ours (other start time). `kill` and `delete -f` must not signal it.
#[test]
fn pid_reuse_is_never_signalled() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create().ok();
    let mut cmd = Command::new("/bin/sleep");
    cmd.arg("1000");
    let sleep = HostProcess::spawn(cmd);
    let spid = sleep.pid();
    // Each runtime's own state file: runc keeps the init pid (and its start time, which no
    // longer matches) as `init_process_pid`.
    let state = c.root.path().join(&c.id).join("state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    let key = if is_runc() { "init_process_pid" } else { "pid" };
    assert!(v[key].is_number(), "no {key} in {v}");
    v[key] = json!(spid);
    fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(c.status(), "stopped");
    c.kill(Some("KILL")).failed().stderr_has("not running");
    c.rt(&["kill", &c.id, "TERM"]).failed();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(pid_alive(spid), "rt signalled a reused pid");
    c.delete(true).ok();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(pid_alive(spid), "delete -f signalled a reused pid");
    assert!(!c.state_dir_exists());
    if runc_differs(
        "runc 1.1.5 `delete -f` of a container with its own pid namespace that it judges stopped \
         kills nothing and leaves the cgroup while a process is left in it (here the real init); \
         runtime.md delete: the resources made at create MUST be deleted",
    ) {
        return;
    }
    assert!(c.cgroup_dirs().is_empty());
}

/// CVE-2024-21626 through `exec` (where runc's attack came in): rt exec holding a host
/// directory on fd 7 with `--cwd /proc/self/fd/7` must refuse, and nothing is written there.
#[test]
fn cve_2024_21626_exec_cwd_through_leaked_fd_is_refused() {
    let host = TempDir::new("leak-exec-host");
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create_and_start();
    let scratch = TempDir::new("leak-exec-scratch");
    let script = format!(
        "exec 7<{}; exec {} --root {} exec --cwd /proc/self/fd/7 {} sh -c 'echo pwned > pwned; echo ran'",
        host.path().display(),
        rt_bin().display(),
        c.root.path().display(),
        c.id
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &script]);
    let (child, out, err) = spawn_to_files(cmd, scratch.path());
    let o = wait_child(child, &out, &err, script, CMD_TIMEOUT);
    o.failed()
        .stderr_has("/proc/self/fd/7")
        .rt_stderr_has("process.cwd");
    assert!(!o.stdout.contains("ran"), "{o}");
    assert!(
        !host.path().join("pwned").exists(),
        "exec wrote into the host dir"
    );
}

/// CVE-2019-5736 with CAP_SYS_PTRACE: non-dumpability does not stop a container that holds
/// CAP_SYS_PTRACE in the host user namespace, so this one (in the host pid namespace) finds
/// every rt process by its argv[0], the copied binary's path: the init of a created container (still rt's
/// image, waiting for `start`), a foreground `rt run` and a foreground `rt exec`. For each it
/// opens /proc/<pid>/exe for writing, then does the original exploit: hold a read fd, SIGKILL the
/// process (so the text is no longer busy) and write through the fd. rt runs create/run/exec from
/// a read-only overlayfs view of its binary, so every write fails with EROFS and the binary is
/// byte-for-byte unchanged.
#[test]
fn cve_2019_5736_ptrace_capable_container_cannot_write_rt_binary() {
    let tmp = TempDir::new("exe-ptrace");
    // A copy with its own path, the argv[0] the attacker looks for: nothing else is harmed.
    let rt = tmp.path().join("rt-5736-victim");
    fs::copy(rt_bin(), &rt).unwrap();
    let before = fs::read(&rt).unwrap();
    // Two containers driven by the copy; their guards force-delete them even if a check fails.
    let mut created = Bundle::new();
    created.long_running();
    let created = Container::new(created);
    let mut running = Bundle::new();
    running.long_running();
    let running = created.sibling(running);
    let rt_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&rt);
        cmd.arg("--root").arg(created.root.path()).args(args);
        cmd
    };
    let wait = |cmd: Command, what: &str| {
        let (child, out, err) = spawn_to_files(cmd, tmp.path());
        wait_child(child, &out, &err, what.to_string(), CMD_TIMEOUT)
    };

    created.bundle.write();
    let cid = &created.id;
    wait(
        rt_cmd(&["create", "--bundle", &created.bundle.path_str(), cid]),
        "create",
    )
    .ok();

    running.bundle.write();
    let rid = &running.id;
    let (run_child, run_out, run_err) = spawn_to_files(
        rt_cmd(&["run", "--bundle", &running.bundle.path_str(), rid]),
        tmp.path(),
    );
    let start = std::time::Instant::now();
    loop {
        let o = wait(rt_cmd(&["state", rid]), "state");
        if o.success() && o.stdout.contains("\"running\"") {
            break;
        }
        assert!(
            start.elapsed() < CMD_TIMEOUT,
            "rt run never got running: {o}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A sleep length no other test uses, to find the exec'd process among the host's.
    let (exec_child, exec_out, exec_err) =
        spawn_to_files(rt_cmd(&["exec", rid, "sleep", "100001"]), tmp.path());
    // The exec'd child leaves rt's image at its execve; wait for the sleeper so the foreground
    // `rt exec` is surely in place before the attack.
    let start = std::time::Instant::now();
    while !fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x00100001\x00"))
    {
        assert!(start.elapsed() < CMD_TIMEOUT, "rt exec never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let mut b = Bundle::new();
    b.remove_namespace("pid");
    b.capabilities(&["CAP_SYS_PTRACE", "CAP_KILL", "CAP_DAC_OVERRIDE"]);
    let path = rt.display();
    // Found by argv[0], the copy's path: the comm of runc's init is `runc:[2:INIT]`.
    b.sh(&format!(
        "for d in /proc/[0-9]*; do \
           [ \"$(tr '\\000' '\\n' <$d/cmdline 2>/dev/null | head -n1)\" = {path} ] || continue; \
           p=${{d#/proc/}}; \
           echo FOUND $p; \
           (echo pwned >>$d/exe) 2>/dev/null && echo OPENED-WRITE $p; \
           if (exec 3<$d/exe) 2>/dev/null; then \
             exec 3<$d/exe; echo OPENED-READ $p; kill -9 $p; sleep 1; \
             (echo pwned >>/proc/self/fd/3) 2>/dev/null && echo WROTE-AFTER-EXIT $p; \
             exec 3<&-; \
           fi; \
         done; echo done"
    ));
    let o = Container::new(b).run();
    for id in [cid, rid] {
        let _ = wait(rt_cmd(&["delete", "-f", id]), "delete");
    }
    let _ = wait_child(run_child, &run_out, &run_err, "run".into(), CMD_TIMEOUT);
    let _ = wait_child(exec_child, &exec_out, &exec_err, "exec".into(), CMD_TIMEOUT);
    o.ok();
    assert!(o.stdout.contains("done"), "{o}");
    let found = o.stdout.matches("FOUND").count();
    assert!(
        found >= 3,
        "the attacker saw {found} rt processes, not init + run + exec: the test proves nothing: {o}"
    );
    assert!(
        o.stdout.contains("OPENED-READ"),
        "CAP_SYS_PTRACE did not even open /proc/<pid>/exe, the test proves nothing: {o}"
    );
    if runc_differs(
        "runc 1.1.5 guards only `runc init` (a sealed memfd copy of itself); a foreground \
         `runc run`/`runc exec` runs from its binary, which a container holding CAP_SYS_PTRACE in \
         the host pid namespace rewrites once it killed that process (runc counts such a \
         container as privileged)",
    ) {
        return;
    }
    for bad in ["OPENED-WRITE", "WROTE-AFTER-EXIT"] {
        assert!(!o.stdout.contains(bad), "container wrote rt: {bad}: {o}");
    }
    assert_eq!(fs::read(&rt).unwrap(), before, "rt binary changed");
}
