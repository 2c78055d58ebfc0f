//! Writing `linux.resources` to cgroup v2 (unified) files.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources, LinuxThrottleDevice,
};

use super::fs::{read_string, read_u64, write_file, write_in};
use super::{CgroupError, Result};

/// runc 1.3.2+'s cpu.shares → cpu.weight conversion (opencontainers/cgroups): a quadratic in
/// log2(shares) that maps the v1 minimum, default and maximum (2, 1024, 262144) onto the v2 ones
/// (1, 100, 10000), `ceil(10^((l² + 125·l)/612 − 7/34))`. runc 1.1's linear formula gave the
/// default 1024 a weight of 39, not 100.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262144.. => 10000,
        s => {
            let l = log2(s as f64);
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            pow10(exponent).ceil() as u64
        }
    }
}

// log2 and 10^x by their series, not libm's: glibc's pow and log2 would add ~15 KB of tables
// to the static binary. Both are exact where Go's are (powers of two, whole exponents), and the
// conversion gives Go's result for every share value (the unit test checks the whole table).

/// ln(m) for m in [1/√2, √2]: 2·atanh((m−1)/(m+1)) as its series.
fn ln_near_1(m: f64) -> f64 {
    let s = (m - 1.0) / (m + 1.0);
    let (mut term, mut sum, mut n) = (s, 0.0, 1.0);
    while term.abs() > 1e-20 {
        sum += term / n;
        term *= s * s;
        n += 2.0;
    }
    2.0 * sum
}

/// log2(x) for x > 0: the binary exponent plus log2 of the mantissa.
fn log2(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut k = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        k += 1;
    }
    f64::from(k) + ln_near_1(m) / std::f64::consts::LN_2
}

/// 10^e for e ≥ 0: the whole powers by multiplication, the rest as exp's series.
fn pow10(e: f64) -> f64 {
    let whole = e.floor();
    let r = (e - whole) * std::f64::consts::LN_10;
    let (mut term, mut sum, mut n) = (1.0f64, 1.0, 1.0);
    while term.abs() > 1e-20 {
        term *= r / n;
        sum += term;
        n += 1.0;
    }
    (0..whole as i32).fold(sum, |acc, _| acc * 10.0)
}

/// runc's blkio.weight ([10, 1000]) → io.weight ([1, 10000]) conversion.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// runc's numToStr: 0 → not set, -1 (or any negative) → "max".
fn num_to_str(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// memory.swap.max from the OCI memory+swap total (runc's ConvertMemorySwapToCgroupV2Value).
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<i64> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err(CgroupError::Other(
            "unable to set swap limit without memory limit".into(),
        ));
    }
    if memory < 0 {
        return Err(CgroupError::Other(format!(
            "invalid memory value: {memory}"
        )));
    }
    if swap < memory {
        return Err(CgroupError::Other(
            "memory+swap limit should be >= memory limit".into(),
        ));
    }
    Ok(swap - memory)
}

/// The v2 controllers `r` needs (for subtree_control), in a stable order.
pub fn required_controllers(r: &LinuxResources) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |c: &str| {
        if !out.iter().any(|x| x == c) {
            out.push(c.to_string());
        }
    };
    if let Some(c) = r.cpu() {
        if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
        {
            add("cpuset");
        }
        if c.shares().is_some_and(|s| s != 0)
            || c.quota().is_some_and(|q| q != 0)
            || c.period().is_some_and(|p| p != 0)
            || c.burst().is_some()
            || c.idle().is_some()
        {
            add("cpu");
        }
    }
    if let Some(m) = r.memory()
        && (m.limit().is_some_and(|v| v != 0)
            || m.swap().is_some_and(|v| v != 0)
            || m.reservation().is_some_and(|v| v != 0))
    {
        add("memory");
    }
    if r.pids().is_some() {
        add("pids");
    }
    if let Some(b) = r.block_io()
        && io_is_set(b)
    {
        add("io");
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        add("hugetlb");
    }
    if r.rdma().as_ref().is_some_and(|h| !h.is_empty()) {
        add("rdma");
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            if let Some((c, _)) = k.split_once('.')
                && c != "cgroup"
            {
                add(c);
            }
        }
    }
    out
}

fn io_is_set(b: &LinuxBlockIo) -> bool {
    b.weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
}

/// Write all resources except devices (see `bpf`) into the leaf `d`.
pub fn apply(d: &Path, r: &LinuxResources) -> Result<()> {
    if let Some(c) = r.cpu() {
        set_cpuset(d, c)?;
        set_cpu(d, c)?;
    }
    if let Some(m) = r.memory() {
        set_memory(d, m)?;
    }
    if let Some(v) = r.pids().map(|p| super::v1::pids_value(p.limit())) {
        write_in(d, "pids.max", &v)?;
    }
    if let Some(b) = r.block_io() {
        set_io(d, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        set_hugetlb(d, h)?;
    }
    if let Some(rdma) = r.rdma() {
        super::v1::set_rdma(d, rdma)?;
    }
    if let Some(u) = r.unified() {
        set_unified(d, u)?;
    }
    Ok(())
}

fn set_cpuset(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write_in(d, "cpuset.cpus", v)?;
    }
    if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write_in(d, "cpuset.mems", v)?;
    }
    Ok(())
}

