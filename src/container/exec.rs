//! `exec`: run another process in a running container, as runc does: the process comes from
//! `--process FILE` or from the container's saved config overridden by the flags; it joins every
//! namespace and the cgroup of the container. Detached, rt exits once the program runs; in the
//! foreground rt waits, forwards signals, proxies a tty and exits with the program's status.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Component, Path, PathBuf};

use nix::sys::signal::SigSet;
use oci_spec::runtime::{Capabilities, Capability, Process};

use super::create::write_pid_file;
use super::run::{FORWARDED, wait_foreground};
use super::{Container, ContainerError, Result, Status, io_err, sys_err};
use crate::process::exec_init::ExecConfig;
use crate::process::parent::{self, Callbacks};
use crate::process::plan;
use crate::security::seccomp;
use crate::state::Root;

#[derive(Default, Debug)]
pub struct ExecOpts<'a> {
    pub id: &'a str,
    /// `--process FILE`: an OCI Process JSON; the flags below that shape the process are ignored.
    pub process_file: Option<&'a Path>,
    /// The command and its arguments.
    pub args: &'a [String],
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub tty: bool,
    pub cwd: Option<&'a str>,
    pub env: &'a [String],
    pub user: Option<&'a str>,
    pub additional_gids: &'a [i64],
    pub caps: &'a [String],
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    pub cgroups: &'a [String],
    pub apparmor: Option<&'a str>,
    pub process_label: Option<&'a str>,
    pub ignore_paused: bool,
}

/// Returns the exit code rt should exit with.
pub fn exec(root: &Root, o: &ExecOpts) -> Result<i32> {
    crate::state::validate_id(o.id)?;
    let c = Container::load(root, o.id)?;
    match c.status() {
        Status::Stopped => return Err(ContainerError::ExecStopped),
        Status::Paused if !o.ignore_paused => return Err(ContainerError::ExecPaused),
        _ => {}
    }
    let spec = &c.config()?;
    let process = build_process(spec, o)?;
    let terminal = process.terminal() == Some(true);
    super::check_console_flags(o.detach, terminal, o.console_socket.is_some())?;
    check_preserved_fds(o.preserve_fds)?;
    let subs = parse_sub_cgroups(o.cgroups)?;

    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let plan = plan::exec_plan(&namespaces, c.record.pid)?;
    // Only a config with a seccomp section reaches the compiler.
    let compiled = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(seccomp::compile(s)?),
        None => None,
    };
    let cgroup = c.cgroup();
    let placement = match &cgroup {
        Some(cg) => Some(cg.exec_placement(&subs)?),
        None => None,
    };
    let cgroup_fd = placement
        .as_ref()
        .and_then(|p| p.clone_into)
        .map(|fd| fd.as_raw_fd());
    // The cgroup, and the resctrl groups of linux.intelRdt: before the process runs anything
    // (a process it forks into the container's pid namespace inherits both).
    let mut place = |pid: i32| {
        if let Some(p) = &placement {
            p.add(pid)?;
        }
        match crate::intelrdt::RdtState::of(&c.record) {
            Some(r) => {
                crate::intelrdt::add_task(&r, pid).map_err(crate::cgroups::CgroupError::Other)
            }
            None => Ok(()),
        }
    };

    // Block the forwarded signals before the process exists, so none is lost; the child
    // restores the mask rt had before it execs.
    let mut mask = SigSet::empty();
    if !o.detach {
        for s in FORWARDED {
            mask.add(s);
        }
        mask.add(nix::sys::signal::Signal::SIGCHLD);
    }
    let old_mask = mask
        .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
        .map_err(sys_err("block signals"))?;
    let cfg = ExecConfig {
        process: &process,
        plan: &plan,
        seccomp: compiled.as_ref(),
        preserve_fds: o.preserve_fds as i32,
        sigmask: old_mask,
        memory_policy: spec
            .linux()
            .as_ref()
            .and_then(|l| l.memory_policy().as_ref()),
        // As runc's setns init: the container's session keyring, unless it was made without.
        session_keyring: (!c.record.no_new_keyring).then(|| format!("_ses.{}", c.record.id)),
    };
    // The process starts on execCPUAffinity.initial, which it inherits from rt (runc sets it on
    // the thread that spawns), and takes `final` once in the cgroup (exec_init).
    crate::process::setup::exec_cpu_affinity_initial(&process)?;
    let spawned = parent::spawn_exec(&cfg, cgroup_fd, &mut place, &mut ExecCallbacks(&c))?;

    if o.detach {
        if let (Some(sock), Some(master)) = (o.console_socket, spawned.console.as_ref()) {
            crate::tty::send_to_socket(sock, master.as_fd())?;
        }
        if let Some(p) = o.pid_file {
            write_pid_file(p, spawned.pid)?;
        }
        return Ok(0);
    }
    if let Some(p) = o.pid_file {
        write_pid_file(p, spawned.pid)?;
    }
    wait_foreground(spawned.pid, &mask, spawned.console, None)
}

