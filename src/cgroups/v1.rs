//! Writing `linux.resources` to cgroup v1 controller files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork,
    LinuxRdma, LinuxResources, LinuxThrottleDevice,
};

use super::fs::{RepeatedWriter, read_trimmed, read_u64, write_file, write_in};
use super::{CgroupError, Result};

/// Leaf directory per v1 controller name.
pub type Dirs = BTreeMap<String, PathBuf>;

/// runc's default device rules (`AllowedDevices`): mknod of anything, null, random, full, tty,
/// zero, urandom, pts, ptmx, tun; with the path of the node each one is for, if any.
pub const DEFAULT_DEVICE_RULES: &[(char, i64, i64, &str, &str)] = &[
    ('c', -1, -1, "m", ""),
    ('b', -1, -1, "m", ""),
    ('c', 1, 3, "rwm", "/dev/null"),
    ('c', 1, 8, "rwm", "/dev/random"),
    ('c', 1, 7, "rwm", "/dev/full"),
    ('c', 5, 0, "rwm", "/dev/tty"),
    ('c', 1, 5, "rwm", "/dev/zero"),
    ('c', 1, 9, "rwm", "/dev/urandom"),
    ('c', 136, -1, "rwm", ""),
    ('c', 5, 2, "rwm", ""),
    ('c', 10, 200, "rwm", ""),
];

/// The device rules a container's cgroup gets: the config's, then runc's defaults, less those
/// for a path that `linux.devices` defines itself (runc: "the spec one takes priority", node and
/// rule; the spec's own rules decide then).
pub fn with_default_rules(
    rules: &[LinuxDeviceCgroup],
    devices: &[oci_spec::runtime::LinuxDevice],
) -> Vec<LinuxDeviceCgroup> {
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};
    let mut out = rules.to_vec();
    for (t, ma, mi, acc, path) in DEFAULT_DEVICE_RULES {
        if !path.is_empty() && devices.iter().any(|d| d.path().as_os_str() == *path) {
            continue;
        }
        let typ = if *t == 'b' {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        };
        let num = |v: i64| (v >= 0).then_some(v);
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access(acc.to_string());
        if let Some(m) = num(*ma) {
            b = b.major(m);
        }
        if let Some(m) = num(*mi) {
            b = b.minor(m);
        }
        if let Ok(r) = b.build() {
            out.push(r);
        }
    }
    out
}

/// A device rule as the devices controller wants it: `c 1:3 rwm`, `a *:* rwm`.
pub fn device_rule_string(d: &LinuxDeviceCgroup) -> String {
    let typ = d.typ().unwrap_or_default().as_str().to_string();
    let num = |v: Option<i64>| match v {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = match d.access().as_deref() {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => "rwm".to_string(),
    };
    format!("{typ} {}:{} {access}", num(d.major()), num(d.minor()))
}

/// Write every resource in runc's subsystem order.  `devices` says whether
/// the device rules are (re)written (always at create, only when given on update).
pub fn apply(dirs: &Dirs, r: &LinuxResources, devices: bool) -> Result<()> {
    if let Some(cpu) = r.cpu()
        && let Some(d) = dirs.get("cpuset")
    {
        set_cpuset(d, cpu)?;
    }
    if devices && let Some(d) = dirs.get("devices") {
        set_devices(d, r.devices().as_deref().unwrap_or(&[]))?;
    }
    if let Some(m) = r.memory()
        && let Some(d) = dirs.get("memory")
    {
        set_memory(d, m)?;
    }
    if let Some(cpu) = r.cpu()
        && let Some(d) = dirs.get("cpu")
    {
        set_cpu(d, cpu)?;
    }
    if let Some(v) = r.pids().map(|p| pids_value(p.limit()))
        && let Some(d) = dirs.get("pids")
    {
        write_in(d, "pids.max", &v)?;
    }
    if let Some(b) = r.block_io()
        && let Some(d) = dirs.get("blkio")
    {
        set_blkio(d, b)?;
    }
    if let Some(h) = r.hugepage_limits()
        && let Some(d) = dirs.get("hugetlb")
    {
        set_hugetlb(d, h)?;
    }
    if let Some(n) = r.network() {
        set_network(dirs, n)?;
    }
    if let Some(rdma) = r.rdma()
        && let Some(d) = dirs.get("rdma")
    {
        set_rdma(d, rdma)?;
    }
    Ok(())
}

/// `pids.max` content as runc 1.4+ writes it: "max" for a negative limit, and "1" for 0 (a real
/// limit: no process may be forked; "0" would also refuse init a place made by clone3 into the
/// cgroup, and systemd's TasksMax cannot say 0). Whether a config's 0 is a limit or "not set" is
/// decided when it is read (`spec::pids`).
pub fn pids_value(limit: i64) -> String {
    match limit {
        l if l < 0 => "max".into(),
        0 => "1".into(),
        l => l.to_string(),
    }
}

fn set_cpuset(d: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(c) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
        write_in(d, "cpuset.cpus", c)?;
    }
    if let Some(m) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
        write_in(d, "cpuset.mems", m)?;
    }
    Ok(())
}

