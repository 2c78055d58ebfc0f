//! rt's entry point: parse argv (runc's shapes), set up logging, run the verb, and turn errors
//! into runc's exit code and log line.

use clap::Parser;

use rt::cli::{self, Cli, LogFormat};
use rt::logging::{self, Format, Level};

fn main() {
    logging::start_clock();
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
    logging::timeline("parse");
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
