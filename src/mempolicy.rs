//! `linux.memoryPolicy` (runtime-spec 1.3): the container's NUMA memory policy, set with
//! set_mempolicy(2) by init and by every `exec`'d process before the user switch and seccomp
//! (a profile may deny the call), so the program inherits it across execve, as its children do.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType as F, MemoryPolicyModeType as M};

/// Every mode and flag of the spec, as `features` lists them (sorted, as runc lists them).
pub const MODES: &[&str] = &[
    "MPOL_BIND",
    "MPOL_DEFAULT",
    "MPOL_INTERLEAVE",
    "MPOL_LOCAL",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_WEIGHTED_INTERLEAVE",
];
pub const FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// Node ids go up to 1023: runc parses `nodes` into a 1024-bit set, and 1024 is the kernel's
/// usual MAX_NUMNODES (CONFIG_NODES_SHIFT=10).
const MAX_NODE: usize = 1023;

// include/uapi/linux/mempolicy.h
fn mode_number(m: M) -> i32 {
    match m {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    }
}

fn flag_bit(f: F) -> i32 {
    match f {
        F::MpolFStaticNodes => 1 << 15,
        F::MpolFRelativeNodes => 1 << 14,
        F::MpolFNumaBalancing => 1 << 13,
    }
}

/// `nodes` ("0-3,7"; empty: none) as the kernel's bitmask, in 64-bit words.
fn parse_nodes(s: &str) -> Result<Vec<u64>, String> {
    let mut mask = Vec::new();
    if s.is_empty() {
        return Ok(mask);
    }
    for part in s.split(',') {
        let num = |n: &str| {
            n.parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_NODE)
                .ok_or_else(|| format!("{n:?} in {s:?} is not a node number from 0 to {MAX_NODE}"))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("range {part:?} in {s:?} ends before it starts"));
        }
        for n in lo..=hi {
            if mask.len() <= n / 64 {
                mask.resize(n / 64 + 1, 0);
            }
            mask[n / 64] |= 1 << (n % 64);
        }
    }
    Ok(mask)
}

/// What set_mempolicy(2) would refuse whatever the host, each starting with its JSON path.
pub fn problems(p: &LinuxMemoryPolicy) -> Vec<String> {
    let mut v = Vec::new();
    let nodes = match parse_nodes(p.nodes().as_deref().unwrap_or("")) {
        Ok(n) => n,
        Err(e) => return vec![format!("linux.memoryPolicy.nodes: {e}")],
    };
    let mode = p.mode();
    match mode {
        M::MpolDefault | M::MpolLocal if !nodes.is_empty() => {
            v.push(format!("linux.memoryPolicy.nodes: {mode} takes no nodes"))
        }
        M::MpolBind | M::MpolInterleave | M::MpolWeightedInterleave | M::MpolPreferredMany
            if nodes.is_empty() =>
        {
            v.push(format!(
                "linux.memoryPolicy.nodes: {mode} needs at least one node"
            ))
        }
        _ => {}
    }
    let flags = p.flags().as_deref().unwrap_or_default();
    if flags.contains(&F::MpolFStaticNodes) && flags.contains(&F::MpolFRelativeNodes) {
        v.push(
            "linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude \
             each other"
                .into(),
        );
    }
    v
}

/// Set the calling process's policy. The kernel judges the rest (nodes that are offline or
/// outside the cpuset, MPOL_F_NUMA_BALANCING with a mode other than MPOL_BIND...).
pub fn apply(p: &LinuxMemoryPolicy) -> Result<(), String> {
    let nodes = p.nodes().as_deref().unwrap_or("");
    let mask = parse_nodes(nodes).map_err(|e| format!("linux.memoryPolicy.nodes: {e}"))?;
    let flags = p.flags().as_deref().unwrap_or_default();
    let mode = flags
        .iter()
        .fold(mode_number(p.mode()), |m, f| m | flag_bit(*f));
    // maxnode counts one more than the bits the kernel reads.
    let maxnode = if mask.is_empty() {
        0
    } else {
        mask.len() * 64 + 1
    };
    let ptr = if mask.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    // SAFETY: set_mempolicy reads ceil((maxnode - 1) / 64) words from `ptr`: exactly `mask`.
    if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) } != 0 {
        return Err(format!(
            "linux.memoryPolicy: set_mempolicy {} nodes {nodes:?} flags {flags:?}: {}",
            p.mode(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> LinuxMemoryPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn nodes_become_a_bitmask() {
        assert_eq!(parse_nodes("").unwrap(), Vec::<u64>::new());
        assert_eq!(parse_nodes("0").unwrap(), vec![1]);
        assert_eq!(parse_nodes("0-3,7").unwrap(), vec![0x8f]);
        assert_eq!(parse_nodes("64").unwrap(), vec![0, 1]);
        assert_eq!(parse_nodes("1023").unwrap().len(), 16);
        for bad in ["a", "1024", "3-1", "1,,2", "-1", "1-", " 1", "0x1"] {
            assert!(parse_nodes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn problems_name_the_field() {
        let p = |v| problems(&policy(v));
        assert!(p(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0"})).is_empty());
        assert!(p(serde_json::json!({"mode": "MPOL_PREFERRED"})).is_empty());
        assert!(p(serde_json::json!({"mode": "MPOL_LOCAL", "nodes": ""})).is_empty());
        for (bad, field) in [
            (
                serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
                "nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "1"}),
                "nodes",
            ),
            (serde_json::json!({"mode": "MPOL_BIND"}), "nodes"),
            (
                serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": ""}),
                "nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "x"}),
                "nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "0",
                    "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
                "flags",
            ),
        ] {
            let v = p(bad.clone());
            assert!(
                v.len() == 1 && v[0].starts_with(&format!("linux.memoryPolicy.{field}:")),
                "{bad}: {v:?}"
            );
        }
    }

    #[test]
    fn every_mode_and_flag_is_listed() {
        for m in MODES {
            let p = policy(serde_json::json!({ "mode": m }));
            assert_eq!(p.mode().to_string(), *m);
        }
        for f in FLAGS {
            let p = policy(serde_json::json!({"mode": "MPOL_BIND", "flags": [f]}));
            assert_eq!(p.flags().as_ref().unwrap()[0].to_string(), *f);
        }
    }
}
