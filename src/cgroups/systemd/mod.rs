//! The systemd cgroup driver (runc's `--systemd-cgroup`): the container's cgroup is a transient
//! scope unit that systemd makes over D-Bus, with `Delegate=yes`, the init process and the
//! resources as unit properties. The scope's directory is then a [`Layout`] like any other:
//! what systemd cannot express is written to its files by the cgroupfs driver, and freezing,
//! signalling, listing and statistics are the trait's shared cgroupfs work.
//!
//! A scope cannot be made without a process in it, so the unit is started once init exists
//! (cloned, waiting before it runs any container code): [`Manager::place_init`], as runc's
//! Apply(pid). Everything that can fail without systemd (the cgroupsPath, the properties, the
//! bus connection) fails in [`SystemdManager::new`], before anything is made.

mod bus;
mod devices;
mod props;
mod unit;

use std::cell::OnceCell;
use std::os::fd::BorrowedFd;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::host::{CgroupFs, CgroupMode};
use super::layout::Layout;
use super::manager::FsManager;
use super::{CgroupError, Manager, Result};
use crate::dbus::Value;
use bus::Systemd;
use props::{Prop, prop};
use unit::Unit;

pub use bus::reachable;

pub struct SystemdManager {
    /// The cgroupfs driver over the scope's directories.
    fs: FsManager,
    unit: Unit,
    v2: bool,
    /// The resources' properties, made (and checked) in `new`, sent when the unit starts.
    props: Vec<Prop>,
    bus: OnceCell<Systemd>,
}

impl SystemdManager {
    /// The unit for a new container: `cgroups_path` in `slice:prefix:name` form (or none).
    pub fn new(
        host: CgroupFs,
        cgroups_path: Option<&Path>,
        id: &str,
        resources: Option<&LinuxResources>,
    ) -> Result<Self> {
        let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
        let unit = unit::parse(raw.as_deref(), id).map_err(|why| CgroupError::SystemdPath {
            path: raw.unwrap_or_default(),
            why,
        })?;
        if !bus::booted() {
            return Err(CgroupError::NoSystemd);
        }
        let v2 = host.mode == CgroupMode::V2;
        let r = resources.cloned().unwrap_or_default();
        if !v2 && r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            // runc's legacy systemd manager refuses it too.
            return Err(CgroupError::Other(
                "linux.resources.unified: unified resources are only supported on cgroup v2".into(),
            ));
        }
        let bus = Systemd::connect()?;
        let (props, files) = resource_props(&bus, v2, &r, true)?;
        let fs = FsManager::new(host, Some(&unit.path), id, Some(files))?;
        if fs.layout().exists() {
            return Err(CgroupError::UnitExists(unit.name));
        }
        Ok(SystemdManager {
            fs,
            unit,
            v2,
            props,
            bus: OnceCell::from(bus),
        })
    }

    /// The unit of an existing container's cgroup at `path` (from state.json). The bus is
    /// connected only when needed (update, delete): the other verbs read cgroup files.
    pub fn load(host: CgroupFs, path: &Path) -> Result<Self> {
        let unit = Unit::from_path(path).ok_or_else(|| CgroupError::SystemdPath {
            path: path.display().to_string(),
            why: "not a systemd unit's cgroup".into(),
        })?;
        Ok(SystemdManager {
            v2: host.mode == CgroupMode::V2,
            fs: FsManager::load(host, path)?,
            unit,
            props: Vec::new(),
            bus: OnceCell::new(),
        })
    }

    fn bus(&self) -> Result<&Systemd> {
        if let Some(b) = self.bus.get() {
            return Ok(b);
        }
        if !bus::booted() {
            return Err(CgroupError::NoSystemd);
        }
        let b = Systemd::connect()?;
        Ok(self.bus.get_or_init(|| b))
    }

    /// What runc's Apply gives every unit, then the resources.
    fn start_props(&self, pid: i32) -> Vec<Prop> {
        let b = |name: &'static str| prop(name, Value::Bool(true));
        let mut p = vec![prop(
            "Description",
            Value::Str(format!("rt container {}", self.unit.container)),
        )];
        if self.unit.is_slice() {
            // A slice's parent is a dependency; a scope goes in its slice, delegated.
            let wants = Value::Array("s".into(), vec![Value::str(&self.unit.slice)]);
            p.push(prop("Wants", wants));
        } else {
            p.push(prop("Slice", Value::str(&self.unit.slice)));
            p.push(b("Delegate"));
        }
        p.push(prop(
            "PIDs",
            Value::Array("u".into(), vec![Value::U32(pid as u32)]),
        ));
        // Accounting on, as the cgroupfs driver has every controller.
        let io = if self.v2 {
            "IOAccounting"
        } else {
            "BlockIOAccounting"
        };
        for name in ["MemoryAccounting", "CPUAccounting", io, "TasksAccounting"] {
            p.push(b(name));
        }
        p.push(prop("DefaultDependencies", Value::Bool(false)));
        p.extend(self.props.iter().cloned());
        p
    }
}

