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
        .filter_map(|c| c.to_string().parse::<Capability>().ok())
        .collect()
}

/// Drop the bounding set first (needs CAP_SETPCAP, still held), then set the rest.
pub fn apply(c: &LinuxCapabilities) -> Result<(), CapsError> {
    let err = |set| move |e: caps::errors::CapsError| CapsError {
        set,
        msg: e.to_string(),
    };
    let bounding = convert(c.bounding());
    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
        {
            // Capabilities the running kernel does not know are skipped like runc does.
            if let Err(e) = caps::drop(None, CapSet::Bounding, cap) {
                if caps::runtime::thread_all_supported().contains(&cap) {
                    return Err(err("bounding")(e));
                }
            }
        }
    }
    let supported = caps::runtime::thread_all_supported();
    let keep = |s: CapsHashSet| -> CapsHashSet { s.intersection(&supported).copied().collect() };
    // Inheritable may only grow while CAP_SETPCAP is effective, and effective must stay within
    // permitted: hence inheritable, effective, then permitted.
    caps::set(None, CapSet::Inheritable, &keep(convert(c.inheritable())))
        .map_err(err("inheritable"))?;
    caps::set(None, CapSet::Effective, &keep(convert(c.effective())))
        .map_err(err("effective"))?;
    caps::set(None, CapSet::Permitted, &keep(convert(c.permitted())))
        .map_err(err("permitted"))?;
    caps::clear(None, CapSet::Ambient).map_err(err("ambient"))?;
    for cap in keep(convert(c.ambient())) {
        caps::raise(None, CapSet::Ambient, cap).map_err(err("ambient"))?;
    }
    Ok(())
}
