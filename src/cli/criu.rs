//! `checkpoint` and `restore`: runc's flags, turned into CRIU options.
//!
//! Their two dozen flags are parsed from a table here rather than by clap: clap's derive code
//! for them cost the static binary 17 KB, this parser under 3 KB. Flags take runc's forms
//! (`--flag value`, `--flag=value`, one dash: see argv.rs), before or after the id.

use std::path::PathBuf;

use super::Cli;
use crate::container::{self, RestoreOpts};
use crate::criu::Options;
use crate::criu::proto::CgMode;
use crate::state::Root;

/// A flag: long name, short name (or ' '), whether it takes a value, help.
type Flag = (&'static str, char, bool, &'static str);

const COMMON: &[Flag] = &[
    (
        "image-path",
        ' ',
        true,
        "path for CRIU's image files (default: ./checkpoint)",
    ),
    (
        "work-path",
        ' ',
        true,
        "path for CRIU's work files and logs (default: the image path)",
    ),
    (
        "parent-path",
        ' ',
        true,
        "the previous (pre-dump) images, relative to the image path",
    ),
    ("tcp-established", ' ', false, "allow open TCP connections"),
    ("ext-unix-sk", ' ', false, "allow external unix sockets"),
    (
        "shell-job",
        ' ',
        false,
        "allow shell jobs (a terminal or session from outside)",
    ),
    ("file-locks", ' ', false, "handle file locks"),
    (
        "manage-cgroups-mode",
        ' ',
        true,
        "cgroups mode: soft (default), full, strict or ignore",
    ),
    (
        "empty-ns",
        ' ',
        true,
        "create this namespace empty on restore (network; it always is)",
    ),
    (
        "auto-dedup",
        ' ',
        false,
        "deduplicate memory images automatically",
    ),
    (
        "lazy-pages",
        ' ',
        false,
        "restore memory lazily (not supported by rt)",
    ),
    (
        "status-fd",
        ' ',
        true,
        "with --lazy-pages: the fd CRIU reports readiness on",
    ),
];

const CHECKPOINT: &[Flag] = &[
    (
        "leave-running",
        ' ',
        false,
        "leave the processes running after the checkpoint",
    ),
    (
        "pre-dump",
        ' ',
        false,
        "dump memory only and leave the container running",
    ),
    (
        "page-server",
        ' ',
        true,
        "ADDRESS:PORT of a CRIU page server to send the memory to",
    ),
];

const RESTORE: &[Flag] = &[
    (
        "bundle",
        'b',
        true,
        "path to the bundle (default: current directory)",
    ),
    (
        "detach",
        'd',
        false,
        "exit once restored, leaving the container in the background",
    ),
    (
        "pid-file",
        ' ',
        true,
        "file to write the restored init's pid to",
    ),
    (
        "console-socket",
        ' ',
        true,
        "AF_UNIX socket that receives the pty master",
    ),
    (
        "lsm-profile",
        ' ',
        true,
        "LSM profile for the restored processes, TYPE:NAME",
    ),
    (
        "lsm-mount-context",
        ' ',
        true,
        "LSM mount context for the restored mounts",
    ),
    (
        "no-subreaper",
        ' ',
        false,
        "accepted for runc compatibility (rt is no subreaper)",
    ),
    (
        "no-pivot",
        ' ',
        false,
        "accepted for runc compatibility (CRIU restores the mounts)",
    ),
    (
        "no-new-keyring",
        ' ',
        false,
        "accepted for runc compatibility (CRIU restores the keyring)",
    ),
];

/// The flags given (name, value) and the container id.
struct Parsed<'a> {
    set: Vec<(&'static str, Option<&'a str>)>,
    id: &'a str,
}

impl<'a> Parsed<'a> {
    fn has(&self, name: &str) -> bool {
        self.set.iter().any(|(n, _)| *n == name)
    }

    /// Every value of `name`, in order.
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.set
            .iter()
            .filter(move |(n, _)| *n == name)
            .filter_map(|(_, v)| *v)
    }

    /// The last value of `name`, as a repeated flag overrides.
    fn value(&self, name: &str) -> Option<&'a str> {
        self.values(name).last()
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.value(name).map(PathBuf::from)
    }
}

