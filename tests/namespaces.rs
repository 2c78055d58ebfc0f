//! Namespaces: the container's pid/mnt/uts/ipc/net namespaces differ from
//! the host's (and are shared when not requested), a user namespace with
//! uid/gid mappings (root inside, mapped uid outside), and joining an
//! existing namespace by path.

mod common;

use common::*;
use std::collections::BTreeMap;

const NS: [&str; 5] = ["pid", "mnt", "uts", "ipc", "net"];

/// Inside: `readlink /proc/1/ns/*` for the five namespaces.
fn inside_ns(b: Bundle) -> BTreeMap<String, String> {
    let mut b = b;
    b.sh("for n in pid mnt uts ipc net; do echo $n $(readlink /proc/1/ns/$n); done");
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    o.stdout
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn namespaces_differ_from_host_inside_view() {
    let inside = inside_ns(Bundle::new());
    for n in NS {
        let v = &inside[n];
        assert!(v.starts_with(&format!("{n}:[")), "{n}: {v}");
        assert_ne!(v, &self_ns(n), "{n} namespace is the host's");
    }
}

#[test]
fn namespaces_differ_from_host_outside_view() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    for n in NS {
        assert_ne!(ns_link(pid, n), self_ns(n), "{n} namespace is the host's");
    }
}

#[test]
fn unrequested_namespaces_are_shared_with_host() {
    // control: drop net and uts from the config -> those are the host's
    let mut b = Bundle::new();
    b.namespaces(&["pid", "ipc", "mount"]);
    b.config["hostname"] = serde_json::Value::Null;
    let inside = inside_ns(b);
    assert_eq!(inside["net"], self_ns("net"));
    assert_eq!(inside["uts"], self_ns("uts"));
    for n in ["pid", "mnt", "ipc"] {
        assert_ne!(inside[n], self_ns(n), "{n}");
    }
}

/// The default config's /sys/fs/cgroup (cgroup v1) mount cannot be done
/// from a user namespace; drop it like `runc spec --rootless` does.
fn userns_bundle(host_id: u32) -> Bundle {
    let mut b = Bundle::new();
    b.user_namespace(host_id, 65536)
        .remove_mount("/sys/fs/cgroup");
    b
}

#[test]
fn user_namespace_root_inside_mapped_outside() {
    let mut b = userns_bundle(100000);
    b.sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map");
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(lines[0], "0", "{o}");
    assert_eq!(lines[1], "0", "{o}");
    let uid_map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(uid_map, ["0", "100000", "65536"], "{o}");
    let gid_map: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(gid_map, ["0", "100000", "65536"], "{o}");
}

#[test]
fn user_namespace_seen_from_host() {
    let mut b = userns_bundle(200000);
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    let st = proc_status(pid);
    let uid: Vec<String> = status_field(&st, "Uid")
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(uid, ["200000"; 4], "{st}");
    let gid: Vec<String> = status_field(&st, "Gid")
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(gid, ["200000"; 4], "{st}");
    assert_ne!(ns_link(pid, "user"), self_ns("user"));
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
}

#[test]
fn join_network_namespace_by_path() {
    let mut a_b = Bundle::new();
    a_b.args(&["sleep", "100000"]);
    let mut a = Container::new(a_b);
    let a_pid = a.create_and_start();
    let a_net = ns_link(a_pid, "net");
    assert_ne!(a_net, self_ns("net"));

    let mut b_b = Bundle::new();
    b_b.namespace("network", Some(&format!("/proc/{a_pid}/ns/net")))
        .sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts");
    let b = a.sibling(b_b);
    let o = b.run();
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(lines[0], a_net, "B is not in A's net ns: {o}");
    // other namespaces are still B's own
    assert_ne!(lines[1], ns_link(a_pid, "uts"), "{o}");
    assert_ne!(lines[1], self_ns("uts"), "{o}");
    // A is unharmed
    assert_eq!(a.status(), "running");
}

#[test]
fn join_namespace_by_path_outside_view() {
    let mut a_b = Bundle::new();
    a_b.args(&["sleep", "100000"]);
    let mut a = Container::new(a_b);
    let a_pid = a.create_and_start();

    let mut b_b = Bundle::new();
    b_b.namespace("ipc", Some(&format!("/proc/{a_pid}/ns/ipc")))
        .args(&["sleep", "100000"]);
    let mut b = a.sibling(b_b);
    let b_pid = b.create_and_start();
    assert_eq!(ns_link(b_pid, "ipc"), ns_link(a_pid, "ipc"));
    assert_ne!(ns_link(b_pid, "net"), ns_link(a_pid, "net"));
    assert_ne!(ns_link(b_pid, "pid"), ns_link(a_pid, "pid"));
    let l = a.rt(&["list", "-q"]);
    let mut ids = l.stdout_lines();
    ids.sort();
    let mut want = vec![a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(ids, want, "{l}");
}

/// runtime-tools' linux_ns_path joins a uts namespace by path with `hostname` set: runc accepts
/// it and sets the name in the joined namespace, so the name is seen by the other container too.
#[test]
fn hostname_in_uts_namespace_joined_by_path() {
    let mut a_b = Bundle::new();
    a_b.args(&["sleep", "100000"]).hostname("first");
    let mut a = Container::new(a_b);
    let a_pid = a.create_and_start();

    let mut b_b = Bundle::new();
    b_b.namespace("uts", Some(&format!("/proc/{a_pid}/ns/uts")))
        .hostname("joined")
        .sh("hostname; readlink /proc/self/ns/uts");
    let o = a.sibling(b_b).run();
    o.ok();
    assert_eq!(o.stdout_lines(), ["joined", &ns_link(a_pid, "uts")], "{o}");
    // Outside: A's namespace now has the name B set, the host's is untouched.
    let uts = format!("--uts=/proc/{a_pid}/ns/uts");
    let seen = std::process::Command::new("nsenter")
        .args([uts.as_str(), "hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&seen.stdout).trim(), "joined");
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim(),
        "joined"
    );
}