/// Copy cpuset.cpus/mems from the parent into `dir` when they are empty
/// (a v1 cpuset cgroup refuses tasks until both are set).  `dirs` are the
/// directories from the hierarchy root down to the leaf.
pub fn init_cpuset_chain(dirs: &[PathBuf]) -> Result<()> {
    for w in dirs.windows(2) {
        let (parent, child) = (&w[0], &w[1]);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let cp = child.join(f);
            if !cp.exists() {
                continue;
            }
            if read_trimmed(&cp)?.is_empty() {
                let v = read_trimmed(&parent.join(f))?;
                write_file(&cp, &v)?;
            }
        }
    }
    Ok(())
}

fn set_devices(d: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let mut deny = RepeatedWriter::new(d.join("devices.deny"));
    let mut allow = RepeatedWriter::new(d.join("devices.allow"));
    deny.write("a")?;
    let all: Vec<(bool, String)> = rules
        .iter()
        .map(|r| (r.allow(), device_rule_string(r)))
        .collect();
    for (is_allow, rule) in all {
        // "a" alone is what the kernel reports; both forms are accepted.
        let file = if is_allow { &mut allow } else { &mut deny };
        file.write(&rule)?;
    }
    Ok(())
}

fn set_memory(d: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let memsw = d.join("memory.memsw.limit_in_bytes");
    if m.check_before_update() == Some(true) && limit > 0 {
        let usage = read_u64(&d.join("memory.usage_in_bytes"))?;
        if (limit as u64) < usage {
            return Err(CgroupError::Other(format!(
                "rejecting memory limit {limit} below current usage {usage}"
            )));
        }
    }
    // Memory set to unlimited with swap unset: swap unlimited too.
    if limit == -1 && swap == 0 && memsw.exists() {
        swap = -1;
    }
    let set_limit = |v: i64| -> Result<()> {
        if v == 0 {
            return Ok(());
        }
        write_in(d, "memory.limit_in_bytes", &v.to_string())
    };
    let set_swap = |v: i64| -> Result<()> {
        if v == 0 {
            return Ok(());
        }
        write_file(&memsw, &v.to_string())
    };
    // memsw must always be >= limit: pick the order that keeps it so.
    let mut done = false;
    if limit != 0 && swap != 0 {
        let cur = read_u64(&d.join("memory.limit_in_bytes"))?;
        if swap == -1 || cur < swap as u64 {
            set_swap(swap)?;
            set_limit(limit)?;
            done = true;
        }
    }
    if !done {
        set_limit(limit)?;
        set_swap(swap)?;
    }
    // kernel and kernelTCP are ignored, as runc 1.1 does (the kernel deprecated kmem limits);
    // the warning is given where the config is read.
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        write_in(d, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write_in(d, "memory.oom_control", "1")?;
    }
    // useHierarchy is never written, as in runc 1.1 (and 1.3): the kernel keeps hierarchical
    // accounting always on since 5.16 and refuses a 0 (EINVAL), and a child cannot change it.
    // runc reads u64::MAX (Go's int64 -1, which old Docker wrote) as "not set".
    if let Some(s) = m.swappiness().filter(|s| *s != u64::MAX) {
        if s > 100 {
            return Err(CgroupError::Other(format!(
                "invalid memory swappiness {s}: must be between 0 and 100"
            )));
        }
        write_in(d, "memory.swappiness", &s.to_string())?;
    }
    Ok(())
}

