//! What rt reads from /proc about a process: its start time, to tell a live container from a
//! recycled pid. And how rt reads /proc (and cgroupfs) files at all.

use std::io::Read;
use std::path::Path;

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
