//! config.json bytes -> `spec::parse`, then `spec::problems` and `spec::validate` (what
//! create/run and `rt check` do before anything is started). Pure: no namespaces, no mounts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One bundle directory with an empty `rootfs/`, made once per fuzzer process, so relative
/// `root.path` and bind sources resolve against something real.
fn bundle() -> &'static PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let b = std::env::temp_dir().join(format!("rt-fuzz-bundle-{}", std::process::id()));
        let _ = std::fs::create_dir_all(b.join("rootfs"));
        b
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = rt::spec::parse(data) {
        let _ = rt::spec::problems(&spec, bundle());
        let _ = rt::spec::validate(&spec, bundle());
    }
});
