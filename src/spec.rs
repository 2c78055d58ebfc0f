//! config.json: loading with errors that name the JSON path, the checks rt makes before it
//! starts anything, the `spec` template and the `features` document.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

mod parse;
pub mod pids;

pub use parse::{FieldError, Parsed, read_regular};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {kind}, not a regular file", .path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{}: {}", .path.display(), list(.errors))]
    Parse {
        path: PathBuf,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The first few problems, then how many more (`rt check` lists them all).
fn list(errors: &[FieldError]) -> String {
    const SHOWN: usize = 5;
    let mut s: Vec<String> = errors.iter().take(SHOWN).map(|e| e.to_string()).collect();
    if errors.len() > SHOWN {
        s.push(format!("and {} more", errors.len() - SHOWN));
    }
    s.join("; ")
}

pub const CONFIG: &str = "config.json";

/// Load `bundle/config.json`. Errors name the JSON path of each bad field
/// (`process.capabilities.bounding[3]`); warnings (unknown capabilities) are logged.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    load_raw(bundle).map(|(_, spec)| spec)
}

/// [`load`], also returning config.json's bytes (create keeps a copy in the state dir).
pub fn load_raw(bundle: &Path) -> Result<(Vec<u8>, Spec), SpecError> {
    let path = bundle.join(CONFIG);
    let data = read_regular(&path)?;
    let spec = parse(&data).map_err(|errors| SpecError::Parse { path, errors })?;
    Ok((data, spec))
}

/// config.json's bytes as runc reads them (see [`parse::spec`]), warnings logged, with a
/// `linux.resources.pids` that sets no limit dropped ([`pids`]).
pub fn parse(data: &[u8]) -> Result<Spec, Vec<FieldError>> {
    let mut spec = parse_logged(parse::spec(data))?;
    pids::normalize(&mut spec, data);
    Ok(spec)
}

/// An OCI Process object (`exec --process FILE`), read as runc reads it.
pub fn parse_process(data: &[u8]) -> Result<oci_spec::runtime::Process, Vec<FieldError>> {
    parse_logged(parse::process(data))
}

fn parse_logged<T>(p: Parsed<T>) -> Result<T, Vec<FieldError>> {
    for w in &p.warnings {
        crate::logging::warn(w);
    }
    p.into_result()
}

/// Every problem of the JSON itself, without logging: for `rt check`.
pub fn parse_all(data: &[u8]) -> Parsed<Spec> {
    parse::spec(data)
}

/// Checks made before anything is created; the error names the field (the first problem of
/// [`problems`]).
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf, SpecError> {
    let (rootfs, problems) = problems(spec, bundle);
    match (rootfs, problems.into_iter().next()) {
        (Some(r), None) => Ok(r),
        (_, Some(p)) => Err(SpecError::Invalid(p)),
        (None, None) => Err(SpecError::Invalid("root: missing".into())),
    }
}

fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// Every problem of the config on its own (not the host's abilities: see `check`), each
/// starting with its JSON path. Also returns the rootfs path when `root` is usable.
pub fn problems(spec: &Spec, bundle: &Path) -> (Option<PathBuf>, Vec<String>) {
    // ociVersion is not checked: runc reads any version (and none) the same way.
    let mut v: Vec<String> = Vec::new();
    let mut rootfs = None;
    match spec.root() {
        None => v.push("root: missing".into()),
        Some(root) if root.path().as_os_str().is_empty() => {
            v.push("root.path: must not be empty".into())
        }
        Some(root) => {
            let p = if root.path().is_absolute() {
                root.path().clone()
            } else {
                bundle.join(root.path())
            };
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => rootfs = Some(p),
                Ok(_) => v.push(format!("root.path: {} is not a directory", p.display())),
                Err(e) => v.push(format!("root.path: {}: {e}", p.display())),
            }
        }
    }
    match spec.process() {
        None => v.push("process: missing".into()),
        Some(process) => process_problems(process, &mut v),
    }
    let linux = spec.linux().as_ref();
    let namespaces = linux
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let has = |t| namespaces.iter().any(|n| n.typ() == t);
    if !has(LinuxNamespaceType::Mount) {
        v.push("linux.namespaces: a mount namespace is required".into());
    }
    for (i, n) in namespaces.iter().enumerate() {
        if namespaces[..i].iter().any(|o| o.typ() == n.typ()) {
            v.push(format!("linux.namespaces[{i}].type: duplicate {}", n.typ()));
        }
        if let Some(p) = n.path() {
            if !p.is_absolute() {
                v.push(format!(
                    "linux.namespaces[{i}].path: {} is not absolute",
                    p.display()
                ));
            } else if let Err(e) = std::fs::metadata(p) {
                v.push(format!("linux.namespaces[{i}].path: {}: {e}", p.display()));
            } else if n.typ() == LinuxNamespaceType::Mount && crate::namespaces::is_own(n.typ(), p)
            {
                // The rootfs is built by mounting, propagation changes and pivot_root in the
                // mount namespace init is in: in rt's own that is the host's mount table.
                v.push(format!(
                    "linux.namespaces[{i}].path: {} is rt's own mount namespace; building the \
                     rootfs there would change the host's mounts",
                    p.display()
                ));
            }
        }
    }
    // As runc: a uts namespace joined by path will do too (the name is set in the joined one).
    let has_uts = has(LinuxNamespaceType::Uts);
    for (field, val) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        let Some(h) = val.as_ref().filter(|h| !h.is_empty()) else {
            continue;
        };
        if !has_uts {
            v.push(format!(
                "{field}: setting it needs a uts namespace in linux.namespaces"
            ));
        }
        // The kernel takes any bytes; only the length is limited (runc passes the rest on).
        if h.len() > 64 {
            v.push(format!("{field}: {h:?} is longer than 64 bytes"));
        }
        // rt sets the domain name from a C string (init refuses it there, late).
        if field == "domainname" && has_nul(h) {
            v.push("domainname: contains a NUL byte".into());
        }
    }
    if let Some(l) = linux {
        linux_problems(l, &has, &mut v);
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let dest = m.destination();
        if dest.as_os_str().is_empty() {
            v.push(format!("mounts[{i}].destination: must not be empty"));
        }
        let opts = m.options().clone().unwrap_or_default();
        let is_bind = crate::rootfs::options::is_bind_mount(m);
        if !is_bind && m.typ().as_deref().is_none_or(str::is_empty) {
            v.push(format!(
                "mounts[{i}].type: required for a mount that is not a bind mount"
            ));
        }
        if is_bind {
            match m.source() {
                None => v.push(format!("mounts[{i}].source: required for a bind mount")),
                Some(src) => {
                    let src = if src.is_absolute() {
                        src.clone()
                    } else {
                        bundle.join(src)
                    };
                    if let Err(e) = std::fs::metadata(&src) {
                        v.push(format!("mounts[{i}].source: {}: {e}", src.display()));
                    }
                }
            }
        }
        for (j, o) in opts.iter().enumerate() {
            if has_nul(o) {
                v.push(format!("mounts[{i}].options[{j}]: contains a NUL byte"));
            }
        }
    }
    v.extend(crate::rootfs::idmap::problems(spec));
    if let Some(h) = spec.hooks() {
        let kinds = [
            ("prestart", h.prestart()),
            ("createRuntime", h.create_runtime()),
            ("createContainer", h.create_container()),
            ("startContainer", h.start_container()),
            ("poststart", h.poststart()),
            ("poststop", h.poststop()),
        ];
        for (kind, hooks) in kinds {
            for (i, hook) in hooks.iter().flatten().enumerate() {
                if !hook.path().is_absolute() {
                    v.push(format!(
                        "hooks.{kind}[{i}].path: {} is not absolute",
                        hook.path().display()
                    ));
                }
                if hook.timeout().is_some_and(|t| t <= 0) {
                    v.push(format!("hooks.{kind}[{i}].timeout: must be positive"));
                }
            }
        }
    }
    v.extend(crate::sysctl::problems(spec));
    v.extend(crate::security::lsm::problems(spec));
    (rootfs, v)
}

