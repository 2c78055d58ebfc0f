//! Which systemd unit a container's cgroup is, from `linux.cgroupsPath` in runc's systemd form
//! `slice:prefix:name`, and where systemd puts it in the cgroup tree.

use std::path::PathBuf;

/// The slice a unit goes in when cgroupsPath names none (runc's default for root).
const DEFAULT_SLICE: &str = "system.slice";
/// The scope prefix when there is no cgroupsPath: runc uses its own name, rt its own.
const DEFAULT_PREFIX: &str = "rt";
/// systemd's UNIT_NAME_MAX, the nul included.
const UNIT_NAME_MAX: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The unit: `<prefix>-<name>.scope`, or `<name>` when that is a slice (as runc allows).
    pub name: String,
    /// The slice it goes in: its Slice= (a scope), or its Wants= (a slice).
    pub slice: String,
    /// Its cgroup: the slice's place in the tree, then the unit (`/system.slice/x.scope`).
    pub path: PathBuf,
    /// The container's name, for the unit's Description.
    pub container: String,
}

impl Unit {
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }

    /// The unit of a cgroup path from state.json (what [`Unit::path`] was at create).
    pub fn from_path(path: &std::path::Path) -> Option<Unit> {
        let name = path.file_name()?.to_str()?.to_string();
        let slice = match path.parent().and_then(|p| p.file_name()) {
            Some(s) => s.to_str()?.to_string(),
            None => "-.slice".to_string(),
        };
        Some(Unit {
            container: name.clone(),
            name,
            slice,
            path: path.to_path_buf(),
        })
    }
}

/// The unit for `cgroups_path` (None or empty: runc's default, `system.slice` and a scope named
/// after the runtime and `id`). The error says what is wrong, for "linux.cgroupsPath ...: ".
pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<Unit, String> {
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => ("", DEFAULT_PREFIX, id),
        Some(p) => match p.split(':').collect::<Vec<_>>()[..] {
            [s, p, n] => (s, p, n),
            _ => {
                return Err(
                    "expected \"slice:prefix:name\" for the systemd cgroup driver (e.g. \
                     \"system.slice:docker:<id>\")"
                        .into(),
                );
            }
        },
    };
    let slice = if slice.is_empty() {
        DEFAULT_SLICE
    } else {
        slice
    };
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_name(slice)?;
    check_unit_name(&unit)?;
    let mut path = expand_slice(slice)?;
    path.push(&unit);
    Ok(Unit {
        name: unit,
        slice: slice.to_string(),
        path,
        container: name.to_string(),
    })
}

/// Where systemd puts a slice: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`, `-.slice`
/// is the root. As runc's ExpandSlice, `a--b.slice`, `-a.slice` and `a-.slice` are refused.
pub fn expand_slice(slice: &str) -> Result<PathBuf, String> {
    let invalid = || format!("invalid slice name {slice:?}");
    let base = slice
        .strip_suffix(".slice")
        .filter(|b| !b.is_empty() && !slice.contains('/'))
        .ok_or_else(invalid)?;
    let mut path = PathBuf::from("/");
    if base == "-" {
        return Ok(path);
    }
    let mut prefix = String::new();
    for part in base.split('-') {
        if part.is_empty() {
            return Err(invalid());
        }
        path.push(format!("{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

/// Refuse what systemd would refuse as a unit name (before anything is made, and before a
/// name with `/` in it could become a path): letters, digits and `:-_.\@`, under 256 bytes.
fn check_unit_name(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if name.len() >= UNIT_NAME_MAX || name.starts_with('.') || !name.chars().all(ok) {
        return Err(format!("invalid systemd unit name {name:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_as_systemd_nests_them() {
        let ok = |s: &str| expand_slice(s).unwrap().to_string_lossy().into_owned();
        assert_eq!(ok("system.slice"), "/system.slice");
        assert_eq!(ok("a-b-c.slice"), "/a.slice/a-b.slice/a-b-c.slice");
        assert_eq!(
            ok("kubepods-besteffort-pod1234.slice"),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice"
        );
        assert_eq!(ok("-.slice"), "/");
        for bad in [
            "",
            ".slice",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
            "system",
            "a.scope",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cgroups_paths() {
        let u = parse(Some("system.slice:docker:abc"), "id").unwrap();
        assert_eq!(u.name, "docker-abc.scope");
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.path, PathBuf::from("/system.slice/docker-abc.scope"));
        assert!(!u.is_slice());

        let u = parse(
            Some("kubepods-burstable-pod12.slice:cri-containerd:f00"),
            "id",
        )
        .unwrap();
        assert_eq!(
            u.path,
            PathBuf::from(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-containerd-f00.scope"
            )
        );
        // runc's defaults: no cgroupsPath, or an empty slice.
        let u = parse(None, "c1").unwrap();
        assert_eq!(
            (u.name.as_str(), u.slice.as_str()),
            ("rt-c1.scope", "system.slice")
        );
        assert_eq!(parse(Some(""), "c1").unwrap(), u);
        let u = parse(Some(":libpod:x"), "c1").unwrap();
        assert_eq!(u.path, PathBuf::from("/system.slice/libpod-x.scope"));
        // A slice as the name: the unit is that slice.
        let u = parse(Some("machine.slice:x:machine-y.slice"), "c1").unwrap();
        assert!(u.is_slice());
        assert_eq!(u.name, "machine-y.slice");

        for bad in [
            "/system.slice/x",
            "system.slice:x",
            "a:b:c:d",
            "system:docker:abc",
            "system.slice:docker:../../etc",
            "system.slice:do/cker:abc",
            "system.slice:docker:a b",
        ] {
            assert!(parse(Some(bad), "id").is_err(), "{bad:?}");
        }
        assert!(parse(None, "a+b").is_err(), "+ is no unit name character");
        let long = "x".repeat(300);
        assert!(parse(Some(&format!("system.slice:p:{long}")), "id").is_err());
    }

    #[test]
    fn units_from_saved_paths() {
        let u = parse(Some("a-b.slice:p:n"), "id").unwrap();
        let back = Unit::from_path(&u.path).unwrap();
        assert_eq!((back.name, back.slice), (u.name, u.slice));
    }
}
