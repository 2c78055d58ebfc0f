//! Shared harness for the rt integration tests.
//!
//! The runtime under test is `$RT_BIN` if set (e.g. `RT_BIN=/usr/sbin/runc`),
//! else the crate's own `rt` binary. It is only ever run as a subprocess.
//!
//! Every test gets its own temporary `--root`, bundle (rootfs made from
//! Debian's busybox-static), container id and cgroup path, all prefixed
//! `rt-test-`, so tests can run in parallel and leave nothing behind: the
//! [`Container`] guard runs `delete -f` on drop, removes the cgroup
//! directories it named and the temporary directories.
//!
//! Run against runc: `RT_BIN=/usr/sbin/runc cargo test --tests`. Generated
//! configs carry `ociVersion` 1.0.2-dev (what runc 1.1 accepts); override
//! with `RT_TEST_OCI_VERSION`. Needs root, cgroup v1/hybrid cgroupfs and
//! `/bin/busybox` from Debian's busybox-static.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default time limit for one runtime invocation.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// Path of the runtime binary under test.
pub fn rt_bin() -> PathBuf {
    match std::env::var_os("RT_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_rt")),
    }
}

/// True when the binary under test is runc (used only for messages).
pub fn is_runc() -> bool {
    rt_bin()
        .file_name()
        .map(|n| n.to_string_lossy().contains("runc"))
        .unwrap_or(false)
}

/// Where [`skip`] and [`runc_differs`] record what a run did not check; contrib/test.sh
/// counts and prints these lines after `cargo test`.
pub fn notes_file() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-notes.log")
}

fn record_note(kind: &str, reason: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("?").to_string();
    eprintln!("{kind}: {test}: {reason}");
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(notes_file())
    {
        let _ = writeln!(f, "{kind} {test}: {reason}");
    }
}

/// What the CI machine lacks, as the development host does (the same kind of host: hybrid
/// cgroups with only hugetlb in the cgroup2 root, a kernel without the BFQ/CFQ I/O schedulers,
/// no CAP_SYS_RESOURCE, no AppArmor or SELinux). A skip whose reason starts with one of these
/// is allowed under `CI=true`; any other skip fails the test there, because CI must check
/// every feature its host has.
pub const CI_HOST_LACKS: &[&str] = &[
    "no blkio weight file",
    "no CAP_SYS_RESOURCE",
    "no AppArmor",
    "no SELinux",
];

/// A check this host cannot make: the probe at the call site found the feature absent, and
/// `reason` says which probe. Counted and printed by contrib/test.sh; the caller returns right
/// after. Under `CI=true` a reason not listed in [`CI_HOST_LACKS`] fails the test instead.
pub fn skip(reason: &str) {
    record_note("SKIP", reason);
    if std::env::var("CI").as_deref() == Ok("true")
        && !CI_HOST_LACKS.iter().any(|l| reason.starts_with(l))
    {
        panic!("CI=true: skipped a check the CI host should be able to make: {reason}");
    }
}

/// True (and recorded) when the runtime under test is runc and the test expects behaviour
/// runc 1.1.5 does not have, for the reason given (a runc bug the spec contradicts, or a
/// feature newer than runc 1.1). The test returns early on runc; every reason is listed by
/// contrib/test.sh, so each difference stays written down.
pub fn runc_differs(reason: &str) -> bool {
    if !is_runc() {
        return false;
    }
    record_note("RUNC-DIFFERS", reason);
    true
}

/// True (and recorded) when the runtime under test is rt and the test reached behaviour where
/// rt is known to differ from runc and rt is the one to fix (`reason` names the open issue).
/// The test checks runc's behaviour, so it runs whole on runc; on rt it returns early until the
/// fix lands and this call is removed. contrib/test.sh lists every one.
pub fn rt_bug_open(reason: &str) -> bool {
    if is_runc() {
        return false;
    }
    record_note("RT-BUG-OPEN", reason);
    true
}

/// The `ociVersion` written into generated configs. runc 1.1 supports up to
/// 1.0.2-dev; override with `RT_TEST_OCI_VERSION`.
pub fn oci_version() -> String {
    std::env::var("RT_TEST_OCI_VERSION").unwrap_or_else(|_| "1.0.2-dev".to_string())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique name `rt-test-<tag>-<pid>-<n>-<nanos>`.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "rt-test-{tag}-{}-{n}-{:x}",
        std::process::id(),
        nanos % 0x100000
    )
}

