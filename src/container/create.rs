//! `create`: claim the id, make the cgroup, start init and leave it waiting on exec.fifo.
//! Any failure undoes every step (process, cgroup, state dir) before returning.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;

use super::{Container, ContainerError, Result, Status, io_err, sys_err};
use crate::cgroups::{self, CgroupConfig, Manager};
use crate::process::init::InitConfig;
use crate::process::parent::{self, Callbacks, SpawnError};
use crate::process::plan;
use crate::security::seccomp;
use crate::state::{EXEC_FIFO, Record, Root, write_atomic};
use crate::{hooks, logging, spec, timefmt};

/// runc's words for `linux.resources.memory.kernel`/`kernelTCP`, which it (and rt) ignores.
pub const KERNEL_MEMORY_IGNORED: &str = "Kernel memory settings are ignored and will be removed";

pub struct CreateOpts<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
    /// `run` in the foreground keeps the pty master to proxy it; `create` never does.
    pub foreground: bool,
}

pub struct Created {
    pub container: Container,
    pub console: Option<OwnedFd>,
}

/// Undo for a half-made container (create's, and restore's): the state dir and the cgroup, if
/// rt made it. (The init process is killed by the spawner's own guard.)
pub(super) struct Rollback<'a> {
    root: &'a Root,
    id: &'a str,
    pub(super) cgroup: Option<Box<dyn Manager>>,
    /// The cgroup did not exist before: its processes and directories are ours to remove.
    pub(super) cgroup_owned: bool,
    pub(super) armed: bool,
    /// Set once the create-time hooks have begun: a failure from then on continues the
    /// lifecycle with destroy and the poststop hooks (runtime.md, lifecycle steps 3-5 and 13).
    poststop: Option<(Vec<oci_spec::runtime::Hook>, String)>,
    /// The resctrl groups init joined (removed if rt made them).
    rdt: Option<crate::intelrdt::RdtState>,
}

