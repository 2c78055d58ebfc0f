//! The five capability sets of the container process, from `process.capabilities`.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

#[derive(Debug, thiserror::Error)]
#[error("set {set} capabilities: {msg}")]
pub struct CapsError {
    set: &'static str,
    msg: String,
}

fn convert(set: &Option<Capabilities>) -> CapsHashSet {
    set.iter()
        .flatten()
        .filter_map(|c| format!("CAP_{c}").parse::<Capability>().ok())
        .collect()
}

fn err(set: &'static str) -> impl Fn(caps::errors::CapsError) -> CapsError {
    move |e| CapsError {
        set,
        msg: e.to_string(),
    }
}

/// Drop from the bounding set what the config leaves out. Needs CAP_SETPCAP in the effective
/// set, so it runs before the switch to the container user (which clears effective caps).
pub fn apply_bounding(c: &LinuxCapabilities) -> Result<(), CapsError> {
    let bounding = convert(c.bounding());
    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            // Capabilities the running kernel does not know are skipped like runc does.
            if let Err(e) = caps::drop(None, CapSet::Bounding, cap)
                && caps::runtime::thread_all_supported().contains(&cap)
            {
                return Err(err("bounding")(e));
            }
        }
    }
    Ok(())
}

/// After the user switch: inheritable, effective, permitted and ambient.
pub fn apply(c: &LinuxCapabilities) -> Result<(), CapsError> {
    let supported = caps::runtime::thread_all_supported();
    let keep = |s: CapsHashSet| -> CapsHashSet { s.intersection(&supported).copied().collect() };
    // Inheritable may only grow while CAP_SETPCAP is effective, and effective must stay within
    // permitted: hence inheritable, effective, then permitted.
    caps::set(None, CapSet::Inheritable, &keep(convert(c.inheritable())))
        .map_err(err("inheritable"))?;
    caps::set(None, CapSet::Effective, &keep(convert(c.effective()))).map_err(err("effective"))?;
    caps::set(None, CapSet::Permitted, &keep(convert(c.permitted()))).map_err(err("permitted"))?;
    caps::clear(None, CapSet::Ambient).map_err(err("ambient"))?;
    // The kernel raises an ambient cap only if it is permitted and inheritable; runc skips the
    // others without failing, and so do we.
    let inheritable = convert(c.inheritable());
    let permitted = convert(c.permitted());
    for cap in keep(convert(c.ambient())) {
        if inheritable.contains(&cap) && permitted.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap).map_err(err("ambient"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_names_map_to_kernel_caps() {
        let set: Capabilities = [
            oci_spec::runtime::Capability::AuditWrite,
            oci_spec::runtime::Capability::Kill,
            oci_spec::runtime::Capability::NetBindService,
        ]
        .into_iter()
        .collect();
        let got = convert(&Some(set));
        assert_eq!(got.len(), 3);
        assert!(got.contains(&Capability::CAP_AUDIT_WRITE));
        assert!(got.contains(&Capability::CAP_NET_BIND_SERVICE));
    }
}