/// A temporary directory removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique_name(tag));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Result of one runtime invocation.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Panics (with all output) unless the command exited 0.
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
    /// Panics unless the command exited non-zero.
    pub fn failed(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "command unexpectedly succeeded (or was signalled): {self}"
        );
        self
    }
    /// Panics unless stderr contains `needle` (case-insensitive).
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "stderr does not mention {needle:?}: {self}"
        );
        self
    }
    /// rt's own wording, checked on rt only: rt's errors name the JSON field or argument (the
    /// project's rule), runc words its errors its own way. Pair it with a check both meet.
    pub fn rt_stderr_has(&self, needle: &str) -> &Self {
        if !is_runc() {
            self.stderr_has(needle);
        }
        self
    }
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lines().map(|l| l.to_string()).collect()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exit={:?} signal={:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// Spawn `cmd` with stdin from an empty file and stdout/stderr into files under
/// `scratch` (files, not pipes: a detached container inheriting a pipe would
/// keep us waiting for EOF forever). Returns the child and the two paths.
///
/// Never the host's /dev/null as stdin: a runtime hands its stdio to process.user, skipping
/// only what it takes for a null device, and runc 1.1.5 compares with the container's
/// /dev/null (a config's linux.devices may put another node there), so it would chown the
/// host's /dev/null.
pub fn spawn_to_files(cmd: Command, scratch: &Path) -> (Child, PathBuf, PathBuf) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let empty = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(scratch.join(format!("cmd-{n}.in")))
        .expect("create stdin file");
    spawn_with_stdin(cmd, empty.into(), scratch)
}

/// [`spawn_to_files`] with `stdin` (e.g. an open file) instead of an empty file.
pub fn spawn_with_stdin(
    mut cmd: Command,
    stdin: Stdio,
    scratch: &Path,
) -> (Child, PathBuf, PathBuf) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let out = scratch.join(format!("cmd-{n}.out"));
    let err = scratch.join(format!("cmd-{n}.err"));
    let fo = fs::File::create(&out).expect("create stdout file");
    let fe = fs::File::create(&err).expect("create stderr file");
    cmd.stdin(stdin).stdout(fo).stderr(fe);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    (child, out, err)
}

/// A host process a test starts itself (e.g. a `sleep` to point a state file at), with stdio on
/// /dev/null so it never holds the harness's output open, killed and reaped on drop, also when
/// an assertion fails first.
pub struct HostProcess(Child);

