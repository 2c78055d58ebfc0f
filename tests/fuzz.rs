//! Fuzzing without libFuzzer (cargo-fuzz needs a nightly toolchain and its crate, neither used
//! here): a deterministic, seeded mutation loop over the corpus for two targets, run in-process
//! (pure parsing, no clone/unshare):
//!
//! - config: `spec::parse` + `spec::problems` (what `validate` and `rt check` use)
//! - argv:   `cli::normalize` + `Cli::try_parse_from`
//!
//! `replay_*` runs every corpus entry plus a short mutation run in every `cargo test`.
//! A long run: `RT_FUZZ_ITERS=1000000 RT_FUZZ_SEED=N cargo test --test fuzz -- --ignored`.
//!
//! The real, coverage-guided fuzzers live in `fuzz/` (cargo-fuzz, nightly; see fuzz/README.md).
//! Their minimized corpora `fuzz/corpus/{config,cli}` and any crash reproducers under
//! `fuzz/regressions/{config,cli}` are replayed here through the same target functions, so CI
//! keeps every input libFuzzer found interesting without nightly.

use clap::Parser;
use std::fs;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"18446744073709551616",
    b"\"\\u0000\"",
    b"\"..\"",
    b"\"/\"",
    b"\"CAP_SYS_ADMIN\"",
    b"\"process\"",
    b"\"linux\"",
    b"\"mounts\"",
    b"\"namespaces\"",
    b"\"type\"",
    b"\"path\"",
    b"\"rlimits\"",
    b"\"hard\"",
    b"\"uidMappings\"",
    b"\"size\"",
    b"\"-\"",
    b"--root",
    b"-",
    b"--",
    b"=",
    b"create",
    b"run",
    b"kill",
    b"--bundle",
    b"-b",
    b"-d",
    b"--preserve-fds",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pos = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let end = (pos + 1 + rng.below(16)).min(v.len());
                v.drain(pos.min(v.len())..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(pos..pos, t.iter().copied());
            }
            2 if !v.is_empty() => {
                let i = pos.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            3 if !v.is_empty() => {
                let i = pos.min(v.len() - 1);
                v[i] = rng.next() as u8;
            }
            4 if v.len() > 2 => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let chunk = v[a..b].to_vec();
                v.splice(pos..pos, chunk);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn config_target(data: &[u8], bundle: &Path) {
    if let Ok(spec) = rt::spec::parse(data) {
        let _ = rt::spec::problems(&spec, bundle);
        let _ = rt::spec::validate(&spec, bundle);
    }
}

fn argv_target(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let mut args = vec!["rt".to_string()];
    args.extend(s.split([' ', '\t', '\n']).map(String::from));
    let args = rt::cli::normalize(args);
    let _ = rt::cli::Cli::try_parse_from(&args);
}

/// The libFuzzer `cli` target's input shape: arguments separated by NUL or newline.
fn cli_target(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let mut args = vec!["rt".to_string()];
    args.extend(s.split(['\0', '\n']).map(String::from));
    let args = rt::cli::normalize(args);
    let _ = rt::cli::Cli::try_parse_from(&args);
}

/// Every file under `fuzz/<kind>/<target>/` for kind in corpus and regressions.
fn libfuzzer_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut v = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for e in dir.flatten() {
            v.push((e.path(), fs::read(e.path()).unwrap()));
        }
    }
    v.sort();
    v
}

#[test]
fn replay_libfuzzer_corpora() {
    let t = std::time::Instant::now();
    let bundle = std::env::temp_dir().join(format!("rt-test-fuzz-lf-{}", std::process::id()));
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let config = libfuzzer_inputs("config");
    let cli = libfuzzer_inputs("cli");
    assert!(
        !config.is_empty() && !cli.is_empty(),
        "fuzz/corpus/config and fuzz/corpus/cli must not be empty"
    );
    for (path, data) in &config {
        eprintln!("{}", path.display());
        config_target(data, &bundle);
    }
    for (path, data) in &cli {
        eprintln!("{}", path.display());
        cli_target(data);
    }
    let _ = fs::remove_dir_all(&bundle);
    eprintln!(
        "replayed {} config and {} cli inputs in {:?}",
        config.len(),
        cli.len(),
        t.elapsed()
    );
}

fn config_corpus() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = fs::read_dir(corpus().join("bad-config"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| fs::read(e.path()).unwrap())
        .collect();
    v.push(serde_json::to_vec(&rt::spec::template(false)).unwrap());
    v.push(serde_json::to_vec(&rt::spec::template(true)).unwrap());
    v
}

fn argv_corpus() -> Vec<Vec<u8>> {
    fs::read_to_string(corpus().join("bad-argv.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once('\t').map(|(_, a)| a.as_bytes().to_vec()))
        .chain([
            b"--root /r create --bundle /b --pid-file /p --preserve-fds 2 id".to_vec(),
            b"-root /r run -bundle /b -d --keep id".to_vec(),
            b"kill --all id SIGKILL".to_vec(),
            b"update --memory 64m --cpu-quota -1 --pids-limit -1 id".to_vec(),
            b"ps -f json id -ef".to_vec(),
            b"check /b".to_vec(),
        ])
        .collect()
}

fn run(iters: u64, seed: u64) -> (u64, std::time::Duration) {
    let t = std::time::Instant::now();
    let bundle = std::env::temp_dir().join(format!("rt-test-fuzz-{}", std::process::id()));
    let cc = config_corpus();
    let ac = argv_corpus();
    for c in &cc {
        config_target(c, &bundle);
    }
    for a in &ac {
        argv_target(a);
    }
    let mut rng = Rng(seed | 1);
    for _ in 0..iters {
        let i = rng.below(cc.len());
        let c = mutate(&mut rng, &cc[i]);
        config_target(&c, &bundle);
        let j = rng.below(ac.len());
        let a = mutate(&mut rng, &ac[j]);
        argv_target(&a);
    }
    (iters * 2 + (cc.len() + ac.len()) as u64, t.elapsed())
}

#[test]
fn replay_corpus_and_short_mutation_run() {
    let (n, t) = run(3000, 0x5eed);
    eprintln!("fuzz: {n} executions in {t:?}");
}

#[test]
#[ignore]
fn long_mutation_run() {
    let iters = std::env::var("RT_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seed = std::env::var("RT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let (n, t) = run(iters, seed);
    eprintln!("fuzz: {n} executions in {t:?} (seed {seed})");
}
