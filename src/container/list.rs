//! `list [-f table|json] [-q]`.

use super::{Container, Result, StateView};
use crate::state::Root;

pub fn list(root: &Root, format_json: bool, quiet: bool) -> Result<String> {
    let mut containers = Vec::new();
    for id in root.ids()? {
        // A container deleted meanwhile simply isn't listed.
        if let Ok(c) = Container::load(root, &id) {
            containers.push(c);
        }
    }
    if quiet {
        return Ok(containers
            .iter()
            .map(|c| format!("{}\n", c.record.id))
            .collect());
    }
    let views: Vec<StateView> = containers.iter().map(|c| c.view(c.status())).collect();
    if format_json {
        return Ok(serde_json::to_string(&views).unwrap_or_else(|_| "[]".into()) + "\n");
    }
    let mut rows = vec![[
        "ID".to_string(),
        "PID".into(),
        "STATUS".into(),
        "BUNDLE".into(),
        "CREATED".into(),
        "OWNER".into(),
    ]];
    for v in &views {
        rows.push([
            v.id.to_string(),
            v.pid.to_string(),
            v.status.to_string(),
            v.bundle.display().to_string(),
            v.created.to_string(),
            // rt runs containers as root only (runc shows the owner of a rootless one).
            "root".into(),
        ]);
    }
    Ok(table(&rows))
}

/// Columns padded like Go's tabwriter with padding 3, as runc prints them.
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i] + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let rows = [
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from),
            ["abc", "1", "running", "/b", "t", "root"].map(String::from),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID    PID   STATUS    BUNDLE   CREATED   OWNER");
        assert_eq!(lines[1], "abc   1     running   /b       t         root");
    }
}
