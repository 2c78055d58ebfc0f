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
