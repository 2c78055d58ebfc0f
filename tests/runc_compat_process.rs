//! Behaviours of the init process, hooks and cgroup placement where rt once differed from
//! runc 1.1.5, each checked as a user would see it. Every test passes on rt and on runc
//! (`RT_BIN=/usr/sbin/runc cargo test --test runc_compat_process`).

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

// ---- process.cwd ---------------------------------------------------------------------------

/// runc creates a missing cwd (mode 0755, after pivot_root and before the root is made
/// read-only), so a read-only root does not stop it.
#[test]
fn missing_cwd_is_created_even_on_a_read_only_root() {
    let mut b = Bundle::new();
    b.readonly_root(true)
        .cwd("/made/by/runtime")
        .sh("pwd; touch here 2>/dev/null || echo read-only");
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    assert_eq!(o.stdout_lines(), ["/made/by/runtime", "read-only"], "{o}");
    let made = fs::metadata(c.bundle.rootfs().join("made/by/runtime")).unwrap();
    assert!(made.is_dir());
    assert_eq!(made.uid(), 0);
    assert_eq!(
        made.mode() & 0o022,
        0,
        "group/other writable: {:o}",
        made.mode()
    );
}

/// A cwd below a directory only root may search: runc enters it while still root, before the
/// switch to process.user.
#[test]
fn cwd_only_root_can_reach_is_entered_before_the_user_switch() {
    let mut b = Bundle::new();
    fs::create_dir_all(b.rootfs().join("secret/inner")).unwrap();
    chmod(&b.rootfs().join("secret"), 0o700);
    b.user(1000, 1000, &[])
        .cwd("/secret/inner")
        .sh("pwd; id -u");
    let o = Container::new(b).run();
    o.ok();
    assert_eq!(o.stdout_lines(), ["/secret/inner", "1000"], "{o}");
}

/// A cwd only process.user may enter (in a user namespace, a directory whose owner is not
/// mapped, so root there has no override, and whose group is the user's): runc's first chdir
/// fails with EACCES and it tries again after the user switch.
#[test]
fn cwd_only_the_user_can_reach_is_entered_after_the_user_switch() {
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536)
        .remove_mount("/sys/fs/cgroup")
        .user(1000, 1000, &[])
        .cwd("/grp")
        .sh("pwd; id -u");
    let grp = b.rootfs().join("grp");
    fs::create_dir(&grp).unwrap();
    chown(&grp, Some(0), Some(101000)).unwrap();
    chmod(&grp, 0o070);
    let o = Container::new(b).run();
    o.ok();
    assert_eq!(o.stdout_lines(), ["/grp", "1000"], "{o}");
}

// ---- stdio and terminal ownership -----------------------------------------------------------

/// runc gives the container's stdio to process.user (fixStdioPermissions): a pty it made
/// (terminal: true) belongs to that uid. Driven through `script`, which gives the runtime the
/// terminal a foreground `run` with terminal: true needs.
#[test]
fn pty_of_a_non_root_process_belongs_to_its_uid() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.user(1000, 1000, &[])
        .sh("stat -c 'owner=%u group=%g' $(tty)");
    let c = Container::new(b);
    c.bundle.write();
    let line = format!(
        "'{}' --root '{}' run --bundle '{}' '{}'",
        rt_bin().display(),
        c.root_str(),
        c.bundle.path_str(),
        c.id
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    let (child, out, err) = spawn_to_files(cmd, c.scratch.path());
    let o = wait_child(child, &out, &err, line, CMD_TIMEOUT);
    o.ok();
    // The group stays the devpts one (gid=5 in the mount options).
    assert!(o.stdout.contains("owner=1000 group=5"), "{o}");
}

