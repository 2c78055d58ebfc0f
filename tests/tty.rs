//! Terminals: the console-socket hand-off (create, exec -d) received here with SCM_RIGHTS and
//! driven by writing to the pty master, and rt's own pty proxy (run and exec -t in the
//! foreground, with rt's stdio on a pty this test allocates). Each checks `tty` and `stty size`.

mod common;

use common::*;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::pty::Winsize;

const MARK: &str = "MARK-42";
/// Printed by `echo MARK-$((6*7))`, so the echoed command line never matches.
const MARK_CMD: &str = "echo MARK-$((6*7))";

fn cloexec(fd: RawFd) {
    // SAFETY: fcntl F_SETFD on an fd this test owns.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// Accept rt's connection on the console socket and take the fd it sent.
fn recv_master(listener: &UnixListener) -> (String, OwnedFd) {
    let (_, name, master) = accept_with_fd(listener);
    (String::from_utf8_lossy(&name).into_owned(), master)
}

/// Read from the master until `needle` shows up (or `done()` and nothing more comes).
fn read_until(master: &OwnedFd, needle: &str, mut done: impl FnMut() -> bool) -> String {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut out = Vec::new();
    let start = Instant::now();
    let mut idle_after_done = 0;
    loop {
        if String::from_utf8_lossy(&out).contains(needle) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never saw {needle:?}; got {:?}",
            String::from_utf8_lossy(&out)
        );
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0);
        if ready > 0 {
            let mut buf = [0u8; 4096];
            match nix::unistd::read(master, &mut buf) {
                Ok(n) if n > 0 => out.extend_from_slice(&buf[..n]),
                _ => {
                    if done() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        } else if done() {
            idle_after_done += 1;
            if idle_after_done > 20 {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_master(master: &OwnedFd, s: &str) {
    let mut data = s.as_bytes();
    while !data.is_empty() {
        let n = nix::unistd::write(master, data).expect("write to pty master");
        data = &data[n..];
    }
}

fn pts_line(out: &str) -> Option<String> {
    out.lines()
        .map(|l| l.trim())
        .find(|l| l.starts_with("/dev/pts/") && l[9..].chars().all(|c| c.is_ascii_digit()))
        .map(String::from)
}

fn terminal_bundle(rows: u64, cols: u64) -> Bundle {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = serde_json::json!(true);
    b.config["process"]["consoleSize"] = serde_json::json!({"height": rows, "width": cols});
    b.args(&["sh"]);
    b
}

#[test]
fn create_sends_the_master_to_the_console_socket() {
    let mut c = Container::new(terminal_bundle(30, 100));
    let sock = c.scratch.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let s = sock.to_string_lossy().into_owned();
    c.create_with(&["--console-socket", &s]).ok();
    let (name, master) = recv_master(&listener);
    assert!(!name.is_empty());
    c.start().ok();
    write_master(&master, &format!("tty; stty size; {MARK_CMD}\n"));
    let out = read_until(&master, MARK, || false);
    assert!(pts_line(&out).is_some(), "no /dev/pts/N line: {out:?}");
    assert!(out.contains("30 100"), "console size not applied: {out:?}");
    // The slave is the container's console and init's stdio, seen from the host.
    let fd0 = std::fs::read_link(format!("/proc/{}/fd/0", c.pid())).unwrap();
    assert!(fd0.to_string_lossy().starts_with("/dev/pts/"), "{fd0:?}");
    write_master(&master, "exit\n");
}

#[test]
fn detached_exec_tty_sends_the_master_to_the_console_socket() {
    let mut b = Bundle::new();
    b.long_running();
    b.config["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 77});
    let mut c = Container::new(b);
    c.create_and_start();
    let sock = c.scratch.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let s = sock.to_string_lossy().into_owned();
    let pid_file = c.scratch.path().join("exec.pid");
    let pf = pid_file.to_string_lossy().into_owned();
    c.exec(&[
        "-d",
        "-t",
        "--console-socket",
        &s,
        "--pid-file",
        &pf,
        "--",
        "sh",
    ])
    .ok();
    let (_, master) = recv_master(&listener);
    write_master(&master, &format!("tty; stty size; {MARK_CMD}\n"));
    let out = read_until(&master, MARK, || false);
    assert!(pts_line(&out).is_some(), "no /dev/pts/N line: {out:?}");
    assert!(out.contains("33 77"), "console size not applied: {out:?}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let fd0 = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert!(fd0.to_string_lossy().starts_with("/dev/pts/"), "{fd0:?}");
    write_master(&master, "exit\n");
}

fn winsize(rows: u16, cols: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// rt running with its stdin and stdout on a fresh pty, its stderr in a file; killed on drop if
/// a check failed before it exited.
struct RtOnPty {
    child: std::process::Child,
    master: OwnedFd,
    /// Our end of the slave, until [`RtOnPty::finish`] closes it.
    slave: Option<OwnedFd>,
    err: std::path::PathBuf,
}

impl Drop for RtOnPty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RtOnPty {
    fn spawn(args: &[&str], size: Winsize, scratch: &Path) -> RtOnPty {
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        cloexec(pty.master.as_raw_fd());
        cloexec(pty.slave.as_raw_fd());
        let err = scratch.join("pty-rt.err");
        let child = Command::new(rt_bin())
            .args(args)
            .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .spawn()
            .expect("spawn rt");
        RtOnPty {
            child,
            master: pty.master,
            slave: Some(pty.slave),
            err,
        }
    }

    /// Everything the pty shows until rt exits (followed by rt's stderr), and rt's exit code.
    fn finish(mut self) -> (String, Option<i32>) {
        // Our end of the slave closed: the master sees EOF once rt and the container are gone.
        self.slave = None;
        let mut status = None;
        let out = read_until(&self.master, "\u{0}never\u{0}", || {
            if status.is_none() {
                status = self.child.try_wait().ok().flatten();
            }
            status.is_some()
        });
        let status = status.or_else(|| self.child.wait().ok());
        let err = std::fs::read_to_string(&self.err).unwrap_or_default();
        // rt's own errors go to the file; show them with what the pty printed.
        (
            format!("{out}\n[rt stderr: {err}]"),
            status.and_then(|s| s.code()),
        )
    }
}

/// Run rt with its stdio on a fresh pty of `rows`x`cols`; returns what the pty showed (followed
/// by rt's stderr) and rt's exit code.
fn rt_on_pty(args: &[&str], rows: u16, cols: u16, scratch: &Path) -> (String, Option<i32>) {
    RtOnPty::spawn(args, winsize(rows, cols), scratch).finish()
}

#[test]
fn foreground_exec_tty_is_proxied_with_the_window_size() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create_and_start();
    let root = c.root_str();
    let (out, code) = rt_on_pty(
        &[
            "--root",
            &root,
            "exec",
            "-t",
            &c.id,
            "sh",
            "-c",
            &format!("{}; exit 3", tty_and_size(40, 120)),
        ],
        40,
        120,
        c.scratch.path(),
    );
    assert!(pts_line(&out).is_some(), "no /dev/pts/N line: {out:?}");
    assert_eq!(code, Some(3), "{out:?}");
    assert!(
        out.contains("size 40 120"),
        "window size not passed on: {out:?}"
    );
}

/// `tty`, then the window size once it is `rows cols`: rt, like runc, copies its terminal's size
/// to the container's pty just after the process started (a first `stty size` may still show
/// consoleSize), so poll for up to 5 s.
fn tty_and_size(rows: u16, cols: u16) -> String {
    format!(
        "tty; i=0; while [ \"$(stty size 2>/dev/null)\" != '{rows} {cols}' ] && [ $i -lt 100 ]; \
         do sleep 0.05; i=$((i+1)); done; echo size $(stty size)"
    )
}

#[test]
fn foreground_run_tty_is_proxied_with_the_window_size() {
    let mut b = terminal_bundle(10, 10);
    b.sh(&format!("{}; {MARK_CMD}", tty_and_size(25, 90)));
    let c = Container::new(b);
    c.bundle.write();
    let root = c.root_str();
    let bundle = c.bundle.path_str();
    let (out, code) = rt_on_pty(
        &["--root", &root, "run", "--bundle", &bundle, &c.id],
        25,
        90,
        c.scratch.path(),
    );
    assert!(pts_line(&out).is_some(), "no /dev/pts/N line: {out:?}");
    assert!(out.contains(MARK), "{out:?}");
    assert_eq!(code, Some(0));
    // rt copies its own terminal's size over process.consoleSize, as runc does.
    assert!(
        out.contains("size 25 90"),
        "window size not passed on: {out:?}"
    );
}

#[test]
fn tty_flag_errors() {
    let mut b = terminal_bundle(24, 80);
    b.args(&["sh"]);
    let mut c = Container::new(b);
    c.create()
        .failed()
        .stderr_has("cannot allocate tty if")
        .stderr_has("will detach without setting console socket");
    assert!(!c.state_dir_exists(), "a failed create left state behind");
}

#[test]
fn foreground_run_forwards_a_window_resize() {
    let mut b = terminal_bundle(10, 10);
    // The container's shell reports its size when its terminal says it changed.
    b.sh(&format!(
        "trap 'stty size; exit 5' WINCH; {MARK_CMD}; while :; do sleep 0.1; done"
    ));
    let c = Container::new(b);
    c.bundle.write();
    let root = c.root_str();
    let bundle = c.bundle.path_str();
    let rt = RtOnPty::spawn(
        &["--root", &root, "run", "--bundle", &bundle, &c.id],
        winsize(25, 90),
        c.scratch.path(),
    );
    let first = read_until(&rt.master, MARK, || false);
    assert!(first.contains(MARK), "{first:?}");
    // What a terminal emulator does on a resize: new size on the pty, SIGWINCH to its
    // foreground process (rt here; it is not a session leader, so we send it ourselves).
    // SAFETY: TIOCSWINSZ reads one Winsize that lives for the call.
    let rc = unsafe {
        libc::ioctl(
            rt.slave.as_ref().expect("slave").as_raw_fd(),
            libc::TIOCSWINSZ,
            &winsize(33, 77),
        )
    };
    assert_eq!(rc, 0, "TIOCSWINSZ");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(rt.child.id() as i32),
        nix::sys::signal::Signal::SIGWINCH,
    )
    .unwrap();
    let (out, code) = rt.finish();
    assert!(out.contains("33 77"), "new size not passed on: {out:?}");
    assert_eq!(code, Some(5), "{out:?}");
}
