//! `linux.intelRdt`: the container's resctrl group (Intel RDT, AMD PQoS), as runtime-spec 1.3
//! asks and runc 1.5 does: the CTRL_MON group is `closID` (`/` is the root, the default CLOS) or
//! the container id; rt makes it if needed, writes `l3CacheSchema`, then `memBwSchema`, then
//! `schemata` to its `schemata` file (or, for a `closID` group that exists already, checks that
//! they match it), puts init (and every `exec`'d process) in its `tasks`, and for
//! `enableMonitoring` makes the MON group `mon_groups/<id>` under it. `delete` removes the MON
//! group, and the CTRL_MON group only if rt made it without a `closID`. Without a mounted
//! resctrl any `intelRdt` is refused (spec: MUST error; runc 1.4+ too).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIntelRdt;

use crate::state::Record;

/// What rt made and joined, kept in state.json (Record's `rdt_*`) for exec, update and delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdtState {
    /// The CTRL_MON group the container's processes are in.
    pub group: PathBuf,
    /// rt made `group` for a config without `closID`: delete removes it.
    pub created: bool,
    /// This rt made `group` (with or without `closID`): a create that fails later removes it.
    pub made: bool,
    /// The MON group made for `enableMonitoring` (removed at delete).
    pub monitor: Option<PathBuf>,
}

impl RdtState {
    pub fn of(r: &Record) -> Option<RdtState> {
        Some(RdtState {
            group: r.rdt_group.clone()?,
            created: r.rdt_group_owned,
            made: false,
            monitor: r.rdt_monitor.clone(),
        })
    }

    pub fn save_in(&self, r: &mut Record) {
        r.rdt_group = Some(self.group.clone());
        r.rdt_group_owned = self.created;
        r.rdt_monitor = self.monitor.clone();
    }
}

/// A mounted resctrl filesystem.
pub struct Resctrl {
    pub root: PathBuf,
}

impl Resctrl {
    /// The resctrl mount of rt's mount namespace (usually /sys/fs/resctrl), if any.
    pub fn find() -> Option<Resctrl> {
        let mi = crate::procfs::read_mountinfo().ok()?;
        crate::procfs::mountinfo(&mi)
            .find(|m| m.fstype == "resctrl")
            .map(|m| Resctrl {
                root: m.mount_point,
            })
    }

    /// CAT (`L3`), MBA (`MB`) or monitoring (`L3_MON`) support, from resctrl's `info`.
    fn has(&self, feature: &str) -> bool {
        self.root.join("info").join(feature).is_dir()
    }

    /// The kernel's reason for the last failed resctrl operation (Linux 4.19+).
    fn last_status(&self) -> String {
        std::fs::read_to_string(self.root.join("info/last_cmd_status"))
            .map(|s| format!(" ({})", s.trim()))
            .unwrap_or_default()
    }
}

/// The non-empty schema lines of the config, in the order they are written.
fn schema_lines(rdt: &LinuxIntelRdt) -> Vec<&str> {
    let mut v: Vec<&str> = [rdt.l3_cache_schema(), rdt.mem_bw_schema()]
        .into_iter()
        .filter_map(|s| s.as_deref())
        .collect();
    v.extend(rdt.schemata().iter().flatten().map(String::as_str));
    v.retain(|s| !s.is_empty());
    v
}

/// Every problem of `linux.intelRdt` on this host, each starting with its JSON path.
pub fn problems(rdt: &LinuxIntelRdt, resctrl: Option<&Resctrl>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(id) = rdt.clos_id().as_deref()
        && (id == "." || id == ".." || (id != "/" && id.contains('/')))
    {
        v.push(format!("linux.intelRdt.closID: invalid {id:?}"));
    }
    let has = |info: &str| resctrl.is_some_and(|r| r.has(info));
    for (field, set, feature, info) in [
        ("l3CacheSchema", rdt.l3_cache_schema(), "CAT", "L3"),
        ("memBwSchema", rdt.mem_bw_schema(), "MBA", "MB"),
    ] {
        if set.as_deref().is_some_and(|s| !s.is_empty()) && !has(info) {
            v.push(format!(
                "linux.intelRdt.{field}: is specified in config, but Intel RDT/{feature} is not \
                 enabled"
            ));
        }
    }
    if resctrl.is_none() {
        // Whatever else it asks (a closID, schemata, monitoring), there is no resctrl to do it.
        if v.is_empty() {
            v.push(
                "linux.intelRdt: is specified in config, but Intel RDT is not enabled (no \
                 resctrl filesystem is mounted)"
                    .into(),
            );
        }
    } else if rdt.enable_monitoring() == &Some(true) && !has("L3_MON") {
        v.push(
            "linux.intelRdt.enableMonitoring: this resctrl has no monitoring (info/L3_MON)".into(),
        );
    }
    v
}

