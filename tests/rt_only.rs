//! Behaviour expected of rt that runc 1.1 (Debian's /usr/sbin/runc) does not
//! have; with `RT_BIN=/usr/sbin/runc` each test checks what runc shares and
//! returns at `runc_differs` where runc stops:
//!
//! - poststart hooks run during `start`, after the user process started,
//!   and see status "running" (OCI runtime spec; runc 1.1 runs them already
//!   during `create` with status "created", fixed in runc 1.2).
//! - the `rt run BUNDLE/` admin shorthand: a single positional argument that
//!   is a path to a bundle directory (ends in `/`) runs that bundle with a
//!   generated id; runc 1.1 treats it as an (invalid) container id.
//! - compiled seccomp filters are cached under `--root` (`seccomp:cache`), and
//!   `rt --debug` says whether a run used the cache.

mod common;

use common::*;
use std::fs;

#[test]
fn poststart_hook_runs_at_start_not_create() {
    let out = TempDir::new("hookout");
    let script = format!(
        "cat > {d}/poststart.json; echo poststart >> {d}/order",
        d = out.path().display()
    );
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"])
        .hook("poststart", "/bin/sh", &["sh", "-c", &script]);
    let mut c = Container::new(b);
    c.create().ok();
    if runc_differs(
        "runc 1.1.5 runs poststart hooks during create (runtime.md lifecycle: after the user \
         process started; fixed in runc 1.2)",
    ) {
        return;
    }
    assert!(
        !out.path().join("poststart.json").exists(),
        "poststart hook ran during create"
    );
    c.start().ok();
    let s: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.path().join("poststart.json")).unwrap())
            .unwrap();
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["pid"].as_i64(), Some(c.pid() as i64));
}

#[test]
fn run_bundle_path_shorthand() {
    if runc_differs("rt-only: `rt run BUNDLE/`; runc takes the argument for a container id") {
        return;
    }
    let mut b = Bundle::new();
    b.sh("echo shorthand-ok; exit 4");
    let c = Container::new(b);
    c.bundle.write();
    let root = c.root_str();
    let arg = format!("{}/", c.bundle.path_str());
    let o = rt_raw(&["--root", &root, "run", &arg], None, c.scratch.path());
    assert_eq!(o.code, Some(4), "{o}");
    assert_eq!(o.stdout, "shorthand-ok\n", "{o}");
    let l = c.rt(&["list", "-q"]);
    l.ok();
    assert_eq!(l.stdout.trim(), "", "{l}");
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
}

/// `Seccomp:` of /proc/self/status, then mkdir, which the profile below fails with errno 42.
const SECCOMP_PROBE: &str = "grep '^Seccomp:' /proc/self/status; mkdir /tmp/blocked; echo rc=$?";

fn mkdir_blocked_profile() -> serde_json::Value {
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
    })
}

/// `rt --debug run` of the container; its output must show the filter in force.
fn run_filtered(c: &Container) -> Output {
    c.bundle.write();
    let b = c.bundle.path_str();
    let o = c.rt(&["--debug", "run", "--bundle", &b, &c.id]);
    o.ok();
    assert!(o.stdout.contains("Seccomp:\t2"), "no filter: {o}");
    // strerror(42) = ENOMSG: the errno the profile asks for, not EPERM or EEXIST.
    assert!(o.stderr.contains("No message of desired type"), "{o}");
    assert!(o.stdout.contains("rc=1"), "{o}");
    o
}

fn cache_entries(c: &Container) -> Vec<std::path::PathBuf> {
    fs::read_dir(c.root.path().join("seccomp:cache"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// Compiled filters are cached under --root in `seccomp:cache` (a name no container id can
/// take): the second run reads the entry and still enforces the filter, a damaged or foreign
/// entry is never installed, and `list` does not show the cache.
#[test]
fn seccomp_filter_cache_under_root() {
    let mut b = Bundle::new();
    b.sh(SECCOMP_PROBE);
    b.config["linux"]["seccomp"] = mkdir_blocked_profile();
    let c = Container::new(b);

    let first = run_filtered(&c);
    if runc_differs(RT_ONLY_CACHE) {
        return;
    }
    assert!(first.stderr.contains("seccomp: compiled"), "{first}");
    assert!(!first.stderr.contains("seccomp: cache hit"), "{first}");
    let entries = cache_entries(&c);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = entries[0].clone();
    let good = fs::read(&entry).unwrap();

    let second = run_filtered(&c);
    assert!(second.stderr.contains("seccomp: cache hit"), "{second}");
    assert!(!second.stderr.contains("seccomp: compiled"), "{second}");
    assert_eq!(cache_entries(&c), vec![entry.clone()]);

    let list = c.rt(&["list"]);
    list.ok();
    assert!(!list.stdout.contains("seccomp"), "{list}");
    let quiet = c.rt(&["list", "-q"]);
    quiet.ok();
    assert_eq!(quiet.stdout.trim(), "", "{quiet}");
    assert_eq!(c.root_entries(), vec!["seccomp:cache".to_string()]);

    // One bit flipped in the last instruction.
    let mut damaged = good.clone();
    let at = damaged.len() - 12;
    damaged[at] ^= 0x01;
    for (what, bytes) in [("flipped bit", damaged), ("garbage", b"garbage".to_vec())] {
        fs::write(&entry, &bytes).unwrap();
        let o = run_filtered(&c);
        assert!(o.stderr.contains("seccomp: compiled"), "{what}: {o}");
        assert_eq!(
            fs::read(&entry).unwrap(),
            good,
            "{what}: entry not rewritten"
        );
    }

    // A valid entry of a profile that allows mkdir, under this profile's file name.
    let mut other = Bundle::new();
    other.sh("true");
    other.config["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]
    });
    let o = Container::new(other);
    o.run().ok();
    let foreign = cache_entries(&o);
    assert_eq!(foreign.len(), 1, "{foreign:?}");
    fs::copy(&foreign[0], &entry).unwrap();
    let forged = run_filtered(&c);
    assert!(forged.stderr.contains("another profile"), "{forged}");
    assert_eq!(fs::read(&entry).unwrap(), good);
    assert_eq!(cache_entries(&c).len(), 1);
}

/// exec compiles the container's profile through the same cache: create stored the entry, so
/// exec finds it, and the exec'd process is filtered.
#[test]
fn seccomp_filter_cache_serves_exec() {
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["seccomp"] = mkdir_blocked_profile();
    let mut c = Container::new(b);
    c.create_and_start();
    let entries = cache_entries(&c);
    let mut args = vec!["--debug", "exec", &c.id];
    args.extend_from_slice(&["sh", "-c", SECCOMP_PROBE]);
    let o = c.rt(&args);
    o.ok();
    assert!(o.stdout.contains("Seccomp:\t2"), "{o}");
    assert!(o.stderr.contains("No message of desired type"), "{o}");
    if runc_differs(RT_ONLY_CACHE) {
        return;
    }
    assert_eq!(entries.len(), 1);
    assert!(o.stderr.contains("seccomp: cache hit"), "{o}");
    assert_eq!(cache_entries(&c), entries);
}

const RT_ONLY_CACHE: &str =
    "rt-only: compiled seccomp filters cached under --root (`seccomp:cache`), shown by --debug";
