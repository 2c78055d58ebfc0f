//! `update`: change a running container's resources, from runc's flags or a LinuxResources JSON.

use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;
use serde_json::{Value, json};

use super::create::with_default_devices;
use super::{Container, ContainerError, Result, Status, io_err};
use crate::state::{CONFIG_FILE, DirLock, Root, write_atomic};

#[derive(Default, Debug)]
pub struct UpdateOpts {
    pub resources: Option<PathBuf>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_burst: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_idle: Option<i64>,
    /// Intel RDT schemas for the container's resctrl group (taken with --resources too, as runc).
    pub l3_cache_schema: Option<String>,
    pub mem_bw_schema: Option<String>,
}

/// runc's `-1` or go-units' RAMInBytes: a decimal number, an optional space, then an optional
/// k/m/g/t/p (powers of 1024), `i` and `b`, in any case: `512m`, `1.5GiB`, `64 MB`, `4096`.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let bad = || ContainerError::Usage(format!("invalid value for {flag}: {s:?}"));
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    if num.is_empty() || num.starts_with('.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mul: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((n * mul) as i64)
}

pub fn update(root: &Root, id: &str, o: &UpdateOpts) -> Result<()> {
    crate::state::validate_id(id)?;
    let _lock = DirLock::acquire(&root.dir(id))?;
    let c = Container::load(root, id)?;
    if c.status() == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    let config = c.config()?;
    let current = config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let mut v = serde_json::to_value(&current).map_err(|e| ContainerError::Usage(e.to_string()))?;
    let mut kernel_memory = false;
    if let Some(src) = &o.resources {
        let mut text = String::new();
        if src.as_os_str() == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(io_err("read resources from stdin"))?;
        } else {
            text =
                std::fs::read_to_string(src).map_err(io_err(format!("read {}", src.display())))?;
        }
        let given: Value = serde_json::from_str(&text)
            .map_err(|e| ContainerError::Usage(format!("--resources: {e}")))?;
        kernel_memory |= ["kernel", "kernelTCP"]
            .iter()
            .any(|k| given["memory"][k].as_i64().is_some_and(|x| x != 0));
        merge(&mut v, given);
    }
    // As runc: with --resources the other flags are ignored.
    let flags = if o.resources.is_some() {
        &UpdateOpts::default()
    } else {
        o
    };
    let mut set = |path: &[&str], val: Value| {
        let mut cur = &mut v;
        for p in &path[..path.len() - 1] {
            if !cur.get(*p).is_some_and(Value::is_object) {
                cur[*p] = json!({});
            }
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = val;
    };
    if let Some(m) = &flags.memory {
        set(&["memory", "limit"], json!(parse_bytes("memory", m)?));
    }
    if let Some(m) = &flags.memory_reservation {
        set(
            &["memory", "reservation"],
            json!(parse_bytes("memory-reservation", m)?),
        );
    }
    if let Some(m) = &flags.memory_swap {
        set(&["memory", "swap"], json!(parse_bytes("memory-swap", m)?));
    }
    if let Some(m) = &flags.kernel_memory {
        set(
            &["memory", "kernel"],
            json!(parse_bytes("kernel-memory", m)?),
        );
    }
    if let Some(m) = &flags.kernel_memory_tcp {
        set(
            &["memory", "kernelTCP"],
            json!(parse_bytes("kernel-memory-tcp", m)?),
        );
    }
    if let Some(x) = flags.cpu_shares {
        set(&["cpu", "shares"], json!(x));
    }
    if let Some(x) = flags.cpu_quota {
        set(&["cpu", "quota"], json!(x));
    }
    if let Some(x) = flags.cpu_period {
        set(&["cpu", "period"], json!(x));
    }
    if let Some(x) = flags.cpu_burst {
        set(&["cpu", "burst"], json!(x));
    }
    if let Some(x) = &flags.cpuset_cpus {
        set(&["cpu", "cpus"], json!(x));
    }
    if let Some(x) = &flags.cpuset_mems {
        set(&["cpu", "mems"], json!(x));
    }
    if let Some(x) = flags.cpu_rt_period {
        set(&["cpu", "realtimePeriod"], json!(x));
    }
    if let Some(x) = flags.cpu_rt_runtime {
        set(&["cpu", "realtimeRuntime"], json!(x));
    }
    if let Some(x) = flags.cpu_idle {
        set(&["cpu", "idle"], json!(x));
    }
    if let Some(x) = flags.pids_limit {
        set(&["pids", "limit"], json!(x));
    }
    if let Some(x) = flags.blkio_weight {
        set(&["blockIO", "weight"], json!(x));
    }
    kernel_memory |= [&flags.kernel_memory, &flags.kernel_memory_tcp]
        .iter()
        .any(|f| f.as_deref().is_some_and(|x| x != "0"));
    if kernel_memory {
        crate::logging::warn(super::create::KERNEL_MEMORY_IGNORED);
    }
    crate::spec::pids::normalize_json(config.version(), &mut v);
    let resources: LinuxResources = serde_path_to_error::deserialize(&v)
        .map_err(|e| ContainerError::Usage(format!("resources: {}: {}", e.path(), e.inner())))?;
    let (l3, mb) = (
        o.l3_cache_schema.as_deref().unwrap_or(""),
        o.mem_bw_schema.as_deref().unwrap_or(""),
    );
    if !l3.is_empty() || !mb.is_empty() {
        let rdt = crate::intelrdt::RdtState::of(&c.record);
        crate::intelrdt::update(rdt.as_ref(), l3, mb).map_err(ContainerError::Usage)?;
    }
    let cg = c.cgroup().ok_or(ContainerError::NotRunning)?;
    // Device rules are rewritten only when the resources have some (the manager's rule).
    if resources.devices().is_some() {
        cg.apply(&with_default_devices(resources.clone(), &config))?;
    } else {
        cg.apply(&resources)?;
    }
    let mut saved = saved_config_json(&c)?;
    let resources_json =
        serde_json::to_value(&resources).map_err(|e| ContainerError::Usage(e.to_string()))?;
    if let Some(linux) = saved.get_mut("linux").and_then(Value::as_object_mut) {
        linux.insert("resources".into(), resources_json);
    }
    let data = serde_json::to_vec(&saved).map_err(|e| ContainerError::Usage(e.to_string()))?;
    write_atomic(&c.dir.join(CONFIG_FILE), &data, 0o600)?;
    Ok(())
}

/// The saved config as JSON, edited as JSON: re-serializing a parsed Spec would pull serde's
/// Serialize code for every config type into the binary just for `update` (~28 KB).
fn saved_config_json(c: &Container) -> Result<Value> {
    let path = c.dir.join(CONFIG_FILE);
    let text = std::fs::read(&path).map_err(io_err(format!("read {}", path.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| ContainerError::Usage(format!("{}: {e}", path.display())))
}

/// Fields given in the update replace those in the current resources (objects merge).
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    continue;
                }
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_units() {
        assert_eq!(parse_bytes("m", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("m", "64MB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("m", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("m", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("m", "-1").unwrap(), -1);
        assert_eq!(parse_bytes("m", "1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("m", "64 kb").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("m", "7b").unwrap(), 7);
        for bad in ["lots", "-2", "1x", "", "m", "1 2"] {
            assert!(parse_bytes("m", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merge_keeps_untouched_fields() {
        let mut a = json!({"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 5}});
        merge(&mut a, json!({"memory": {"limit": 9}}));
        assert_eq!(
            a,
            json!({"memory": {"limit": 9, "swap": 2}, "pids": {"limit": 5}})
        );
    }
}
