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

/// What runc makes of an omitted `process.capabilities`: five empty sets, so the process has no
/// capabilities at all. Not oci-spec's `Default`, which holds three capabilities in every set.
pub fn empty() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None)
        .set_effective(None)
        .set_inheritable(None)
        .set_permitted(None)
        .set_ambient(None);
    c
}

/// Every capability the caps crate knows, in index order (0, 1, ... with no gaps).
pub fn all_by_index() -> Vec<Capability> {
    let mut v: Vec<Capability> = caps::all().into_iter().collect();
    v.sort_by_key(|c| c.index());
    v
}

/// Drop from the bounding set what the config leaves out. Needs CAP_SETPCAP in the effective
/// set, so it runs before the switch to the container user (which clears effective caps).
pub fn apply_bounding(c: &LinuxCapabilities) -> Result<(), CapsError> {
    let bounding = convert(c.bounding());
    for cap in all_by_index() {
        if bounding.contains(&cap) {
            continue;
        }
        // Dropped without asking first whether it is there: dropping an absent capability is
        // a no-op, so one prctl per capability instead of two.
        // SAFETY: prctl(PR_CAPBSET_DROP, index) takes no pointers.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                libc::c_ulong::from(cap.index()),
                0,
                0,
                0,
            )
        };
        if rc == 0 {
            continue;
        }
        let e = std::io::Error::last_os_error();
        // EINVAL: a capability the running kernel does not know, skipped like runc does. Any
        // other failure (EPERM without CAP_SETPCAP) counts only if the capability is still
        // there to drop, as when we asked first.
        if e.raw_os_error() == Some(libc::EINVAL)
            || !caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
        {
            continue;
        }
        return Err(CapsError {
            set: "bounding",
            msg: format!("PR_CAPBSET_DROP failure: {e}"),
        });
    }
    Ok(())
}

/// The capabilities the running kernel knows. The kernel's are 0..=CAP_LAST_CAP and
/// PR_CAPBSET_READ answers EINVAL above that, so bisect (six prctls) rather than ask about each
/// of the ~41 (caps::runtime::thread_all_supported).
fn supported() -> CapsHashSet {
    let all = all_by_index();
    let known = |cap: Capability| {
        // SAFETY: prctl(PR_CAPBSET_READ, index) takes no pointers.
        unsafe {
            libc::prctl(
                libc::PR_CAPBSET_READ,
                libc::c_ulong::from(cap.index()),
                0,
                0,
                0,
            ) >= 0
        }
    };
    // Invariant: the first `lo` are known, none past the first `hi` is.
    let (mut lo, mut hi) = (0, all.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if known(all[mid - 1]) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    all[..lo].iter().copied().collect()
}

#[repr(C)]
struct CapUserHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapUserData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// This thread's effective, permitted and inheritable sets, read once and then set one at a
/// time: what capset stores is exactly what it was given, so nothing needs reading again
/// between the steps (caps::set reads all three before every write).
struct BaseSets([CapUserData; 2]);

impl BaseSets {
    fn get() -> std::io::Result<BaseSets> {
        let mut hdr = CapUserHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapUserData::default(); 2];
        // SAFETY: capget writes two CapUserData (the v3 layout) into `data`, which we own.
        let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(BaseSets(data))
    }

    fn set(&mut self, which: CapSet, value: &CapsHashSet) -> std::io::Result<()> {
        let bits = value.iter().fold(0u64, |b, c| b | c.bitmask());
        let mut next = self.0;
        for (i, d) in next.iter_mut().enumerate() {
            let half = (bits >> (32 * i)) as u32;
            match which {
                CapSet::Effective => d.effective = half,
                CapSet::Permitted => d.permitted = half,
                _ => d.inheritable = half,
            }
        }
        let mut hdr = CapUserHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        // SAFETY: capset reads the header and two CapUserData we own.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, next.as_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.0 = next;
        Ok(())
    }
}

/// After the user switch: inheritable, effective, permitted and ambient.
pub fn apply(c: &LinuxCapabilities) -> Result<(), CapsError> {
    let supported = supported();
    let keep = |s: CapsHashSet| -> CapsHashSet { s.intersection(&supported).copied().collect() };
    let fail = |set: &'static str, what: &'static str| {
        move |e: std::io::Error| CapsError {
            set,
            msg: format!("{what} failure: {e}"),
        }
    };
    let mut sets = BaseSets::get().map_err(fail("inheritable", "capget"))?;
    // Inheritable may only grow while CAP_SETPCAP is effective, and effective must stay within
    // permitted: hence inheritable, effective, then permitted.
    sets.set(CapSet::Inheritable, &keep(convert(c.inheritable())))
        .map_err(fail("inheritable", "capset"))?;
    sets.set(CapSet::Effective, &keep(convert(c.effective())))
        .map_err(fail("effective", "capset"))?;
    sets.set(CapSet::Permitted, &keep(convert(c.permitted())))
        .map_err(fail("permitted", "capset"))?;
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

    #[test]
    fn empty_has_no_capability_in_any_set() {
        let c = empty();
        for set in [
            c.bounding(),
            c.effective(),
            c.inheritable(),
            c.permitted(),
            c.ambient(),
        ] {
            assert!(convert(set).is_empty());
        }
    }

    #[test]
    fn bisected_support_matches_asking_each() {
        assert_eq!(supported(), caps::runtime::thread_all_supported());
        let idx: Vec<u8> = all_by_index().iter().map(|c| c.index()).collect();
        assert_eq!(idx, (0..idx.len() as u8).collect::<Vec<_>>());
    }

    #[test]
    fn base_sets_read_as_the_caps_crate_does() {
        let sets = BaseSets::get().unwrap();
        let bits = |f: fn(&CapUserData) -> u32| {
            u64::from(f(&sets.0[0])) | (u64::from(f(&sets.0[1])) << 32)
        };
        let mask = |s: CapsHashSet| s.iter().fold(0u64, |b, c| b | c.bitmask());
        assert_eq!(
            bits(|d| d.effective),
            mask(caps::read(None, CapSet::Effective).unwrap())
        );
        assert_eq!(
            bits(|d| d.permitted),
            mask(caps::read(None, CapSet::Permitted).unwrap())
        );
        assert_eq!(
            bits(|d| d.inheritable),
            mask(caps::read(None, CapSet::Inheritable).unwrap())
        );
    }
}