/// runc's getProcess: the file as given, or the saved config's process with the flags applied.
fn build_process(spec: &oci_spec::runtime::Spec, o: &ExecOpts) -> Result<Process> {
    let p = match o.process_file {
        Some(path) => {
            let text = std::fs::read(path)
                .map_err(io_err(format!("--process: read {}", path.display())))?;
            // Read as runc reads it: no `user` is uid 0, gid 0.
            let mut p = crate::spec::parse_process(&text).map_err(|errors| {
                crate::spec::SpecError::Parse {
                    path: path.to_path_buf(),
                    errors,
                }
            })?;
            // runc's init falls back to the container's capabilities when the process file
            // has none (and to no capabilities when the container has none either).
            if p.capabilities().is_none() {
                p.set_capabilities(
                    spec.process()
                        .as_ref()
                        .and_then(|sp| sp.capabilities().clone()),
                );
            }
            p
        }
        None => apply_flags(spec.process().clone().unwrap_or_default(), o)?,
    };
    validate(&p)?;
    Ok(p)
}

fn apply_flags(mut p: Process, o: &ExecOpts) -> Result<Process> {
    if o.args.is_empty() {
        return Err(ContainerError::Usage("process args cannot be empty".into()));
    }
    p.set_args(Some(o.args.to_vec()));
    if let Some(cwd) = o.cwd.filter(|c| !c.is_empty()) {
        p.set_cwd(PathBuf::from(cwd));
    }
    if let Some(a) = o.apparmor.filter(|a| !a.is_empty()) {
        p.set_apparmor_profile(Some(a.to_string()));
    }
    if let Some(l) = o.process_label.filter(|l| !l.is_empty()) {
        p.set_selinux_label(Some(l.to_string()));
    }
    if !o.caps.is_empty() {
        add_exec_caps(&mut p, o.caps);
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    p.set_terminal(Some(o.tty));
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(u) = o.user.filter(|u| !u.is_empty()) {
        let (uid, gid) = parse_user(u)?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            p.user_mut().set_gid(g);
        }
    }
    if !o.additional_gids.is_empty() {
        let mut gids = p.user().additional_gids().clone().unwrap_or_default();
        for g in o.additional_gids {
            let g = u32::try_from(*g).map_err(|_| {
                ContainerError::Usage(format!("additional-gids must be a positive number {g}"))
            })?;
            gids.push(g);
        }
        p.user_mut().set_additional_gids(Some(gids));
    }
    Ok(p)
}

