//! `events [--stats] [--interval D] ID`: runc's JSON event lines.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::{Container, ContainerError, Result, Status};
use crate::state::Root;

pub fn events(root: &Root, id: &str, stats_once: bool, interval: Duration) -> Result<()> {
    let c = Container::load(root, id)?;
    if c.status() == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    let cg = c.cgroup().ok_or(ContainerError::NotRunning)?;
    let mut out = std::io::stdout();
    let mut last_oom = cg.oom_kill_count().unwrap_or(0);
    loop {
        let data = cg.stats()?;
        let _ = writeln!(out, "{}", event_line("stats", id, Some(&data)));
        let _ = out.flush();
        if stats_once {
            return Ok(());
        }
        std::thread::sleep(interval);
        // Look for an OOM kill before the exit check: the kill that ends the container is the
        // one callers most need to see, and it is only counted until the cgroup goes away.
        let oom = cg.oom_kill_count().unwrap_or(last_oom);
        if oom > last_oom {
            let _ = writeln!(out, "{}", event_line("oom", id, None));
            let _ = out.flush();
            last_oom = oom;
        }
        if c.status() == Status::Stopped {
            return Ok(());
        }
    }
}

/// One event as runc's `types.Event` encodes it: keys in its field order (`type`, `id`, then
/// `data` when there is any). serde_json's maps would sort them.
fn event_line(kind: &str, id: &str, data: Option<&Value>) -> String {
    let mut s = format!(
        "{{\"type\":{},\"id\":{}",
        Value::from(kind),
        Value::from(id)
    );
    if let Some(d) = data {
        s.push_str(&format!(",\"data\":{d}"));
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_runc_order() {
        let d = serde_json::json!({"pids": {"current": 1}});
        assert_eq!(
            event_line("stats", "a\"b", Some(&d)),
            r#"{"type":"stats","id":"a\"b","data":{"pids":{"current":1}}}"#
        );
        assert_eq!(event_line("oom", "x", None), r#"{"type":"oom","id":"x"}"#);
    }
}
