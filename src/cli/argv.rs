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
    "cpu-share",
    "l3-cache-schema",
    "mem-bw-schema",
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
    // checkpoint / restore
    "image-path",
    "work-path",
    "parent-path",
    "leave-running",
    "tcp-established",
    "ext-unix-sk",
    "shell-job",
    "lazy-pages",
    "status-fd",
    "page-server",
    "file-locks",
    "pre-dump",
    "manage-cgroups-mode",
    "empty-ns",
    "auto-dedup",
    "lsm-profile",
    "lsm-mount-context",
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

/// Whether the command line may name `create`, `run` or `exec`: any argument spelled so, not
/// only the one clap will take for the verb. rt decides on the CVE-2019-5736 re-exec with this
/// before clap has run (parsing the whole command tree is a good part of rt's start-up, and
/// the sealed process parses anyway); an id or value that happens to be `run` only costs a
/// needless re-exec, while a real create/run/exec can never skip it (clap has no aliases or
/// prefix matching for these names).
pub fn may_start_processes(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| matches!(a.as_str(), "create" | "run" | "exec"))
}

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
    #[test]
    fn verbs_that_start_processes_are_found_anywhere() {
        let v =
            |a: &[&str]| may_start_processes(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(v(&["rt", "run", "x"]));
        assert!(v(&["rt", "--root", "/r", "create", "--bundle", "b", "x"]));
        assert!(v(&["rt", "--log", "l", "exec", "x", "sh"]));
        // Over-approximation: a value spelled like a verb also seals (harmless).
        assert!(v(&["rt", "state", "run"]));
        assert!(!v(&["rt", "state", "x"]));
        assert!(!v(&["run"]), "argv[0] is not a verb");
        assert!(!v(&["rt", "--version"]));
    }
}
