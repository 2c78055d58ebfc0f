//! config.json mount options -> mount(2) flags, recursive mount_setattr attributes, propagation,
//! and the leftover filesystem data string. Pure, so it is tested exhaustively.

use nix::mount::MsFlags;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for mount(2) itself.
    pub flags: MsFlags,
    /// Flags explicitly cleared (`rw`, `suid`, ...), so a remount doesn't keep them.
    pub cleared: MsFlags,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes (`rro`, `rnosuid`, ...) for mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clear: u64,
    /// Unknown options, passed to the filesystem as its data string.
    pub data: Vec<String>,
    /// `idmap`/`ridmap` asked for.
    pub idmap: bool,
    /// `ridmap`: the idmapping applies to every mount of an rbind tree, not just the top one.
    pub idmap_recursive: bool,
    /// `tmpcopyup` (runc's extension): a tmpfs starts with a copy of the directory it hides.
    pub copy_up: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clear: 0,
            data: Vec::new(),
            idmap: false,
            idmap_recursive: false,
            copy_up: false,
        }
    }
}

/// MS_NOSYMFOLLOW (Linux 5.10), which nix does not name.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// A bind mount: type "bind" or a `bind`/`rbind` option (the spec lets either say it).
pub fn is_bind_mount(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let opt = opt.as_str();
        if let Some((set, flag)) = plain_flag(opt) {
            // insert/remove, not `&= !flag`: `!` on MsFlags drops the bits nix does not name
            // (MS_NOSYMFOLLOW).
            if set {
                o.flags.insert(flag);
                o.cleared.remove(flag);
            } else {
                o.flags.remove(flag);
                o.cleared.insert(flag);
            }
        } else if let Some(p) = propagation(opt) {
            o.propagation.push(p);
        } else if let Some((set, attr)) = recursive_attr(opt) {
            if set {
                if attr & MOUNT_ATTR_ATIME_MASK != 0 || attr == MOUNT_ATTR_RELATIME {
                    o.rec_clear |= MOUNT_ATTR_ATIME_MASK;
                }
                o.rec_set |= attr;
            } else {
                o.rec_clear |= attr;
            }
        } else if opt == "idmap" || opt == "ridmap" {
            o.idmap = true;
            o.idmap_recursive = opt == "ridmap";
        } else if opt == "tmpcopyup" {
            o.copy_up = true;
        } else if opt == "bind" {
            o.flags |= MsFlags::MS_BIND;
        } else if opt == "rbind" {
            o.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
        } else if !opt.is_empty() {
            o.data.push(opt.to_string());
        }
    }
    o
}

/// (true = set, flag) for options that map onto mount(2) flags.
fn plain_flag(opt: &str) -> Option<(bool, MsFlags)> {
    Some(match opt {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "atime" => (false, MsFlags::MS_NOATIME),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        "nosymfollow" => (true, MS_NOSYMFOLLOW),
        "symfollow" => (false, MS_NOSYMFOLLOW),
        _ => return None,
    })
}

fn propagation(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// The recursive variants the runtime spec lists (`rro`, `rnosuid`, ...), for mount_setattr.
fn recursive_attr(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (true, MOUNT_ATTR_RDONLY),
        "rrw" => (false, MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, MOUNT_ATTR_NOSUID),
        "rsuid" => (false, MOUNT_ATTR_NOSUID),
        "rnodev" => (true, MOUNT_ATTR_NODEV),
        "rdev" => (false, MOUNT_ATTR_NODEV),
        "rnoexec" => (true, MOUNT_ATTR_NOEXEC),
        "rexec" => (false, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (false, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (true, MOUNT_ATTR_RELATIME),
        "rnorelatime" => (false, MOUNT_ATTR_ATIME_MASK),
        "rnoatime" => (true, MOUNT_ATTR_NOATIME),
        "ratime" => (false, MOUNT_ATTR_NOATIME),
        "rstrictatime" => (true, MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (false, MOUNT_ATTR_STRICTATIME),
        "rnosymfollow" => (true, MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (false, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// The option names `features` advertises.
pub fn known_options() -> Vec<&'static str> {
    vec![
        "async",
        "atime",
        "bind",
        "defaults",
        "dev",
        "diratime",
        "dirsync",
        "exec",
        "idmap",
        "loud",
        "mand",
        "noatime",
        "nodev",
        "nodiratime",
        "noexec",
        "nomand",
        "norelatime",
        "nostrictatime",
        "nosuid",
        "nosymfollow",
        "private",
        "ratime",
        "rbind",
        "rdev",
        "rdiratime",
        "relatime",
        "remount",
        "rexec",
        "ridmap",
        "rnoatime",
        "rnodev",
        "rnodiratime",
        "rnoexec",
        "rnorelatime",
        "rnostrictatime",
        "rnosuid",
        "rnosymfollow",
        "ro",
        "rprivate",
        "rrelatime",
        "rro",
        "rrw",
        "rshared",
        "rslave",
        "rstrictatime",
        "rsuid",
        "rsymfollow",
        "runbindable",
        "rw",
        "shared",
        "silent",
        "slave",
        "strictatime",
        "suid",
        "symfollow",
        "sync",
        "tmpcopyup",
        "unbindable",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn plain_flags_and_data() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert!(!o.is_bind());
    }

    #[test]
    fn nosymfollow_survives_other_options() {
        let o = p(&["nosymfollow", "rbind", "nosuid", "rw"]);
        assert!(o.flags.contains(MS_NOSYMFOLLOW | MsFlags::MS_NOSUID));
        let o = p(&["nosymfollow", "symfollow", "suid"]);
        assert!(!o.flags.contains(MS_NOSYMFOLLOW));
        assert!(o.cleared.contains(MS_NOSYMFOLLOW | MsFlags::MS_NOSUID));
    }

    #[test]
    fn later_options_override_earlier() {
        let o = p(&["ro", "rw", "nodev"]);
        assert_eq!(o.flags, MsFlags::MS_NODEV);
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn bind_forms_and_propagation() {
        let o = p(&["rbind", "ro", "rslave"]);
        assert!(
            o.flags
                .contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY)
        );
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let o = p(&["bind", "private"]);
        assert!(o.is_bind() && !o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE]);
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(
            o.rec_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.rec_clear, MOUNT_ATTR_ATIME_MASK);
        let o = p(&["rrw", "rexec"]);
        assert_eq!(o.rec_clear, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC);
        assert!(o.data.is_empty());
    }

    #[test]
    fn tmpcopyup_is_not_filesystem_data() {
        let o = p(&["tmpcopyup", "size=1m"]);
        assert!(o.copy_up);
        assert_eq!(o.data_string().as_deref(), Some("size=1m"));
    }

    #[test]
    fn idmap_is_recognised() {
        assert!(p(&["bind", "idmap"]).idmap);
        assert!(!p(&["bind", "idmap"]).idmap_recursive);
        assert!(p(&["rbind", "ridmap"]).idmap_recursive);
        assert!(!p(&["bind"]).idmap);
    }
}
