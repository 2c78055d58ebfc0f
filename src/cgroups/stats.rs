//! runc `events --stats` "data" objects from cgroup files.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::Result;
use super::fs::{parse_flat_keyed, parse_u64};
use super::v1::Dirs;

/// USER_HZ, the unit of cpuacct.stat.
const CLOCK_TICKS: u64 = 100;
const NS_PER_SEC: u64 = 1_000_000_000;

fn read_opt(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok()
}

fn u64_of(p: &Path) -> u64 {
    read_opt(p).and_then(|s| parse_u64(s.trim())).unwrap_or(0)
}

fn keyed(p: &Path) -> BTreeMap<String, u64> {
    read_opt(p)
        .map(|s| parse_flat_keyed(&s).into_iter().collect())
        .unwrap_or_default()
}

fn get(m: &BTreeMap<String, u64>, k: &str) -> u64 {
    m.get(k).copied().unwrap_or(0)
}

/// Page sizes (e.g. "2MB") for which `dir` has `hugetlb.<size>.<suffix>`.
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| {
                    n.strip_prefix("hugetlb.")?
                        .strip_suffix(suffix)
                        .filter(|s| !s.contains('.'))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn blkio_entries(p: &Path) -> Vec<Value> {
    let Some(s) = read_opt(p) else {
        return Vec::new();
    };
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (ma, mi) = f[0].split_once(':')?;
            Some(json!({
                "major": ma.parse::<u64>().ok()?,
                "minor": mi.parse::<u64>().ok()?,
                "op": f[1],
                "value": f[2].parse::<u64>().ok()?,
            }))
        })
        .collect()
}

/// Stats of a v1 (or hybrid) container.
pub fn v1(dirs: &Dirs, unified: Option<&Path>) -> Result<Value> {
    let mut out = Map::new();

    // cpu
    let mut usage = json!({"total": 0, "percpu": [], "kernel": 0, "user": 0});
    let mut throttling = json!({"periods": 0, "throttledPeriods": 0, "throttledTime": 0});
    if let Some(d) = dirs.get("cpuacct") {
        usage["total"] = json!(u64_of(&d.join("cpuacct.usage")));
        let percpu: Vec<u64> = read_opt(&d.join("cpuacct.usage_percpu"))
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        usage["percpu"] = json!(percpu);
        let st = keyed(&d.join("cpuacct.stat"));
        usage["kernel"] = json!(get(&st, "system") * NS_PER_SEC / CLOCK_TICKS);
        usage["user"] = json!(get(&st, "user") * NS_PER_SEC / CLOCK_TICKS);
    }
    if let Some(d) = dirs.get("cpu") {
        let st = keyed(&d.join("cpu.stat"));
        throttling = json!({
            "periods": get(&st, "nr_periods"),
            "throttledPeriods": get(&st, "nr_throttled"),
            "throttledTime": get(&st, "throttled_time"),
        });
    }
    out.insert(
        "cpu".into(),
        json!({"usage": usage, "throttling": throttling}),
    );

    // memory
    if let Some(d) = dirs.get("memory") {
        let entry = |prefix: &str| {
            json!({
                "limit": u64_of(&d.join(format!("{prefix}limit_in_bytes"))),
                "usage": u64_of(&d.join(format!("{prefix}usage_in_bytes"))),
                "max": u64_of(&d.join(format!("{prefix}max_usage_in_bytes"))),
                "failcnt": u64_of(&d.join(format!("{prefix}failcnt"))),
            })
        };
        let raw = keyed(&d.join("memory.stat"));
        out.insert(
            "memory".into(),
            json!({
                "cache": get(&raw, "cache"),
                "usage": entry("memory."),
                "swap": entry("memory.memsw."),
                "kernel": entry("memory.kmem."),
                "kernelTCP": entry("memory.kmem.tcp."),
                "raw": raw,
            }),
        );
    }

    // pids
    if let Some(d) = dirs.get("pids") {
        out.insert(
            "pids".into(),
            json!({
                "current": u64_of(&d.join("pids.current")),
                "limit": limit_or_zero(u64_of(&d.join("pids.max"))),
            }),
        );
    }

    // blkio
    if let Some(d) = dirs.get("blkio") {
        out.insert(
            "blkio".into(),
            json!({
                "ioServiceBytesRecursive":
                    blkio_entries(&d.join("blkio.throttle.io_service_bytes_recursive")),
                "ioServicedRecursive":
                    blkio_entries(&d.join("blkio.throttle.io_serviced_recursive")),
            }),
        );
    }

    // hugetlb: v1 controller, or the unified one on hybrid hosts.
    let mut huge = Map::new();
    if let Some(d) = dirs.get("hugetlb") {
        for size in hugetlb_sizes(d, ".limit_in_bytes") {
            huge.insert(
                size.clone(),
                json!({
                    "usage": u64_of(&d.join(format!("hugetlb.{size}.usage_in_bytes"))),
                    "max": u64_of(&d.join(format!("hugetlb.{size}.max_usage_in_bytes"))),
                    "failcnt": u64_of(&d.join(format!("hugetlb.{size}.failcnt"))),
                }),
            );
        }
    } else if let Some(u) = unified {
        huge = v2_hugetlb(u);
    }
    out.insert("hugetlb".into(), Value::Object(huge));
    Ok(Value::Object(out))
}

