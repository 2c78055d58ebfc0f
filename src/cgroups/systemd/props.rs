//! `linux.resources` as systemd unit properties, as runc's systemd driver converts them. What
//! systemd owns must be a property: it rewrites its cgroup files from the unit's properties on
//! `systemctl daemon-reload`, and a limit written only to a file would be lost then.

use oci_spec::runtime::{LinuxCpu, LinuxResources};

use super::super::v2::{blkio_weight_to_io_weight, cpu_shares_to_weight, swap_to_v2};
use super::super::{CgroupError, Result};
use crate::dbus::Value;

/// A unit property: its name and value.
pub type Prop = (&'static str, Value);

/// systemd's USEC_INFINITY and CGROUP_LIMIT_MAX: "no limit".
const INFINITY: u64 = u64::MAX;
/// The kernel's default CFS period, which a quota without one is relative to.
const DEFAULT_PERIOD: u64 = 100_000;

pub fn prop(name: &'static str, v: Value) -> Prop {
    (name, v)
}

/// The systemd version (from the manager's Version property), asked only when a property
/// depends on it.
pub type Version<'a> = &'a dyn Fn() -> u32;

/// The properties for `r` on cgroup v2 (`v2`) or v1, and the resources to write to the files:
/// `r` with the CPU quota rounded as systemd will round it, so the files and what systemd
/// writes on a reload agree. Device rules are not here: see [`super::devices`].
pub fn resources(
    r: &LinuxResources,
    v2: bool,
    version: Version,
) -> Result<(Vec<Prop>, LinuxResources)> {
    let mut out = Vec::new();
    let mut files = r.clone();
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        if limit != 0 {
            out.push(prop(
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                bytes(limit),
            ));
        }
        if v2 {
            if let Some(low) = m.reservation().filter(|v| *v != 0) {
                out.push(prop("MemoryLow", bytes(low)));
            }
            let total = m.swap().unwrap_or(0);
            let swap = swap_to_v2(total, limit)?;
            // runc sets no property for "memory+swap = memory" (no swap), so a reload gives
            // the container all the swap it wants; rt says 0, as the file does.
            if swap != 0 || total > 0 {
                out.push(prop("MemorySwapMax", bytes(swap)));
            }
        }
    }
    if let Some(c) = r.cpu() {
        let idle = v2 && c.idle() == Some(1) && version() >= 252;
        if idle {
            // CPUWeight=0 is systemd's way to write cpu.idle 1.
            out.push(prop("CPUWeight", Value::U64(0)));
        }
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            if !v2 {
                out.push(prop("CPUShares", Value::U64(s)));
            } else if !idle {
                out.push(prop("CPUWeight", Value::U64(cpu_shares_to_weight(s))));
            }
        }
        let period = c.period().unwrap_or(0);
        if let Some(q) = cpu_quota(&mut out, c.quota().unwrap_or(0), period, version)
            && let Some(fc) = files.cpu_mut().as_mut()
        {
            fc.set_quota(Some(q));
        }
        cpuset(&mut out, c, version)?;
    }
    if let Some(limit) = r.pids().map(|p| p.limit()).filter(|l| *l != 0) {
        out.push(prop("TasksMax", bytes(limit)));
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w != 0)
    {
        out.push(if v2 {
            prop("IOWeight", Value::U64(blkio_weight_to_io_weight(w)))
        } else {
            prop("BlockIOWeight", Value::U64(u64::from(w)))
        });
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<_> = u.keys().collect();
        keys.sort();
        for k in keys {
            unified(&mut out, k, u[k].trim(), version)?;
        }
    }
    Ok((out, files))
}

/// A byte or task count: -1 (any negative) is no limit.
fn bytes(v: i64) -> Value {
    Value::U64(u64::try_from(v).unwrap_or(INFINITY))
}