/// runc's rule for environment entries: `NAME=VALUE` with a name, and no NUL byte anywhere.
pub fn env_problems(field: &str, env: &[String], v: &mut Vec<String>) {
    for (i, e) in env.iter().enumerate() {
        if has_nul(e) {
            v.push(format!("{field}[{i}]: contains a NUL byte"));
        } else if !e.contains('=') {
            v.push(format!(
                "{field}[{i}]: {e:?} has no '=' (must be NAME=VALUE)"
            ));
        } else if e.starts_with('=') {
            v.push(format!("{field}[{i}]: {e:?} has an empty name"));
        }
    }
}

fn process_problems(process: &oci_spec::runtime::Process, v: &mut Vec<String>) {
    match process.args().as_deref() {
        None | Some([]) => v.push("process.args: must not be empty".into()),
        Some(args) => {
            if args[0].is_empty() {
                v.push("process.args[0]: must not be empty".into());
            }
            for (i, a) in args.iter().enumerate() {
                if has_nul(a) {
                    v.push(format!("process.args[{i}]: contains a NUL byte"));
                }
            }
        }
    }
    env_problems("process.env", process.env().as_deref().unwrap_or(&[]), v);
    let cwd = process.cwd();
    if cwd.as_os_str().is_empty() {
        v.push("process.cwd: must not be empty".into());
    } else if !cwd.is_absolute() {
        v.push(format!("process.cwd: {cwd:?} must be an absolute path"));
    } else if cwd.to_str().is_some_and(has_nul) {
        v.push("process.cwd: contains a NUL byte".into());
    }
    // process.user.umask: any value; the kernel keeps its permission bits, as with runc.
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if r.soft() > r.hard() {
            v.push(format!(
                "process.rlimits[{i}]: soft limit {} is above the hard limit {}",
                r.soft(),
                r.hard()
            ));
        }
        if process
            .rlimits()
            .iter()
            .flatten()
            .take(i)
            .any(|o| o.typ() == r.typ())
        {
            v.push(format!("process.rlimits[{i}].type: duplicate {}", r.typ()));
        }
    }
    if let Some(o) = process.oom_score_adj()
        && !(-1000..=1000).contains(&o)
    {
        v.push(format!("process.oomScoreAdj: {o} is outside -1000..1000"));
    }
    if let Some(io) = process.io_priority()
        && !(0..=7).contains(&io.priority())
    {
        v.push(format!(
            "process.ioPriority.priority: {} is outside 0..7",
            io.priority()
        ));
    }
    if let Some(s) = process.scheduler() {
        scheduler_problems(s, v);
    }
}

/// runc's scheduler checks (runc 1.1 ignores the field; these are runc 1.2+'s).
fn scheduler_problems(s: &oci_spec::runtime::Scheduler, v: &mut Vec<String>) {
    use oci_spec::runtime::LinuxSchedulerPolicy as P;
    let policy = s.policy();
    if let Some(n) = s.nice()
        && matches!(policy, P::SchedOther | P::SchedBatch)
        && !(-20..=19).contains(n)
    {
        v.push(format!("process.scheduler.nice: {n} is outside -20..19"));
    }
    if s.priority().is_some_and(|p| p != 0) && !matches!(policy, P::SchedFifo | P::SchedRr) {
        v.push("process.scheduler.priority: only for SCHED_FIFO and SCHED_RR".into());
    }
    let deadline_fields = [s.runtime(), s.deadline(), s.period()];
    if *policy != P::SchedDeadline && deadline_fields.iter().any(|f| f.is_some_and(|x| x != 0)) {
        v.push(
            "process.scheduler: runtime, deadline and period are only for SCHED_DEADLINE".into(),
        );
    }
}

