//! runtime-spec 1.3 (and runc 1.4/1.5's reading of it): `ociVersion` 1.3.0, `linux.netDevices`,
//! `linux.memoryPolicy`, `linux.intelRdt` without resctrl, `pids.limit` 0, the cpu.weight of
//! cpu.shares, the features keys of 1.3, the session keyring of `exec` and personality domains.
//! Each checks the effect from inside the container (checker) and from outside (/proc, cgroupfs,
//! the scratch network namespace), or the refusal and that nothing was left behind.

use crate::common::*;
use crate::*;
use serde_json::{Value, json};
use std::process::Command;

/// `exec` of the checker with `args` in the container.
fn exec_checker(c: &Container, args: &[&str]) -> Output {
    let mut all = vec!["--", "/checker"];
    all.extend_from_slice(args);
    c.exec(&all)
}

fn features() -> Value {
    let scratch = TempDir::new("scratch");
    let o = rt_raw(&["features"], None, scratch.path());
    o.ok();
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("features is not JSON ({e}): {o}"))
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

// ---- ociVersion ----

#[test]
fn spec_version_1_3_0_is_reported_everywhere() {
    let scratch = TempDir::new("scratch");
    let v = rt_raw(&["--version"], None, scratch.path());
    v.ok();
    let f = features();
    let spec = rt_raw(&["spec"], Some(scratch.path()), scratch.path());
    spec.ok();
    let template: Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.path().join("config.json")).unwrap())
            .unwrap();
    // A 1.3.0 config runs, and its state says 1.3.0.
    let mut b = waiting_bundle();
    b.config["ociVersion"] = json!("1.3.0");
    let c = started(b);
    let state = c.state_json();
    if runc_differs("runc 1.1.5 implements runtime-spec 1.0.2-dev (runc 1.4 and 1.5: 1.3.0)") {
        return;
    }
    assert!(v.stdout.lines().any(|l| l == "spec: 1.3.0"), "{v}");
    assert_eq!(f["ociVersionMax"], "1.3.0", "{f}");
    assert_eq!(template["ociVersion"], "1.3.0");
    assert_eq!(state["ociVersion"], "1.3.0", "{state}");
}

// ---- features ----

