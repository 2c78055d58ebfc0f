//! The home directory of the container's user, from the container's /etc/passwd (for a HOME the
//! config leaves unset). The file is the container's, so anything may be there: it is opened
//! non-blocking (a FIFO cannot stall init), read in lines of at most 64 KiB (runc's bufio limit:
//! a longer line is an error there too) and at most 32 MiB in all, so an endless device such as
//! /dev/urandom bound over it ends in an error, never a hang.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;

use super::setup::SetupError;

const PASSWD: &str = "/etc/passwd";
const LINE_MAX: u64 = 64 * 1024;
const FILE_MAX: u64 = 32 << 20;

/// `uid`'s home directory in /etc/passwd, or "/" when the file, the user or the field is missing.
pub fn home_dir(uid: u32) -> Result<String, SetupError> {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(PASSWD)
    else {
        return Ok("/".into());
    };
    let home = find_home(BufReader::new(file), uid, FILE_MAX).map_err(|msg| SetupError {
        what: format!("read {PASSWD}"),
        msg,
    })?;
    Ok(home.filter(|h| !h.is_empty()).unwrap_or_else(|| "/".into()))
}

/// `file_max`: the most bytes read before giving up.
fn find_home(mut r: impl BufRead, uid: u32, file_max: u64) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let mut total = 0;
    loop {
        line.clear();
        let n = match r.by_ref().take(LINE_MAX + 1).read_until(b'\n', &mut line) {
            Ok(n) => n as u64,
            // A FIFO without data (opened non-blocking): nothing more to read.
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e.to_string()),
        };
        if n == 0 {
            return Ok(None);
        }
        if n > LINE_MAX {
            return Err(format!("a line is too long (over {LINE_MAX} bytes)"));
        }
        total += n;
        if total > file_max {
            return Err(format!("larger than {file_max} bytes"));
        }
        // Lines that are not UTF-8 or not passwd entries are skipped.
        let Ok(text) = std::str::from_utf8(&line) else {
            continue;
        };
        let f: Vec<&str> = text.trim_end_matches('\n').split(':').collect();
        if f.len() >= 6 && f[2].parse() == Ok(uid) {
            return Ok(Some(f[5].to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_home_of_a_uid() {
        let f = "root:x:0:0:root:/root:/bin/sh\nbad\nu:x:1000:1000::/home/u:/bin/sh\n";
        assert_eq!(
            find_home(f.as_bytes(), 1000, FILE_MAX),
            Ok(Some("/home/u".into()))
        );
        assert_eq!(find_home(f.as_bytes(), 5, FILE_MAX), Ok(None));
    }

    #[test]
    fn endless_or_long_input_is_an_error() {
        let long = vec![b'a'; LINE_MAX as usize + 10];
        let err = find_home(&long[..], 0, FILE_MAX).unwrap_err();
        assert!(err.contains("too long"), "{err}");
        // An endless stream of short lines (what /dev/urandom gives) stops at the bound.
        let endless = std::io::repeat(b'\n');
        let err = find_home(BufReader::new(endless), 0, 4096).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
    }
}
