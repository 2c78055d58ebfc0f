//! What `linux.resources.pids.limit` 0 means. runtime-spec 1.3 made `limit` optional and says 0
//! is a real limit (runc 1.4+ writes pids.max "1" for it); up to 1.2 `limit` was required and
//! callers wrote 0 for "no limit": podman 4.3 sends `{"limit": 0}` for `--pids-limit -1` (and 0),
//! and runc up to 1.3 left the cgroup alone. rt takes 0 as a limit only from a config that says
//! it follows spec 1.3 (`ociVersion` 1.3.0 or newer) and really has the member; otherwise 0 is
//! "not set", as the caller meant it. Negative values are "max" and positive ones the limit,
//! whatever the version. (integration/conformance/README.md, "pids.limit 0".)

use serde_json::Value;

/// Does a config (or `update` resources) of `oci_version` whose pids object is `pids` (the raw
/// JSON, to tell a missing `limit` from 0) set a pids limit?
pub fn limit_is_set(oci_version: &str, pids: &Value) -> bool {
    match pids.get("limit").and_then(Value::as_i64) {
        None => false,
        Some(0) => at_least_1_3(oci_version),
        Some(_) => true,
    }
}

/// `1.3.0`, `1.3.0-rc.1`, `1.4` and later; not `1.2.1`, `1.0.2-dev` or a version rt cannot read.
fn at_least_1_3(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (1, 3),
        _ => false,
    }
}

/// Drop `linux.resources.pids` from a parsed config when it sets no limit. oci-spec reads a
/// missing `limit` as 0, so only then is the raw JSON looked at again.
pub fn normalize(spec: &mut oci_spec::runtime::Spec, data: &[u8]) {
    let version = spec.version().clone();
    let Some(r) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.resources_mut().as_mut())
    else {
        return;
    };
    if r.pids().is_none_or(|p| p.limit() != 0) {
        return;
    }
    let raw: Value = serde_json::from_slice(data).unwrap_or_default();
    if !limit_is_set(&version, &raw["linux"]["resources"]["pids"]) {
        r.set_pids(None);
    }
}

/// The same for `update`'s merged resources JSON (the container's `ociVersion` decides).
pub fn normalize_json(oci_version: &str, resources: &mut Value) {
    if let Some(obj) = resources.as_object_mut()
        && obj
            .get("pids")
            .is_some_and(|p| !limit_is_set(oci_version, p))
    {
        obj.remove("pids");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_is_a_limit_only_in_a_1_3_config() {
        for (version, pids, set) in [
            ("1.3.0", json!({"limit": 0}), true),
            ("1.3.0-rc.1", json!({"limit": 0}), true),
            ("1.4.2", json!({"limit": 0}), true),
            ("2.0.0", json!({"limit": 0}), true),
            ("1.2.1", json!({"limit": 0}), false),
            ("1.0.2-dev", json!({"limit": 0}), false),
            ("", json!({"limit": 0}), false),
            ("one", json!({"limit": 0}), false),
            ("1.3.0", json!({}), false),
            ("1.0.2-dev", json!({"limit": -1}), true),
            ("1.0.2-dev", json!({"limit": 50}), true),
        ] {
            assert_eq!(limit_is_set(version, &pids), set, "{version} {pids}");
        }
    }

    #[test]
    fn unset_pids_leave_the_resources() {
        let mut r = json!({"pids": {"limit": 0}, "memory": {"limit": 1}});
        normalize_json("1.0.2-dev", &mut r);
        assert_eq!(r, json!({"memory": {"limit": 1}}));
        let mut r = json!({"pids": {"limit": 0}});
        normalize_json("1.3.0", &mut r);
        assert_eq!(r, json!({"pids": {"limit": 0}}));
    }
}
