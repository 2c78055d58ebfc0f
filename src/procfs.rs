//! What rt reads from /proc about a process: its start time, to tell a live container from a
//! recycled pid.

use std::fs;

/// Field 22 of /proc/<pid>/stat (clock ticks since boot). None when the process is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// The comm field may hold spaces and parentheses, so fields are counted after the last ')'.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After ')' come fields 3.. ; starttime is field 22, i.e. the 20th here.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The process state letter (R, S, Z, ...).
pub fn state_letter(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
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
    }
}
