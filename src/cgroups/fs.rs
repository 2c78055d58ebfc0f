//! Reading and writing cgroup files.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::{CgroupError, Result};

/// A cgroup (or /proc) file: most are a line, the largest (memory.stat) a few KiB.
pub fn read_string(path: &Path) -> Result<String> {
    crate::procfs::read_to_string(path, 4096).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The trimmed contents of a cgroup file.
pub fn read_trimmed(path: &Path) -> Result<String> {
    Ok(read_string(path)?.trim().to_string())
}

/// Write `value` to an existing cgroup file in one write(2).
pub fn write_file(path: &Path, value: &str) -> Result<()> {
    RepeatedWriter::new(path.to_path_buf()).write(value)
}

/// A cgroup file written value after value, each in its own write(2), on one open file (opened
/// at the first write, so [`write_file`] is one of these written once): v1 devices.allow/deny
/// take one rule per write, and a container's dozen rules then cost a dozen writes, not a dozen
/// opens and closes as well.
pub struct RepeatedWriter {
    path: PathBuf,
    file: Option<fs::File>,
}

impl RepeatedWriter {
    pub fn new(path: PathBuf) -> RepeatedWriter {
        RepeatedWriter { path, file: None }
    }

    pub fn write(&mut self, value: &str) -> Result<()> {
        #[cfg(test)]
        testutil::WRITES.with(|w| w.borrow_mut().push((self.path.clone(), value.to_string())));
        let res = match &mut self.file {
            Some(f) => f.write_all(value.as_bytes()),
            None => fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.path)
                .and_then(|mut f| {
                    f.write_all(value.as_bytes())?;
                    self.file = Some(f);
                    Ok(())
                }),
        };
        res.map_err(|source| CgroupError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Write `value` to `dir/name`.
pub fn write_in(dir: &Path, name: &str, value: &str) -> Result<()> {
    write_file(&dir.join(name), value)
}

/// Parse a u64 file; "max" reads as u64::MAX.
pub fn read_u64(path: &Path) -> Result<u64> {
    let s = read_trimmed(path)?;
    parse_u64(&s).ok_or_else(|| {
        CgroupError::Other(format!(
            "unexpected content {s:?} in {}",
            path.to_string_lossy()
        ))
    })
}

pub fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse::<u64>().ok().or_else(|| {
        s.parse::<i64>()
            .ok()
            .map(|v| if v < 0 { u64::MAX } else { 0 })
    })
}

/// `mkdir -p`, returning the directories that were actually created (outermost first).
pub fn mkdir_all(path: &Path) -> Result<Vec<PathBuf>> {
    // Usually only the last directory is missing: one mkdir instead of a stat of it and of its
    // parent first. Any failure takes the walk below, which sorts out what exists.
    if fs::create_dir(path).is_ok() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut missing = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.exists() {
            break;
        }
        missing.push(p.to_path_buf());
        cur = p.parent();
    }
    missing.reverse();
    for p in &missing {
        match fs::create_dir(p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(CgroupError::Mkdir {
                    path: p.clone(),
                    source,
                });
            }
        }
    }
    Ok(missing)
}

/// "key value" lines (memory.stat, cpu.stat, ...) as pairs.
pub fn parse_flat_keyed(s: &str) -> Vec<(String, u64)> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = parse_u64(it.next()?)?;
            Some((k.to_string(), v))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// Every write_file call made on this thread, in order.
        pub static WRITES: RefCell<Vec<(PathBuf, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// The values written to `path` on this thread so far, in order.
    pub fn writes_to(path: &Path) -> Vec<String> {
        WRITES.with(|w| {
            w.borrow()
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    /// All (path, value) writes so far on this thread.
    pub fn all_writes() -> Vec<(PathBuf, String)> {
        WRITES.with(|w| w.borrow().clone())
    }
}
