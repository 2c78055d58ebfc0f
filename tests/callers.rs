//! The config.json that real callers send (tests/corpus/callers, captured from Docker, podman,
//! containerd's ctr and buildah by integration/clients/capture.sh) runs, and does what it says.
//!
//! Each captured config gets a busybox rootfs, scratch files for its bind sources, this test's
//! own cgroup path and a recording hook in place of its placeholders; only `process.args` is
//! replaced, by a probe that prints what a user would look at. The expected values are read
//! from the config itself: capabilities, NoNewPrivs and the seccomp mode in /proc/self/status,
//! uid, gid and groups, hostname, cwd, environment, rlimits, sysctls, the mounts, a read-only
//! root and readonlyPaths, the terminal, the hooks, and the cgroup limits read from the host.
//! This is the regression test for "docker run fails for every container" (blockIO weight 0 and
//! a MASKED_EQ rule without valueTwo were refused).

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/callers");
const HOSTNAME: &str = "rt-callers";

/// Capability names in bit order (linux/capability.h).
#[rustfmt::skip]
const CAPS: [&str; 41] = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
];

fn cap_mask(config: &Value, set: &str) -> u64 {
    let names = config["process"]["capabilities"][set].as_array();
    names.into_iter().flatten().fold(0, |mask, n| {
        let name = n.as_str().unwrap().trim_start_matches("CAP_");
        let bit = CAPS.iter().position(|c| *c == name);
        mask | (1u64 << bit.unwrap_or_else(|| panic!("unknown capability {n}")))
    })
}

/// The probe: each section starts with a `==name` line.
fn probe(config: &Value) -> String {
    let sysctls: Vec<String> = config["linux"]["sysctl"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| format!("echo {k}=$(cat /proc/sys/{})", k.replace('.', "/")))
        .collect();
    let ro_paths: Vec<String> = config["linux"]["readonlyPaths"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("[ -e {0} ] && echo {0}", p.as_str().unwrap()))
        .collect();
    format!(
        "echo ==status; cat /proc/self/status; echo ==uid; id -u; echo ==gid; id -g; \
         echo ==hostname; hostname; echo ==cwd; pwd; echo ==mountinfo; cat /proc/self/mountinfo; \
         echo ==limits; cat /proc/self/limits; echo ==env; env; echo ==sysctl; {} :; \
         echo ==ro_paths; {} :; echo ==tty; tty; echo ==end; exec sleep 1000",
        sysctls.iter().map(|s| format!("{s};")).collect::<String>(),
        ro_paths.iter().map(|s| format!("{s};")).collect::<String>(),
    )
}

/// Sections of the probe's output, by name.
fn sections(out: &str) -> HashMap<String, Vec<String>> {
    let mut map = HashMap::new();
    let mut cur = String::new();
    for line in out.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(name) = line.strip_prefix("==") {
            cur = name.to_string();
            map.entry(cur.clone()).or_insert_with(Vec::new);
        } else if !cur.is_empty() {
            map.get_mut(&cur).unwrap().push(line.to_string());
        }
    }
    map
}

/// Fill the placeholders capture.sh left (see tests/corpus/callers/README.md).
fn fill(raw: &str, c: &Container, scratch: &Path, cgroups_path: &str, hook: &Path) -> Value {
    let text = raw
        .replace("@ROOTFS@", &c.bundle.rootfs().to_string_lossy())
        .replace("@CGROUPS_PATH@", cgroups_path)
        .replace("@SCRATCH@", &scratch.to_string_lossy())
        .replace("@ID@", &c.id)
        .replace("@HOSTNAME@", HOSTNAME)
        .replace("@HOOK@", &hook.to_string_lossy());
    assert!(!text.contains('@'), "a placeholder is left: {text}");
    serde_json::from_str(&text).expect("a filled config is JSON")
}

/// Bind sources under the scratch dir: engines bind the files they generate (/etc/hosts,
/// /etc/resolv.conf, /run/.containerenv...) and directories elsewhere (volumes, /dev/shm).
fn make_bind_sources(config: &Value, scratch: &Path) {
    for m in config["mounts"].as_array().into_iter().flatten() {
        let src = Path::new(m["source"].as_str().unwrap_or(""));
        if !src.starts_with(scratch) {
            continue;
        }
        let dest = m["destination"].as_str().unwrap();
        if dest.starts_with("/etc/") || dest.starts_with("/run/") {
            fs::create_dir_all(src.parent().unwrap()).unwrap();
            fs::write(src, "").unwrap();
        } else {
            fs::create_dir_all(src).unwrap();
        }
    }
}

