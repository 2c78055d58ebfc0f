//! rt's entry point: parse argv (runc's shapes), set up logging, run the verb, and turn errors
//! into runc's exit code and log line.

// No std runtime start-up: it reads /proc/self/maps through pthread_getattr_np (~100k
// instructions, a sscanf and its libc pages) to place a stack guard for a "stack overflow"
// message, and maps a signal stack. `main` below does the two parts rt relies on.
// (The unit-test build keeps the test harness's main.)
#![cfg_attr(not(test), no_main)]

use clap::Parser;

use rt::cli::{self, Cli, LogFormat};
use rt::logging::{self, Format, Level};

/// The C entry point. std's args still work: on glibc std reads argv from `.init_array`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    sanitize_std_fds();
    // Like std's runtime: a closed pipe is an EPIPE error, not a kill. (init restores the
    // default before its execve.)
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler of ours.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    rt_main();
    // process::exit runs std's cleanup, which flushes stdout.
    std::process::exit(0)
}

/// Like std's runtime: a closed fd 0, 1 or 2 is reopened on /dev/null, so a file rt opens
/// never becomes the container's stdio or receives rt's output.
#[cfg(not(test))]
fn sanitize_std_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: fds is a valid array of 3 pollfd for the duration of the call.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds {
        if p.revents & libc::POLLNVAL != 0 {
            // SAFETY: a NUL-terminated path literal; the fd, the lowest free one (this one),
            // is deliberately kept open for the life of the process.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

#[cfg_attr(test, allow(dead_code))]
fn rt_main() {
    logging::start_clock();
    // CVE-2019-5736: before anything else, make rt's /proc/<pid>/exe unreachable to containers.
    let _ = rt::security::exe::set_non_dumpable();
    let args = cli::normalize(std::env::args().collect());
    // CVE-2019-5736, second layer: the verbs whose processes a container can see (init, the
    // exec'd child, a `#!/proc/self/exe` entry point) run from a read-only view of the binary.
    // On success this does not return: the same pid starts over from the sealed image. Decided
    // before clap so the unsealed first start does not parse the command line for nothing.
    let seal_error = if cli::may_start_processes(&args) {
        rt::security::exe::reexec_sealed().err()
    } else {
        None
    };
    let parsed = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            // --help and usage errors: clap prints; usage errors exit non-zero, an unknown
            // command with 3 as runc's CLI library does.
            let _ = e.print();
            let code = match e.kind() {
                clap::error::ErrorKind::InvalidSubcommand => 3,
                _ if e.use_stderr() => 1,
                _ => 0,
            };
            std::process::exit(code);
        }
    };
    if parsed.version {
        cli::emit(&cli::version_text());
        return;
    }
    let format = match parsed.log_format {
        LogFormat::Json => Format::Json,
        LogFormat::Text => Format::Text,
    };
    if let Err(e) = logging::init(parsed.log.as_deref(), format, parsed.debug) {
        eprintln!("open log file: {e}");
        std::process::exit(1);
    }
    if let Some(e) = seal_error {
        let msg = format!("rt's executable is not sealed against CVE-2019-5736: {e}");
        // Root should have overlayfs; a rootless rt cannot mount it and is told only in debug.
        if nix::unistd::geteuid().is_root() {
            logging::warn(&msg);
        } else {
            logging::debug(&msg);
        }
    }
    logging::timeline("parse");
    let code = match cli::dispatch(&parsed) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("{e:#}");
            logging::log(Level::Error, &msg);
            // CRI-O and admins read stderr; containerd reads the log file.
            eprintln!("{msg}");
            e.downcast_ref::<cli::ExitWith>().map_or(1, |x| x.code)
        }
    };
    std::process::exit(code);
}