/// Parse `args` (after the verb) against the common flags and `own`; None when --help was
/// asked for (and printed).
fn parse<'a>(
    verb: &str,
    about: &str,
    own: &[Flag],
    args: &'a [String],
) -> anyhow::Result<Option<Parsed<'a>>> {
    let mut set = Vec::new();
    let mut id = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            super::emit(&help(verb, about, own));
            return Ok(None);
        }
        let (name, inline) = match a.strip_prefix("--") {
            Some(rest) => match rest.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (rest, None),
            },
            None if a.len() == 2 && a.starts_with('-') => (&a[1..], None),
            None => {
                if id.replace(a.as_str()).is_some() {
                    anyhow::bail!("{verb}: one container id expected, got {args:?}");
                }
                continue;
            }
        };
        let Some(&(long, _, takes, _)) = COMMON
            .iter()
            .chain(own)
            .find(|f| f.0 == name || (name.len() == 1 && name.starts_with(f.1)))
        else {
            anyhow::bail!("{verb}: unknown flag {a}; see rt {verb} --help");
        };
        let value = match (takes, inline) {
            (false, None) => None,
            (false, Some(_)) => anyhow::bail!("{verb}: flag --{long} takes no value"),
            (true, Some(v)) => Some(v),
            (true, None) => match it.next() {
                Some(v) => Some(v.as_str()),
                None => anyhow::bail!("{verb}: flag --{long} needs a value"),
            },
        };
        set.push((long, value));
    }
    let Some(id) = id else {
        anyhow::bail!("{verb}: the container id is missing; see rt {verb} --help");
    };
    Ok(Some(Parsed { set, id }))
}

fn help(verb: &str, about: &str, own: &[Flag]) -> String {
    let mut out = format!("{about}\n\nUsage: rt {verb} [OPTIONS] <ID>\n\nOptions:\n");
    for &(long, short, takes, text) in own.iter().chain(COMMON) {
        let short = if short == ' ' {
            "    ".to_string()
        } else {
            format!("-{short}, ")
        };
        let flag = format!("{short}--{long}{}", if takes { " <VALUE>" } else { "" });
        out.push_str(&format!("  {flag:<34} {text}\n"));
    }
    out.push_str("  -h, --help                         print help\n");
    out
}

pub fn checkpoint(cli: &Cli, args: &[String]) -> anyhow::Result<()> {
    let about = "Checkpoint a running container with CRIU";
    let Some(p) = parse("checkpoint", about, CHECKPOINT, args)? else {
        return Ok(());
    };
    let mut o = options(cli, &p)?;
    o.leave_running = p.has("leave-running");
    o.pre_dump = p.has("pre-dump");
    o.page_server = p.value("page-server").map(page_server).transpose()?;
    container::checkpoint(&Root::open(&cli.root)?, p.id, &o)?;
    Ok(())
}

pub fn restore(cli: &Cli, args: &[String]) -> anyhow::Result<i32> {
    let about = "Restore a container from a CRIU checkpoint";
    let Some(p) = parse("restore", about, RESTORE, args)? else {
        return Ok(0);
    };
    let mut o = options(cli, &p)?;
    // CRIU follows the images' own `parent` link: go-runc passes this, runc's restore has no use
    // for it.
    o.parent_path = None;
    o.lsm_profile = p.value("lsm-profile").map(String::from);
    o.lsm_mount_context = p.value("lsm-mount-context").map(String::from);
    let bundle = p.path("bundle").unwrap_or_else(|| PathBuf::from("."));
    let pid_file = p.path("pid-file");
    let console_socket = p.path("console-socket");
    let r = RestoreOpts {
        id: p.id,
        bundle: &bundle,
        criu: o,
        detach: p.has("detach"),
        pid_file: pid_file.as_deref(),
        console_socket: console_socket.as_deref(),
        systemd_cgroup: cli.systemd_cgroup,
    };
    Ok(container::restore(&Root::open(&cli.root)?, &r)?)
}

fn options(cli: &Cli, p: &Parsed) -> anyhow::Result<Options> {
    if p.has("lazy-pages") {
        anyhow::bail!("--lazy-pages is not supported by rt");
    }
    let image_path = match p.path("image-path") {
        Some(i) => i,
        None => std::env::current_dir()?.join("checkpoint"),
    };
    let mut empty_ns = 0;
    for ns in p.values("empty-ns") {
        match ns {
            "network" => empty_ns |= libc::CLONE_NEWNET as u32,
            _ => anyhow::bail!("--empty-ns: namespace {ns:?} is not supported"),
        }
    }
    Ok(Options {
        criu: PathBuf::from(cli.criu.as_deref().unwrap_or("criu")),
        image_path,
        work_path: p.path("work-path"),
        parent_path: p.path("parent-path"),
        tcp_established: p.has("tcp-established"),
        ext_unix_sk: p.has("ext-unix-sk"),
        shell_job: p.has("shell-job"),
        file_locks: p.has("file-locks"),
        auto_dedup: p.has("auto-dedup"),
        manage_cgroups_mode: p.value("manage-cgroups-mode").map(cg_mode).transpose()?,
        empty_ns,
        ..Default::default()
    })
}