/// The keys runtime-spec 1.3 added to features-linux.md, and the capabilities in the kernel's
/// order (runc's order; a set's order would change from run to run).
#[test]
fn features_have_the_1_3_keys() {
    let f = features();
    let l = &f["linux"];
    let caps: Vec<&str> = l["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // include/uapi/linux/capability.h, 0 to 40.
    let kernel_order = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    assert_eq!(caps, kernel_order, "{f}");
    if runc_differs(
        "runc 1.1.5's features predate runtime-spec 1.3's memoryPolicy, netDevices and intelRdt keys",
    ) {
        return;
    }
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        list(&l["memoryPolicy"]["modes"]),
        [
            "MPOL_BIND",
            "MPOL_DEFAULT",
            "MPOL_INTERLEAVE",
            "MPOL_LOCAL",
            "MPOL_PREFERRED",
            "MPOL_PREFERRED_MANY",
            "MPOL_WEIGHTED_INTERLEAVE"
        ]
    );
    assert_eq!(
        list(&l["memoryPolicy"]["flags"]),
        [
            "MPOL_F_NUMA_BALANCING",
            "MPOL_F_RELATIVE_NODES",
            "MPOL_F_STATIC_NODES"
        ]
    );
    assert_eq!(l["netDevices"], json!({"enabled": true}));
    assert_eq!(
        l["intelRdt"],
        json!({"enabled": true, "schemata": true, "monitoring": true})
    );
    assert_eq!(l["mountExtensions"]["idmap"]["enabled"], true);
    assert!(f["potentiallyUnsafeConfigAnnotations"].is_array(), "{f}");
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

// ---- pids.limit 0 ----

fn pids_max(c: &Container) -> String {
    let dirs = c.cgroup_dirs();
    let dir = dirs
        .iter()
        .find(|d| d.join("pids.max").exists())
        .unwrap_or_else(|| panic!("no pids cgroup among {dirs:?}"));
    read_trim(dir.join("pids.max"))
}

/// runtime-spec 1.3: 0 is a real limit (runc 1.4+ writes "1"): nothing more can start in the
/// container, not even an `exec`.
#[test]
fn pids_limit_zero_in_a_1_3_config_is_a_limit() {
    let mut b = waiting_bundle();
    b.config["ociVersion"] = json!("1.3.0");
    b.config["linux"]["resources"]["pids"] = json!({"limit": 0});
    let c = started(b);
    let max = pids_max(&c);
    if runc_differs(
        "runc 1.1.5 takes pids.limit 0 as not set; runc 1.4+ (runtime-spec 1.3) writes pids.max 1",
    ) {
        return;
    }
    assert_eq!(max, "1");
    let e = exec_checker(&c, &["exit", "0"]);
    e.failed();
}

/// A config of spec 1.2 or older means "not set" by 0 (podman 4.3 sends `{"limit": 0}` for
/// `--pids-limit -1`), and a `pids` object without `limit` sets nothing in any version.
#[test]
fn pids_limit_zero_in_an_older_config_or_missing_is_not_set() {
    for (version, pids) in [
        ("1.0.2-dev", json!({"limit": 0})),
        ("1.2.1", json!({"limit": 0})),
        ("1.3.0", json!({})),
    ] {
        let mut b = waiting_bundle();
        b.config["ociVersion"] = json!(version);
        b.config["linux"]["resources"]["pids"] = pids.clone();
        let c = started(b);
        assert_eq!(pids_max(&c), "max", "{version} {pids}");
        exec_checker(&c, &["exit", "0"]).ok();
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

// ---- linux.personality ----

#[test]
fn unknown_personality_domain_is_refused() {
    if runc_differs("runc 1.1.5 predates linux.personality and ignores it") {
        return;
    }
    for domain in ["LINUX64", "linux32", ""] {
        let mut b = bundle(&["exit", "0"]);
        b.config["linux"]["personality"] = json!({ "domain": domain });
        refused(b, "linux.personality.domain");
    }
}

// ---- linux.intelRdt ----

/// Without a mounted resctrl any intelRdt is refused (config-linux.md: MUST error), a bare
/// closID included (runc 1.4+; runc 1.1.5 ignores that one).
#[test]
fn intel_rdt_without_resctrl_is_refused() {
    if std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .contains(" - resctrl ")
    {
        skip("this host has resctrl mounted (intelrdt.rs's unit tests cover the groups)");
        return;
    }
    for rdt in [
        json!({"closID": "rt-test"}),
        json!({"enableMonitoring": true}),
        json!({"schemata": ["L3:0=f"]}),
        json!({"closID": "/"}),
    ] {
        let mut b = bundle(&["exit", "0"]);
        b.config["linux"]["intelRdt"] = rdt.clone();
        if runc_differs(
            "runc 1.1.5 runs a config with intelRdt but no schema on a host without resctrl; runc 1.4+ refuses it",
        ) {
            return;
        }
        let o = refused(b, "linux.intelRdt");
        o.stderr_has("not enabled");
    }
}

// ---- linux.netDevices ----

/// A network namespace of the test's own, held by a sleeping process. rt runs in it (through
/// nsenter), so the "host" side of every move is this scratch namespace, never the machine's.
struct ScratchNet {
    holder: HostProcess,
}

impl ScratchNet {
    fn new() -> ScratchNet {
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "sleep", "600"]);
        let holder = HostProcess::spawn(cmd);
        // Until unshare has run, /proc/<pid>/ns/net is the machine's: never use it before.
        wait_until("the scratch network namespace", || {
            std::fs::read_link(format!("/proc/{}/ns/net", holder.pid()))
                .is_ok_and(|l| l.to_string_lossy() != self_ns("net"))
                && std::fs::read_to_string(format!("/proc/{}/comm", holder.pid()))
                    .is_ok_and(|c| c.trim() == "sleep")
        });
        ScratchNet { holder }
    }
    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.holder.pid())
    }
    fn wrapper(&self) -> Vec<String> {
        vec!["nsenter".into(), format!("--net={}", self.path())]
    }
    /// `sh -c script` in the network namespace `ns` (a /proc/<pid>/ns/net path).
    fn sh_in(ns: &str, script: &str) -> (bool, String) {
        let o = Command::new("nsenter")
            .arg(format!("--net={ns}"))
            .args(["sh", "-c", script])
            .output()
            .expect("nsenter");
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.success(), text)
    }
    fn sh(&self, script: &str) -> (bool, String) {
        Self::sh_in(&self.path(), script)
    }
    /// A veth pair rtv0/rtv1 with addresses on rtv0: global IPv4 and IPv6 ones, which move with
    /// it, and a host-scope one, which does not (the spec keeps permanent global addresses).
    fn veth(&self) {
        let (ok, out) = self.sh("ip link add rtv0 type veth peer name rtv1 && \
             ip link set rtv0 mtu 1400 address 02:00:00:00:13:07 && \
             ip addr add 10.13.0.7/24 dev rtv0 && \
             ip -6 addr add 2001:db8::13:7/64 dev rtv0 nodad && \
             ip addr add 127.0.13.7/8 scope host dev rtv0");
        assert!(
            ok,
            "cannot make the veth pair in the scratch namespace: {out}"
        );
    }
}