/// What `child` (script(1) running the runtime) printed once the probe is done; panics with it
/// if the child exits first or after 30 s.
fn wait_probe(out: &Path, child: &mut std::process::Child) -> String {
    let start = Instant::now();
    loop {
        let s = fs::read_to_string(out).unwrap_or_default();
        if s.contains("==end") {
            return s;
        }
        let exited = child.try_wait().ok().flatten();
        assert!(
            exited.is_none() && start.elapsed() < Duration::from_secs(30),
            "the probe never finished (exit: {exited:?}): {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The container's cgroup directories on the host, per v1 controller, from /proc/PID/cgroup.
fn host_cgroups(pid: i32) -> Vec<(String, PathBuf)> {
    let s = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    s.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            let ctrl = ctrls.split(',').next()?.trim_start_matches("name=");
            let dir = Path::new("/sys/fs/cgroup")
                .join(if ctrl.is_empty() { "unified" } else { ctrl })
                .join(path.trim_start_matches('/'));
            Some((ctrl.to_string(), dir))
        })
        .collect()
}

/// Is this mountinfo line's mount read-only?
fn is_ro(mountinfo_line: &str) -> bool {
    mount_opts(mountinfo_line).0.iter().any(|o| o == "ro")
}

fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// What the probe printed, by section, with the config it ran and a context for messages.
struct Probe {
    config: Value,
    sections: HashMap<String, Vec<String>>,
    ctx: String,
}

impl Probe {
    fn got(&self, name: &str) -> Vec<String> {
        self.sections.get(name).cloned().unwrap_or_default()
    }
    fn list<'a>(&'a self, pointer: &str) -> impl Iterator<Item = &'a Value> {
        self.config
            .pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }
}

/// /proc/self/status: capabilities after execve (root keeps bounding | inheritable | ambient,
/// cut to the permitted set under no_new_privs; anyone else keeps only the ambient set, and an
/// ambient capability can only be raised if it is permitted and inheritable), NoNewPrivs, the
/// seccomp mode, the groups.
fn check_status(p: &Probe) {
    let (config, ctx) = (&p.config, &p.ctx);
    let status = p.got("status").join("\n");
    let field = |k: &str| status_field(&status, k).unwrap_or_else(|| panic!("no {k}: {ctx}"));
    let hex = |k: &str| u64::from_str_radix(&field(k), 16).unwrap();
    let uid = config["process"]["user"]["uid"].as_u64().unwrap_or(0);
    let nnp = config["process"]["noNewPrivileges"].as_bool() == Some(true);
    let (bnd, inh, prm) = (
        cap_mask(config, "bounding"),
        cap_mask(config, "inheritable"),
        cap_mask(config, "permitted"),
    );
    let amb = cap_mask(config, "ambient") & inh & prm;
    let eff = match (uid, nnp) {
        (0, false) => bnd | inh | amb,
        (0, true) => (bnd | inh | amb) & prm,
        _ => amb,
    };
    assert_eq!(hex("CapBnd"), bnd, "CapBnd: {ctx}");
    assert_eq!(hex("CapInh"), inh, "CapInh: {ctx}");
    assert_eq!(hex("CapAmb"), amb, "CapAmb: {ctx}");
    assert_eq!(hex("CapEff"), eff, "CapEff: {ctx}");
    assert_eq!(hex("CapPrm"), eff, "CapPrm: {ctx}");
    assert_eq!(field("NoNewPrivs"), if nnp { "1" } else { "0" }, "{ctx}");
    let seccomp = if config["linux"]["seccomp"].is_object() {
        "2"
    } else {
        "0"
    };
    assert_eq!(field("Seccomp"), seccomp, "Seccomp: {ctx}");
    let groups: BTreeSet<u64> = p
        .list("/process/user/additionalGids")
        .filter_map(Value::as_u64)
        .collect();
    let got_groups: BTreeSet<u64> = field("Groups")
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    assert_eq!(got_groups, groups, "Groups: {ctx}");
}

