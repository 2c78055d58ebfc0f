//! runtime-spec 1.3 (and runc 1.4/1.5's reading of it): `ociVersion` 1.3.0, `linux.netDevices`,
//! `linux.memoryPolicy`, `linux.intelRdt` without resctrl, `pids.limit` 0, the cpu.weight of
//! cpu.shares, the features keys of 1.3, the session keyring of `exec` and personality domains.
//! Each checks the effect from inside the container (checker) and from outside (/proc, cgroupfs,
//! the scratch network namespace), or the refusal and that nothing was left behind.

use crate::common::*;
use crate::*;
use serde_json::Value;

/// `exec` of the checker with `args` in the container.
fn exec_checker(c: &Container, args: &[&str]) -> Output {
    let mut all = vec!["--", "/checker"];
    all.extend_from_slice(args);
    c.exec(&all)
}

// ---- exec and the session keyring ----

/// `exec` joins the container's session keyring `_ses.<id>`, as runc's setns init does; with
/// `create --no-new-keyring` neither init nor exec gets one.
#[test]
fn exec_joins_the_container_session_keyring() {
    for no_new in [false, true] {
        let mut c = Container::new(bundle(&["keyring", "wait"]));
        let flags: &[&str] = if no_new { &["--no-new-keyring"] } else { &[] };
        c.create_with(flags).ok();
        c.start().ok();
        let out = c.wait_output("\"ready\"");
        let init: Value = lines(&out)
            .into_iter()
            .find(|v| v["cmd"] == "keyring")
            .unwrap_or_else(|| panic!("no keyring line: {out}"));
        let e = exec_checker(&c, &["keyring"]);
        e.ok();
        let exec = fact(&e, "keyring");
        let ses = format!(";_ses.{}", c.id);
        let named = |v: &Value| v["desc"].as_str().unwrap_or_default().ends_with(&ses);
        if no_new {
            assert!(!named(&init) && !named(&exec), "{init} {exec}");
        } else {
            assert!(named(&init), "init: {init}");
            assert_eq!(
                exec["id"], init["id"],
                "exec did not join init's keyring: {exec}"
            );
        }
    }
}