impl Manager for SystemdManager {
    fn layout(&self) -> &Layout {
        self.fs.layout()
    }

    /// Nothing to make yet: a scope needs its first process (see `place_init`).
    fn create(&mut self) -> Result<()> {
        Ok(())
    }

    /// Start the scope with init in it, then do what runc does after: make the directories
    /// systemd does not (v1 hierarchies it does not manage), write the resources to the files
    /// and attach rt's device filter, and put init in every hierarchy.
    fn place_init(&mut self, pid: i32) -> Result<()> {
        let props = self.start_props(pid);
        self.bus()?
            .start(&self.unit.name, &props)
            .map_err(|source| CgroupError::Unit {
                action: "start",
                unit: self.unit.name.clone(),
                source,
            })?;
        self.fs.create()?;
        self.fs.add_task(pid)
    }

    /// `update`: the unit's properties, then the files.
    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let (props, files) = resource_props(self.bus()?, self.v2, r, false)?;
        // On v1 systemd rewrites the devices list from scratch (deny all, then allow): the
        // container is frozen meanwhile so that it sees no spurious EPERM, as runc does.
        let freeze = !self.v2 && r.devices().is_some() && matches!(self.is_frozen(), Ok(false));
        if freeze && let Err(e) = self.freeze() {
            crate::logging::warn(&format!("freeze before setting unit properties: {e}"));
        }
        let set = self.bus()?.set_properties(&self.unit.name, &props);
        if freeze {
            self.thaw()?;
        }
        set.map_err(|source| CgroupError::Unit {
            action: "set properties of",
            unit: self.unit.name.clone(),
            source,
        })?;
        self.fs.apply(&files)
    }

    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fs.clone_into_fd()
    }

    /// Stop the unit (and reset it if it failed), then remove what is left of its directories
    /// (runc: the v1 ones systemd did not make, sub-cgroups systemd 239 leaves).
    fn destroy(&self) -> Result<()> {
        let stopped = self.bus().and_then(|b| {
            b.stop(&self.unit.name).map_err(|source| CgroupError::Unit {
                action: "stop",
                unit: self.unit.name.clone(),
                source,
            })
        });
        let removed = self.fs.destroy();
        stopped.and(removed)
    }
}

/// `r` as unit properties (the device rules too at create, or when `r` has some), and `r` as
/// the files are to get it.
fn resource_props(
    bus: &Systemd,
    v2: bool,
    r: &LinuxResources,
    at_create: bool,
) -> Result<(Vec<Prop>, LinuxResources)> {
    let (props, files) = props::resources(r, v2, &|| bus.version())?;
    let mut out = Vec::new();
    if at_create || r.devices().is_some() {
        let host = devices::Host {
            exists: &|p| Path::new(p).exists(),
            proc_devices: &|| std::fs::read_to_string("/proc/devices").unwrap_or_default(),
            warn: &|w| crate::logging::warn(w),
        };
        out = devices::properties(r.devices().as_deref().unwrap_or(&[]), &host);
    }
    out.extend(props);
    Ok((out, files))
}
