//! runc's flag parser takes long flags with one dash too (`-bundle x`, `-no-subreaper`), and
//! callers use that form. Rewrite those tokens to `--name` before clap sees them.

const LONG_FLAGS: &[&str] = &[
    "root",
    "log",
    "log-format",
    "debug",
    "systemd-cgroup",
    "rootless",
    "criu",
    "bundle",
    "console-socket",
    "pid-file",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "detach",
    "keep",
    "no-subreaper",
    "force",
    "all",
    "format",
    "quiet",
    "stats",
    "interval",
    "resources",
    "memory",
    "memory-reservation",
    "memory-swap",
    "kernel-memory",
    "kernel-memory-tcp",
    "cpu-shares",
    "cpu-quota",
    "cpu-period",
    "cpu-burst",
    "cpuset-cpus",
    "cpuset-mems",
    "pids-limit",
    "blkio-weight",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpu-idle",
    "version",
    "help",
    "process",
    "tty",
    "cwd",
    "env",
    "user",
    "additional-gids",
    "cap",
    "no-new-privs",
    "cgroup",
    "apparmor",
    "process-label",
    "ignore-paused",
];

/// Flags that take a separate value: the token after them is not the verb or the exec id.
const VALUE_FLAGS: &[&str] = &[
    "--root",
    "--log",
    "--log-format",
    "--criu",
    "--process",
    "-p",
    "--pid-file",
    "--console-socket",
    "--cwd",
    "--env",
    "-e",
    "--user",
    "-u",
    "--additional-gids",
    "-g",
    "--cap",
    "-c",
    "--preserve-fds",
    "--cgroup",
    "--apparmor",
    "--process-label",
];

pub fn normalize(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut passthrough = false;
    // `exec ID COMMAND...`: the command's own arguments (`ls -all`) are never rewritten.
    let mut verb: Option<String> = None;
    let mut value_next = false;
    for (i, a) in args.into_iter().enumerate() {
        if passthrough || a == "--" {
            passthrough = true;
            out.push(a);
            continue;
        }
        if i > 0 && !a.starts_with('-') && !std::mem::take(&mut value_next) {
            match &verb {
                None => verb = Some(a.clone()),
                Some(v) if v == "exec" => passthrough = true,
                Some(_) => {}
            }
        }
        let converted = a
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))
            .filter(|rest| {
                let name = rest.split('=').next().unwrap_or_default();
                name.len() > 1 && LONG_FLAGS.contains(&name)
            })
            .map(|rest| format!("--{rest}"));
        let token = converted.unwrap_or(a);
        value_next = VALUE_FLAGS.contains(&token.as_str());
        out.push(token);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[&str]) -> Vec<String> {
        normalize(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn single_dash_long_flags() {
        assert_eq!(
            n(&["rt", "-root=/x", "run", "-no-subreaper", "-d", "id"]),
            ["rt", "--root=/x", "run", "--no-subreaper", "-d", "id"]
        );
        // ps arguments and unknown words are left alone.
        assert_eq!(n(&["rt", "ps", "id", "-ef"]), ["rt", "ps", "id", "-ef"]);
        assert_eq!(n(&["rt", "x", "--", "-root"]), ["rt", "x", "--", "-root"]);
        // exec: flags before the id are runc's, everything after belongs to the command.
        assert_eq!(
            n(&[
                "rt", "-root", "/r", "exec", "-tty", "-cwd", "/x", "id", "ls", "-env", "-tty"
            ]),
            [
                "rt", "--root", "/r", "exec", "--tty", "--cwd", "/x", "id", "ls", "-env", "-tty"
            ]
        );
    }
}
