//! Linux security modules: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`, applied the way runc applies them.
//!
//! - AppArmor: `exec <profile>` is written to /proc/thread-self/attr/apparmor/exec (or the old
//!   /proc/thread-self/attr/exec) just before execve. A profile on a host without AppArmor is
//!   refused (runc fails writing it), never dropped: the process would run unconfined.
//! - SELinux: the label is written to /proc/thread-self/attr/exec before execve, and
//!   `linux.mountLabel` becomes a `context="..."` mount option. A process label on a host without
//!   SELinux is refused, as runc's validator does; a mount label there is ignored (runc's
//!   `label.FormatMountLabel` does the same).

use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("{field}: {msg}")]
    Config { field: &'static str, msg: String },
    #[error("{field}: write {path}: {source}")]
    Write {
        field: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// Is AppArmor enabled on this host? (runc: /sys/kernel/security/apparmor exists and the module
/// parameter says Y.)
pub fn apparmor_enabled() -> bool {
    apparmor_enabled_at(Path::new("/"))
}

fn apparmor_enabled_at(root: &Path) -> bool {
    if !root.join("sys/kernel/security/apparmor").exists() {
        return false;
    }
    std::fs::read(root.join("sys/module/apparmor/parameters/enabled"))
        .is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// Is SELinux enabled? (go-selinux: selinuxfs mounted, i.e. /sys/fs/selinux/enforce exists.)
pub fn selinux_enabled() -> bool {
    selinux_enabled_at(Path::new("/"))
}

fn selinux_enabled_at(root: &Path) -> bool {
    root.join("sys/fs/selinux/enforce").exists()
}

/// A label or profile is written verbatim into a proc attribute file: refuse what the kernel
/// would misparse (NUL, newline) or what is obviously empty.
pub fn check_label(field: &'static str, s: &str) -> Result<(), LsmError> {
    if s.trim().is_empty() && !s.is_empty() {
        return Err(LsmError::Config {
            field,
            msg: "must not be blank".into(),
        });
    }
    if s.bytes().any(|b| b == 0 || b == b'\n') {
        return Err(LsmError::Config {
            field,
            msg: format!("{s:?} contains a NUL or newline"),
        });
    }
    Ok(())
}

/// Checks made before anything is created (also used by `rt check`): every problem, each with
/// its JSON path.
pub fn problems(spec: &oci_spec::runtime::Spec) -> Vec<String> {
    let mut v = spec
        .process()
        .as_ref()
        .map(process_problems)
        .unwrap_or_default();
    if let Some(l) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref())
    {
        if let Err(e) = check_label("linux.mountLabel", l) {
            v.push(e.to_string());
        } else if l.contains('"') {
            v.push(format!(
                "linux.mountLabel: {l:?} must not contain a double quote"
            ));
        }
    }
    v
}

/// The labels of one process (the container's or an exec's): well-formed, and each for a
/// security module this host has. A label asked for and not applied would leave the process
/// unconfined without a word, so it is refused.
pub fn process_problems(process: &oci_spec::runtime::Process) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(p) = process.apparmor_profile().as_deref() {
        if let Err(e) = check_label("process.apparmorProfile", p) {
            v.push(e.to_string());
        } else if !p.is_empty() && !apparmor_enabled() {
            v.push(format!(
                "process.apparmorProfile: {p:?} is set but AppArmor is not enabled on this host"
            ));
        }
    }
    if let Some(l) = process.selinux_label().as_deref() {
        if let Err(e) = check_label("process.selinuxLabel", l) {
            v.push(e.to_string());
        } else if !l.is_empty() && !selinux_enabled() {
            v.push(
                "process.selinuxLabel: a label is set but SELinux is disabled or not supported \
                 on this host"
                    .into(),
            );
        }
    }
    v
}

/// The mount data with `context="<label>"` added, when SELinux is on and a label is set.
pub fn mount_data(data: Option<String>, mount_label: Option<&str>) -> Option<String> {
    match mount_label {
        Some(l) if !l.is_empty() && selinux_enabled() => Some(with_context(data, l)),
        _ => data,
    }
}

fn with_context(data: Option<String>, label: &str) -> String {
    let ctx = format!("context=\"{label}\"");
    match data {
        Some(d) if !d.is_empty() => format!("{d},{ctx}"),
        _ => ctx,
    }
}

/// Write a proc attribute of this thread; `/proc/thread-self` so a multi-threaded init (none
/// today) would still label the execve-ing thread.
fn write_attr(field: &'static str, candidates: &[&str], value: &str) -> Result<(), LsmError> {
    let path = candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .or(candidates.last())
        .copied()
        .unwrap_or("/proc/thread-self/attr/exec");
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    w.map_err(|source| LsmError::Write {
        field,
        path: path.to_string(),
        source,
    })
}

/// Apply the process's labels for the next execve. Called in init as the last step before exec.
pub fn apply_exec_labels(process: &oci_spec::runtime::Process) -> Result<(), LsmError> {
    if let Some(p) = process.apparmor_profile().as_deref()
        && !p.is_empty()
    {
        check_label("process.apparmorProfile", p)?;
        if !apparmor_enabled() {
            return Err(LsmError::Config {
                field: "process.apparmorProfile",
                msg: format!("{p:?} is set but AppArmor is not enabled on this host"),
            });
        }
        write_attr(
            "process.apparmorProfile",
            &[
                "/proc/thread-self/attr/apparmor/exec",
                "/proc/thread-self/attr/exec",
            ],
            &format!("exec {p}"),
        )?;
    }
    if let Some(l) = process.selinux_label().as_deref()
        && !l.is_empty()
    {
        check_label("process.selinuxLabel", l)?;
        if !selinux_enabled() {
            return Err(LsmError::Config {
                field: "process.selinuxLabel",
                msg: "a label is set but SELinux is disabled or not supported on this host".into(),
            });
        }
        write_attr("process.selinuxLabel", &["/proc/thread-self/attr/exec"], l)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_follows_runc() {
        let d = std::env::temp_dir().join(format!("rt-lsm-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sys/module/apparmor/parameters")).unwrap();
        assert!(!apparmor_enabled_at(&d));
        std::fs::create_dir_all(d.join("sys/kernel/security/apparmor")).unwrap();
        std::fs::write(d.join("sys/module/apparmor/parameters/enabled"), "N\n").unwrap();
        assert!(!apparmor_enabled_at(&d));
        std::fs::write(d.join("sys/module/apparmor/parameters/enabled"), "Y\n").unwrap();
        assert!(apparmor_enabled_at(&d));
        assert!(!selinux_enabled_at(&d));
        std::fs::create_dir_all(d.join("sys/fs/selinux")).unwrap();
        std::fs::write(d.join("sys/fs/selinux/enforce"), "1").unwrap();
        assert!(selinux_enabled_at(&d));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn labels_are_checked_and_mount_context_added() {
        assert!(check_label("x", "docker-default").is_ok());
        assert!(check_label("x", "").is_ok());
        assert!(check_label("x", "a\nb").is_err());
        assert!(check_label("x", "a\0b").is_err());
        assert!(
            check_label("x", "  ")
                .unwrap_err()
                .to_string()
                .starts_with("x: ")
        );
        assert_eq!(
            with_context(Some("mode=755".into()), "system_u:object_r:c:s0"),
            "mode=755,context=\"system_u:object_r:c:s0\""
        );
        assert_eq!(with_context(None, "l"), "context=\"l\"");
        if !selinux_enabled() {
            assert_eq!(mount_data(Some("a".into()), Some("l")), Some("a".into()));
        }
    }
}