/// runc's validateProcessSpec.
fn validate(p: &Process) -> Result<()> {
    if p.cwd().as_os_str().is_empty() {
        return Err(ContainerError::Usage(
            "Cwd property must not be empty".into(),
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(ContainerError::Usage("Cwd must be an absolute path".into()));
    }
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(ContainerError::Usage("args must not be empty".into()));
    }
    let mut env = Vec::new();
    crate::spec::env_problems("env", p.env().as_deref().unwrap_or(&[]), &mut env);
    if let Some(e) = env.into_iter().next() {
        return Err(ContainerError::Usage(e));
    }
    if p.selinux_label().as_ref().is_some_and(|l| !l.is_empty()) {
        // rt does not set SELinux labels; on a host with SELinux that is an error too, so the
        // label is never silently dropped.
        let why = if Path::new("/sys/fs/selinux/enforce").exists() {
            "setting SELinux labels is not supported by rt"
        } else {
            "selinux label is specified in config, but selinux is disabled or not supported"
        };
        return Err(ContainerError::Usage(why.into()));
    }
    // An AppArmor profile (--apparmor or the saved one) this host cannot apply.
    match crate::security::lsm::process_problems(p).into_iter().next() {
        Some(problem) => Err(ContainerError::Usage(problem)),
        None => Ok(()),
    }
}

/// `UID[:GID]`, numbers only (as runc).
pub fn parse_user(u: &str) -> Result<(u32, Option<u32>)> {
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let gid = gid
        .map(|g| {
            g.parse::<u32>().map_err(|e| {
                ContainerError::Usage(format!("--user: parsing {g} as int for gid failed: {e}"))
            })
        })
        .transpose()?;
    let uid = uid.parse::<u32>().map_err(|e| {
        ContainerError::Usage(format!("--user: parsing {uid} as int for uid failed: {e}"))
    })?;
    Ok((uid, gid))
}

/// `exec --cap`: each capability goes into the bounding, effective and permitted sets only.
/// Never inheritable or ambient: that would pass it on across execve to programs the process
/// runs (CVE-2022-29162). Names are matched exactly, as runc does; an unknown one is ignored
/// with runc's warning.
fn add_exec_caps(p: &mut Process, names: &[String]) {
    // oci-spec also reads `kill` or `CAP_CAP_KILL` as CAP_KILL; runc only the exact name.
    let exact = |n: &String| {
        serde_json::from_value::<Capability>(serde_json::json!(n))
            .ok()
            .filter(|c| serde_json::to_value(c).ok() == Some(serde_json::json!(n)))
    };
    let extra: Vec<Capability> = names.iter().filter_map(exact).collect();
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| exact(n).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        crate::logging::warn(&format!(
            "ignoring unknown or unavailable capabilities: [{}]",
            unknown.join(" ")
        ));
    }
    let mut caps = p
        .capabilities()
        .clone()
        .unwrap_or_else(crate::security::caps::empty);
    let grow = |set: &Option<Capabilities>| -> Option<Capabilities> {
        let mut s = set.clone().unwrap_or_default();
        s.extend(extra.iter().copied());
        Some(s)
    };
    let (b, e, pm) = (
        grow(caps.bounding()),
        grow(caps.effective()),
        grow(caps.permitted()),
    );
    caps.set_bounding(b).set_effective(e).set_permitted(pm);
    p.set_capabilities(Some(caps));
}

/// runc's getSubCgroupPaths: `path` for every controller, or `ctrl[,ctrl]:path` per controller.
pub fn parse_sub_cgroups(args: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let bad =
        |a: &str, why: &str| ContainerError::Usage(format!("invalid --cgroup argument: {a}{why}"));
    let mut out = BTreeMap::new();
    for a in args {
        let parts: Vec<&str> = a.splitn(3, ':').collect();
        let (ctrls, path) = match parts.as_slice() {
            [p] => {
                if args.len() != 1 {
                    return Err(bad(a, " (missing <controller>: prefix)"));
                }
                (vec![""], *p)
            }
            [c, p] => (c.split(',').collect(), *p),
            _ => return Err(bad(a, "")),
        };
        let rel = PathBuf::from(path.trim_start_matches('/'));
        if path.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(bad(
                a,
                " (the path must stay inside the container's cgroup)",
            ));
        }
        for ctrl in ctrls {
            if ctrl.is_empty() && parts.len() == 2 {
                return Err(bad(a, " (empty <controller> prefix)"));
            }
            if out.insert(ctrl.to_string(), rel.clone()).is_some() {
                return Err(ContainerError::Usage(format!(
                    "invalid --cgroup argument(s): controller {ctrl} specified multiple times"
                )));
            }
        }
    }
    Ok(out)
}