fn linux_problems(
    l: &oci_spec::runtime::Linux,
    has: &dyn Fn(LinuxNamespaceType) -> bool,
    v: &mut Vec<String>,
) {
    for (name, maps) in [
        ("uidMappings", l.uid_mappings()),
        ("gidMappings", l.gid_mappings()),
    ] {
        let maps = maps.clone().unwrap_or_default();
        if !maps.is_empty() && !has(LinuxNamespaceType::User) {
            v.push(format!("linux.{name}: mappings need a user namespace"));
        }
        for (i, m) in maps.iter().enumerate() {
            if m.size() == 0 {
                v.push(format!("linux.{name}[{i}].size: must not be 0"));
            }
            let end = |a: u32| u64::from(a) + u64::from(m.size());
            if end(m.host_id()) > 1 << 32 || end(m.container_id()) > 1 << 32 {
                v.push(format!("linux.{name}[{i}]: range overflows 32 bits"));
            }
            for (j, o) in maps[..i].iter().enumerate() {
                let overlap = |a: u32, b: u32, sa: u32, sb: u32| {
                    u64::from(a) < u64::from(b) + u64::from(sb)
                        && u64::from(b) < u64::from(a) + u64::from(sa)
                };
                if overlap(m.container_id(), o.container_id(), m.size(), o.size()) {
                    v.push(format!(
                        "linux.{name}[{i}].containerID: overlaps linux.{name}[{j}]"
                    ));
                }
            }
        }
    }
    if l.time_offsets().is_some() && !has(LinuxNamespaceType::Time) {
        v.push("linux.timeOffsets: offsets need a time namespace".into());
    }
    for (k, _) in l.time_offsets().iter().flatten() {
        if k != "monotonic" && k != "boottime" {
            v.push(format!("linux.timeOffsets.{k}: unknown clock"));
        }
    }
    for (field, paths) in [
        ("maskedPaths", l.masked_paths()),
        ("readonlyPaths", l.readonly_paths()),
    ] {
        // A relative path is taken from / (as runc does: its cwd is / by then).
        for (i, p) in paths.iter().flatten().enumerate() {
            if has_nul(p) {
                v.push(format!("linux.{field}[{i}]: contains a NUL byte"));
            }
        }
    }
    match l.rootfs_propagation().as_deref() {
        None | Some("") => {}
        Some(
            "shared" | "rshared" | "private" | "rprivate" | "slave" | "rslave" | "unbindable"
            | "runbindable",
        ) => {}
        Some(o) => v.push(format!("linux.rootfsPropagation: unknown value {o:?}")),
    }
    // cgroupsPath may hold `..`: like runc, the cgroup manager cleans it lexically from /, so
    // it never leaves the cgroup tree.
    for (i, d) in l.devices().iter().flatten().enumerate() {
        if !d.path().is_absolute() {
            v.push(format!(
                "linux.devices[{i}].path: {:?} must be an absolute path",
                d.path()
            ));
        }
        // `..` is resolved inside the rootfs (RESOLVE_IN_ROOT), and a negative major or minor
        // is truncated to 32 bits, as runc does (unix.Mkdev(uint32(major), uint32(minor))).
        if d.typ() == oci_spec::runtime::LinuxDeviceType::A {
            v.push(format!(
                "linux.devices[{i}].type: \"a\" is only valid in linux.resources.devices"
            ));
        }
    }
    if let Some(rdt) = l.intel_rdt() {
        let resctrl = crate::intelrdt::Resctrl::find();
        v.extend(crate::intelrdt::problems(rdt, resctrl.as_ref()));
    }
    v.extend(crate::netdev::problems(l, has(LinuxNamespaceType::Network)));
    if let Some(p) = l.memory_policy() {
        v.extend(crate::mempolicy::problems(p));
    }
    let Some(r) = l.resources() else {
        return;
    };
    for (i, d) in r.devices().iter().flatten().enumerate() {
        if let Some(a) = d.access()
            && (a.is_empty() || a.chars().any(|c| !matches!(c, 'r' | 'w' | 'm')))
        {
            v.push(format!(
                "linux.resources.devices[{i}].access: {a:?} is not a combination of r, w, m"
            ));
        }
        if d.major().is_some_and(|m| m < -1) || d.minor().is_some_and(|m| m < -1) {
            v.push(format!(
                "linux.resources.devices[{i}]: major/minor must be -1 (any) or above"
            ));
        }
    }
    if let Some(m) = r.memory() {
        for (f, val) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
        ] {
            if val.is_some_and(|x| x < -1) {
                v.push(format!(
                    "linux.resources.memory.{f}: {} is below -1",
                    val.unwrap_or_default()
                ));
            }
        }
        if let (Some(lim), Some(sw)) = (m.limit(), m.swap())
            && lim > 0
            && sw > 0
            && sw < lim
        {
            v.push(format!(
                "linux.resources.memory.swap: {sw} is below memory.limit {lim} (swap counts memory+swap)"
            ));
        }
    }
    // pids.limit: any value is taken (see `pids` for what 0 means).
    if let Some(c) = r.cpu() {
        // 0 is "not set" and a negative quota is "no limit" (what the kernel and runc make of
        // them); a positive quota or period the kernel would refuse is refused here by name.
        if c.quota().is_some_and(|q| (1..1000).contains(&q)) {
            v.push(format!(
                "linux.resources.cpu.quota: {} is below the kernel's minimum of 1000",
                c.quota().unwrap_or_default()
            ));
        }
        if c.period()
            .is_some_and(|p| p != 0 && !(1000..=1_000_000).contains(&p))
        {
            v.push(format!(
                "linux.resources.cpu.period: {} is outside 1000..1000000",
                c.period().unwrap_or_default()
            ));
        }
    }
    if let Some(b) = r.block_io()
        && let Some(w) = b.weight()
        // 0 means "not set": Docker writes `"blockIO":{"weight":0}` for every container.
        && w != 0
        && !(10..=1000).contains(&w)
    {
        v.push(format!(
            "linux.resources.blockIO.weight: {w} is outside 10..1000"
        ));
    }
}

