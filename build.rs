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