/// The same for stdio that is not a terminal (here: files): process.user can reopen its own
/// stdout through /proc/self/fd, as images that log to /dev/stdout do. /dev/null is left alone.
#[test]
fn stdio_is_handed_to_the_process_user_but_dev_null_is_not() {
    let mut b = Bundle::new();
    b.user(1000, 1000, &[])
        .sh("stat -L -c 'owner=%u' /proc/self/fd/1; echo appended >> /proc/self/fd/1");
    let o = Container::new(b).run();
    o.ok();
    assert_eq!(o.stdout_lines(), ["owner=1000", "appended"], "{o}");
    // stdin was /dev/null.
    assert_eq!(fs::metadata("/dev/null").unwrap().uid(), 0);
}

/// runc reopens stdio that is the host's /dev/null on the container's own /dev/null
/// (reOpenDevNull): podman's conmon gives a detached container the host's as stdin, and CRIU
/// cannot checkpoint a file on a mount outside the container. (A foreground `runc run` gives
/// init pipes, hence `create` here.)
#[test]
fn stdin_that_is_the_host_dev_null_becomes_the_containers() {
    let mut b = Bundle::new();
    b.sh("{ grep mnt_id /proc/self/fdinfo/0 | tr -dc 0-9; echo; \
          awk '$5 == \"/dev\" { print $1 }' /proc/self/mountinfo; } >/out.tmp; mv /out.tmp /out");
    let c = Container::new(b);
    c.bundle.write();
    let bundle = c.bundle.path_str();
    let (child, out, err) = spawn_with_stdin(
        c.command(&["create", "--bundle", &bundle, &c.id]),
        std::process::Stdio::null(),
        c.scratch.path(),
    );
    wait_child(child, &out, &err, "create".into(), Duration::from_secs(60)).ok();
    c.start().ok();
    let result = c.bundle.rootfs().join("out");
    wait_until("the container's output", || result.exists());
    let got = read_trim(&result);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 2, "{got}");
    assert_eq!(
        lines[0], lines[1],
        "stdin's mount is not the container's /dev"
    );
}

// ---- hooks ---------------------------------------------------------------------------------

/// createContainer runs in the container's mount namespace with the rootfs as its working
/// directory; startContainer inside the container, in process.cwd. Hooks without `env` get the
/// runtime's environment: rt's (and runc's) own for prestart, the container process's for the
/// two that run in init (runc's init environment is process.env).
#[test]
fn hooks_run_in_runc_s_directories_with_the_runtime_s_environment() {
    let out = TempDir::new("hookout");
    let d = out.path().display();
    let mut b = Bundle::new();
    b.cwd("/tmp")
        .env("RT_COMPAT_PROCESS=from-process")
        .args(&["true"])
        .hook(
            "prestart",
            "/bin/sh",
            &[
                "sh",
                "-c",
                &format!("env > {d}/prestart-env; cat >/dev/null"),
            ],
        )
        .hook(
            "createContainer",
            "/bin/sh",
            &[
                "sh",
                "-c",
                &format!("pwd -P > {d}/create-cwd; env > {d}/create-env; cat >/dev/null"),
            ],
        )
        .hook(
            "startContainer",
            "/bin/sh",
            &[
                "sh",
                "-c",
                "pwd > /start-cwd; env > /start-env; cat >/dev/null",
            ],
        );
    let c = Container::new(b);
    c.bundle.write();
    let bundle = c.bundle.path_str();
    c.rt_via_shell(
        "",
        "RT_COMPAT_RUNTIME=from-runtime",
        &["run", "--bundle", &bundle, &c.id],
    )
    .ok();
    let read = |p: PathBuf| fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    let rootfs = fs::canonicalize(c.bundle.rootfs()).unwrap();
    assert_eq!(
        read(out.path().join("create-cwd")).trim(),
        rootfs.to_str().unwrap()
    );
    assert_eq!(read(c.bundle.rootfs().join("start-cwd")).trim(), "/tmp");
    let prestart = read(out.path().join("prestart-env"));
    assert!(
        prestart.contains("RT_COMPAT_RUNTIME=from-runtime"),
        "{prestart}"
    );
    for (hook, env) in [
        ("createContainer", read(out.path().join("create-env"))),
        ("startContainer", read(c.bundle.rootfs().join("start-env"))),
    ] {
        assert!(
            env.contains("RT_COMPAT_PROCESS=from-process"),
            "{hook}: {env}"
        );
        assert!(!env.contains("RT_COMPAT_RUNTIME"), "{hook}: {env}");
    }
}

