//! `--systemd-cgroup` where systemd is not init (here; the systemd VM tier,
//! integration/systemd-vm, runs the driver for real), and NOTIFY_SOCKET, which needs no
//! systemd: the test is the caller whose socket gets the container's READY.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;

/// systemd hidden from the runtime where the host has it: a tmpfs over /run/systemd in a mount
/// namespace of the test's own.
fn without_systemd(c: Container) -> Container {
    c.wrapped(in_private_mount_ns(
        "if [ -d /run/systemd/system ]; then mount -t tmpfs tmpfs /run/systemd; fi",
    ))
}

#[test]
fn systemd_cgroup_without_systemd_is_refused_before_anything_is_made() {
    let mut b = Bundle::new();
    b.args(&["true"]);
    let name = unique_name("sd");
    b.cgroups_path(&format!("system.slice:{name}:x"));
    let c = without_systemd(Container::new(b));
    c.bundle.write();
    let bundle = c.bundle.path_str();
    let out = c.rt(&["--systemd-cgroup", "run", "--bundle", &bundle, &c.id]);
    out.failed()
        .stderr_has("systemd not running on this host, cannot use systemd cgroups manager");
    assert!(!c.state_dir_exists(), "a state dir was left: {out:?}");
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
    let left: Vec<_> = fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_dir(e.path()).ok())
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(&name))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn systemd_cgroups_path_must_be_slice_prefix_name() {
    for bad in ["/rt-test-sd", "system.slice:rt-test-sd", "a:b:c:d"] {
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.cgroups_path(bad);
        let c = without_systemd(Container::new(b));
        c.bundle.write();
        let bundle = c.bundle.path_str();
        let out = c.rt(&["--systemd-cgroup", "create", "--bundle", &bundle, &c.id]);
        // runc: expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups
        out.failed()
            .stderr_has("cgroupsPath")
            .stderr_has("slice:prefix:name");
        assert!(!c.state_dir_exists(), "{bad}: a state dir was left");
    }
}

/// A static sd_notify client for the busybox rootfs: prints its NOTIFY_SOCKET, sends READY=1
/// (and a STATUS line) there, then sleeps until killed.
const NOTIFIER: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (!path || strlen(path) >= sizeof(a.sun_path)) return 1;
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    const char msg[] = "READY=1\nSTATUS=ready";
    if (fd < 0 || sendto(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("notifier");
        return 1;
    }
    printf("notified %s\n", path);
    fflush(stdout);
    for (;;) pause();
}
"#;

fn notifier() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(dir).unwrap();
        let src = dir.join(format!("notifier.{}.c", std::process::id()));
        fs::write(&src, NOTIFIER).unwrap();
        let bin = static_c_program("notifier", &src);
        let _ = fs::remove_file(&src);
        bin
    })
}

/// Receive one datagram; an fd passed with it (sd_notify's BARRIER) is closed at once, which is
/// what tells the sender its messages were read.
fn recv_closing_fds(sock: &UnixDatagram) -> Option<String> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                let _ = nix::unistd::close(fd);
            }
        }
    }
    let n = msg.bytes;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn notify_socket_relays_the_containers_ready() {
    let scratch = TempDir::new("notify");
    let caller = scratch.path().join("caller.sock");
    let sock = UnixDatagram::bind(&caller).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = Bundle::new();
    fs::copy(notifier(), b.rootfs().join("notifier")).unwrap();
    b.args(&["/notifier"]);
    let mut c = Container::new(b).wrapped(vec![
        "env".into(),
        format!("NOTIFY_SOCKET={}", caller.display()),
    ]);
    c.create().ok();
    // Nothing comes before start.
    assert_eq!(recv_closing_fds(&sock), None);
    let (mut start, out, err, what) = c.rt_spawn(&["start", &c.id]);
    let mut got = Vec::new();
    let deadline = Instant::now() + CMD_TIMEOUT;
    while start.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{what} did not finish");
        got.extend(recv_closing_fds(&sock));
    }
    got.extend(recv_closing_fds(&sock));
    let st = wait_child(start, &out, &err, what, CMD_TIMEOUT);
    st.ok();
    // READY=1 (the READY line alone), then the container's init as the main pid; runc 1.3+ and
    // rt then wait for the caller to have read them (BARRIER).
    let pid = c.pid();
    let mut want = vec!["READY=1\n".to_string(), format!("MAINPID={pid}\n")];
    if got.len() == 3 {
        want.push("BARRIER=1".into());
    }
    assert_eq!(got, want);
    assert_eq!(
        c.wait_output("notified"),
        "notified /run/notify/notify.sock\n"
    );
    // The socket's directory is in the container read-only.
    let ro = c.exec(&[
        "--",
        "sh",
        "-c",
        "touch /run/notify/x 2>&1; grep ' /run/notify ' /proc/self/mountinfo",
    ]);
    assert!(ro.stdout.contains("Read-only file system"), "{ro:?}");
    assert!(ro.stdout.contains(" ro,"), "{ro:?}");
    c.kill(Some("KILL")).ok();
    c.wait_status("stopped");
    c.delete(false).ok();
    assert!(!c.state_dir_exists());
}
