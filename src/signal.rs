//! Signal names as runc accepts them: a number, `KILL` or `SIGKILL` (any case).

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error)]
#[error("invalid signal {0:?}")]
pub struct BadSignal(pub String);

pub fn parse(s: &str) -> Result<Signal, BadSignal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| BadSignal(s.to_string()));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| BadSignal(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse("SIGUSR1").unwrap(), Signal::SIGUSR1);
        assert!(parse("BOGUS").is_err());
        assert!(parse("0").is_err());
        assert!(parse("99").is_err());
    }
}