/// runc's check: each of fds 3..3+n must be open in rt.
fn check_preserved_fds(n: u32) -> Result<()> {
    for i in 0..n {
        let fd = 3 + i as i32;
        // SAFETY: fcntl(F_GETFD) only queries the flags of an fd number.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(
                sys_err(format!("unable to stat preserved-fd {i} (of {n})"))(nix::Error::last()),
            );
        }
    }
    Ok(())
}

/// exec runs no hooks (step 5 is never taken); the listener's state is the container's.
struct ExecCallbacks<'a>(&'a Container);

impl Callbacks for ExecCallbacks<'_> {
    fn runtime_hooks(&mut self, _pid: i32) -> std::result::Result<(), parent::SpawnError> {
        Ok(())
    }

    fn listener_state(&mut self, _pid: i32) -> String {
        self.0.state_json(Status::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn users() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:1001").unwrap(), (1000, Some(1001)));
        assert!(parse_user("bob").is_err());
        assert!(parse_user("1:x").unwrap_err().to_string().contains("gid"));
    }

    #[test]
    fn exec_caps_reach_bounding_effective_permitted_only() {
        let mut p: Process = serde_json::from_value(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
            "capabilities": {"bounding": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
                             "ambient": ["CAP_KILL"]}
        }))
        .unwrap();
        add_exec_caps(&mut p, &s(&["CAP_CHOWN", "CAP_BOGUS", "net_raw"]));
        let c = p.capabilities().clone().unwrap();
        for set in [c.bounding(), c.effective(), c.permitted()] {
            let set = set.clone().unwrap();
            assert!(set.contains(&Capability::Chown), "{set:?}");
            assert!(!set.contains(&Capability::NetRaw), "{set:?}");
        }
        for set in [c.inheritable(), c.ambient()] {
            assert_eq!(
                set.clone().unwrap(),
                [Capability::Kill].into_iter().collect()
            );
        }
    }

    #[test]
    fn sub_cgroups() {
        let m = parse_sub_cgroups(&s(&["sub"])).unwrap();
        assert_eq!(m.get(""), Some(&PathBuf::from("sub")));
        let m = parse_sub_cgroups(&s(&["cpu,memory:a/b", "pids:c"])).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("memory"), Some(&PathBuf::from("a/b")));
        assert!(parse_sub_cgroups(&s(&["a", "b"])).is_err());
        assert!(parse_sub_cgroups(&s(&["cpu:x", "cpu:y"])).is_err());
        assert!(parse_sub_cgroups(&s(&["a:b:c"])).is_err());
        assert!(parse_sub_cgroups(&s(&[":x"])).is_err());
        assert!(parse_sub_cgroups(&s(&["../escape"])).is_err());
    }

    #[test]
    fn flags_override_the_saved_process() {
        let base: Process = serde_json::from_value(serde_json::json!({
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["A=1"],
            "cwd": "/",
            "terminal": true,
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]}
        }))
        .unwrap();
        let args = s(&["ls", "-l"]);
        let env = s(&["B=2"]);
        let caps = s(&["CAP_CHOWN"]);
        let o = ExecOpts {
            args: &args,
            env: &env,
            caps: &caps,
            cwd: Some("/tmp"),
            user: Some("5:6"),
            additional_gids: &[7],
            ..Default::default()
        };
        let p = apply_flags(base, &o).unwrap();
        assert_eq!(p.args().clone().unwrap(), args);
        assert_eq!(p.env().clone().unwrap(), s(&["A=1", "B=2"]));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        assert_eq!(p.user().additional_gids().clone().unwrap(), vec![7]);
        // runc turns the terminal off unless --tty.
        assert_eq!(p.terminal(), Some(false));
        let c = p.capabilities().clone().unwrap();
        assert!(c.bounding().clone().unwrap().contains(&Capability::Chown));
        assert!(c.bounding().clone().unwrap().contains(&Capability::Kill));
        assert!(
            !c.ambient()
                .clone()
                .unwrap_or_default()
                .contains(&Capability::Chown)
        );
        let none: Vec<String> = vec![];
        let o = ExecOpts {
            args: &none,
            ..Default::default()
        };
        assert!(apply_flags(Process::default(), &o).is_err());
    }
}