impl HostProcess {
    pub fn spawn(mut cmd: Command) -> HostProcess {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        HostProcess(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}")),
        )
    }
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait for a child started by [`spawn_to_files`], killing it after `timeout`.
pub fn wait_child(
    mut child: Child,
    out: &Path,
    err: &Path,
    what: String,
    timeout: Duration,
) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{what}` timed out after {timeout:?}\nstdout: {}\nstderr: {}",
                fs::read_to_string(out).unwrap_or_default(),
                fs::read_to_string(err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        code: status.code(),
        signal: status.signal(),
        stdout: fs::read_to_string(out).unwrap_or_default(),
        stderr: fs::read_to_string(err).unwrap_or_default(),
        what,
    }
}

/// Run the runtime with `args` (no implicit `--root`), in `cwd` if given.
pub fn rt_raw(args: &[&str], cwd: Option<&Path>, scratch: &Path) -> Output {
    let mut cmd = Command::new(rt_bin());
    cmd.args(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let what = format!("{} {}", rt_bin().display(), args.join(" "));
    let (child, out, err) = spawn_to_files(cmd, scratch);
    wait_child(child, &out, &err, what, CMD_TIMEOUT)
}

/// Panics with an install hint unless Debian's busybox-static is present.
pub fn busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    assert!(
        p.exists(),
        "/bin/busybox is missing: the integration tests need a statically linked busybox; \
         run `apt-get install busybox-static`"
    );
    p
}

/// Populate `rootfs` with busybox, one symlink per applet, the usual empty
/// directories and minimal /etc/passwd and /etc/group.
pub fn make_rootfs(rootfs: &Path) {
    let bb = busybox();
    let bin = rootfs.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(&bb, bin.join("busybox")).expect("copy busybox");
    let list = Command::new(&bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    let mut applets: Vec<&str> = list.lines().map(str::trim).collect();
    // Make sure the ones the tests use are there even with an odd --list.
    for a in [
        "sh", "cat", "echo", "id", "ls", "sleep", "hostname", "grep", "stat", "readlink", "touch",
        "mkdir", "pwd", "env", "kill", "wc", "head", "true", "false", "test", "mount",
    ] {
        if !applets.contains(&a) {
            applets.push(a);
        }
    }
    for a in applets {
        if a.is_empty() || a == "busybox" || a.contains('/') {
            continue;
        }
        let _ = symlink("busybox", bin.join(a));
    }
    for d in ["proc", "sys", "dev", "tmp", "etc", "root", "mnt", "usr"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let _ = symlink("../bin", rootfs.join("usr/bin"));
    let _ = symlink("bin", rootfs.join("sbin"));
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
}

/// The config `runc spec` generates, with `terminal: false`, a writable root
/// and `args: ["sh"]`.
pub fn default_config() -> Value {
    json!({
        "ociVersion": oci_version(),
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Capability name list as JSON.
fn caps_json(caps: &[&str]) -> Value {
    json!(caps)
}

/// An OCI bundle in a temporary directory: `rootfs/` plus a config built in
/// memory and written by [`Bundle::write`] (done automatically by
/// [`Container`] before `create`/`run`).
pub struct Bundle {
    pub dir: TempDir,
    pub config: Value,
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = TempDir::new("bundle");
        make_rootfs(&dir.path().join("rootfs"));
        let mut config = default_config();
        config["linux"]["cgroupsPath"] = json!(format!("/{}", unique_name("cg")));
        Bundle { dir, config }
    }
    /// Absolute bundle path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn path_str(&self) -> String {
        self.path().to_string_lossy().into_owned()
    }
    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }
    pub fn write(&self) {
        fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .expect("write config.json");
    }
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }
    /// `sh -c script`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }
    /// A process that runs until killed and exits on SIGTERM (pid 1 ignores
    /// signals it has no handler for, so it traps TERM explicitly).
    pub fn long_running(&mut self) -> &mut Self {
        self.sh("trap 'exit 143' TERM; sleep 100000 & wait")
    }
    pub fn env(&mut self, kv: &str) -> &mut Self {
        self.config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(kv));
        self
    }
    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.config["process"]["cwd"] = json!(cwd);
        self
    }
    pub fn user(&mut self, uid: u32, gid: u32, additional: &[u32]) -> &mut Self {
        let mut u = json!({"uid": uid, "gid": gid});
        if !additional.is_empty() {
            u["additionalGids"] = json!(additional);
        }
        if let Some(m) = self.config["process"]["user"].get("umask").cloned() {
            u["umask"] = m;
        }
        self.config["process"]["user"] = u;
        self
    }
    pub fn umask(&mut self, umask: u32) -> &mut Self {
        self.config["process"]["user"]["umask"] = json!(umask);
        self
    }
    pub fn hostname(&mut self, h: &str) -> &mut Self {
        self.config["hostname"] = json!(h);
        self
    }
    /// Replace (or add) one rlimit.
    pub fn rlimit(&mut self, kind: &str, soft: u64, hard: u64) -> &mut Self {
        let arr = self.config["process"]["rlimits"].as_array_mut().unwrap();
        arr.retain(|r| r["type"] != json!(kind));
        arr.push(json!({"type": kind, "soft": soft, "hard": hard}));
        self
    }
    /// Set all five capability sets to `caps`.
    pub fn capabilities(&mut self, caps: &[&str]) -> &mut Self {
        self.capability_sets(caps, caps, caps, caps, caps)
    }
    pub fn capability_sets(
        &mut self,
        bounding: &[&str],
        effective: &[&str],
        permitted: &[&str],
        inheritable: &[&str],
        ambient: &[&str],
    ) -> &mut Self {
        self.config["process"]["capabilities"] = json!({
            "bounding": caps_json(bounding),
            "effective": caps_json(effective),
            "permitted": caps_json(permitted),
            "inheritable": caps_json(inheritable),
            "ambient": caps_json(ambient),
        });
        self
    }
    pub fn no_new_privileges(&mut self, on: bool) -> &mut Self {
        self.config["process"]["noNewPrivileges"] = json!(on);
        self
    }
    pub fn readonly_root(&mut self, ro: bool) -> &mut Self {
        self.config["root"]["readonly"] = json!(ro);
        self
    }
    pub fn root_path(&mut self, p: &str) -> &mut Self {
        self.config["root"]["path"] = json!(p);
        self
    }
    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"].as_array_mut().unwrap().push(m);
        self
    }
    /// Drop every mount whose destination is `dest`.
    pub fn remove_mount(&mut self, dest: &str) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != json!(dest));
        self
    }
    /// Replace the namespace list by these types (no paths).
    pub fn namespaces(&mut self, types: &[&str]) -> &mut Self {
        let v: Vec<Value> = types.iter().map(|t| json!({"type": t})).collect();
        self.config["linux"]["namespaces"] = json!(v);
        self
    }
    /// Add or replace one namespace, optionally joining `path`.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        let arr = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        arr.retain(|n| n["type"] != json!(kind));
        let mut n = json!({"type": kind});
        if let Some(p) = path {
            n["path"] = json!(p);
        }
        arr.push(n);
        self
    }
    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != json!(kind));
        self
    }
    /// Add a user namespace mapping container 0.. to host `host`.. (uid and gid).
    pub fn user_namespace(&mut self, host: u32, size: u32) -> &mut Self {
        self.namespace("user", None);
        self.config["linux"]["uidMappings"] =
            json!([{"containerID": 0, "hostID": host, "size": size}]);
        self.config["linux"]["gidMappings"] =
            json!([{"containerID": 0, "hostID": host, "size": size}]);
        self
    }
    pub fn masked_paths(&mut self, paths: &[&str]) -> &mut Self {
        self.config["linux"]["maskedPaths"] = json!(paths);
        self
    }
    pub fn readonly_paths(&mut self, paths: &[&str]) -> &mut Self {
        self.config["linux"]["readonlyPaths"] = json!(paths);
        self
    }
    /// Append a hook of `kind` (prestart, createRuntime, poststart, ...).
    pub fn hook(&mut self, kind: &str, path: &str, args: &[&str]) -> &mut Self {
        if !self.config["hooks"].is_object() {
            self.config["hooks"] = json!({});
        }
        let hooks = &mut self.config["hooks"];
        if !hooks[kind].is_array() {
            hooks[kind] = json!([]);
        }
        hooks[kind]
            .as_array_mut()
            .unwrap()
            .push(json!({"path": path, "args": args}));
        self
    }
    pub fn cgroups_path(&mut self, p: &str) -> &mut Self {
        self.config["linux"]["cgroupsPath"] = json!(p);
        self
    }
    pub fn cgroup_name(&self) -> Option<String> {
        self.config["linux"]["cgroupsPath"]
            .as_str()
            .map(|s| s.trim_start_matches('/').to_string())
    }
    pub fn annotation(&mut self, k: &str, v: &str) -> &mut Self {
        if !self.config["annotations"].is_object() {
            self.config["annotations"] = json!({});
        }
        self.config["annotations"][k] = json!(v);
        self
    }
}

/// One container under test: its own `--root`, bundle and id. Dropping it
/// force-deletes the container and removes its cgroups and temp dirs.
pub struct Container {
    pub id: String,
    pub root: Arc<TempDir>,
    pub bundle: Bundle,
    pub scratch: TempDir,
    /// stdout/stderr files of the last `create`/`run -d` (the container's
    /// stdio goes there).
    pub init_stdout: Option<PathBuf>,
    pub init_stderr: Option<PathBuf>,
    /// A command every runtime call (and the cleanup) is run through, e.g.
    /// [`v2_wrapper`]; empty: the runtime runs directly.
    pub wrapper: Vec<String>,
}

/// A wrapper (see [`Container::wrapped`]) running the command in a private mount namespace of
/// its own after `setup` (shell) ran there: how a test gives rt a mount table of its choosing
/// without mounting anything in the root mount namespace.
pub fn in_private_mount_ns(setup: &str) -> Vec<String> {
    ["unshare", "-m", "--propagation", "private", "sh", "-c"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("{setup} && exec \"$@\""), "sh".to_string()])
        .collect()
}

/// Runs a command in a private mount namespace with a cgroup2 instance
/// mounted on /sys/fs/cgroup, so rt sees a pure cgroup v2 host. The
/// hierarchy is the host's unified one (/sys/fs/cgroup/unified here), and
/// nothing changes in the root mount namespace.
pub fn v2_wrapper() -> Vec<String> {
    in_private_mount_ns("mount -t cgroup2 none /sys/fs/cgroup")
}

/// Where this host's cgroup2 hierarchy is mounted in the root mount
/// namespace (the unified mount on hybrid hosts), if any.
pub fn host_cgroup2_root() -> Option<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split_whitespace().next() != Some("cgroup2") {
            return None;
        }
        pre.split_whitespace().nth(4).map(PathBuf::from)
    })
}

impl Container {
    pub fn new(bundle: Bundle) -> Container {
        Container {
            id: unique_name("ctr"),
            root: Arc::new(TempDir::new("root")),
            bundle,
            scratch: TempDir::new("scratch"),
            init_stdout: None,
            init_stderr: None,
            wrapper: vec![],
        }
    }
    /// Another container sharing this one's `--root`.
    pub fn sibling(&self, bundle: Bundle) -> Container {
        Container {
            id: unique_name("ctr"),
            root: self.root.clone(),
            bundle,
            scratch: TempDir::new("scratch"),
            init_stdout: None,
            init_stderr: None,
            wrapper: self.wrapper.clone(),
        }
    }
    /// Run every runtime call through `wrapper` (e.g. [`v2_wrapper`]).
    pub fn wrapped(mut self, wrapper: Vec<String>) -> Container {
        self.wrapper = wrapper;
        self
    }
    /// `rt --root ROOT args...` as a Command (through the wrapper, if any).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match self.wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(rt_bin());
                c
            }
            None => Command::new(rt_bin()),
        };
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd
    }
    /// `rt --root ROOT args...` with `input` on its stdin (from a file, so nothing can keep a
    /// pipe open, and with the usual time limit).
    pub fn rt_stdin(&self, args: &[&str], input: &str) -> Output {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = self.scratch.path().join(format!("stdin-{n}"));
        fs::write(&path, input).expect("write stdin file");
        let stdin = fs::File::open(&path).expect("open stdin file");
        let what = format!("rt {} <<< {input}", args.join(" "));
        let (child, out, err) =
            spawn_with_stdin(self.command(args), stdin.into(), self.scratch.path());
        wait_child(child, &out, &err, what, CMD_TIMEOUT)
    }
    pub fn root_str(&self) -> String {
        self.root.path().to_string_lossy().into_owned()
    }
    /// `rt --root ROOT args...`
    pub fn rt(&self, args: &[&str]) -> Output {
        let what = format!("rt --root {} {}", self.root_str(), args.join(" "));
        let (child, out, err) = spawn_to_files(self.command(args), self.scratch.path());
        wait_child(child, &out, &err, what, CMD_TIMEOUT)
    }
    /// Spawn `rt --root ROOT args...` without waiting.
    pub fn rt_spawn(&self, args: &[&str]) -> (Child, PathBuf, PathBuf, String) {
        let root = self.root_str();
        let what = format!("{} --root {root} {}", rt_bin().display(), args.join(" "));
        let (c, o, e) = spawn_to_files(self.command(args), self.scratch.path());
        (c, o, e, what)
    }
    /// Foreground `run --bundle B ID` (writes config.json first).
    pub fn run(&self) -> Output {
        self.bundle.write();
        let b = self.bundle.path_str();
        self.rt(&["run", "--bundle", &b, &self.id])
    }
    /// `create --bundle B [extra...] ID`; the container's stdio goes to
    /// files readable with [`Container::init_output`].
    pub fn create_with(&mut self, extra: &[&str]) -> Output {
        self.bundle.write();
        let b = self.bundle.path_str();
        let mut args = vec!["create", "--bundle", b.as_str()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let (child, out, err, what) = self.rt_spawn(&args);
        let o = wait_child(child, &out, &err, what, CMD_TIMEOUT);
        self.init_stdout = Some(out);
        self.init_stderr = Some(err);
        o
    }
    pub fn create(&mut self) -> Output {
        self.create_with(&[])
    }
    /// create + start, both required to succeed; returns the init pid.
    pub fn create_and_start(&mut self) -> i32 {
        self.create().ok();
        self.start().ok();
        let pid = self.pid();
        assert!(pid > 0, "no pid for running container");
        pid
    }
    pub fn start(&self) -> Output {
        self.rt(&["start", &self.id])
    }
    pub fn state(&self) -> Output {
        self.rt(&["state", &self.id])
    }
    /// `state` parsed as JSON (must succeed).
    pub fn state_json(&self) -> Value {
        let o = self.state();
        o.ok();
        serde_json::from_str(&o.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}): {o}"))
    }
    pub fn status(&self) -> String {
        self.state_json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn pid(&self) -> i32 {
        self.state_json()["pid"].as_i64().unwrap_or(0) as i32
    }
    pub fn kill(&self, sig: Option<&str>) -> Output {
        match sig {
            Some(s) => self.rt(&["kill", &self.id, s]),
            None => self.rt(&["kill", &self.id]),
        }
    }
    pub fn delete(&self, force: bool) -> Output {
        if force {
            self.rt(&["delete", "-f", &self.id])
        } else {
            self.rt(&["delete", &self.id])
        }
    }
    /// `exec [args...]` against this container (args: flags, then the command).
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["exec"];
        let (flags, cmd) = split_exec_args(args);
        all.extend_from_slice(flags);
        all.push(&self.id);
        all.extend_from_slice(cmd);
        self.rt(&all)
    }
    /// Run `rt --root ROOT <args>` through `sh -c` with the host fds 3.. set up by `redirs`
    /// (e.g. `3<file`) and extra environment (`env` words before the command).
    pub fn rt_via_shell(&self, redirs: &str, env: &str, args: &[&str]) -> Output {
        let quoted: Vec<String> = args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let script = format!(
            "exec {redirs}; {env} exec '{}' --root '{}' {}",
            rt_bin().display(),
            self.root_str(),
            quoted.join(" ")
        );
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(&script);
        let (child, out, err) = spawn_to_files(cmd, self.scratch.path());
        wait_child(child, &out, &err, script, CMD_TIMEOUT)
    }
    /// Poll `state` until status is `want` (panics after 20 s).
    pub fn wait_status(&self, want: &str) {
        let start = Instant::now();
        loop {
            let s = self.status();
            if s == want {
                return;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("container {} stayed {s:?}, wanted {want:?}", self.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// What the container has written to stdout so far (after create/run -d).
    pub fn init_output(&self) -> String {
        self.init_stdout
            .as_ref()
            .and_then(|p| fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
    pub fn init_errors(&self) -> String {
        self.init_stderr
            .as_ref()
            .and_then(|p| fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
    /// Poll the container's stdout until it contains `needle`.
    pub fn wait_output(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.init_output();
            if s.contains(needle) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "container output never contained {needle:?}: {s:?} / stderr {:?}",
                    self.init_errors()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// Does `ROOT/ID` (the state directory) exist?
    pub fn state_dir_exists(&self) -> bool {
        self.root.path().join(&self.id).exists()
    }
    /// Entries under `--root` (empty if it does not exist).
    pub fn root_entries(&self) -> Vec<String> {
        match fs::read_dir(self.root.path()) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        }
    }
    /// Cgroup directories (v1 controllers and unified) that exist for this
    /// container's cgroupsPath.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let Some(name) = self.bundle.cgroup_name() else {
            return vec![];
        };
        if !name.starts_with("rt-test-") {
            return vec![];
        }
        let mut v = vec![];
        if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
            for e in rd.filter_map(|e| e.ok()) {
                let p = e.path().join(&name);
                if p.is_dir() {
                    v.push(p);
                }
            }
        }
        v
    }
    /// Pids in this container's cgroups.
    pub fn cgroup_pids(&self) -> Vec<i32> {
        let mut pids = vec![];
        for d in self.cgroup_dirs() {
            if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort();
        pids.dedup();
        pids
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let cmd = self.command(&["delete", "-f", &self.id]);
        let (child, out, err) = spawn_to_files(cmd, self.scratch.path());
        let start = Instant::now();
        let mut child = child;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if start.elapsed() > Duration::from_secs(20) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = (out, err);
        // Kill anything still in our cgroups (only pids we started), then
        // remove the cgroup dirs we named. Never touches other cgroups.
        for pid in self.cgroup_pids() {
            if pid > 1 {
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        for d in self.cgroup_dirs() {
            for _ in 0..50 {
                if fs::remove_dir(&d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Split `[flags..., "--", command...]`; without "--" everything is flags.
pub fn split_exec_args<'a, 'b>(args: &'b [&'a str]) -> (&'b [&'a str], &'b [&'a str]) {
    match args.iter().position(|a| *a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[]),
    }
}

// ---- host-side inspection helpers -------------------------------------

/// /proc/<pid>/status as a string ("" if gone).
pub fn proc_status(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

/// One field (after the colon, trimmed) of /proc/<pid>/status.
pub fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// Is `pid` a live (non-zombie) process?
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let st = proc_status(pid);
    match status_field(&st, "State") {
        Some(s) => !(s.starts_with('Z') || s.starts_with('X')),
        None => false,
    }
}

/// Wait until `pid` is gone (or a zombie); panics after 20 s.
pub fn wait_pid_gone(pid: i32) {
    let start = Instant::now();
    while pid_alive(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pid {pid} still alive"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// readlink /proc/<pid>/ns/<ns>, e.g. "net:[4026531840]".
pub fn ns_link(pid: i32, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{ns}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// readlink /proc/self/ns/<ns> of the test process.
pub fn self_ns(ns: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

pub fn mountinfo(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default()
}

/// The mountinfo line whose mount point (field 5) is exactly `mp`.
pub fn mountinfo_line<'a>(mountinfo: &'a str, mp: &str) -> Option<&'a str> {
    mountinfo
        .lines()
        .rev()
        .find(|l| l.split_whitespace().nth(4) == Some(mp))
}

/// Per-mount options (field 6) and super options (last field) of a line.
pub fn mount_opts(line: &str) -> (Vec<String>, Vec<String>) {
    let f: Vec<&str> = line.split_whitespace().collect();
    let per = f
        .get(5)
        .unwrap_or(&"")
        .split(',')
        .map(String::from)
        .collect();
    let sup = f
        .last()
        .unwrap_or(&"")
        .split(',')
        .map(String::from)
        .collect();
    (per, sup)
}

/// Poll `f` until it is true (panics after 20 s with `what`).
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file's content, trimmed (panics if unreadable).
pub fn read_trim(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The container's cgroup file: `v1` of controller `ctrl` on a v1 or hybrid host, else `v2`
/// in its cgroup v2 directory. None when this host has neither.
pub fn cgroup_file(c: &Container, ctrl: &str, v1: &str, v2: &str) -> Option<PathBuf> {
    let name = c.bundle.cgroup_name()?;
    let v1_dir = Path::new("/sys/fs/cgroup").join(ctrl);
    if v1_dir.join("cgroup.procs").exists() {
        return Some(v1_dir.join(&name).join(v1));
    }
    let p = Path::new("/sys/fs/cgroup").join(&name).join(v2);
    p.exists().then_some(p)
}

/// Accept the runtime's connection on `listener` (a console socket, a seccomp listenerPath)
/// within 20 s and take its first message and the one fd sent with it. The stream is returned
/// blocking, for what may follow the first message.
pub fn accept_with_fd(
    listener: &std::os::unix::net::UnixListener,
) -> (
    std::os::unix::net::UnixStream,
    Vec<u8>,
    std::os::fd::OwnedFd,
) {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};
    // Non-blocking, so a runtime that never connects fails the test instead of hanging it.
    listener.set_nonblocking(true).unwrap();
    let mut conn = None;
    wait_until("the runtime connects", || {
        conn = listener.accept().ok();
        conn.is_some()
    });
    let (stream, _) = conn.unwrap();
    stream.set_nonblocking(false).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg from the runtime");
    let mut fds = vec![];
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(v) = c {
            fds.extend(v);
        }
    }
    let n = msg.bytes;
    assert_eq!(fds.len(), 1, "exactly one fd expected, got {fds:?}");
    buf.truncate(n);
    // SAFETY: the kernel installed this fd for us; nothing else owns it.
    (stream, buf, unsafe {
        std::os::fd::OwnedFd::from_raw_fd(fds[0])
    })
}

/// `gcc -static` of the C file `src` into cargo's per-target temp dir as `name` (not /tmp, so
/// nothing is left behind outside the build directory). Callers build once per test process
/// (a OnceLock); the rename means parallel test binaries never see a half-written program.
pub fn static_c_program(name: &str, src: &Path) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!("{name}.{}", std::process::id()));
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&tmp)
        .arg(src)
        .output()
        .expect("run gcc (apt-get install gcc libc6-dev)");
    assert!(
        out.status.success(),
        "gcc -static {} failed: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = dir.join(name);
    fs::rename(&tmp, &bin).unwrap();
    bin
}
