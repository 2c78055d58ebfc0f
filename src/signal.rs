//! Signals as runc takes them: a number (0 checks that the process exists; up to the kernel's
//! SIGRTMAX), `KILL` or `SIGKILL` (any case).

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error)]
#[error("invalid signal {0:?}")]
pub struct BadSignal(pub String);

/// The signal number `s` names.
pub fn parse(s: &str) -> Result<i32, BadSignal> {
    if let Ok(n) = s.parse::<i32>() {
        // Real-time signals have no nix name, but runc passes any number on to kill(2).
        if (0..=libc::SIGRTMAX()).contains(&n) {
            return Ok(n);
        }
        return Err(BadSignal(s.to_string()));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| BadSignal(s.to_string()))
}

/// kill(2) with a raw signal number (nix's `Signal` has no real-time signals).
pub fn send(pid: i32, sig: i32) -> nix::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    nix::errno::Errno::result(unsafe { libc::kill(pid, sig) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("9").unwrap(), libc::SIGKILL);
        assert_eq!(parse("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("64").unwrap(), libc::SIGRTMAX());
        assert!(parse("BOGUS").is_err());
        assert!(parse("65").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("99").is_err());
    }
}