/// cpu.max content as runc writes it: "<quota|max> <period>", the period 100000 (the
/// kernel's default) when not given.
pub fn cpu_max(quota: i64, period: u64) -> String {
    let period = if period == 0 { 100_000 } else { period };
    if quota > 0 {
        format!("{quota} {period}")
    } else {
        format!("max {period}")
    }
}

fn set_cpu(d: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(CgroupError::Other(
            "realtime cpu scheduling (realtimeRuntime/realtimePeriod) is not supported on cgroup v2"
                .into(),
        ));
    }
    if let Some(i) = c.idle() {
        write_in(d, "cpu.idle", &i.to_string())?;
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write_in(d, "cpu.weight", &cpu_shares_to_weight(s).to_string())?;
    }
    if let Some(b) = c.burst() {
        write_in(d, "cpu.max.burst", &b.to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        write_in(d, "cpu.max", &cpu_max(quota, period))?;
    }
    Ok(())
}

fn set_memory(d: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap_total = m.swap().unwrap_or(0);
    let swap = swap_to_v2(swap_total, limit)?;
    if m.check_before_update() == Some(true) && limit > 0 {
        let cur = read_u64(&d.join("memory.current"))?;
        if (limit as u64) < cur {
            return Err(CgroupError::Other(format!(
                "rejecting memory limit {limit} below current usage {cur}"
            )));
        }
    }
    let mut swap_str = num_to_str(swap);
    if swap_str.is_none() && swap == 0 && swap_total > 0 {
        // memory == memory+swap: no swap at all.
        swap_str = Some("0".into());
    }
    if let Some(s) = swap_str {
        let p = d.join("memory.swap.max");
        match write_file(&p, &s) {
            // No swap accounting in the kernel: only an error if swap was asked for.
            Err(CgroupError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && swap <= 0 => {}
            other => other?,
        }
    }
    if let Some(v) = num_to_str(limit) {
        write_in(d, "memory.max", &v)?;
    }
    if let Some(v) = m.reservation().and_then(num_to_str) {
        write_in(d, "memory.low", &v)?;
    }
    // swappiness, disableOOMKiller, kernel, kernelTCP and useHierarchy
    // have no v2 equivalent; like runc, they are ignored.
    Ok(())
}

fn io_max(d: &Path, key: &str, list: &Option<Vec<LinuxThrottleDevice>>) -> Result<()> {
    for t in list.iter().flatten() {
        write_in(
            d,
            "io.max",
            &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
        )?;
    }
    Ok(())
}

fn set_io(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = d.join("io.bfq.weight");
    let has_bfq = bfq.exists();
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if has_bfq {
            write_file(&bfq, &w.to_string())?;
        } else {
            write_in(d, "io.weight", &blkio_weight_to_io_weight(w).to_string())?;
        }
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            if has_bfq {
                write_file(&bfq, &format!("{}:{} {}", wd.major(), wd.minor(), w))?;
            } else {
                write_in(
                    d,
                    "io.weight",
                    &format!(
                        "{}:{} {}",
                        wd.major(),
                        wd.minor(),
                        blkio_weight_to_io_weight(w)
                    ),
                )?;
            }
        }
    }
    io_max(d, "rbps", b.throttle_read_bps_device())?;
    io_max(d, "wbps", b.throttle_write_bps_device())?;
    io_max(d, "riops", b.throttle_read_iops_device())?;
    io_max(d, "wiops", b.throttle_write_iops_device())?;
    Ok(())
}

pub fn set_hugetlb(d: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for h in limits {
        let v = num_to_str(h.limit()).unwrap_or_else(|| "0".into());
        write_in(d, &format!("hugetlb.{}.max", h.page_size()), &v)?;
        let rsvd = d.join(format!("hugetlb.{}.rsvd.max", h.page_size()));
        if rsvd.exists() {
            write_file(&rsvd, &v)?;
        }
    }
    Ok(())
}

/// Check a `unified` key: a plain file name in the cgroup directory.
pub fn check_unified_key(k: &str) -> Result<()> {
    if k.is_empty() || k.contains('/') || k == "." || k == ".." || k.contains("..") {
        return Err(CgroupError::Other(format!(
            "invalid unified resource key {k:?}: must be a file name without '/' or '..'"
        )));
    }
    Ok(())
}

pub fn set_unified(d: &Path, u: &std::collections::HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in &keys {
        check_unified_key(k)?;
    }
    for k in keys {
        let p = d.join(k);
        match write_file(&p, &u[k]) {
            Err(CgroupError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let ctrl = k.split_once('.').map(|(c, _)| c).unwrap_or(k);
                let avail = read_string(&d.join("cgroup.controllers")).unwrap_or_default();
                if ctrl != "cgroup" && !avail.split_whitespace().any(|c| c == ctrl) {
                    return Err(CgroupError::ControllerNotAvailable(ctrl.to_string()));
                }
                return Err(CgroupError::Write { path: p, source });
            }
            other => other?,
        }
    }
    Ok(())
}
