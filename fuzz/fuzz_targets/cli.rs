//! argv bytes -> `cli::normalize` + `Cli::try_parse_from`, exactly as `main` does. Arguments
//! are separated by NUL or newline (spaces stay inside an argument, as a shell would allow).
//! Errors are fine; a panic (including clap's debug_assert on the command definition) is a bug.
#![no_main]

use clap::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut args = vec!["rt".to_string()];
    args.extend(s.split(['\0', '\n']).map(String::from));
    let args = rt::cli::normalize(args);
    let _ = rt::cli::Cli::try_parse_from(&args);
});
