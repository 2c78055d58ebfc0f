//! rt's entry point: parse argv (runc's shapes), set up logging, run the verb, and turn errors
//! into runc's exit code and log line.

use clap::Parser;

use rt::cli::{self, Cli, Command, LogFormat};
use rt::logging::{self, Format, Level};

fn main() {
    // CVE-2019-5736: before anything else, make rt's /proc/<pid>/exe unreachable to containers.
    let _ = rt::security::exe::set_non_dumpable();
    let args = cli::normalize(std::env::args().collect());
    let parsed = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            // --help and usage errors: clap prints; usage errors exit non-zero.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    // CVE-2019-5736, second layer: the verbs whose processes a container can see (init, the
    // exec'd child, a `#!/proc/self/exe` entry point) run from a read-only view of the binary.
    // On success this does not return: the same pid starts over from the sealed image.
    let seal_error = match parsed.command {
        Some(Command::Create(_) | Command::Run { .. } | Command::Exec(_)) => {
            rt::security::exe::reexec_sealed().err()
        }
        _ => None,
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
    let code = match cli::dispatch(&parsed) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("{e:#}");
            logging::log(Level::Error, &msg);
            // CRI-O and admins read stderr; containerd reads the log file.
            eprintln!("{msg}");
            1
        }
    };
    std::process::exit(code);
}
