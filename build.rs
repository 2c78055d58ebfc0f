// Records the git commit for `rt --version` (its second line, "commit: ...").
fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");

    // Part of the seccomp cache key (src/security/seccomp/cache.rs): the commit alone misses
    // uncommitted edits to the compiler, after which a cached filter would be stale.
    println!(
        "cargo:rustc-env=RT_SECCOMP_SOURCE={:016x}",
        seccomp_source_digest()
    );
    println!("cargo:rerun-if-changed=src/security/seccomp.rs");
    println!("cargo:rerun-if-changed=src/security/seccomp");

    // Pack the ~8k relative relocations of the PIE into DT_RELR (rt binary only, so no
    // dependency is rebuilt): the dynamic loader applies them in a fraction of the time at
    // every start of rt and the file is ~200 KB smaller. Needs glibc >= 2.36 at run time and
    // binutils >= 2.38 at link time (Debian 12 has both).
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// FNV-1a over the names and contents of the seccomp compiler's sources, in a fixed order. An
/// unreadable file still changes the digest (its name is hashed without contents), and the
/// build itself would fail on it anyway.
fn seccomp_source_digest() -> u64 {
    let mut files = vec![std::path::PathBuf::from("src/security/seccomp.rs")];
    if let Ok(dir) = std::fs::read_dir("src/security/seccomp") {
        files.extend(dir.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for file in &files {
        let name = file.to_string_lossy();
        let data = std::fs::read(file).unwrap_or_default();
        for &b in name
            .as_bytes()
            .iter()
            .chain([0u8].iter())
            .chain(data.iter())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