fn write(r: &Resctrl, file: &Path, data: &str) -> Result<(), String> {
    std::fs::write(file, data).map_err(|e| {
        format!(
            "write {data:?} to {}: {e}{}",
            file.display(),
            r.last_status()
        )
    })
}

fn mkdir(r: &Resctrl, dir: &Path) -> Result<(), String> {
    std::fs::create_dir(dir).map_err(|e| format!("mkdir {}: {e}{}", dir.display(), r.last_status()))
}

/// Make or join the container's groups and put `pid` (init) in them. On error nothing rt made
/// is left.
pub fn apply(r: &Resctrl, rdt: &LinuxIntelRdt, id: &str, pid: i32) -> Result<RdtState, String> {
    let clos = rdt.clos_id().as_deref().filter(|c| !c.is_empty());
    let group = match clos {
        Some("/") => r.root.clone(),
        Some(c) => r.root.join(c),
        None => r.root.join(id),
    };
    let mut lines = schema_lines(rdt);
    let mut state = RdtState {
        group: group.clone(),
        ..RdtState::default()
    };
    let exists = group.is_dir();
    if clos.is_some() && exists && !lines.is_empty() {
        // Shared with whoever made it: the config must agree with it, not change it.
        let current = std::fs::read_to_string(group.join("schemata")).unwrap_or_default();
        if let Some(line) = lines.iter().find(|l| !matches(l, &current)) {
            return Err(format!(
                "linux.intelRdt: {line:?} does not match the schemata of the existing group {}: \
                 {:?}",
                group.display(),
                current.trim()
            ));
        }
        lines.clear();
    } else if clos.is_some() && !exists && lines.is_empty() {
        return Err(format!(
            "linux.intelRdt.closID: {} does not exist (a group given without a schema must be \
             made beforehand)",
            group.display()
        ));
    } else if !exists {
        mkdir(r, &group).map_err(|e| format!("linux.intelRdt: {e}"))?;
        state.made = true;
        state.created = clos.is_none();
    }
    let done = write_schemata(r, &group, &lines)
        .map_err(|e| format!("linux.intelRdt: {e}"))
        .and_then(|_| join(r, rdt, id, pid, &mut state));
    if let Err(e) = done {
        destroy(&state);
        return Err(e);
    }
    Ok(state)
}

fn write_schemata(r: &Resctrl, group: &Path, lines: &[&str]) -> Result<(), String> {
    for line in lines {
        write(r, &group.join("schemata"), &format!("{line}\n"))?;
    }
    Ok(())
}

fn join(
    r: &Resctrl,
    rdt: &LinuxIntelRdt,
    id: &str,
    pid: i32,
    state: &mut RdtState,
) -> Result<(), String> {
    write(r, &state.group.join("tasks"), &pid.to_string())
        .map_err(|e| format!("linux.intelRdt: {e}"))?;
    if rdt.enable_monitoring() == &Some(true) {
        let mon = state.group.join("mon_groups").join(id);
        mkdir(r, &mon).map_err(|e| format!("linux.intelRdt.enableMonitoring: {e}"))?;
        state.monitor = Some(mon.clone());
        write(r, &mon.join("tasks"), &pid.to_string())
            .map_err(|e| format!("linux.intelRdt.enableMonitoring: {e}"))?;
    }
    Ok(())
}

/// Does schema `line` (`RES:id=val;id=val`) agree with the group's `schemata` text? Values are
/// compared as numbers (cache masks in hex, bandwidths in decimal: leading zeros and case do not
/// matter); domains the line does not name are not compared.
fn matches(line: &str, schemata: &str) -> bool {
    let Some((res, doms)) = line.split_once(':') else {
        return false;
    };
    let norm = |v: &str| {
        let v = v.trim().trim_start_matches('0').to_ascii_lowercase();
        if v.is_empty() { "0".to_string() } else { v }
    };
    let current: Vec<(&str, String)> = schemata
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .filter(|(r, _)| r.trim() == res.trim())
        .flat_map(|(_, d)| d.split(';'))
        .filter_map(|d| d.split_once('='))
        .map(|(k, v)| (k.trim(), norm(v)))
        .collect();
    doms.split(';')
        .filter(|d| !d.trim().is_empty())
        .all(|d| match d.split_once('=') {
            Some((k, v)) => current
                .iter()
                .any(|(ck, cv)| *ck == k.trim() && *cv == norm(v)),
            None => false,
        })
}