impl<'a> Rollback<'a> {
    pub(super) fn new(root: &'a Root, id: &'a str, cgroup_owned: bool) -> Self {
        Rollback {
            root,
            id,
            cgroup: None,
            cgroup_owned,
            armed: true,
            poststop: None,
            rdt: None,
        }
    }
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(c) = self.cgroup.as_ref().filter(|_| self.cgroup_owned) {
            let _ = c.kill_all(libc::SIGKILL);
            if let Err(e) = c.destroy() {
                logging::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(r) = &self.rdt {
            crate::intelrdt::destroy(r);
        }
        let _ = self.root.remove(self.id);
        if let Some((hooks, state)) = &self.poststop {
            hooks::run_all_warn("poststop", hooks, state);
        }
    }
}

pub fn create(root: &Root, o: &CreateOpts) -> Result<Created> {
    crate::state::validate_id(o.id)?;
    let bundle = std::fs::canonicalize(o.bundle)
        .map_err(io_err(format!("bundle {}", o.bundle.display())))?;
    let (config_json, spec) = spec::load_raw(&bundle)?;
    logging::timeline("config");
    let rootfs = spec::validate(&spec, &bundle)?;
    let net_devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .filter(|d| !d.is_empty());
    if let Some(d) = net_devices {
        // Before anything is made: the spec wants the move checked first.
        crate::netdev::check_host(d).map_err(ContainerError::Usage)?;
    }
    for w in spec::warnings(&spec) {
        logging::warn(&w);
    }
    let linux = spec.linux().as_ref();
    if let Some(m) = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        && (m.kernel().is_some() || m.kernel_tcp().is_some())
    {
        logging::warn(KERNEL_MEMORY_IGNORED);
    }
    if o.no_pivot
        && linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .is_some_and(|p| p == "private" || p == "rprivate")
    {
        // runc: the move of the rootfs is only safe with propagation to the host.
        return Err(ContainerError::Usage(
            "linux.rootfsPropagation: [r]private is not safe without pivot_root (--no-pivot)"
                .into(),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| ContainerError::Usage("process: missing".into()))?;
    let terminal = process.terminal() == Some(true);
    if terminal && !o.foreground && o.console_socket.is_none() {
        return Err(ContainerError::Usage(
            "cannot allocate tty if rt will detach without setting console socket".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(ContainerError::Usage(
            "cannot use console socket if rt will not allocate tty".into(),
        ));
    }
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let plan = plan::plan(&namespaces)?;
    let compiled = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(seccomp::compile(s)?),
        None => None,
    };
    logging::timeline("plan");

    let linux = spec.linux().as_ref();
    // Like runc, only linux.resources.devices and the default allow-list decide device access:
    // a node from linux.devices is created but not allowed on its own.
    let mut resources = linux.and_then(|l| l.resources().clone());
    let late_pids = late_pids_limit(resources.as_mut(), plan.must_fork);
    let (mut cg, cgroup_owned) = cgroup_manager(&spec, o.id, o.systemd_cgroup, resources)?;
    let cgroup_path = cg.path().to_path_buf();
    let mut record = Record {
        id: o.id.to_string(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: timefmt::rfc3339_now(true),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_path: Some(cgroup_path.clone()),
        systemd_cgroup: o.systemd_cgroup,
        cgroup_owned,
        hooks: spec.hooks().clone(),
        no_new_keyring: o.no_new_keyring,
        rdt_group: None,
        rdt_group_owned: false,
        rdt_monitor: None,
    };
    // The directory appears with its state (pid 0, so "stopped") and the config (a verbatim
    // copy for exec and update) in it. Crash safety: the state names the cgroup before the
    // cgroup exists, so `delete -f` can clean up after an rt killed at any point of create.
    let dir = root.claim(o.id, &record, &config_json)?;
    drop(config_json);
    let mut rollback = Rollback::new(root, o.id, false);
    if !cgroup_owned {
        logging::warn(&format!(
            "linux.cgroupsPath {}: the cgroup exists already; rt joins it, and delete will \
             neither remove it nor kill other processes in it",
            cgroup_path.display()
        ));
    }
    cg.create().inspect_err(|_| {
        if cgroup_owned {
            let _ = cg.destroy();
        }
    })?;
    let cgroup_mount = cg.cgroup_mount();
    rollback.cgroup = Some(cg);
    rollback.cgroup_owned = cgroup_owned;
    logging::timeline("cgroup");

    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .map_err(sys_err(format!("mkfifo {}", fifo_path.display())))?;
    // mkfifo's mode is cut by our umask; anyone in the container may need to open it for write.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(io_err(format!("chmod {}", fifo_path.display())))?;
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err(format!("open {}", fifo_path.display())))?;

    let draft = Container {
        record: record.clone(),
        dir: dir.clone(),
    };
    // systemd socket activation: the sockets rt got go on to the container at fds 3.., before
    // the --preserve-fds ones, and its process learns of them as pid 1 (runc's behaviour).
    let listen_fds = listen_fds();
    // Cloned only to add to it (a Spec clone is ~70k instructions): those variables, and the
    // notify socket's mount and variable when rt has a NOTIFY_SOCKET.
    let mut adjusted = None;
    if listen_fds > 0 || super::notify::caller_socket().is_some() {
        let mut s = spec.clone();
        if listen_fds > 0
            && let Some(p) = s.process_mut().as_mut()
        {
            let mut env = p.env().clone().unwrap_or_default();
            env.push(format!("LISTEN_FDS={listen_fds}"));
            env.push("LISTEN_PID=1".into());
            p.set_env(Some(env));
        }
        if super::notify::caller_socket().is_some() {
            super::notify::prepare(&mut s, &dir)?;
        }
        adjusted = Some(s);
    }
    let cfg = InitConfig {
        spec: adjusted.as_ref().unwrap_or(&spec),
        plan: &plan,
        rootfs: &rootfs,
        bundle: &bundle,
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        preserve_fds: listen_fds + o.preserve_fds,
        fifo: &fifo,
        seccomp: compiled.as_ref(),
        hook_state: &|pid| super::hook_state(&record, Status::Created, pid),
        cgroup_mount: &cgroup_mount,
        id: o.id,
    };
    let mut cb = CreateCallbacks {
        draft,
        hooks_started: false,
        net_devices,
    };
    logging::timeline("clone");
    let spawned = parent::spawn(&cfg, rollback.cgroup.as_deref_mut(), &mut cb);
    if spawned.is_err()
        && cb.hooks_started
        && let Some(h) = cb.draft.hooks().and_then(|h| h.poststop().clone())
    {
        rollback.poststop = Some((h, cb.draft.hook_state(Status::Stopped)));
    }
    let spawned = spawned?;
    if let (Some(limit), Some(cg)) = (late_pids, rollback.cgroup.as_deref()) {
        cg.apply(&limit)?;
    }
    logging::timeline("init ready");
    drop(fifo);

    record.pid = spawned.pid;
    record.pid_start_time = crate::procfs::start_time(spawned.pid).unwrap_or(0);
    if let Some(rdt) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) {
        // Init waits on exec.fifo: the program it becomes (and all it forks) stays in the group.
        let r = crate::intelrdt::Resctrl::find().ok_or_else(|| {
            ContainerError::Usage("linux.intelRdt: no resctrl filesystem is mounted".into())
        })?;
        let joined = crate::intelrdt::apply(&r, rdt, o.id, spawned.pid).inspect_err(|_| {
            // Its cgroup may be one rt must not empty: init goes by pid.
            let pid = nix::unistd::Pid::from_raw(spawned.pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        });
        let joined = joined.map_err(ContainerError::Usage)?;
        joined.save_in(&mut record);
        rollback.rdt = Some(joined);
    }
    record.save(&dir)?;
    logging::timeline("state saved");
    let mut console = spawned.console;
    if let (Some(sock), Some(master)) = (o.console_socket, console.as_ref()) {
        crate::tty::send_to_socket(sock, master.as_fd())?;
        console = None;
    }
    if let Some(p) = o.pid_file {
        write_pid_file(p, spawned.pid)?;
    }
    rollback.armed = false;
    Ok(Created {
        container: Container { record, dir },
        console,
    })
}

/// With a second fork rt's intermediate process shares the container's cgroup with init for a
/// moment, so a pids limit of 1 would refuse that fork. runc writes every limit once its init
/// is alone in the cgroup; rt takes the pids limit out of `resources` in that case and writes it
/// (the returned resources) after init is ready, still before init runs any container code.
fn late_pids_limit(
    resources: Option<&mut oci_spec::runtime::LinuxResources>,
    must_fork: bool,
) -> Option<oci_spec::runtime::LinuxResources> {
    let r = resources.filter(|_| must_fork)?;
    let pids = (*r.pids())?;
    r.set_pids(None);
    let mut late = oci_spec::runtime::LinuxResources::default();
    late.set_pids(Some(pids));
    Some(late)
}

/// A cgroup that exists already: runc 1.1.5 runs the container in one that holds processes,
/// with a warning (runc 1.2 refuses it), but refuses a frozen one, where init would hang
/// before it could report anything. Checked before rt makes or writes anything there. True if
/// the cgroup holds processes.
fn check_existing_cgroup(cg: &dyn Manager) -> Result<()> {
    // Errors mean no such cgroup (or no freezer): nothing to check.
    let pids = cg.pids().map(|p| p.len()).unwrap_or(0);
    if pids > 0 {
        logging::warn_caller(&format!(
            "container's cgroup is not empty: {pids} process(es) found"
        ));
    }
    if cg.is_frozen().unwrap_or(false) {
        return Err(cgroups::CgroupError::UnexpectedlyFrozen(cg.path().to_path_buf()).into());
    }
    Ok(())
}

/// How many fds systemd passed to rt itself (LISTEN_PID must be our pid, as sd_listen_fds checks).
fn listen_fds() -> i32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(0)
}

/// The manager of the container's cgroup, as linux.cgroupsPath names it, and whether rt makes
/// the cgroup (it does not exist yet). An existing one is checked first.
pub(super) fn cgroup_manager(
    spec: &oci_spec::runtime::Spec,
    id: &str,
    systemd: bool,
    resources: Option<oci_spec::runtime::LinuxResources>,
) -> Result<(Box<dyn Manager>, bool)> {
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_deref());
    let resources = with_default_devices(resources.unwrap_or_default(), spec);
    let cg = cgroups::new_manager(&CgroupConfig {
        // An empty cgroupsPath is runc's "not set".
        cgroups_path: path.filter(|p| !p.as_os_str().is_empty()),
        id,
        systemd,
        resources: Some(&resources),
    })?;
    let owned = !cg.exists();
    if !owned {
        check_existing_cgroup(cg.as_ref())?;
    }
    Ok((cg, owned))
}

/// `resources` with its device rules followed by runc's defaults (less those for a path the
/// config's linux.devices defines): the cgroup's device rules, at create and at an update that
/// rewrites them.
pub(super) fn with_default_devices(
    mut r: oci_spec::runtime::LinuxResources,
    spec: &oci_spec::runtime::Spec,
) -> oci_spec::runtime::LinuxResources {
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_deref());
    let rules = r.devices().as_deref().unwrap_or_default();
    r.set_devices(Some(cgroups::with_default_rules(
        rules,
        devices.unwrap_or_default(),
    )));
    r
}

/// Shims read the pid file as soon as we exit: write it whole or not at all.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(io_err("current dir"))?
            .join(path)
    };
    write_atomic(&abs, pid.to_string().as_bytes(), 0o644)?;
    Ok(())
}