fn net_bundle(devices: Value, args: &[&str]) -> Bundle {
    let mut b = bundle(args);
    b.config["linux"]["netDevices"] = devices;
    b
}

/// rtv0 moves into the container as eth7 with its MAC, MTU and global addresses, and is up;
/// the scratch namespace no longer has it. After delete the container's namespace is gone, and
/// with it the veth pair (the kernel destroys virtual devices; the spec forbids moving back).
#[test]
fn net_device_moves_renamed_with_its_addresses() {
    let net = ScratchNet::new();
    net.veth();
    let b = net_bundle(
        json!({"rtv0": {"name": "eth7"}}),
        &[
            "cat",
            "/sys/class/net/eth7/address",
            "cat",
            "/sys/class/net/eth7/mtu",
            "cat",
            "/sys/class/net/eth7/flags",
            "cat",
            "/proc/net/fib_trie",
            "cat",
            "/proc/net/if_inet6",
            "wait",
        ],
    );
    let mut c = Container::new(b).wrapped(net.wrapper());
    c.create_and_start();
    let out = c.wait_output("\"ready\"");
    if runc_differs("runc 1.1.5 predates linux.netDevices (runtime-spec 1.3; runc 1.4 moves them)")
    {
        return;
    }
    let data: Vec<String> = lines(&out)
        .into_iter()
        .filter(|v| v["cmd"] == "cat")
        .map(|v| v["data"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(data.len(), 5, "inside: {out}");
    assert_eq!(data[0].trim(), "02:00:00:00:13:07");
    assert_eq!(data[1].trim(), "1400");
    let flags = u32::from_str_radix(data[2].trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "eth7 is not up: flags {}", data[2]);
    assert!(
        data[3].contains("10.13.0.7"),
        "no 10.13.0.7 inside: {}",
        data[3]
    );
    assert!(
        !data[3].contains("127.0.13.7"),
        "a host-scope address moved: {}",
        data[3]
    );
    assert!(
        data[4].contains("20010db8000000000000000000130007") && data[4].contains("eth7"),
        "no 2001:db8::13:7 on eth7 inside: {}",
        data[4]
    );
    // Outside: gone from the scratch namespace, there in the container's.
    assert!(
        !net.sh("ip link show rtv0").0,
        "rtv0 is still in the scratch namespace"
    );
    let ctr_ns = format!("/proc/{}/ns/net", c.pid());
    let (ok, show) = ScratchNet::sh_in(&ctr_ns, "ip -o addr show dev eth7; ip -o link show eth7");
    assert!(ok, "{show}");
    for want in ["10.13.0.7/24", "2001:db8::13:7/64", "state", "mtu 1400"] {
        assert!(
            show.contains(want),
            "container's netns lacks {want}: {show}"
        );
    }
    c.kill(Some("KILL")).ok();
    c.wait_status("stopped");
    c.delete(false).ok();
    // The namespace went with the container, and the veth pair with it.
    wait_until("the veth pair to go with the container's namespace", || {
        !net.sh("ip link show rtv1").0
    });
}

/// Into a network namespace joined by path, the device stays there after delete: the owner of
/// the namespace owns its devices (config-linux.md: MUST NOT move it out before deletion).
#[test]
fn net_device_stays_in_a_joined_namespace_after_delete() {
    let net = ScratchNet::new();
    net.veth();
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", net.path()))
        .args(["unshare", "--net", "sleep", "600"]);
    let owner = HostProcess::spawn(cmd);
    let owner_ns = format!("/proc/{}/ns/net", owner.pid());
    wait_until("the joined network namespace", || {
        std::fs::read_to_string(format!("/proc/{}/comm", owner.pid()))
            .is_ok_and(|c| c.trim() == "sleep")
    });
    let mut b = net_bundle(
        json!({"rtv0": {}}),
        &["cat", "/sys/class/net/rtv0/operstate"],
    );
    b.namespace("network", Some(&owner_ns));
    let c = Container::new(b).wrapped(net.wrapper());
    let o = c.run();
    o.ok();
    if runc_differs("runc 1.1.5 predates linux.netDevices (runtime-spec 1.3; runc 1.4 moves them)")
    {
        return;
    }
    fact(&o, "cat");
    // `run` deleted the container when its process exited.
    assert!(!c.state_dir_exists(), "{o}");
    let (ok, show) = ScratchNet::sh_in(&owner_ns, "ip -o addr show dev rtv0");
    assert!(
        ok && show.contains("10.13.0.7/24"),
        "rtv0 left the joined namespace: {show}"
    );
    assert!(
        !net.sh("ip link show rtv0").0,
        "rtv0 came back to the scratch namespace"
    );
}

/// A missing interface, no network namespace, a name the container has already, bad names:
/// each refused by field, nothing left, the device where it was.
#[test]
fn net_device_problems_are_refused_by_field() {
    let net = ScratchNet::new();
    net.veth();
    if runc_differs("runc 1.1.5 predates linux.netDevices and ignores it") {
        return;
    }
    let mut no_netns = net_bundle(json!({"rtv0": {}}), &["exit", "0"]);
    no_netns.remove_namespace("network");
    for (b, field) in [
        (
            net_bundle(json!({"nope0": {}}), &["exit", "0"]),
            "linux.netDevices.nope0",
        ),
        (no_netns, "linux.netDevices"),
        (
            net_bundle(json!({"rtv0": {"name": "lo"}}), &["exit", "0"]),
            "linux.netDevices.rtv0",
        ),
        (
            net_bundle(json!({"rtv0": {"name": "a/b"}}), &["exit", "0"]),
            "linux.netDevices.rtv0.name",
        ),
        (
            net_bundle(json!({"rt v0": {}}), &["exit", "0"]),
            "linux.netDevices",
        ),
    ] {
        let c = Container::new(b).wrapped(net.wrapper());
        let o = c.run();
        o.failed().stderr_has(field);
        assert!(!c.state_dir_exists(), "state left: {o}");
        let (ok, show) = net.sh("ip -o addr show dev rtv0");
        assert!(
            ok && show.contains("10.13.0.7/24"),
            "{field}: rtv0 moved or lost its address: {show}"
        );
    }
}