/// `exec`: the new process joins the container's group (and MON group).
pub fn add_task(state: &RdtState, pid: i32) -> Result<(), String> {
    for dir in [Some(&state.group), state.monitor.as_ref()]
        .into_iter()
        .flatten()
    {
        let tasks = dir.join("tasks");
        std::fs::write(&tasks, pid.to_string())
            .map_err(|e| format!("intelRdt: write {pid} to {}: {e}", tasks.display()))?;
    }
    Ok(())
}

/// `update --l3-cache-schema/--mem-bw-schema` (runc's error texts).
pub fn update(state: Option<&RdtState>, l3: &str, mb: &str) -> Result<(), String> {
    let r = Resctrl::find();
    let has = |f| r.as_ref().is_some_and(|r| r.has(f));
    if !l3.is_empty() && !has("L3") {
        return Err("Intel RDT/CAT: l3 cache schema is not enabled".into());
    }
    if !mb.is_empty() && !has("MB") {
        return Err("Intel RDT/MBA: memory bandwidth schema is not enabled".into());
    }
    let (Some(r), Some(state)) = (r, state) else {
        return Err(
            "intelRdt: the container was created without linux.intelRdt, so it has no resctrl \
             group to update"
                .into(),
        );
    };
    let lines: Vec<&str> = [l3, mb].into_iter().filter(|l| !l.is_empty()).collect();
    write_schemata(&r, &state.group, &lines).map_err(|e| format!("intelRdt: {e}"))
}

