use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::StateError;

/// An exclusive flock on a container's directory, held for the life of a mutating verb. The fd is
/// O_CLOEXEC so a container started under the lock never inherits it.
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, StateError> {
        let file = File::open(dir).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => StateError::NotExist,
            _ => StateError::Io {
                op: "open",
                path: dir.to_path_buf(),
                source,
            },
        })?;
        // SAFETY: flock on an fd we own; no memory is touched.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(StateError::Io {
                op: "lock",
                path: dir.to_path_buf(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(DirLock { _file: file })
    }
}