/// What create warns about in a config that passed [`problems`]: settings it takes with a
/// meaning the user may not expect, or cannot apply and may ignore (as runc does, and says).
pub fn warnings(spec: &Spec) -> Vec<String> {
    let mut v = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let dest = m.destination();
        if !dest.is_absolute() {
            // The spec allows relative destinations (taken from /); runc warns likewise.
            v.push(format!(
                "mounts[{i}].destination {dest:?} is not absolute; treating it as relative to /"
            ));
        }
    }
    v
}

/// runc 1.1.5's `spec` template, with rt's name and spec version.
const TEMPLATE: &str = r#"{
    "ociVersion": "1.3.0",
    "process": {
        "terminal": true,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
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
    "root": {"path": "rootfs", "readonly": true},
    "hostname": "rt",
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
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
            "/proc/scsi"
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
        ]
    }
}"#;

/// What `rt spec` writes: runc's template (terminal true, `sh`), with its rootless variant. As
/// runc, a cgroup namespace only on a pure cgroup v2 host, and the rootless mappings map root
/// to the caller's effective ids.
pub fn template(rootless: bool) -> serde_json::Value {
    // A JSON text, not json!(): the macro's code is ~10 KB of the binary.
    let mut v: serde_json::Value = serde_json::from_str(TEMPLATE).unwrap_or_default();
    use crate::cgroups::{CgroupMode, DEFAULT_ROOT, detect_mode};
    let unified = detect_mode(Path::new(DEFAULT_ROOT)).ok() == Some(CgroupMode::V2);
    let Some(linux) = v["linux"].as_object_mut() else {
        return v;
    };
    let mut namespaces: Vec<serde_json::Value> =
        linux["namespaces"].as_array().cloned().unwrap_or_default();
    if unified {
        namespaces.push(serde_json::json!({"type": "cgroup"}));
    }
    if rootless {
        let map = |id: u32| serde_json::json!([{"containerID": 0, "hostID": id, "size": 1}]);
        linux.insert("uidMappings".into(), map(nix::unistd::geteuid().as_raw()));
        linux.insert("gidMappings".into(), map(nix::unistd::getegid().as_raw()));
        linux.remove("resources");
        namespaces.retain(|n| n["type"] != "network");
        namespaces.push(serde_json::json!({"type": "user"}));
        // runc's ToRootless: /sys bound from the host, no uid=/gid= mount options.
        for m in v["mounts"].as_array_mut().into_iter().flatten() {
            if m["destination"] == "/sys" {
                *m = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            } else if let Some(opts) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
                opts.retain(|o| {
                    !o.as_str()
                        .is_some_and(|o| o.starts_with("uid=") || o.starts_with("gid="))
                });
            }
        }
    }
    v["linux"]["namespaces"] = serde_json::Value::Array(namespaces);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_validates_shape() {
        let v = template(false);
        let s: Spec = serde_json::from_value(v).unwrap();
        assert_eq!(
            s.process().as_ref().unwrap().args().as_ref().unwrap()[0],
            "sh"
        );
        let r: Spec = serde_json::from_value(template(true)).unwrap();
        assert!(r.linux().as_ref().unwrap().uid_mappings().is_some());
    }

    #[test]
    fn parse_errors_name_the_field() {
        let mut v = template(false);
        v["process"]["rlimits"][0]["type"] = "RLIMIT_BOGUS".into();
        let e = &parse(v.to_string().as_bytes()).unwrap_err()[0];
        assert_eq!(e.field, "process.rlimits[0].type");
        assert!(e.msg.contains("RLIMIT_BOGUS"), "{e}");
        let e = &parse(b"{\"ociVersion\": ").unwrap_err()[0];
        assert!(e.msg.contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_capabilities_are_dropped() {
        let mut v = template(false);
        v["process"]["capabilities"]["bounding"][1] = "CAP_BOGUS".into();
        let s = parse(v.to_string().as_bytes()).unwrap();
        let caps = s
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 2);
    }

    #[test]
    fn exec_cpu_affinity_is_still_validated() {
        // oci-spec checks this field with a regex; rt links regex-lite in place of regex
        // (vendor/regex), which must accept and reject the same CPU lists.
        for ok in ["0", "0-3", "0-3,7", "1,2,10-12"] {
            let mut v = template(false);
            v["process"]["execCPUAffinity"] = serde_json::json!({"initial": ok, "final": ok});
            assert!(parse(v.to_string().as_bytes()).is_ok(), "{ok}");
        }
        for bad in ["", "a", "0-", "1,,2", "0 -3"] {
            let mut v = template(false);
            v["process"]["execCPUAffinity"] = serde_json::json!({"final": bad});
            let e = &parse(v.to_string().as_bytes()).unwrap_err()[0];
            assert_eq!(e.field, "process.execCPUAffinity.final", "{bad:?}");
        }
    }

    #[test]
    fn validation_names_fields() {
        let dir = std::env::temp_dir().join(format!("rt-spec-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        let ok: Spec = serde_json::from_value(template(false)).unwrap();
        assert_eq!(validate(&ok, &dir).unwrap(), dir.join("rootfs"));
        let mut v = template(false);
        v["process"]["args"] = serde_json::json!([]);
        let s: Spec = serde_json::from_value(v).unwrap();
        assert!(
            validate(&s, &dir)
                .unwrap_err()
                .to_string()
                .starts_with("process.args")
        );
        let mut v = template(false);
        v["root"]["path"] = "nope".into();
        let s: Spec = serde_json::from_value(v).unwrap();
        assert!(
            validate(&s, &dir)
                .unwrap_err()
                .to_string()
                .starts_with("root.path")
        );
        let mut v = template(false);
        v["process"]["cwd"] = "rel".into();
        let s: Spec = serde_json::from_value(v).unwrap();
        assert!(
            validate(&s, &dir)
                .unwrap_err()
                .to_string()
                .starts_with("process.cwd")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