/// Remove what rt made: the MON group, and the CTRL_MON group if it was rt's. resctrl removes
/// a group's files with it and moves its tasks to the parent; a group already gone is fine.
pub fn destroy(state: &RdtState) {
    let dirs = [
        state.monitor.as_ref(),
        Some(&state.group).filter(|_| state.created || state.made),
    ];
    for dir in dirs.into_iter().flatten() {
        if let Err(e) = std::fs::remove_dir(dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            crate::logging::warn(&format!("intelRdt: remove {}: {e}", dir.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A fake resctrl: `info` with the given features, the root's `schemata` and `tasks`.
    fn fake(features: &[&str]) -> (crate::testutil::TempDir, Resctrl) {
        let t = crate::testutil::TempDir::new("resctrl");
        for f in features {
            std::fs::create_dir_all(t.path().join("info").join(f)).unwrap();
        }
        std::fs::create_dir_all(t.path().join("mon_groups")).unwrap();
        std::fs::write(
            t.path().join("schemata"),
            "    L3:0=7ff;1=7ff\n    MB:0=100;1=100\n",
        )
        .unwrap();
        let r = Resctrl {
            root: t.path().to_path_buf(),
        };
        (t, r)
    }

    fn rdt(v: serde_json::Value) -> LinuxIntelRdt {
        serde_json::from_value(v).unwrap()
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    /// What rmdir does on resctrl: the group's files go with it.
    fn kernel_rmdir_files(dir: &Path) {
        for f in ["schemata", "tasks"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let _ = std::fs::remove_dir_all(dir.join("mon_groups"));
    }

    #[test]
    fn no_resctrl_refuses_any_intel_rdt() {
        let p = problems(&rdt(json!({"closID": "x"})), None);
        assert!(
            p[0].starts_with("linux.intelRdt:") && p[0].contains("not enabled"),
            "{p:?}"
        );
    }

    #[test]
    fn problems_name_the_field() {
        let (_t, r) = fake(&["L3"]);
        assert!(problems(&rdt(json!({"closID": "/"})), Some(&r)).is_empty());
        assert!(problems(&rdt(json!({"l3CacheSchema": "L3:0=f"})), Some(&r)).is_empty());
        for (bad, field) in [
            (json!({"closID": ".."}), "closID"),
            (json!({"closID": "a/b"}), "closID"),
            (json!({"memBwSchema": "MB:0=50"}), "memBwSchema"),
            (json!({"enableMonitoring": true}), "enableMonitoring"),
        ] {
            let p = problems(&rdt(bad.clone()), Some(&r));
            assert!(
                p.len() == 1 && p[0].starts_with(&format!("linux.intelRdt.{field}:")),
                "{bad}: {p:?}"
            );
        }
    }

    #[test]
    fn container_group_is_made_written_joined_and_removed() {
        let (t, r) = fake(&["L3", "MB", "L3_MON"]);
        let cfg = rdt(json!({"l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=50",
            "schemata": ["L2:0=3"]}));
        let s = apply(&r, &cfg, "ctr", 42).unwrap();
        let group = t.path().join("ctr");
        assert_eq!(s.group, group);
        assert!(s.created);
        // Each line is one write: a real schemata file keeps them all; the fake keeps the last.
        assert_eq!(read(&group.join("schemata")), "L2:0=3\n");
        assert_eq!(read(&group.join("tasks")), "42");
        assert_eq!(s.monitor, None);
        add_task(&s, 43).unwrap();
        assert_eq!(read(&group.join("tasks")), "43");
        kernel_rmdir_files(&group);
        destroy(&s);
        assert!(!group.exists(), "the container's own group stays");
    }

    #[test]
    fn a_closid_group_is_joined_checked_and_kept() {
        let (t, r) = fake(&["L3", "MB"]);
        let group = t.path().join("gold");
        // No schema: the group must exist already.
        let e = apply(&r, &rdt(json!({"closID": "gold"})), "ctr", 7).unwrap_err();
        assert!(e.starts_with("linux.intelRdt.closID:"), "{e}");
        assert!(!group.exists());
        std::fs::create_dir(&group).unwrap();
        std::fs::write(
            group.join("schemata"),
            "    L3:0=00f;1=7ff\n    MB:0=50;1=100\n",
        )
        .unwrap();
        std::fs::create_dir(group.join("mon_groups")).unwrap();
        let s = apply(
            &r,
            &rdt(json!({"closID": "gold", "enableMonitoring": true})),
            "ctr",
            7,
        );
        let s = s.unwrap();
        assert!(!s.created);
        assert_eq!(read(&group.join("tasks")), "7");
        // The MON group: the process is in it, as is every exec'd one, and it goes at delete.
        let mon = group.join("mon_groups/ctr");
        assert_eq!(s.monitor.as_deref(), Some(mon.as_path()));
        assert_eq!(read(&mon.join("tasks")), "7");
        add_task(&s, 70).unwrap();
        assert_eq!(
            (read(&group.join("tasks")), read(&mon.join("tasks"))),
            ("70".into(), "70".into())
        );
        kernel_rmdir_files(&mon);
        destroy(&s);
        assert!(!mon.exists());
        // A schema that matches (case and leading zeros aside) joins; one that differs does not.
        let ok =
            rdt(json!({"closID": "gold", "l3CacheSchema": "L3:0=F", "memBwSchema": "MB:1=100"}));
        apply(&r, &ok, "ctr", 8).unwrap();
        let bad = rdt(json!({"closID": "gold", "schemata": ["L3:0=ff"]}));
        let e = apply(&r, &bad, "ctr", 9).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        assert_eq!(read(&group.join("tasks")), "8", "a refused config joined");
        assert_eq!(
            read(&group.join("schemata")),
            "    L3:0=00f;1=7ff\n    MB:0=50;1=100\n"
        );
        destroy(&s);
        assert!(group.exists(), "a closID group is never removed");
        // A closID group rt had to make is written, but not removed either.
        let s = apply(
            &r,
            &rdt(json!({"closID": "new", "memBwSchema": "MB:0=20"})),
            "c",
            5,
        )
        .unwrap();
        assert!(!s.created);
        assert_eq!(read(&t.path().join("new/schemata")), "MB:0=20\n");
    }

    #[test]
    fn closid_slash_is_the_root_group() {
        let (t, r) = fake(&["L3", "L3_MON"]);
        let s = apply(
            &r,
            &rdt(json!({"closID": "/", "enableMonitoring": true})),
            "c",
            3,
        )
        .unwrap();
        assert_eq!(s.group, t.path());
        assert_eq!(read(&t.path().join("tasks")), "3");
        assert_eq!(read(&t.path().join("mon_groups/c/tasks")), "3");
        kernel_rmdir_files(&t.path().join("mon_groups/c"));
        destroy(&s);
        assert!(!t.path().join("mon_groups/c").exists());
        assert!(t.path().exists());
    }

    #[test]
    fn a_monitoring_failure_names_the_field_and_leaves_nothing() {
        let (t, r) = fake(&["L3", "L3_MON"]);
        // A MON group of that name exists already.
        std::fs::create_dir(t.path().join("mon_groups/ctr")).unwrap();
        let cfg = rdt(json!({"closID": "/", "enableMonitoring": true}));
        let e = apply(&r, &cfg, "ctr", 1).unwrap_err();
        assert!(e.starts_with("linux.intelRdt.enableMonitoring:"), "{e}");
        assert!(
            t.path().join("mon_groups/ctr").exists(),
            "someone else's group went"
        );
    }
}
