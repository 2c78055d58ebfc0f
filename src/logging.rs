//! runc-shaped logging: text or one JSON object per line (`{"level","msg","time"}`), appended to
//! `--log FILE` or written to stderr. Shims parse these lines, so the shape must not drift.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::timefmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    min: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Set in a container's init or exec child: its stderr belongs to the container, so warnings
/// there go only to `--log`.
static IN_CONTAINER_CHILD: AtomicBool = AtomicBool::new(false);

/// Call first thing in a child that becomes a container process.
pub fn enter_container_child() {
    IN_CONTAINER_CHILD.store(true, Ordering::Relaxed);
}

/// Time zero of the startup timeline. Set first thing in main; the init child inherits it with
/// the rest of memory at clone, so its phases are measured from the same origin.
static START: OnceLock<Instant> = OnceLock::new();

/// Call as early as possible in main: `timeline` offsets are measured from here.
pub fn start_clock() {
    let _ = START.set(Instant::now());
}

/// Set up the process-wide logger; `--log` is opened O_APPEND because one log.json is shared by
/// every call a shim makes. The fd is CLOEXEC so containers never inherit it.
pub fn init(path: Option<&std::path::Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC)
                .open(p)?,
        ),
        None => None,
    };
    let min = if debug { Level::Debug } else { Level::Info };
    let _ = LOGGER.set(Logger { file, format, min });
    Ok(())
}

pub fn enabled(level: Level) -> bool {
    LOGGER.get().is_some_and(|l| level >= l.min)
}

/// Format one line in the configured format.
pub fn format_line(format: Format, level: Level, msg: &str) -> String {
    let time = timefmt::rfc3339_now(false);
    match format {
        Format::Json => {
            let v = serde_json::json!({"level": level.as_str(), "msg": msg, "time": time});
            format!("{v}\n")
        }
        // logrus quotes the message Go-style; JSON string escaping is the same for `"`, `\`
        // and the usual control characters.
        Format::Text => format!(
            "time=\"{time}\" level={} msg={}\n",
            level.as_str(),
            serde_json::Value::from(msg)
        ),
    }
}

pub fn log(level: Level, msg: &str) {
    let Some(l) = LOGGER.get() else { return };
    if level < l.min {
        return;
    }
    let line = format_line(l.format, level, msg);
    match &l.file {
        Some(f) => {
            let mut f: &File = f;
            let _ = f.write_all(line.as_bytes());
        }
        // Without --log, runc (logrus) writes every line of its level and above to stderr:
        // warnings too (a security setting not applied must not go unsaid). The caller prints
        // errors itself; a container's init or exec child keeps quiet (its stderr is the
        // container's).
        None if level == Level::Debug
            || (level != Level::Error && !IN_CONTAINER_CHILD.load(Ordering::Relaxed)) =>
        {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        None => {}
    }
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

/// One step of the startup timeline (`timeline +123us phase`), so `--debug` shows where the
/// time of create/run goes. Without --debug this is one atomic load and a compare.
pub fn timeline(phase: &str) {
    if !enabled(Level::Debug) {
        return;
    }
    let us = START.get().map_or(0, |s| s.elapsed().as_micros());
    debug(&format!("timeline +{us}us {phase}"));
}

pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}

/// A warning the caller must see even without --log, as runc shows it (logrus writes every
/// level to stderr then). Only for rt's own process: init's stderr is the container's.
pub fn warn_caller(msg: &str) {
    match LOGGER.get() {
        Some(l) if l.file.is_none() && Level::Warn >= l.min => {
            let _ = std::io::stderr().write_all(format_line(l.format, Level::Warn, msg).as_bytes());
        }
        _ => warn(msg),
    }
}

pub fn has_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_shape() {
        let line = format_line(Format::Json, Level::Error, "container \"x\" does not exist");
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        let t = v["time"].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
        assert!(line.ends_with('\n'));
    }
}
