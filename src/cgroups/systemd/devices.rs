//! The device rules (the config's, then runc's defaults) as systemd's DevicePolicy and
//! DeviceAllow, as runc's systemd driver gives them: the rules are run as the v1 devices
//! controller would (an `a` rule resets to allow-all or deny-all, other rules add or remove
//! exceptions), then each allowed entry is named as systemd wants it: `/dev/char/1:3`,
//! `char-pts` (a major's group from /proc/devices) or `char-*`. What systemd cannot say is left
//! to rt's own device filter, with a warning.

use oci_spec::runtime::LinuxDeviceCgroup;

use super::super::bpf::{self, ACC_MKNOD, ACC_READ, ACC_WRITE, DEV_BLOCK};
use super::props::{Prop, prop};
use crate::dbus::Value;

/// What the conversion needs from the host.
pub struct Host<'a> {
    /// Does this path exist?
    pub exists: &'a dyn Fn(&str) -> bool,
    /// /proc/devices.
    pub proc_devices: &'a dyn Fn() -> String,
    pub warn: &'a dyn Fn(&str),
}

/// An exception to the default: a type, major and minor (None: any) and access bits.
struct Exception {
    typ: i32,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
}

pub fn properties(spec: &[LinuxDeviceCgroup], host: &Host) -> Vec<Prop> {
    let mut default_allow = false;
    let mut list: Vec<Exception> = Vec::new();
    for r in bpf::rules(spec) {
        let Some(typ) = r.typ else {
            default_allow = r.allow;
            list.clear();
            continue;
        };
        let pos = list
            .iter()
            .position(|e| e.typ == typ && e.major == r.major && e.minor == r.minor);
        match pos {
            Some(i) if r.allow != default_allow => list[i].access |= r.access,
            None if r.allow != default_allow => list.push(Exception {
                typ,
                major: r.major,
                minor: r.minor,
                access: r.access,
            }),
            Some(i) => {
                list[i].access &= !r.access;
                if list[i].access == 0 {
                    list.remove(i);
                }
            }
            None => {}
        }
    }
    let policy = |p: &str| prop("DevicePolicy", Value::str(p));
    let allow = |entries: Vec<Value>| prop("DeviceAllow", Value::Array("(ss)".into(), entries));
    if default_allow {
        if list.is_empty() {
            return vec![policy("auto"), allow(Vec::new())];
        }
        (host.warn)(
            "systemd doesn't support blacklist device rules -- applying temporary deny-all rule",
        );
        return vec![policy("strict"), allow(Vec::new())];
    }
    let mut entries = Vec::new();
    for e in &list {
        if let Some(path) = entry_path(e, host) {
            let perms: String = [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
                .iter()
                .filter(|(bit, _)| e.access & bit != 0)
                .map(|(_, c)| c)
                .collect();
            entries.push(Value::Struct(vec![Value::Str(path), Value::Str(perms)]));
        }
    }
    // The empty list first: it clears what the unit allowed before (update).
    vec![policy("strict"), allow(Vec::new()), allow(entries)]
}

/// systemd's name for an exception's devices, if it has one.
fn entry_path(e: &Exception, host: &Host) -> Option<String> {
    let (prefix, dir) = if e.typ == DEV_BLOCK {
        ("block-", "block")
    } else {
        ("char-", "char")
    };
    let rule = || {
        let n = |v: Option<i32>| v.map_or("*".to_string(), |v| v.to_string());
        format!("{} {}:{}", &prefix[..1], n(e.major), n(e.minor))
    };
    match (e.major, e.minor) {
        (None, None) => Some(format!("{prefix}*")),
        (None, Some(_)) => {
            (host.warn)(&format!(
                "systemd doesn't support '*:n' device rules -- temporarily ignoring rule {}",
                rule()
            ));
            None
        }
        (Some(major), None) => {
            let group = device_group(&(host.proc_devices)(), e.typ == DEV_BLOCK, major);
            if group.is_none() {
                (host.warn)(&format!(
                    "could not find device group for {} in /proc/devices -- temporarily ignoring rule",
                    rule()
                ));
            }
            group.map(|g| format!("{prefix}{g}"))
        }
        (Some(major), Some(minor)) => {
            // systemd warns about a path that does not exist; /sys/dev has them without udev.
            let path = format!("/dev/{dir}/{major}:{minor}");
            if (host.exists)(&path) || (host.exists)(&format!("/sys{path}")) {
                Some(path)
            } else {
                (host.warn)(&format!(
                    "skipping device {path} for systemd: no such device"
                ));
                None
            }
        }
    }
}

/// The name /proc/devices gives the block or character major `major`.
fn device_group(proc_devices: &str, block: bool, major: i32) -> Option<String> {
    let mut in_section = false;
    for line in proc_devices.lines().map(str::trim) {
        match line {
            "Character devices:" => in_section = !block,
            "Block devices:" => in_section = block,
            _ if in_section => {
                let mut f = line.split_whitespace();
                if f.next().and_then(|m| m.parse::<i32>().ok()) == Some(major) {
                    return f.next().map(str::to_string);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const PROC_DEVICES: &str =
        "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  7 loop\n  8 sd\n";

    fn props(json: &str, existing: &[&str]) -> (Vec<Prop>, Vec<String>) {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        let warnings = RefCell::new(Vec::new());
        let host = Host {
            exists: &|p| existing.contains(&p),
            proc_devices: &|| PROC_DEVICES.to_string(),
            warn: &|w| warnings.borrow_mut().push(w.to_string()),
        };
        // As create gives them: the config's rules, then runc's defaults.
        let p = properties(&crate::cgroups::with_default_rules(&spec, &[]), &host);
        (p, warnings.into_inner())
    }

    fn allow_list(p: &[Prop]) -> Vec<(String, String)> {
        match &p.last().unwrap().1 {
            Value::Array(_, v) => v
                .iter()
                .map(|e| match e {
                    Value::Struct(f) => (
                        f[0].as_str().unwrap().to_string(),
                        f[1].as_str().unwrap().to_string(),
                    ),
                    _ => unreachable!(),
                })
                .collect(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn deny_all_then_defaults() {
        // What Docker, containerd and podman send: deny all, then runc's defaults are added.
        let (p, w) = props(
            r#"[{"allow": false, "access": "rwm"}]"#,
            &[
                "/dev/char/1:3",
                "/dev/char/1:5",
                "/dev/char/1:7",
                "/dev/char/1:8",
                "/dev/char/1:9",
                "/dev/char/5:0",
                "/sys/dev/char/5:2",
            ],
        );
        assert_eq!(p[0], prop("DevicePolicy", Value::str("strict")));
        let want: Vec<(String, String)> = [
            ("char-*", "m"),
            ("block-*", "m"),
            ("/dev/char/1:3", "rwm"),
            ("/dev/char/1:8", "rwm"),
            ("/dev/char/1:7", "rwm"),
            ("/dev/char/5:0", "rwm"),
            ("/dev/char/1:5", "rwm"),
            ("/dev/char/1:9", "rwm"),
            ("char-pts", "rwm"),
            ("/dev/char/5:2", "rwm"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(allow_list(&p), want);
        // No /dev/net/tun on this "host": skipped, with a warning.
        assert_eq!(
            w,
            ["skipping device /dev/char/10:200 for systemd: no such device"]
        );
    }

    #[test]
    fn rules_in_order() {
        // An allow merges into the same device's entry; a deny takes access away.
        let (p, _) = props(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"},
                {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "w"},
                {"allow": true, "type": "b", "major": 7, "access": "rw"},
                {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rw"}]"#,
            &["/dev/block/8:0", "/dev/char/1:3"],
        );
        let list = allow_list(&p);
        assert!(
            list.contains(&("/dev/block/8:0".into(), "rw".into())),
            "{list:?}"
        );
        assert!(
            list.contains(&("block-loop".into(), "rw".into())),
            "{list:?}"
        );
        // The default 1:3 rule comes after the deny: rwm again. A deny after it would remove it.
        assert!(
            list.contains(&("/dev/char/1:3".into(), "rwm".into())),
            "{list:?}"
        );
    }

    #[test]
    fn allow_all_is_policy_auto() {
        // docker --privileged: allow everything.
        let (p, w) = props(r#"[{"allow": true, "access": "rwm"}]"#, &[]);
        assert_eq!(
            p,
            vec![
                prop("DevicePolicy", Value::str("auto")),
                prop("DeviceAllow", Value::Array("(ss)".into(), vec![]))
            ]
        );
        assert!(w.is_empty());
        // Allow all but some: systemd has no deny list.
        let (p, w) = props(
            r#"[{"allow": true, "access": "rwm"}, {"allow": false, "type": "c", "major": 1, "minor": 1, "access": "rwm"}]"#,
            &[],
        );
        assert_eq!(p[0], prop("DevicePolicy", Value::str("strict")));
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn what_systemd_cannot_say() {
        let (p, w) = props(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "minor": 3, "access": "r"},
                {"allow": true, "type": "c", "major": 99, "access": "r"}]"#,
            &[],
        );
        let list = allow_list(&p);
        assert!(!list.iter().any(|(p, _)| p.contains("99")), "{list:?}");
        assert!(w.iter().any(|w| w.contains("'*:n'")), "{w:?}");
        assert!(
            w.iter().any(|w| w.contains("device group for c 99:*")),
            "{w:?}"
        );
    }
}
