//! rt's entry point: parse argv (runc's shapes), set up logging, run the verb, and turn errors
//! into runc's exit code and log line.

use clap::Parser;

use rt::cli::{self, Cli, LogFormat};
use rt::logging::{self, Format, Level};

fn main() {
    // Rust ignores SIGPIPE; an ignored signal stays ignored across execve, so the container's
    // processes would inherit that. Restore the default (which also ends `rt list | head` quietly,
    // as runc does).
    // SAFETY: setting a signal disposition to SIG_DFL before any other code runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let args = cli::normalize(std::env::args().collect());
    let parsed = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            // --help and usage errors: clap prints; usage errors exit non-zero.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if parsed.version {
        print!("{}", cli::version_text());
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