/// CPUQuotaPeriodUSec (systemd >= 242) and CPUQuotaPerSecUSec. systemd keeps the quota as a
/// whole percentage of a CPU, so it is rounded up to the next 10 ms a second; the quota that
/// then matches it (for the files) is returned when it changed.
fn cpu_quota(out: &mut Vec<Prop>, quota: i64, period: u64, version: Version) -> Option<i64> {
    if period != 0 && version() >= 242 {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if quota == 0 && period == 0 {
        return None;
    }
    let mut rounded = None;
    let mut per_sec = INFINITY;
    if quota > 0 {
        let period = if period == 0 { DEFAULT_PERIOD } else { period };
        per_sec = (quota as u64).saturating_mul(1_000_000) / period;
        if !per_sec.is_multiple_of(10_000) {
            per_sec = (per_sec / 10_000 + 1) * 10_000;
            rounded = i64::try_from(per_sec.saturating_mul(period) / 1_000_000).ok();
        }
    }
    out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    rounded
}

/// AllowedCPUs and AllowedMemoryNodes (systemd >= 244).
fn cpuset(out: &mut Vec<Prop>, c: &LinuxCpu, version: Version) -> Result<()> {
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if (cpus.is_none() && mems.is_none()) || version() < 244 {
        return Ok(());
    }
    for (name, field, v) in [
        ("AllowedCPUs", "cpus", cpus),
        ("AllowedMemoryNodes", "mems", mems),
    ] {
        if let Some(v) = v {
            let bits = range_to_bits(v).map_err(|why| {
                CgroupError::Other(format!("linux.resources.cpu.{field} {v:?}: {why}"))
            })?;
            out.push(prop(name, bits));
        }
    }
    Ok(())
}

/// A `linux.resources.unified` entry that has a property (runc's unifiedResToSystemdProps);
/// the others are only written to their files.
fn unified(out: &mut Vec<Prop>, k: &str, v: &str, version: Version) -> Result<()> {
    let bad = || {
        CgroupError::Other(format!(
            "linux.resources.unified {k:?}: invalid value {v:?}"
        ))
    };
    let num = |v: &str| -> Result<u64> {
        if v == "max" {
            Ok(INFINITY)
        } else {
            v.parse().map_err(|_| bad())
        }
    };
    match k {
        "cpu.idle" if v == "1" && version() >= 252 => out.push(prop("CPUWeight", Value::U64(0))),
        "cpu.max" => {
            let f: Vec<&str> = v.split_whitespace().collect();
            if f.is_empty() || f.len() > 2 {
                return Err(bad());
            }
            let quota = match f[0] {
                "max" => 0,
                q => q.parse().map_err(|_| bad())?,
            };
            let period = match f.get(1) {
                Some(p) => p.parse().map_err(|_| bad())?,
                None => DEFAULT_PERIOD,
            };
            cpu_quota(out, quota, period, version);
        }
        "cpu.weight" => out.push(prop("CPUWeight", Value::U64(v.parse().map_err(|_| bad())?))),
        "cpuset.cpus" | "cpuset.mems" => {
            let bits = range_to_bits(v).map_err(|_| bad())?;
            if version() >= 244 {
                let name = if k == "cpuset.cpus" {
                    "AllowedCPUs"
                } else {
                    "AllowedMemoryNodes"
                };
                out.push(prop(name, bits));
            }
        }
        "memory.high" | "memory.low" | "memory.min" | "memory.max" | "memory.swap.max" => {
            let name = match k {
                "memory.high" => "MemoryHigh",
                "memory.low" => "MemoryLow",
                "memory.min" => "MemoryMin",
                "memory.max" => "MemoryMax",
                _ => "MemorySwapMax",
            };
            out.push(prop(name, Value::U64(num(v)?)));
        }
        "pids.max" => out.push(prop("TasksMax", Value::U64(num(v)?))),
        _ => {}
    }
    Ok(())
}

/// A cpuset list (`0-3,8`) as the bit mask systemd's AllowedCPUs takes: CPU n is bit n % 8 of
/// byte n / 8 (the order systemd reads; runc 1.1 sent the bytes the other way round).
pub fn range_to_bits(list: &str) -> std::result::Result<Value, String> {
    let mut bytes: Vec<u8> = Vec::new();
    // Like the kernel: no larger CPU or node number than this.
    const MAX: u32 = 1 << 16;
    let num = |s: &str| -> std::result::Result<u32, String> {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n < MAX)
            .ok_or_else(|| format!("invalid number {s:?}"))
    };
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("invalid range {part:?}"));
        }
        for n in lo..=hi {
            let i = (n / 8) as usize;
            if bytes.len() <= i {
                bytes.resize(i + 1, 0);
            }
            bytes[i] |= 1 << (n % 8);
        }
    }
    if bytes.is_empty() {
        return Err("empty".into());
    }
    Ok(Value::Array(
        "y".into(),
        bytes.into_iter().map(Value::Byte).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(s: &str) -> Vec<u8> {
        match range_to_bits(s).unwrap() {
            Value::Array(_, v) => v
                .into_iter()
                .map(|b| match b {
                    Value::Byte(b) => b,
                    _ => unreachable!(),
                })
                .collect(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn cpu_lists_as_systemd_reads_them() {
        assert_eq!(bits("0"), [1]);
        assert_eq!(bits("1"), [2]);
        assert_eq!(bits("0-3"), [0x0f]);
        assert_eq!(bits(" , 1 , 3 ,  5-7,\t"), [0xea]);
        assert_eq!(bits("16"), [0, 0, 1]);
        assert_eq!(bits("0-3,32-33"), [0x0f, 0, 0, 0, 3]);
        assert_eq!(bits("8-15"), [0, 0xff]);
        for bad in ["", "-", "1-", "-3", "54-53", "1 - 2", "x", "99999999"] {
            assert!(range_to_bits(bad).is_err(), "{bad:?}");
        }
    }

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    const NEW: Version = &|| 252;

    #[test]
    fn v2_properties() {
        let r = res(
            r#"{"memory": {"limit": 67108864, "reservation": 16777216, "swap": 134217728},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "1", "mems": "0"},
            "pids": {"limit": 50}, "blockIO": {"weight": 500}}"#,
        );
        let (p, files) = resources(&r, true, NEW).unwrap();
        let u = Value::U64;
        assert_eq!(
            p,
            vec![
                prop("MemoryMax", u(67108864)),
                prop("MemoryLow", u(16777216)),
                prop("MemorySwapMax", u(67108864)),
                prop("CPUWeight", u(59)),
                prop("CPUQuotaPeriodUSec", u(100000)),
                prop("CPUQuotaPerSecUSec", u(500000)),
                prop("AllowedCPUs", range_to_bits("1").unwrap()),
                prop("AllowedMemoryNodes", range_to_bits("0").unwrap()),
                prop("TasksMax", u(50)),
                prop("IOWeight", u(4950)),
            ]
        );
        assert_eq!(files, r, "a whole percentage: nothing to round");
    }

    #[test]
    fn v1_properties() {
        let r = res(
            r#"{"memory": {"limit": 67108864, "reservation": 1, "swap": 134217728},
            "cpu": {"shares": 512, "quota": 50000}, "pids": {"limit": -1}, "blockIO": {"weight": 500}}"#,
        );
        let (p, _) = resources(&r, false, NEW).unwrap();
        let u = Value::U64;
        assert_eq!(
            p,
            vec![
                prop("MemoryLimit", u(67108864)),
                prop("CPUShares", u(512)),
                prop("CPUQuotaPerSecUSec", u(500000)),
                prop("TasksMax", u(u64::MAX)),
                prop("BlockIOWeight", u(500)),
            ]
        );
    }

    #[test]
    fn quota_rounds_up_to_whole_percent() {
        // 12345/100000 is 12.345% of a CPU: systemd keeps 13%, so the files get 13000.
        let r = res(r#"{"cpu": {"quota": 12345, "period": 100000}}"#);
        let (p, files) = resources(&r, true, NEW).unwrap();
        assert!(p.contains(&prop("CPUQuotaPerSecUSec", Value::U64(130000))));
        assert_eq!(files.cpu().as_ref().unwrap().quota(), Some(13000));
        // A period alone: no quota (infinity), the period as its property.
        let r = res(r#"{"cpu": {"period": 50000}}"#);
        let (p, _) = resources(&r, true, NEW).unwrap();
        assert_eq!(
            p,
            vec![
                prop("CPUQuotaPeriodUSec", Value::U64(50000)),
                prop("CPUQuotaPerSecUSec", Value::U64(u64::MAX))
            ]
        );
        // Too old a systemd for the period and cpusets: only what it knows.
        let r = res(r#"{"cpu": {"quota": 20000, "period": 50000, "cpus": "0"}}"#);
        let (p, _) = resources(&r, true, &|| 241).unwrap();
        assert_eq!(p, vec![prop("CPUQuotaPerSecUSec", Value::U64(400000))]);
    }

    #[test]
    fn swap_and_limits() {
        // memory+swap = memory: no swap, said as 0 (a reload must not give swap back).
        let r = res(r#"{"memory": {"limit": 1000, "swap": 1000}}"#);
        let (p, _) = resources(&r, true, NEW).unwrap();
        assert!(p.contains(&prop("MemorySwapMax", Value::U64(0))));
        let r = res(r#"{"memory": {"limit": -1}}"#);
        let (p, _) = resources(&r, true, NEW).unwrap();
        assert_eq!(
            p,
            vec![
                prop("MemoryMax", Value::U64(u64::MAX)),
                prop("MemorySwapMax", Value::U64(u64::MAX))
            ]
        );
        let r = res(r#"{"memory": {"swap": 1000}}"#);
        assert!(
            resources(&r, true, NEW).is_err(),
            "swap without a memory limit"
        );
        let r = res(r#"{"cpu": {"cpus": "3-1"}}"#);
        let e = resources(&r, true, NEW).unwrap_err().to_string();
        assert!(e.contains("linux.resources.cpu.cpus"), "{e}");
    }

    #[test]
    fn unified_entries() {
        let r = res(
            r#"{"unified": {"memory.high": "1000", "memory.max": "max", "pids.max": "7",
            "cpu.max": "max 50000", "cpu.weight": "30", "cpuset.cpus": "0-1", "io.weight": "200"}}"#,
        );
        let (p, _) = resources(&r, true, NEW).unwrap();
        let u = Value::U64;
        assert_eq!(
            p,
            vec![
                prop("CPUQuotaPeriodUSec", u(50000)),
                prop("CPUQuotaPerSecUSec", u(u64::MAX)),
                prop("CPUWeight", u(30)),
                prop("AllowedCPUs", range_to_bits("0-1").unwrap()),
                prop("MemoryHigh", u(1000)),
                prop("MemoryMax", u(u64::MAX)),
                prop("TasksMax", u(7)),
            ]
        );
        let r = res(r#"{"unified": {"memory.high": "lots"}}"#);
        assert!(resources(&r, true, NEW).is_err());
        let r = res(r#"{"cpu": {"idle": 1, "shares": 1024}}"#);
        let (p, _) = resources(&r, true, NEW).unwrap();
        assert_eq!(
            p,
            vec![prop("CPUWeight", u(0))],
            "idle wins over the weight"
        );
    }
}