fn set_cpu(d: &Path, cpu: &LinuxCpu) -> Result<()> {
    // Realtime: period before runtime, as runc does.
    if let Some(p) = cpu.realtime_period().filter(|p| *p != 0) {
        write_in(d, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(rt) = cpu.realtime_runtime().filter(|r| *r != 0) {
        write_in(d, "cpu.rt_runtime_us", &rt.to_string())?;
    }
    if let Some(s) = cpu.shares().filter(|s| *s != 0) {
        write_in(d, "cpu.shares", &s.to_string())?;
        let got = read_u64(&d.join("cpu.shares"))?;
        if got != s {
            return Err(CgroupError::Other(format!(
                "cpu.shares {s} was clamped by the kernel to {got}"
            )));
        }
    }
    let quota = cpu.quota().unwrap_or(0);
    let mut period_pending = None;
    if let Some(p) = cpu.period().filter(|p| *p != 0) {
        match write_in(d, "cpu.cfs_period_us", &p.to_string()) {
            Ok(()) => {}
            // A smaller period can be refused while the old quota is in
            // place: retry after writing the quota.
            Err(CgroupError::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota != 0 =>
            {
                period_pending = Some(p);
            }
            Err(e) => return Err(e),
        }
    }
    if quota != 0 {
        write_in(d, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(p) = period_pending {
            write_in(d, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    if let Some(b) = cpu.burst() {
        write_in(d, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(i) = cpu.idle() {
        write_in(d, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn throttle(d: &Path, file: &str, list: &Option<Vec<LinuxThrottleDevice>>) -> Result<()> {
    for t in list.iter().flatten() {
        write_in(
            d,
            file,
            &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
        )?;
    }
    Ok(())
}

fn set_blkio(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    // CFQ files when present, else BFQ's.
    let (wfile, wdfile) = if d.join("blkio.weight").exists() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write_in(d, wfile, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write_in(d, "blkio.leaf_weight", &w.to_string())?;
    }
    // A 0 weight is "not set" for a device too (runc).
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            write_in(d, wdfile, &format!("{}:{} {}", wd.major(), wd.minor(), w))?;
        }
        if let Some(lw) = wd.leaf_weight().filter(|w| *w != 0) {
            write_in(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {}", wd.major(), wd.minor(), lw),
            )?;
        }
    }
    throttle(
        d,
        "blkio.throttle.read_bps_device",
        b.throttle_read_bps_device(),
    )?;
    throttle(
        d,
        "blkio.throttle.write_bps_device",
        b.throttle_write_bps_device(),
    )?;
    throttle(
        d,
        "blkio.throttle.read_iops_device",
        b.throttle_read_iops_device(),
    )?;
    throttle(
        d,
        "blkio.throttle.write_iops_device",
        b.throttle_write_iops_device(),
    )?;
    Ok(())
}

fn set_hugetlb(d: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for h in limits {
        write_in(
            d,
            &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            &h.limit().to_string(),
        )?;
    }
    Ok(())
}

fn set_network(dirs: &Dirs, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id()
        && let Some(d) = dirs.get("net_cls")
    {
        write_in(d, "net_cls.classid", &id.to_string())?;
    }
    if let Some(d) = dirs.get("net_prio") {
        for p in n.priorities().iter().flatten() {
            write_in(
                d,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    Ok(())
}

/// `rdma.max` lines: `mlx5_1 hca_handle=3 hca_object=max`.
pub fn rdma_lines(rdma: &std::collections::HashMap<String, LinuxRdma>) -> Vec<String> {
    let mut keys: Vec<&String> = rdma.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|dev| {
            let l = &rdma[dev];
            let mut s = dev.clone();
            if let Some(h) = l.hca_handles() {
                s.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                s.push_str(&format!(" hca_object={o}"));
            }
            s
        })
        .collect()
}

pub fn set_rdma(d: &Path, rdma: &std::collections::HashMap<String, LinuxRdma>) -> Result<()> {
    for line in rdma_lines(rdma) {
        write_in(d, "rdma.max", &line)?;
    }
    Ok(())
}