struct CreateCallbacks<'a> {
    draft: Container,
    hooks_started: bool,
    net_devices: Option<&'a std::collections::HashMap<String, oci_spec::runtime::LinuxNetDevice>>,
}

impl Callbacks for CreateCallbacks<'_> {
    fn runtime_hooks(&mut self, pid: i32) -> std::result::Result<(), SpawnError> {
        // runc moves them before the hooks too: a prestart hook finds them in the container.
        if let Some(d) = self.net_devices {
            crate::netdev::move_all(d, pid).map_err(SpawnError::NetDevices)?;
        }
        self.draft.record.pid = pid;
        self.hooks_started = true;
        let state = self.draft.hook_state(Status::Creating);
        if let Some(h) = self.draft.hooks() {
            let bundle = &self.draft.record.bundle;
            let prestart = h.prestart().as_deref().unwrap_or_default();
            hooks::run_all_in("prestart", prestart, &state, bundle)?;
            let create_runtime = h.create_runtime().as_deref().unwrap_or_default();
            hooks::run_all_in("createRuntime", create_runtime, &state, bundle)?;
        }
        Ok(())
    }

    fn listener_state(&mut self, pid: i32) -> String {
        self.draft.record.pid = pid;
        self.draft.state_json(Status::Creating)
    }
}