/// "max"/unlimited reads as 0 in runc's pids.limit.
fn limit_or_zero(v: u64) -> u64 {
    if v == u64::MAX { 0 } else { v }
}

fn v2_hugetlb(d: &Path) -> Map<String, Value> {
    let mut huge = Map::new();
    for size in hugetlb_sizes(d, ".max") {
        let ev = keyed(&d.join(format!("hugetlb.{size}.events")));
        huge.insert(
            size.clone(),
            json!({
                "usage": u64_of(&d.join(format!("hugetlb.{size}.current"))),
                "max": 0,
                "failcnt": get(&ev, "max"),
            }),
        );
    }
    huge
}

/// Stats of a v2 container from its leaf directory.
pub fn v2(d: &Path) -> Result<Value> {
    let cpu = keyed(&d.join("cpu.stat"));
    let mem = keyed(&d.join("memory.stat"));
    let events = keyed(&d.join("memory.events"));
    let io = read_opt(&d.join("io.stat")).unwrap_or_default();
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in io.lines() {
        let mut it = line.split_whitespace();
        let Some((ma, mi)) = it.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(ma), Ok(mi)) = (ma.parse::<u64>(), mi.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(json!({"major": ma, "minor": mi, "op": op, "value": v}));
        }
    }
    let usec = |k: &str| get(&cpu, k) * 1000;
    Ok(json!({
        "cpu": {
            "usage": {
                "total": usec("usage_usec"),
                "percpu": [],
                "kernel": usec("system_usec"),
                "user": usec("user_usec"),
            },
            "throttling": {
                "periods": get(&cpu, "nr_periods"),
                "throttledPeriods": get(&cpu, "nr_throttled"),
                "throttledTime": usec("throttled_usec"),
            },
        },
        "memory": {
            "cache": get(&mem, "file"),
            "usage": {
                "limit": u64_of(&d.join("memory.max")),
                "usage": u64_of(&d.join("memory.current")),
                "max": u64_of(&d.join("memory.peak")),
                "failcnt": get(&events, "max"),
            },
            "swap": {
                "limit": u64_of(&d.join("memory.swap.max")),
                "usage": u64_of(&d.join("memory.swap.current")),
                "max": u64_of(&d.join("memory.swap.peak")),
                "failcnt": 0,
            },
            "raw": mem,
        },
        "pids": {
            "current": u64_of(&d.join("pids.current")),
            "limit": limit_or_zero(u64_of(&d.join("pids.max"))),
        },
        "blkio": {
            "ioServiceBytesRecursive": bytes,
            "ioServicedRecursive": ios,
        },
        "hugetlb": v2_hugetlb(d),
    }))
}
