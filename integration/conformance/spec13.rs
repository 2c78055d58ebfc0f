//! runtime-spec 1.3 (and runc 1.4/1.5's reading of it): `ociVersion` 1.3.0, `linux.netDevices`,
//! `linux.memoryPolicy`, `linux.intelRdt` without resctrl, `pids.limit` 0, the cpu.weight of
//! cpu.shares, the features keys of 1.3, the session keyring of `exec` and personality domains.
//! Each checks the effect from inside the container (checker) and from outside (/proc, cgroupfs,
//! the scratch network namespace), or the refusal and that nothing was left behind.

use crate::common::*;
use crate::*;
use serde_json::{Value, json};

/// `exec` of the checker with `args` in the container.
fn exec_checker(c: &Container, args: &[&str]) -> Output {
    let mut all = vec!["--", "/checker"];
    all.extend_from_slice(args);
    c.exec(&all)
}

/// A config that is refused at create, naming `field`, leaving no container.
fn refused(b: Bundle, field: &str) -> Output {
    let c = Container::new(b);
    let o = c.run();
    o.failed().rt_stderr_has(field);
    assert!(!c.state_dir_exists(), "state left by a refused config: {o}");
    assert!(
        c.cgroup_dirs().is_empty(),
        "cgroup left by a refused config: {o}"
    );
    o
}

// ---- linux.memoryPolicy ----

/// The policy field of the first line of a numa_maps text (`<addr> <policy> ...`).
fn numa_policy(maps: &str) -> String {
    maps.lines()
        .next()
        .and_then(|l| l.split_once(' '))
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default()
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut p = r
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    (p.next().unwrap_or(0), p.next().unwrap_or(0)) >= (major, minor)
}

/// Every mode and flag of the spec, seen in the container's /proc/self/numa_maps (the policy of
/// mappings without one of their own is the task's). Node 0 exists on every host.
#[test]
fn memory_policy_every_mode_and_flag() {
    let cases = [
        ("MPOL_DEFAULT", "", &[][..], "default"),
        ("MPOL_LOCAL", "", &[], "local"),
        ("MPOL_BIND", "0", &[], "bind:0"),
        ("MPOL_INTERLEAVE", "0", &[], "interleave:0"),
        ("MPOL_PREFERRED", "0", &[], "prefer:0"),
        ("MPOL_PREFERRED", "", &[], "local"),
        ("MPOL_PREFERRED_MANY", "0", &[], "prefer (many):0"),
        (
            "MPOL_WEIGHTED_INTERLEAVE",
            "0",
            &[],
            "weighted interleave:0",
        ),
        ("MPOL_BIND", "0", &["MPOL_F_STATIC_NODES"], "bind=static:0"),
        (
            "MPOL_INTERLEAVE",
            "0",
            &["MPOL_F_RELATIVE_NODES"],
            "interleave=relative:0",
        ),
        (
            "MPOL_BIND",
            "0",
            &["MPOL_F_NUMA_BALANCING"],
            "bind=balancing:0",
        ),
        (
            "MPOL_BIND",
            "0",
            &["MPOL_F_STATIC_NODES", "MPOL_F_NUMA_BALANCING"],
            "bind=static|balancing:0",
        ),
    ];
    for (mode, nodes, flags, want) in cases {
        if mode == "MPOL_WEIGHTED_INTERLEAVE" && !kernel_at_least(6, 9) {
            skip("kernel before 6.9: no MPOL_WEIGHTED_INTERLEAVE");
            continue;
        }
        let mut b = bundle(&["cat", "/proc/self/numa_maps"]);
        b.config["linux"]["memoryPolicy"] = json!({"mode": mode, "nodes": nodes, "flags": flags});
        let f = run_fact(b, "cat");
        let got = numa_policy(f["data"].as_str().unwrap_or_default());
        if runc_differs(
            "runc 1.1.5 predates linux.memoryPolicy (runtime-spec 1.3; runc 1.4 sets it)",
        ) {
            return;
        }
        assert!(
            got.starts_with(&format!("{want} ")),
            "{mode} {nodes:?} {flags:?}: numa_maps policy {got:?}, wanted {want:?}"
        );
    }
}

/// From outside, init's /proc/<pid>/numa_maps shows the policy; an `exec`'d process has it too
/// (it is the container's, not only init's).
#[test]
fn memory_policy_is_seen_outside_and_in_exec() {
    let mut b = waiting_bundle();
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
    let c = started(b);
    let outside = std::fs::read_to_string(format!("/proc/{}/numa_maps", c.pid())).unwrap();
    let e = exec_checker(&c, &["cat", "/proc/self/numa_maps"]);
    e.ok();
    if runc_differs("runc 1.1.5 predates linux.memoryPolicy (runtime-spec 1.3; runc 1.4 sets it)") {
        return;
    }
    assert!(
        numa_policy(&outside).starts_with("interleave:0 "),
        "{outside}"
    );
    let inside = fact(&e, "cat");
    let p = numa_policy(inside["data"].as_str().unwrap_or_default());
    assert!(p.starts_with("interleave:0 "), "exec: {p}");
}

#[test]
fn memory_policy_bad_values_are_refused_by_field() {
    if runc_differs("runc 1.1.5 predates linux.memoryPolicy and ignores it, bad or not") {
        return;
    }
    for (policy, field) in [
        (json!({"mode": "MPOL_FAST"}), "linux.memoryPolicy.mode"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_QUICK"]}),
            "linux.memoryPolicy.flags",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "zero"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "3-1"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "4096"}),
            "linux.memoryPolicy.nodes",
        ),
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0",
                "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy.flags",
        ),
        // The kernel's refusals: a node no host has online, balancing with interleave.
        (
            json!({"mode": "MPOL_BIND", "nodes": "1023"}),
            "linux.memoryPolicy",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            "linux.memoryPolicy",
        ),
    ] {
        let mut b = bundle(&["exit", "0"]);
        b.config["linux"]["memoryPolicy"] = policy;
        refused(b, field);
    }
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
