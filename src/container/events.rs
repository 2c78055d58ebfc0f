//! `events [--stats] [--interval D] ID`: runc's JSON event lines.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

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
        let line = json!({"type": "stats", "id": id, "data": data});
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        if stats_once {
            return Ok(());
        }
        std::thread::sleep(interval);
        // Look for an OOM kill before the exit check: the kill that ends the container is the
        // one callers most need to see, and it is only counted until the cgroup goes away.
        let oom = cg.oom_kill_count().unwrap_or(last_oom);
        if oom > last_oom {
            let _ = writeln!(out, "{}", json!({"type": "oom", "id": id}));
            let _ = out.flush();
            last_oom = oom;
        }
        if c.status() == Status::Stopped {
            return Ok(());
        }
    }
}