/// Who, where, with what environment, limits, sysctls and terminal.
fn check_process(p: &Probe) {
    let (config, ctx) = (&p.config, &p.ctx);
    let user = &config["process"]["user"];
    assert_eq!(
        p.got("uid"),
        [user["uid"].as_u64().unwrap_or(0).to_string()],
        "{ctx}"
    );
    assert_eq!(
        p.got("gid"),
        [user["gid"].as_u64().unwrap_or(0).to_string()],
        "{ctx}"
    );
    // no hostname: the new UTS namespace starts with the host's
    let hostname = match config["hostname"].as_str() {
        Some(h) => h.to_string(),
        None => read_trim(Path::new("/proc/sys/kernel/hostname")),
    };
    assert_eq!(p.got("hostname"), [hostname], "{ctx}");
    assert_eq!(
        p.got("cwd"),
        [config["process"]["cwd"].as_str().unwrap()],
        "{ctx}"
    );
    let env = p.got("env");
    for kv in p.list("/process/env").filter_map(Value::as_str) {
        assert!(
            env.iter().any(|l| l == kv),
            "{kv} not in the environment: {ctx}"
        );
    }
    let limits = p.got("limits");
    for r in p.list("/process/rlimits") {
        let label = match r["type"].as_str().unwrap() {
            "RLIMIT_NOFILE" => "Max open files",
            "RLIMIT_NPROC" => "Max processes",
            other => panic!("add {other} to this test: {ctx}"),
        };
        let line = limits.iter().find(|l| l.starts_with(label)).unwrap();
        let v: Vec<&str> = line[label.len()..].split_whitespace().collect();
        assert_eq!(
            v[..2],
            [r["soft"].to_string(), r["hard"].to_string()],
            "{ctx}"
        );
    }
    for (k, v) in config["linux"]["sysctl"].as_object().into_iter().flatten() {
        let want = format!("{k}={}", v.as_str().unwrap());
        assert!(p.got("sysctl").contains(&want), "{want}: {ctx}");
    }
    let tty = p.got("tty").join("");
    if config["process"]["terminal"] == json!(true) {
        assert!(tty.starts_with("/dev/pts/"), "no terminal: {ctx}");
    } else {
        assert_eq!(tty, "not a tty", "{ctx}");
    }
}

/// Each mount in place with its type; read-only where the config says so (options, root,
/// readonlyPaths).
fn check_mounts(p: &Probe) {
    let ctx = &p.ctx;
    let mountinfo = p.got("mountinfo").join("\n");
    for m in p.list("/mounts") {
        let dest = m["destination"].as_str().unwrap();
        let line = mountinfo_line(&mountinfo, dest)
            .unwrap_or_else(|| panic!("nothing mounted on {dest}: {ctx}"));
        let fstype = line.split(" - ").nth(1).unwrap().split_whitespace().next();
        let kind = m["type"].as_str().unwrap_or("bind");
        // cgroup v1: a tmpfs holding one bind per controller
        if !matches!(kind, "bind" | "cgroup") {
            assert_eq!(fstype, Some(kind), "type of {dest}: {ctx}");
        }
        let opts = m["options"].as_array().cloned().unwrap_or_default();
        if !opts.contains(&json!("ro")) {
            continue;
        }
        if kind == "cgroup" {
            // v1: every controller's bind under it is read-only ...
            let under = format!("{dest}/");
            for l in mountinfo.lines() {
                let mp = l.split_whitespace().nth(4).unwrap_or("");
                if mp.starts_with(&under) {
                    assert!(is_ro(l), "{mp} not ro: {ctx}");
                }
            }
            // ... and so is the tmpfs holding them, as asked; runc leaves that one writable
            if !is_ro(line)
                && runc_differs(
                    "runc 1.1/1.3 leave cgroup v1's tmpfs on /sys/fs/cgroup writable under an \"ro\" cgroup mount",
                )
            {
                continue;
            }
        }
        assert!(is_ro(line), "{dest} not ro: {ctx}");
    }
    let root = mountinfo_line(&mountinfo, "/").expect("a root mount");
    assert_eq!(
        is_ro(root),
        p.config["root"]["readonly"] == json!(true),
        "/: {ctx}"
    );
    for path in p.got("ro_paths") {
        let line = mountinfo_line(&mountinfo, &path).unwrap_or_else(|| panic!("{path}: {ctx}"));
        assert!(is_ro(line), "{path} not ro: {ctx}");
    }
}

/// Docker's prestart hook (libnetwork-setkey) ran with its arguments.
fn check_hooks(p: &Probe, hook_log: &Path) {
    for h in p.list("/hooks/prestart") {
        let args: Vec<&str> = h["args"].as_array().unwrap()[1..]
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let args = args.join(" ");
        let log = fs::read_to_string(hook_log).unwrap_or_default();
        assert!(
            log.contains(&args),
            "prestart hook not run with {args:?}: {log:?}"
        );
    }
}