const BIG_OUTPUT: &str = "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2";

/// Hooks that write more than a pipe holds to stdout and stderr, in rt (createRuntime), in
/// init before pivot_root (createContainer) and in the container (startContainer), and a
/// state on stdin larger than a pipe holds (an annotation) that a hook never reads.
#[test]
fn hook_output_and_state_beyond_a_pipe_buffer_do_not_block() {
    let mut b = Bundle::new();
    b.args(&["true"])
        .annotation("org.rt-test.big", &"a".repeat(300_000))
        .hook("createRuntime", "/bin/sh", &["sh", "-c", BIG_OUTPUT])
        .hook("createContainer", "/bin/sh", &["sh", "-c", BIG_OUTPUT])
        .hook("startContainer", "/bin/sh", &["sh", "-c", BIG_OUTPUT])
        .hook("poststart", "/bin/sh", &["sh", "-c", "sleep 0.3"]);
    let c = Container::new(b);
    let start = Instant::now();
    let o = c.run();
    o.ok();
    assert!(start.elapsed() < Duration::from_secs(30), "{o}");
    assert_eq!(o.stdout, "", "hook output leaked into the container's: {o}");
}

/// A failing hook's error ends with what it last wrote to stderr, however much came before.
#[test]
fn failing_hook_reports_the_end_of_a_large_stderr() {
    let mut b = Bundle::new();
    b.args(&["true"]).hook(
        "createRuntime",
        "/bin/sh",
        &[
            "sh",
            "-c",
            "head -c 1000000 /dev/zero | tr '\\0' x >&2; echo LAST-WORDS >&2; exit 3",
        ],
    );
    let mut c = Container::new(b);
    let o = c.create();
    o.failed().stderr_has("LAST-WORDS");
    assert!(!c.state_dir_exists());
    assert!(c.cgroup_dirs().is_empty(), "left: {:?}", c.cgroup_dirs());
    if runc_differs("runc puts a failing hook's whole output in its error message") {
        return;
    }
    assert!(
        o.stderr.len() < 64 * 1024,
        "{} bytes of error",
        o.stderr.len()
    );
}

/// The timeout holds while a hook floods its pipes and while it never reads its stdin.
#[test]
fn hook_timeout_holds_while_the_hook_writes_or_ignores_its_stdin() {
    for script in [
        "while :; do echo spam; echo spam >&2; done",
        "exec sleep 60",
    ] {
        let mut b = Bundle::new();
        b.args(&["true"])
            .annotation("org.rt-test.big", &"a".repeat(300_000));
        b.config["hooks"] = json!({"createRuntime": [{
            "path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 1
        }]});
        let mut c = Container::new(b);
        let start = Instant::now();
        let o = c.create();
        o.failed();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{script}: took {:?}",
            start.elapsed()
        );
        assert!(!c.state_dir_exists(), "{script}");
    }
}

// ---- cgroups -------------------------------------------------------------------------------

/// Thaws the test's frozen cgroup however the test ends, so no process stays stuck in it.
struct Thaw<'a>(&'a Path, &'static str);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let _ = fs::write(self.0, self.1);
    }
}

