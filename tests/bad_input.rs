//! Every broken config.json in tests/corpus/bad-config and every bad argument vector in
//! tests/corpus/bad-argv.txt: rt exits 1, names the field or argument on stderr, never panics,
//! and leaves nothing behind (state dir, cgroup, mount, process).

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut v = vec![];
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) && pid_alive(pid) {
            v.push(pid);
        }
    }
    v
}

fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let mut v = vec![];
    for e in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path().join(name);
        if !name.is_empty() && p.exists() {
            v.push(p);
        }
    }
    v
}

/// One corpus line: `case<TAB>expect[<TAB>difference]`. The optional third column says where
/// runc 1.1.5 does not refuse the case as rt does: `runc: why` (a known difference: recorded,
/// not run on runc) or `rt-bug: why` (rt is to change: recorded on rt, run on neither). Returns
/// the first two columns when the case is to run on this runtime; `name` names the case in
/// the record.
fn corpus_line(line: &str, name: fn(&str, &str) -> String) -> Option<(&str, &str)> {
    let mut cols = line.split('\t');
    let (Some(case), Some(expect)) = (cols.next(), cols.next()) else {
        panic!("want two columns: {line:?}");
    };
    let what = |why: &str| format!("{}: {why}", name(case, expect));
    let skip = match cols.next().map(|d| d.split_once(": ")) {
        None => false,
        Some(Some(("runc", why))) => runc_differs(&what(why)),
        Some(Some(("rt-bug", why))) => rt_bug_open(&what(why)) || is_runc(),
        Some(_) => panic!("third column is `runc: why` or `rt-bug: why`: {line:?}"),
    };
    (!skip).then_some((case, expect))
}

/// The common assertions: exit 1, no panic, nothing left behind, and on rt stderr names
/// `expect` (runc words its errors its own way: there, a non-empty stderr).
fn assert_refused(o: &Output, expect: &str, case: &str, root: &Path, id: &str, cg: &str) {
    assert_eq!(o.code, Some(1), "{case}: want exit 1: {o}");
    assert!(!o.stderr.trim().is_empty(), "{case}: empty stderr: {o}");
    assert!(!o.stderr.contains("panicked"), "{case}: panic: {o}");
    assert!(
        is_runc() || o.stderr.to_lowercase().contains(&expect.to_lowercase()),
        "{case}: stderr does not name {expect:?}: {o}"
    );
    let left: Vec<_> = fs::read_dir(root)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{case}: left in --root: {left:?}");
    assert!(
        cgroup_dirs_named(cg).is_empty(),
        "{case}: cgroup left: {:?}",
        cgroup_dirs_named(cg)
    );
    assert!(
        processes_mentioning(id).is_empty(),
        "{case}: processes left: {:?}",
        processes_mentioning(id)
    );
}

#[test]
fn bad_configs_are_refused_by_field_and_leave_nothing() {
    let bundle = Bundle::new();
    let expect = fs::read_to_string(corpus().join("bad-config/expect.tsv")).unwrap();
    let mountinfo_before = mountinfo(std::process::id() as i32).lines().count();
    let mut n = 0;
    for line in expect
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        n += 1;
        let Some((case, want)) = corpus_line(line, |case, _| format!("bad-config/{case}")) else {
            continue;
        };
        let raw = fs::read(corpus().join(format!("bad-config/{case}.json"))).unwrap();
        let cg = unique_name("bad-cg");
        // Well-formed configs get a cgroup path of their own so leftovers can be checked.
        let mut cg_name = cg.clone();
        let text = match serde_json::from_slice::<Value>(&raw) {
            Ok(mut v) if v.get("linux").is_some_and(Value::is_object) => {
                if let Some(p) = v["linux"].get("cgroupsPath").and_then(Value::as_str) {
                    cg_name = p.rsplit('/').next().unwrap_or_default().to_string();
                } else {
                    v["linux"]["cgroupsPath"] = Value::String(format!("/{cg}"));
                }
                serde_json::to_vec(&v).unwrap()
            }
            _ => raw,
        };
        fs::write(bundle.path().join("config.json"), text).unwrap();
        let root = TempDir::new("bad-root");
        let scratch = TempDir::new("bad-scratch");
        let id = unique_name("bad");
        let r = root.path().to_string_lossy().into_owned();
        let b = bundle.path_str();
        let o = rt_raw(
            &["--root", &r, "create", "--bundle", &b, &id],
            None,
            scratch.path(),
        );
        if o.success() {
            // Accepted after all: take the container away before the assertion fails.
            rt_raw(&["--root", &r, "delete", "-f", &id], None, scratch.path());
        }
        assert_refused(&o, want, case, root.path(), &id, &cg_name);
    }
    assert!(n >= 60, "corpus too small: {n}");
    // Nothing mounted on the host by any of them.
    let after = mountinfo(std::process::id() as i32);
    assert!(
        !after.contains(&bundle.path_str()),
        "a mount of the bundle leaked to the host"
    );
    assert_eq!(
        after.lines().count(),
        mountinfo_before,
        "host mount table changed"
    );
}

#[test]
fn bad_argv_is_refused_by_name_and_leaves_nothing() {
    let text = fs::read_to_string(corpus().join("bad-argv.txt")).unwrap();
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        n += 1;
        let Some((want, argv)) = corpus_line(line, |_, argv| format!("argv[{argv}]")) else {
            continue;
        };
        let root = TempDir::new("argv-root");
        let scratch = TempDir::new("argv-scratch");
        let r = root.path().to_string_lossy().into_owned();
        let mut args = vec!["--root", r.as_str()];
        args.extend(argv.split(' '));
        let o = rt_raw(&args, None, scratch.path());
        assert_refused(&o, want, argv, root.path(), "rt-test-argv-", "rt-test-argv");
    }
    assert!(n >= 20, "argv corpus too small: {n}");
}

#[test]
fn duplicate_id_is_refused_and_the_first_container_is_unharmed() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();
    let o = c.create();
    o.failed().stderr_has("already exists");
    assert!(!o.stderr.contains("panicked"));
    assert_eq!(c.status(), "created");
    assert_eq!(c.pid(), pid);
    assert!(pid_alive(pid));
    c.start().ok();
    assert_eq!(c.status(), "running");
}
