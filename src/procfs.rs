//! What rt reads from /proc about a process: its start time, to tell a live container from a
//! recycled pid; the mount table (mountinfo). And how rt reads /proc (and cgroupfs) files at all.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The whole of a file whose size stat does not tell (procfs, cgroupfs: st_size 0), read into
/// a buffer of `first` bytes that doubles as needed. std's read_to_string would stat it, then
/// read 32 bytes, 32, 64, 128, ...: for /proc/self/mountinfo nine reads instead of two.
pub fn read_to_string(path: &Path, first: usize) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; first.max(64)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// /proc/<pid>/stat is a few hundred bytes.
fn read_stat(pid: i32) -> Option<String> {
    read_to_string(Path::new(&format!("/proc/{pid}/stat")), 1024).ok()
}

/// Field 22 of /proc/<pid>/stat (clock ticks since boot). None when the process is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    parse_start_time(&read_stat(pid)?)
}

/// The start time and the state letter (R, S, Z, ...) from one read of /proc/<pid>/stat.
pub fn start_time_and_state(pid: i32) -> Option<(u64, Option<char>)> {
    let stat = read_stat(pid)?;
    Some((parse_start_time(&stat)?, parse_state_letter(&stat)))
}

/// The comm field may hold spaces and parentheses, so fields are counted after the last ')'.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After ')' come fields 3.. ; starttime is field 22, i.e. the 20th here.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The process state letter (R, S, Z, ...).
pub fn state_letter(pid: i32) -> Option<char> {
    parse_state_letter(&read_stat(pid)?)
}

fn parse_state_letter(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

/// One line of /proc/<pid>/mountinfo (proc(5)): the fields rt uses, paths unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u64,
    pub parent: u64,
    /// The directory of the filesystem mounted here (field 4): `/` unless a subtree was bound.
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub fstype: String,
    /// Options of the filesystem itself (the last field), e.g. `rw,cpu,cpuacct` for cgroup v1.
    pub super_options: String,
}

/// /proc/self/mountinfo, whole: it may be tens of KiB on a busy host.
pub fn read_mountinfo() -> std::io::Result<String> {
    read_to_string(Path::new("/proc/self/mountinfo"), 16 * 1024)
}

/// The lines of a mountinfo text; a line that is not one is skipped.
pub fn mountinfo(text: &str) -> impl Iterator<Item = MountInfo> + '_ {
    text.lines().filter_map(|line| {
        // id parent maj:min root mount_point options [optional fields...] - fstype source super
        let (left, right) = line.split_once(" - ")?;
        let mut l = left.split(' ');
        let id = l.next()?.parse().ok()?;
        let parent = l.next()?.parse().ok()?;
        let root = unescape(l.nth(1)?);
        let mount_point = unescape(l.next()?);
        let mut r = right.split(' ');
        let fstype = r.next()?.to_string();
        let super_options = r.nth(1)?.to_string();
        Some(MountInfo {
            id,
            parent,
            root,
            mount_point,
            fstype,
            super_options,
        })
    })
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal escapes; a
/// backslash not followed by three octal digits of a byte value stands for itself.
pub fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    if !field.contains('\\') {
        return PathBuf::from(field);
    }
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| {
                u8::try_from(d.iter().fold(0u16, |v, c| v * 8 + u16::from(c - b'0'))).ok()
            });
        match (b[i], octal) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_skips_tricky_comm() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200";
        assert_eq!(parse_start_time(stat), Some(98765));
    }

    #[test]
    fn own_start_time_is_readable() {
        let pid = std::process::id() as i32;
        assert!(start_time(pid).is_some());
        assert!(matches!(state_letter(pid), Some('R' | 'S')));
        let (t, s) = start_time_and_state(pid).unwrap();
        assert_eq!(Some(t), start_time(pid));
        assert!(matches!(s, Some('R' | 'S')));
    }

    #[test]
    fn mountinfo_lines_are_parsed_and_unescaped() {
        let mi = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                  30 22 0:5 /sub /a\\040b rw shared:7 master:2 - sysfs sysfs rw,x\n\
                  bad line\n\
                  x 1 0:1 / /y rw - tmpfs t rw\n";
        let m: Vec<MountInfo> = mountinfo(mi).collect();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].id, m[0].parent), (22, 1));
        assert_eq!(m[0].fstype, "proc");
        assert_eq!(m[1].root, Path::new("/sub"));
        assert_eq!(m[1].mount_point, Path::new("/a b"));
        assert_eq!(m[1].fstype, "sysfs");
        assert_eq!(m[1].super_options, "rw,x");
        assert_eq!(
            unescape("/a\\040b\\011\\012\\134c"),
            Path::new("/a b\t\n\\c")
        );
        // Not escapes: a value above a byte, too few digits, a non-octal digit.
        assert_eq!(unescape("/x\\777\\0\\08"), Path::new("/x\\777\\0\\08"));
    }

    #[test]
    fn reads_grow_past_the_first_buffer() {
        let p = std::env::temp_dir().join(format!("rt-procfs-read-{}", std::process::id()));
        let text: String = (0..5000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&p, &text).unwrap();
        assert_eq!(read_to_string(&p, 16).unwrap(), text);
        std::fs::remove_file(&p).unwrap();
        // procfs says size 0; the text still comes whole (other tests may mount meanwhile, so
        // it is not compared with a second read).
        let mi = read_to_string(Path::new("/proc/self/mountinfo"), 64).unwrap();
        assert!(mi.len() > 64 && mi.ends_with('\n'));
        assert!(mi.lines().all(|l| l.contains(" - ")));
    }
}
