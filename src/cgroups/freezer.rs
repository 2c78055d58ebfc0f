//! Pausing a container's cgroup (v1 freezer.state or v2 cgroup.freeze, waiting until the kernel
//! reports the new state) and signalling all of it, frozen so that nothing forks meanwhile.

use std::time::{Duration, Instant};

use super::fs::{parse_flat_keyed, read_string, read_trimmed, write_file, write_in};
use super::layout::Layout;
use super::{CgroupError, CgroupMode, Manager, Result};

/// How long freeze/thaw wait for the kernel to report the new state.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// The freezer interface of a cgroup.
enum Freezer<'a> {
    /// The container's v1 freezer directory.
    V1(&'a std::path::Path),
    /// The container's cgroup2 directory.
    V2(&'a std::path::Path),
}

fn freezer(layout: &Layout) -> Result<Freezer<'_>> {
    if let Some(d) = layout.v1_dir("freezer") {
        return Ok(Freezer::V1(d));
    }
    if layout.mode() == CgroupMode::V2
        && let Some(u) = layout.unified_dir()
    {
        return Ok(Freezer::V2(u));
    }
    Err(CgroupError::ControllerNotAvailable("freezer".into()))
}

/// Freeze or thaw the cgroup and wait until the kernel says it is so.
pub fn set(layout: &Layout, frozen: bool) -> Result<()> {
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    match freezer(layout)? {
        Freezer::V1(d) => {
            let want = if frozen { "FROZEN" } else { "THAWED" };
            loop {
                write_in(d, "freezer.state", want)?;
                if read_trimmed(&d.join("freezer.state"))? == want {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    if frozen {
                        let _ = write_in(d, "freezer.state", "THAWED");
                    }
                    return Err(CgroupError::Other(format!(
                        "timed out waiting for {} to become {want}",
                        d.join("freezer.state").display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Freezer::V2(d) => {
            write_in(d, "cgroup.freeze", if frozen { "1" } else { "0" })?;
            let events = d.join("cgroup.events");
            loop {
                let ev = parse_flat_keyed(&read_string(&events)?);
                let state = ev.iter().find(|(k, _)| k == "frozen").map(|(_, v)| *v);
                if state.is_none() || state == Some(u64::from(frozen)) {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    if frozen {
                        let _ = write_in(d, "cgroup.freeze", "0");
                    }
                    return Err(CgroupError::Other(format!(
                        "timed out waiting for {} to report frozen {}",
                        events.display(),
                        u8::from(frozen)
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

pub fn is_frozen(layout: &Layout) -> Result<bool> {
    match freezer(layout)? {
        Freezer::V1(d) => Ok(read_trimmed(&d.join("freezer.state"))? == "FROZEN"),
        Freezer::V2(d) => {
            let p = d.join("cgroup.freeze");
            if !p.exists() {
                return Ok(false);
            }
            Ok(read_trimmed(&p)? == "1")
        }
    }
}

/// Send `signal` to every process of `m`'s cgroup: one write to cgroup.kill for a v2 SIGKILL,
/// else each process, with the cgroup frozen meanwhile (a paused container stays paused).
pub fn kill_all<M: Manager + ?Sized>(m: &M, signal: i32) -> Result<()> {
    let layout = m.layout();
    if layout.mode() == CgroupMode::V2
        && signal == libc::SIGKILL
        && let Some(u) = layout.unified_dir()
    {
        let p = u.join("cgroup.kill");
        if p.exists() {
            return write_file(&p, "1");
        }
    }
    // Freeze so nothing forks while we signal; keep a paused container paused.
    let was_frozen = m.is_frozen().unwrap_or(false);
    let froze = !was_frozen && m.freeze().is_ok();
    let res = (|| {
        for pid in m.pids()? {
            match crate::signal::send(pid, signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    return Err(CgroupError::Other(format!(
                        "failed to signal process {pid}: {}",
                        e.desc().to_lowercase()
                    )));
                }
            }
        }
        Ok(())
    })();
    if froze {
        m.thaw()?;
    }
    res
}
