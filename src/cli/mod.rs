//! The command line, shaped like runc's: global flags, then a verb. Each verb is a thin call into
//! the library.

mod argv;
mod criu;
mod features;
mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use argv::{may_start_processes, normalize};

#[derive(Parser, Debug)]
#[command(
    name = "rt",
    about = "rt: an OCI container runtime (runc-compatible)",
    disable_version_flag = true
)]
pub struct Cli {
    /// Directory for container state
    #[arg(long, default_value = crate::state::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Append log lines to this file (default: stderr)
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Debug logging, including the startup timeline
    #[arg(long)]
    pub debug: bool,
    /// Use systemd for cgroups: cgroupsPath is "slice:prefix:name", e.g. "system.slice:runc:434234"
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// The criu binary for checkpoint and restore (default: criu from PATH)
    #[arg(long)]
    pub criu: Option<String>,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle (default: current directory)
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// AF_UNIX socket that receives the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the init pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (init waits for `start`)
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container; waits for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init, or with --all to every process
    Kill {
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container
    Delete {
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// List containers
    List {
        #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a template config.json
    Spec {
        #[arg(short = 'b', long)]
        bundle: Option<PathBuf>,
        /// A template for a rootless container
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless: bool,
    },
    /// Print the features this rt supports (OCI features JSON)
    Features,
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List a container's processes
    Ps {
        #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print resource usage events
    Events {
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Update a container's resource limits
    Update(Box<UpdateArgs>),
    /// Run a process in a running container
    Exec(Box<ExecArgs>),
    /// Checkpoint a running container with CRIU (see rt checkpoint --help)
    #[command(disable_help_flag = true)]
    Checkpoint {
        /// runc's flags and the id, parsed in cli/criu.rs
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Restore a container from a CRIU checkpoint (see rt restore --help)
    #[command(disable_help_flag = true)]
    Restore {
        /// runc's flags and the id, parsed in cli/criu.rs
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check a bundle against the runtime spec and this host; list every problem
    Check {
        /// The bundle directory (default: current directory)
        bundle: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// OCI Process JSON describing the process (the flags that shape it are then ignored)
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Exit once the process runs, leaving it in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// AF_UNIX socket that receives the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// Set an environment variable (repeatable)
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// UID[:GID] to run as
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group id (repeatable)
    #[arg(short = 'g', long = "additional-gids", allow_hyphen_values = true)]
    pub additional_gids: Vec<i64>,
    /// Add a capability to the process's sets (repeatable)
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Set no_new_privileges for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass N extra fds (3..3+N) to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Sub-cgroup to run in: PATH, or CONTROLLER[,CONTROLLER]:PATH (repeatable)
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Exec even if the container is paused
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// runc's `update` flags. Values may be negative where runc's are (`--memory-swap -1`).
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// LinuxResources JSON file, or - for stdin (the other flags are then ignored)
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// runc spells it --cpu-share; both are taken
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "blkio-weight", allow_hyphen_values = true)]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpu-idle", allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// Intel RDT schemas for the container's resctrl group (see intelrdt.rs)
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

/// An error that ends rt with its own exit code instead of 1.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct ExitWith {
    pub code: i32,
    pub msg: String,
}

pub fn version_text() -> String {
    format!(
        "rt version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("RT_COMMIT"),
        crate::container::OCI_VERSION
    )
}

/// Run the parsed command; returns the exit code.
pub fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    use crate::container as c;
    use crate::state::Root;
    let Some(cmd) = &cli.command else {
        anyhow::bail!("no command given; see rt --help");
    };
    let root = || Root::open(&cli.root);
    match cmd {
        Command::Create(a) => {
            let root = root()?;
            let bundle = a.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            c::create(&root, &run::create_opts(cli, a, &bundle, false))?;
        }
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper: _,
        } => return run::run(cli, create, *detach, *keep),
        Command::Start { id } => c::start(&root()?, id)?,
        Command::State { id } => emit(&format!("{}\n", c::state(&root()?, id)?)),
        Command::Kill { all, id, signal } => {
            let sig = crate::signal::parse(signal.as_deref().unwrap_or("SIGTERM"))?;
            c::kill(&root()?, id, sig, *all)?;
        }
        Command::Delete { force, id } => c::delete(&root()?, id, *force)?,
        Command::List { format, quiet } => {
            emit(&c::list(&root()?, *format == ListFormat::Json, *quiet)?)
        }
        Command::Spec { bundle, rootless } => {
            let dir = bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            let path = dir.join(crate::spec::CONFIG);
            if path.exists() {
                anyhow::bail!("File {} exists. Remove it first", path.display());
            }
            let text = serde_json::to_string_pretty(&crate::spec::template(*rootless))?;
            std::fs::write(&path, text + "\n")
                .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
        }
        Command::Check { bundle } => {
            let dir = bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            let problems = crate::check::check(&dir);
            for p in &problems {
                emit(&format!("{p}\n"));
            }
            if problems.is_empty() {
                return Ok(0);
            }
            eprintln!(
                "rt check: {} problem(s) in {}",
                problems.len(),
                dir.join(crate::spec::CONFIG).display()
            );
            return Ok(1);
        }
        Command::Features => emit(&format!("{}\n", features::features_json())),
        Command::Pause { id } => c::pause(&root()?, id)?,
        Command::Resume { id } => c::resume(&root()?, id)?,
        Command::Ps {
            format,
            id,
            ps_args,
        } => emit(&c::ps(&root()?, id, *format == ListFormat::Json, ps_args)?),
        Command::Events {
            stats,
            interval,
            id,
        } => {
            let d = parse_duration(interval)?;
            c::events(&root()?, id, *stats, d)?;
        }
        Command::Exec(e) => {
            let o = c::ExecOpts {
                id: &e.id,
                process_file: e.process.as_deref(),
                args: &e.command,
                detach: e.detach,
                pid_file: e.pid_file.as_deref(),
                console_socket: e.console_socket.as_deref(),
                tty: e.tty,
                cwd: e.cwd.as_deref(),
                env: &e.env,
                user: e.user.as_deref(),
                additional_gids: &e.additional_gids,
                caps: &e.cap,
                no_new_privs: e.no_new_privs,
                preserve_fds: e.preserve_fds,
                cgroups: &e.cgroup,
                apparmor: e.apparmor.as_deref(),
                process_label: e.process_label.as_deref(),
                ignore_paused: e.ignore_paused,
            };
            // runc: any failure of exec itself (not of the program) exits 255.
            let exec = || -> anyhow::Result<i32> { Ok(c::exec(&root()?, &o)?) };
            return exec().map_err(|e| {
                ExitWith {
                    code: 255,
                    msg: format!("exec failed: {e:#}"),
                }
                .into()
            });
        }
        Command::Checkpoint { args } => criu::checkpoint(cli, args)?,
        Command::Restore { args } => return criu::restore(cli, args),
        Command::Update(u) => {
            let o = c::UpdateOpts {
                resources: u.resources.clone(),
                memory: u.memory.clone(),
                memory_reservation: u.memory_reservation.clone(),
                memory_swap: u.memory_swap.clone(),
                kernel_memory: u.kernel_memory.clone(),
                kernel_memory_tcp: u.kernel_memory_tcp.clone(),
                cpu_shares: u.cpu_shares,
                cpu_quota: u.cpu_quota,
                cpu_period: u.cpu_period,
                cpu_burst: u.cpu_burst,
                cpuset_cpus: u.cpuset_cpus.clone(),
                cpuset_mems: u.cpuset_mems.clone(),
                pids_limit: u.pids_limit,
                blkio_weight: u.blkio_weight,
                cpu_rt_period: u.cpu_rt_period,
                cpu_rt_runtime: u.cpu_rt_runtime,
                cpu_idle: u.cpu_idle,
                l3_cache_schema: u.l3_cache_schema.clone(),
                mem_bw_schema: u.mem_bw_schema.clone(),
            };
            c::update(&root()?, &u.id, &o)?;
        }
    }
    Ok(0)
}

/// Write command output; a reader that went away (`rt list | head`) is not an error.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Go-style durations as runc takes them: "5s", "100ms", "1m", "1h".
pub fn parse_duration(s: &str) -> anyhow::Result<std::time::Duration> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("--interval: invalid duration {s:?}"))?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => anyhow::bail!("--interval: invalid duration {s:?}"),
    };
    if secs <= 0.0 {
        anyhow::bail!("--interval: duration must be positive");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn runc_argv_shapes_parse() {
        let p =
            |v: &[&str]| Cli::try_parse_from(normalize(v.iter().map(|s| s.to_string()).collect()));
        let c = p(&[
            "rt",
            "--root=/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "x",
        ])
        .unwrap();
        assert_eq!(c.root, PathBuf::from("/r"));
        assert!(matches!(c.command, Some(Command::Create(ref a)) if a.id == "x"));
        let c = p(&["rt", "spec", "--rootless"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Spec { rootless: true, .. })
        ));
        assert!(p(&["rt", "kill", "--all", "x", "9"]).is_ok());
        assert!(p(&["rt", "ps", "--format", "json", "x"]).is_ok());
        assert!(p(&["rt", "ps", "x", "-ef"]).is_ok());
        assert!(p(&["rt", "update", "--resources", "-", "x"]).is_ok());
        let c = p(&[
            "rt",
            "exec",
            "-e",
            "A=1",
            "-e",
            "B=2",
            "-u",
            "1:2",
            "--cap",
            "CAP_KILL",
            "x",
            "sh",
            "-c",
            "echo -e hi",
            "--tty",
        ])
        .unwrap();
        match c.command {
            Some(Command::Exec(e)) => {
                assert_eq!(e.id, "x");
                assert_eq!(e.env, ["A=1", "B=2"]);
                assert_eq!(e.command, ["sh", "-c", "echo -e hi", "--tty"]);
                assert!(!e.tty);
            }
            other => panic!("{other:?}"),
        }
        assert!(p(&["rt", "exec", "--process", "/p.json", "--detach", "x"]).is_ok());
        assert!(p(&["rt", "bogus"]).is_err());
        assert!(p(&["rt", "create", "--bogus", "x"]).is_err());
        assert_eq!(
            parse_duration("100ms").unwrap(),
            std::time::Duration::from_millis(100)
        );
        assert!(parse_duration("x").is_err());
    }
}
