//! `ps [-f table|json] ID [ps args]`: the container's host pids, as JSON or through ps(1).

use super::{Container, ContainerError, Result, Status, io_err};
use crate::state::Root;

pub fn ps(root: &Root, id: &str, json: bool, ps_args: &[String]) -> Result<String> {
    let c = Container::load(root, id)?;
    // Like runc, a stopped container is listed too: whatever its cgroup still holds (usually
    // nothing, so just ps's header, or `null` as JSON).
    let pids = match c.cgroup() {
        Some(cg) if c.status() != Status::Stopped => cg.pids()?,
        Some(cg) => cg.pids().unwrap_or_default(),
        None => Vec::new(),
    };
    if json {
        // runc encodes an empty list as Go's nil slice: `null`.
        if pids.is_empty() {
            return Ok("null\n".into());
        }
        return Ok(serde_json::to_string(&pids).unwrap_or_else(|_| "null".into()) + "\n");
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(io_err("run ps"))?;
    if !out.status.success() {
        return Err(ContainerError::Usage(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| ContainerError::Usage("ps output has no PID column".into()))?;
    let mut res = format!("{header}\n");
    for l in lines {
        let pid: Option<i32> = l
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            res.push_str(l);
            res.push('\n');
        }
    }
    Ok(res)
}