/// runc 1.1.5 refuses a cgroup that is already frozen ("container's cgroup unexpectedly
/// frozen") before it makes anything, where init would otherwise hang; the cgroup, which is
/// the caller's, stays as it was. `file` freezes `dir` with `frozen` and thaws it with `thawed`.
fn frozen_cgroup_is_refused(
    mut c: Container,
    dir: &Path,
    file: &str,
    frozen: &str,
    thawed: &'static str,
) {
    fs::create_dir(dir).unwrap();
    let file = dir.join(file);
    let _thaw = Thaw(&file, thawed);
    fs::write(&file, frozen).unwrap();
    c.bundle.long_running().write();
    let bundle = c.bundle.path_str();
    let start = Instant::now();
    let run = c.rt(&["run", "-d", "--bundle", &bundle, &c.id]);
    let create = c.create();
    for o in [&run, &create] {
        o.failed().stderr_has("cgroup unexpectedly frozen");
    }
    assert!(start.elapsed() < Duration::from_secs(20), "{run}\n{create}");
    assert!(!c.state_dir_exists());
    assert_eq!(fs::read_to_string(&file).unwrap().trim(), frozen);
    assert!(c.cgroup_pids().is_empty());
}

#[test]
fn frozen_v1_cgroup_fails_run_and_create_instead_of_hanging() {
    let freezer = Path::new("/sys/fs/cgroup/freezer");
    if !freezer.join("freezer.state").exists() && !freezer.join("tasks").exists() {
        skip("no cgroup v1 freezer hierarchy");
        return;
    }
    let c = Container::new(Bundle::new());
    let dir = freezer.join(c.bundle.cgroup_name().unwrap());
    frozen_cgroup_is_refused(c, &dir, "freezer.state", "FROZEN", "THAWED");
}

#[test]
fn frozen_v2_cgroup_fails_run_and_create_instead_of_hanging() {
    let Some(root) = host_cgroup2_root() else {
        skip("no cgroup2 hierarchy");
        return;
    };
    let mut b = Bundle::new();
    // The container's own /sys/fs/cgroup would be cgroup v1 otherwise.
    b.remove_mount("/sys/fs/cgroup");
    let c = Container::new(b).wrapped(v2_wrapper());
    let dir = root.join(c.bundle.cgroup_name().unwrap());
    frozen_cgroup_is_refused(c, &dir, "cgroup.freeze", "1", "0");
}

/// Containers put into the cgroup of a running one: runc 1.1.5 warns that the cgroup is not
/// empty and goes on. A create that fails there leaves the first container alone, and so does
/// one that runs. (Deleting the second one is not checked: rt's delete still empties the
/// cgroup, where runc signals only init when the container has its own pid namespace.)
#[test]
fn containers_in_a_busy_cgroup_are_warned_about_and_leave_it_alone() {
    let mut b = Bundle::new();
    b.long_running();
    let mut first = Container::new(b);
    let pid = first.create_and_start();
    let sharing = |script: &str| {
        let mut b = Bundle::new();
        b.config["linux"]["cgroupsPath"] = first.bundle.config["linux"]["cgroupsPath"].clone();
        b.sh(script);
        first.sibling(b)
    };

    let mut failing = sharing("true");
    failing
        .bundle
        .hook("createRuntime", "/bin/sh", &["sh", "-c", "exit 7"]);
    failing.create().failed().stderr_has("cgroup is not empty");
    assert!(pid_alive(pid), "a failed create killed the first container");

    let mut second = sharing("echo second");
    second.create().ok().stderr_has("cgroup is not empty");
    second.start().ok();
    second.wait_output("second");
    second.wait_status("stopped");
    assert!(pid_alive(pid), "the first container's init is gone");
    assert_eq!(first.status(), "running");
}

// ---- bind sources in a user namespace -------------------------------------------------------