fn cg_mode(s: &str) -> anyhow::Result<CgMode> {
    Ok(match s {
        "soft" => CgMode::Soft,
        "full" => CgMode::Full,
        "strict" => CgMode::Strict,
        "ignore" => CgMode::Ignore,
        _ => {
            anyhow::bail!("invalid --manage-cgroups-mode {s:?}: want soft, full, strict or ignore")
        }
    })
}

/// `--page-server ADDRESS:PORT` (an IPv6 address in brackets).
fn page_server(s: &str) -> anyhow::Result<(String, i32)> {
    let (addr, port) = s.rsplit_once(':').unwrap_or_default();
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    match port.parse::<u16>() {
        Ok(p) if !addr.is_empty() => Ok((addr.to_string(), p.into())),
        _ => anyhow::bail!("--page-server {s:?}: want ADDRESS:PORT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runc_argv_shapes() {
        // containerd's restore, conmon's, and a checkpoint with every form of value.
        let a = args(&[
            "--image-path",
            "/i",
            "--work-path",
            "/w",
            "--detach",
            "--pid-file",
            "/p",
            "-no-subreaper",
            "--bundle",
            "/b",
            "id",
        ]);
        // argv.rs turns -no-subreaper into --no-subreaper before this point.
        let a: Vec<String> = a.into_iter().map(|s| s.replace("-no-", "--no-")).collect();
        let p = parse("restore", "", RESTORE, &a).unwrap().unwrap();
        assert_eq!(p.id, "id");
        assert_eq!(p.value("image-path"), Some("/i"));
        assert!(p.has("detach") && p.has("no-subreaper") && !p.has("shell-job"));
        assert_eq!(p.path("bundle"), Some(PathBuf::from("/b")));
        let a = args(&[
            "-b",
            "/b",
            "-d",
            "x",
            "--tcp-established",
            "--empty-ns=network",
        ]);
        let p = parse("restore", "", RESTORE, &a).unwrap().unwrap();
        assert_eq!((p.id, p.value("bundle")), ("x", Some("/b")));
        assert_eq!(p.values("empty-ns").collect::<Vec<_>>(), ["network"]);
        let a = args(&[
            "--image-path=/a",
            "--image-path",
            "/b",
            "--leave-running",
            "c",
        ]);
        let p = parse("checkpoint", "", CHECKPOINT, &a).unwrap().unwrap();
        assert_eq!(p.value("image-path"), Some("/b"));
    }

    #[test]
    fn bad_argv_is_named() {
        for (bad, want) in [
            (&["--detach", "x"][..], "unknown flag --detach"),
            (&["--leave-running=1", "x"][..], "takes no value"),
            (&["x", "--image-path"][..], "needs a value"),
            (&["x", "y"][..], "one container id"),
            (&["--pre-dump"][..], "id is missing"),
        ] {
            let e = parse("checkpoint", "", CHECKPOINT, &args(bad))
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
        assert!(
            parse("checkpoint", "", CHECKPOINT, &args(&["--help"]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn flag_values() {
        assert_eq!(cg_mode("strict").unwrap(), CgMode::Strict);
        assert!(
            cg_mode("hard")
                .unwrap_err()
                .to_string()
                .contains("--manage-cgroups-mode")
        );
        assert_eq!(
            page_server("10.0.0.1:2000").unwrap(),
            ("10.0.0.1".into(), 2000)
        );
        assert_eq!(page_server("[::1]:27").unwrap(), ("::1".into(), 27));
        for bad in ["x", ":1", "h:", "h:99999", "h:p"] {
            assert!(page_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn help_lists_every_flag() {
        let h = help("restore", "Restore", RESTORE);
        for f in RESTORE.iter().chain(COMMON) {
            assert!(h.contains(&format!("--{}", f.0)), "{}", f.0);
        }
        assert!(h.contains("  -b, --bundle <VALUE>"), "{h}");
    }
}