/// From the host: the container's cgroup is where the config put it (runc's default, the id
/// under the runtime's own cgroup, when it says nothing), with the limits it asked for.
fn check_cgroups(p: &Probe, cgroups: &[(String, PathBuf)], id: &str) {
    let ctx = &p.ctx;
    if !Path::new("/sys/fs/cgroup/memory").is_dir() {
        skip("no cgroup v1 memory controller: placement and limits not checked");
        return;
    }
    let dir = |ctrl: &str| {
        let (_, d) = cgroups.iter().find(|(c, _)| c == ctrl).expect("controller");
        d.clone()
    };
    let expected = match p.config["linux"]["cgroupsPath"].as_str() {
        Some(path) => Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/')),
        None => {
            let own = host_cgroups(std::process::id() as i32);
            own.into_iter()
                .find(|(c, _)| c == "memory")
                .unwrap()
                .1
                .join(id)
        }
    };
    assert_eq!(dir("memory"), expected, "{ctx}");
    let res = &p.config["linux"]["resources"];
    let files = [
        ("memory", "memory.limit_in_bytes", &res["memory"]["limit"]),
        (
            "memory",
            "memory.memsw.limit_in_bytes",
            &res["memory"]["swap"],
        ),
        ("cpu", "cpu.shares", &res["cpu"]["shares"]),
        ("cpu", "cpu.cfs_quota_us", &res["cpu"]["quota"]),
        ("cpu", "cpu.cfs_period_us", &res["cpu"]["period"]),
        ("pids", "pids.max", &res["pids"]["limit"]),
    ];
    for (ctrl, name, want) in files {
        // 0 means unset (Docker's cpu shares)
        if let Some(v) = want.as_i64().filter(|v| *v > 0) {
            let got = read_trim(&dir(ctrl).join(name));
            assert_eq!(got, v.to_string(), "{name}: {ctx}");
        }
    }
}

fn check_caller_config(file: &str) {
    let raw = fs::read_to_string(Path::new(CORPUS).join(file)).unwrap();
    let scratch = TempDir::new("callers");
    let hook = scratch.path().join("hook.sh");
    let hook_log = scratch.path().join("hook.log");
    fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$@\" >>{}\n", hook_log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();

    let mut c = Container::new(Bundle::new());
    let cgroups_path = format!("/{}", unique_name("cg"));
    let mut config = fill(&raw, &c, scratch.path(), &cgroups_path, &hook);
    make_bind_sources(&config, scratch.path());
    config["process"]["args"] = json!(["/bin/sh", "-c", probe(&config)]);
    c.bundle.config = config.clone();
    c.bundle.write();

    // A terminal needs a terminal: run in the foreground under script(1), as a user would.
    let mut fg = None;
    let output = if config["process"]["terminal"] == json!(true) {
        let cmdline = format!(
            "{} --root {} run --bundle {} {}",
            rt_bin().display(),
            c.root_str(),
            c.bundle.path_str(),
            c.id
        );
        // stdin: a pipe left open, as /dev/null's EOF would reach the pty as input and be
        // echoed into the output
        let out = c.scratch.path().join("script.out");
        let mut child = Command::new("script")
            .args(["-qec", &cmdline, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn script(1)");
        let s = wait_probe(&out, &mut child);
        fg = Some(child);
        s
    } else {
        let o = c.create();
        assert!(o.success(), "{file}: create failed: {o}");
        c.start().ok();
        c.wait_output("==end")
    };
    let p = Probe {
        sections: sections(&output),
        ctx: format!("{file} on {}:\n{output}", rt_bin().display()),
        config,
    };
    check_status(&p);
    check_process(&p);
    check_mounts(&p);
    check_hooks(&p, &hook_log);
    let pid = c.pid();
    let cgroups = host_cgroups(pid);
    check_cgroups(&p, &cgroups, &c.id);

    // delete: the process, the cgroups and the state are gone
    c.delete(true).ok();
    if let Some(mut child) = fg {
        let _ = child.wait();
    }
    wait_pid_gone(pid);
    let left: Vec<&PathBuf> = cgroups
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d.exists())
        .collect();
    for d in &left {
        let _ = fs::remove_dir(d);
    }
    assert!(left.is_empty(), "cgroups left after delete: {left:?}");
    assert!(!c.state_dir_exists(), "state left after delete");
}

macro_rules! caller_configs {
    ($($test:ident => $file:literal,)*) => {
        $(#[test] fn $test() { check_caller_config($file) })*

        /// A newly captured config gets a test too. (cri-*.json come from integration/cri,
        /// with placeholders of their own: they join a pod sandbox's namespaces, and that
        /// harness runs them.)
        #[test]
        fn every_captured_config_is_tested() {
            let tested: BTreeSet<String> = [$($file),*].into_iter().map(String::from).collect();
            let captured: BTreeSet<String> = fs::read_dir(CORPUS).unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with("cri-"))
                .collect();
            assert_eq!(captured, tested);
        }
    };
}

caller_configs! {
    docker_run => "docker-run.json",
    docker_user => "docker-user.json",
    docker_read_only => "docker-read-only.json",
    docker_volume => "docker-volume.json",
    docker_tmpfs => "docker-tmpfs.json",
    docker_cap_drop_all => "docker-cap-drop-all.json",
    docker_resources => "docker-resources.json",
    docker_tty => "docker-tty.json",
    podman_run => "podman-run.json",
    podman_tty => "podman-tty.json",
    ctr_run => "ctr-run.json",
    ctr_seccomp => "ctr-seccomp.json",
    ctr_tty => "ctr-tty.json",
    buildah_run => "buildah-run.json",
}
