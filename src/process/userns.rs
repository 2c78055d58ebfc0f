//! uid_map/gid_map of a new user namespace, written by rt (the parent), which holds the rights
//! in the outer namespace that the child gave up.

use std::os::fd::OwnedFd;

use oci_spec::runtime::LinuxIdMapping;

pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

pub fn write_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<(), std::io::Error> {
    let ctx = |what: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("write /proc/{pid}/{what}: {e}"))
    };
    if !uid.is_empty() {
        std::fs::write(format!("/proc/{pid}/uid_map"), map_text(uid))
            .map_err(|e| ctx("uid_map", e))?;
    }
    if !gid.is_empty() {
        std::fs::write(format!("/proc/{pid}/gid_map"), map_text(gid))
            .map_err(|e| ctx("gid_map", e))?;
    }
    Ok(())
}

/// A user namespace carrying `uid`/`gid` as its maps, as an fd (for an idmapped mount's
/// MOUNT_ATTR_IDMAP). The kernel has no way to make an empty user namespace and map it, so a
/// child is cloned into a new one, waits while rt writes its maps and opens
/// `/proc/<child>/ns/user`, then is killed and reaped; the fd keeps the namespace alive.
/// Must be called while rt is single-threaded (fork semantics, as for init's clone).
pub fn mapped_userns(
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<OwnedFd, std::io::Error> {
    let child = super::clone::clone3(libc::CLONE_NEWUSER, None)?;
    if child.pid == 0 {
        // The helper does nothing but exist until rt kills it.
        loop {
            // SAFETY: pause only suspends this (forked, single-threaded) process.
            unsafe { libc::pause() };
        }
    }
    let _reap = KillOnDrop(child.pid);
    write_maps(child.pid, uid, gid)?;
    let path = format!("/proc/{}/ns/user", child.pid);
    let fd = nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| {
        std::io::Error::new(std::io::Error::from(e).kind(), format!("open {path}: {e}"))
    })?;
    Ok(fd)
}

/// Kills and reaps the helper however mapped_userns ends.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    #[test]
    fn map_lines() {
        let m = vec![
            LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(100000u32)
                .size(65536u32)
                .build()
                .unwrap(),
            LinuxIdMappingBuilder::default()
                .container_id(70000u32)
                .host_id(1u32)
                .size(1u32)
                .build()
                .unwrap(),
        ];
        assert_eq!(map_text(&m), "0 100000 65536\n70000 1 1\n");
    }
}