/// Bind sources the container's root cannot reach on the host (below a directory of mode 000,
/// and below one owned by a uid outside the mapping) still work: the runtime opens them with
/// its own rights and init mounts what it was handed. The first is a read-only, nosuid host
/// mount (made in a private mount namespace around the runtime): its flags stay locked, so
/// root in the container, with CAP_SYS_ADMIN there, can still not make it writable.
#[test]
fn bind_sources_the_container_root_cannot_traverse_still_mount() {
    let host = TempDir::new("unreachable");
    let closed = host.path().join("closed");
    let foreign = host.path().join("foreign");
    for (dir, word) in [(&closed, "from-closed"), (&foreign, "from-foreign")] {
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join("src/word"), format!("{word}\n")).unwrap();
    }
    chmod(&closed, 0o000);
    chown(&foreign, Some(1234), Some(1234)).unwrap();
    chmod(&foreign, 0o700);
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536)
        .remove_mount("/sys/fs/cgroup")
        .capabilities(&["CAP_SYS_ADMIN"])
        .add_mount(json!({"destination": "/mnt/closed", "type": "bind",
                          "source": closed.join("src"), "options": ["rbind"]}))
        .add_mount(json!({"destination": "/mnt/foreign", "type": "bind",
                          "source": foreign.join("src"), "options": ["bind"]}))
        .sh("cat /mnt/closed/word /mnt/foreign/word; \
             mount -o remount,bind,rw /mnt/closed 2>/dev/null && echo remounted-rw || echo locked; \
             touch /mnt/closed/new 2>/dev/null || echo read-only; \
             mount -o remount,bind,ro,nosuid /mnt/closed && echo may-remount");
    // Root in the user namespace may not create them in the host-owned /mnt.
    for d in ["mnt/closed", "mnt/foreign"] {
        fs::create_dir_all(b.rootfs().join(d)).unwrap();
    }
    let s = format!("'{}'", closed.join("src").display());
    let c = Container::new(b).wrapped(in_private_mount_ns(&format!(
        "mount --bind {s} {s} && mount -o remount,bind,ro,nosuid {s}"
    )));
    let o = c.run();
    chmod(&closed, 0o755);
    o.ok();
    assert_eq!(
        o.stdout_lines(),
        [
            "from-closed",
            "from-foreign",
            "locked",
            "read-only",
            "may-remount"
        ],
        "{o}"
    );
    assert!(!closed.join("src/new").exists());
    // The last line shows the refusal is the lock, not a missing right to remount at all.
}

// ---- HOME from /etc/passwd ------------------------------------------------------------------

/// A bundle whose process leaves HOME unset (so the runtime reads the container's
/// /etc/passwd) with `passwd` made in place of that file by `make`.
fn with_passwd(make: impl FnOnce(&Path)) -> Container {
    let mut b = Bundle::new();
    b.sh("echo HOME=$HOME");
    let passwd = b.rootfs().join("etc/passwd");
    fs::remove_file(&passwd).unwrap();
    make(&passwd);
    Container::new(b)
}

/// An /etc/passwd line over 64 KiB (here the file is /dev/zero: one endless line) fails the
/// start with a clear error, as runc's bufio limit does ("token too long"); nothing hangs.
#[test]
fn an_overlong_passwd_line_is_an_error() {
    let c = with_passwd(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap());
    let o = c.run();
    o.failed();
    assert!(o.stderr.contains("too long"), "{o}");
}

/// An /etc/passwd that never ends in short lines (/dev/urandom) is given up after a bound with a
/// clear error, and a FIFO there (no writer) reads as empty: rt never hangs on the container's
/// files. runc reads the first forever and blocks opening the second.
#[test]
fn an_endless_or_blocking_passwd_never_hangs() {
    if runc_differs(
        "runc 1.1.5 reads an endless /etc/passwd of short lines forever (100% CPU) and blocks \
         forever opening a FIFO there; rt must never hang on a container's files",
    ) {
        return;
    }
    let start = Instant::now();
    let c = with_passwd(|p| std::os::unix::fs::symlink("/dev/urandom", p).unwrap());
    let o = c.run();
    o.failed();
    assert!(o.stderr.contains("/etc/passwd"), "{o}");
    let c = with_passwd(|p| nix::unistd::mkfifo(p, nix::sys::stat::Mode::S_IRWXU).unwrap());
    let o = c.run();
    assert_eq!(o.ok().stdout_lines(), ["HOME=/"], "{o}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}
