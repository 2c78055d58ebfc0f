//! The container process as configured: pid 1, hostname, uid/gid and
//! additional groups, umask, cwd, environment, the nofile rlimit, the exact
//! five capability sets and no_new_privs — checked from inside (the process's
//! own output) and, where it makes sense, from the host (/proc/<pid>/...).

mod common;

use common::*;
use std::fs;

/// `run` a `sh -c script` container with the bundle tweaked by `f`; returns
/// stdout, requiring exit 0.
fn run_sh(script: &str, f: impl FnOnce(&mut Bundle)) -> String {
    let mut b = Bundle::new();
    b.sh(script);
    f(&mut b);
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    o.stdout
}

#[test]
fn process_is_pid_1() {
    let out = run_sh("echo $$; cat /proc/1/comm; exit 0", |_| {});
    assert_eq!(out, "1\nsh\n");
}

#[test]
fn init_is_pid_1_in_its_namespace_seen_from_host() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    let nspid = status_field(&proc_status(pid), "NSpid").unwrap();
    let f: Vec<&str> = nspid.split_whitespace().collect();
    assert_eq!(f, [pid.to_string().as_str(), "1"], "NSpid: {nspid}");
}

#[test]
fn hostname_is_set_and_host_untouched() {
    let host_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = run_sh("hostname; cat /proc/sys/kernel/hostname", |b| {
        b.hostname("rt-test-hostname");
    });
    assert_eq!(out, "rt-test-hostname\nrt-test-hostname\n");
    let host_after = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host_before, host_after, "host hostname changed");
}

#[test]
fn user_group_and_additional_groups() {
    let out = run_sh(
        "id -u; id -g; grep -E '^(Uid|Gid|Groups):' /proc/self/status",
        |b| {
            b.user(1000, 1001, &[10, 20]);
        },
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1001", "{out}");
    let uid: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(uid, ["Uid:", "1000", "1000", "1000", "1000"], "{out}");
    let gid: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(gid, ["Gid:", "1001", "1001", "1001", "1001"], "{out}");
    let groups: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(groups, ["Groups:", "10", "20"], "{out}");
}

#[test]
fn user_seen_from_host() {
    let mut b = Bundle::new();
    b.user(1234, 4321, &[7]).args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    let st = proc_status(pid);
    assert_eq!(
        status_field(&st, "Uid").unwrap().split_whitespace().next(),
        Some("1234")
    );
    assert_eq!(
        status_field(&st, "Gid").unwrap().split_whitespace().next(),
        Some("4321")
    );
    assert_eq!(status_field(&st, "Groups").unwrap(), "7");
}

#[test]
fn umask_is_applied() {
    let out = run_sh("umask; touch /tmp/f; stat -c %a /tmp/f", |b| {
        b.umask(0o027);
    });
    assert_eq!(out, "0027\n640\n");
}

#[test]
fn default_umask_is_0022() {
    let out = run_sh("umask", |_| {});
    assert_eq!(out, "0022\n");
}

#[test]
fn cwd_is_applied() {
    let out = run_sh("pwd; ls", |b| {
        fs::create_dir_all(b.rootfs().join("work/dir")).unwrap();
        fs::write(b.rootfs().join("work/dir/marker"), "").unwrap();
        b.cwd("/work/dir");
    });
    assert_eq!(out, "/work/dir\nmarker\n");
}

#[test]
fn env_is_exactly_as_configured() {
    let out = run_sh("env", |b| {
        b.env("FOO=bar").env("WITH_SPACE=a b  c").env("EMPTY=");
    });
    let mut vars: Vec<&str> = out.lines().collect();
    vars.sort();
    // runc adds HOME when it is not configured; PWD/SHLVL come from sh.
    let mut expected = vec![
        "EMPTY=",
        "FOO=bar",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
        "WITH_SPACE=a b  c",
        "HOME=/root",
    ];
    expected.sort();
    let filtered: Vec<&str> = vars
        .into_iter()
        .filter(|v| !v.starts_with("PWD=") && !v.starts_with("SHLVL="))
        .collect();
    assert_eq!(filtered, expected, "{out}");
}

#[test]
fn nofile_rlimit_inside_and_outside() {
    // Stay below the host hard limit: raising it needs CAP_SYS_RESOURCE.
    let out = run_sh("ulimit -n; ulimit -Hn", |b| {
        b.rlimit("RLIMIT_NOFILE", 512, 768);
    });
    assert_eq!(out, "512\n768\n");

    let mut b = Bundle::new();
    b.rlimit("RLIMIT_NOFILE", 333, 444)
        .args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&f[3..5], ["333", "444"], "{line}");
}

fn caps_of(status: &str) -> Vec<(String, String)> {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
        .iter()
        .map(|k| (k.to_string(), status_field(status, k).unwrap_or_default()))
        .collect()
}

fn expect_caps(inh: &str, prm: &str, eff: &str, bnd: &str, amb: &str) -> Vec<(String, String)> {
    vec![
        ("CapInh".into(), inh.into()),
        ("CapPrm".into(), prm.into()),
        ("CapEff".into(), eff.into()),
        ("CapBnd".into(), bnd.into()),
        ("CapAmb".into(), amb.into()),
    ]
}

#[test]
fn capabilities_exact_sets_root() {
    // CHOWN=0 KILL=5 NET_BIND_SERVICE=10 AUDIT_WRITE=29 -> 0x20000421
    let caps = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_AUDIT_WRITE",
    ];
    let out = run_sh("cat /proc/self/status", |b| {
        b.capabilities(&caps);
    });
    let m = "0000000020000421";
    assert_eq!(caps_of(&out), expect_caps(m, m, m, m, m), "{out}");
}

#[test]
fn capabilities_default_spec_has_no_ambient_without_inheritable() {
    // runc spec's default: ambient listed but no inheritable set, so the
    // kernel cannot raise them: CapAmb stays 0.
    let out = run_sh("cat /proc/self/status", |_| {});
    let m = "0000000020000420";
    assert_eq!(
        caps_of(&out),
        expect_caps("0000000000000000", m, m, m, "0000000000000000"),
        "{out}"
    );
}

#[test]
fn capabilities_non_root_with_ambient_inside_and_outside() {
    // bounding CHOWN,KILL,SETUID,NET_BIND_SERVICE = 0x4a1; the rest KILL +
    // NET_BIND_SERVICE = 0x420. As non-root without file caps the process
    // keeps exactly its ambient set.
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_SETUID",
        "CAP_NET_BIND_SERVICE",
    ];
    let rest = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let setup = |b: &mut Bundle| {
        b.user(1000, 1000, &[])
            .capability_sets(&bnd, &rest, &rest, &rest, &rest);
    };
    let out = run_sh("cat /proc/self/status", setup);
    let r = "0000000000000420";
    let expected = expect_caps(r, r, r, "00000000000004a1", r);
    assert_eq!(caps_of(&out), expected, "{out}");

    let mut b = Bundle::new();
    setup(&mut b);
    b.args(&["sleep", "100000"]);
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    assert_eq!(caps_of(&proc_status(pid)), expected);
}

#[test]
fn capabilities_empty() {
    let out = run_sh("cat /proc/self/status", |b| {
        b.capabilities(&[]);
    });
    let z = "0000000000000000";
    assert_eq!(caps_of(&out), expect_caps(z, z, z, z, z), "{out}");
}

/// No `process.capabilities` at all: runc gives the process five empty sets, so root in the
/// container holds no capability (rt once left it every capability the runtime had: full
/// root). Seen inside as /proc/self/status and as a chown that root without CAP_CHOWN cannot do.
#[test]
fn capabilities_omitted_are_none() {
    let out = run_sh(
        "cat /proc/self/status; chown 1 /tmp 2>/dev/null && echo chowned; true",
        |b| {
            let p = b.config["process"].as_object_mut().unwrap();
            p.remove("capabilities");
        },
    );
    let z = "0000000000000000";
    assert_eq!(caps_of(&out), expect_caps(z, z, z, z, z), "{out}");
    assert!(!out.contains("chowned"), "{out}");
}

/// One set omitted is that set empty, the others as given (runc's reading). For root the
/// kernel refills effective and permitted at execve from bounding | inheritable | ambient. An
/// empty bounding or permitted set under a non-empty inheritable or effective one is refused
/// by capset (EPERM), in runc as in rt: create fails.
#[test]
fn capabilities_one_set_omitted_is_that_set_empty() {
    let caps = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_AUDIT_WRITE",
    ];
    let (m, z) = ("0000000020000421", "0000000000000000");
    for (omitted, want) in [
        ("effective", Some(expect_caps(m, m, m, m, m))),
        ("inheritable", Some(expect_caps(z, m, m, m, z))),
        ("ambient", Some(expect_caps(m, m, m, m, z))),
        ("bounding", None),
        ("permitted", None),
    ] {
        let mut b = Bundle::new();
        b.sh("cat /proc/self/status").capabilities(&caps);
        let sets = b.config["process"]["capabilities"].as_object_mut().unwrap();
        sets.remove(omitted);
        let o = Container::new(b).run();
        match want {
            Some(want) => assert_eq!(caps_of(&o.ok().stdout), want, "{omitted} omitted: {o}"),
            None => {
                o.failed();
                let err = o.stderr.to_lowercase();
                assert!(err.contains("operation not permitted"), "{omitted}: {o}");
            }
        }
    }
}

#[test]
fn no_new_privileges_on() {
    let out = run_sh("grep NoNewPrivs /proc/self/status", |b| {
        b.no_new_privileges(true);
    });
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );
}

#[test]
fn no_new_privileges_off() {
    let out = run_sh("grep NoNewPrivs /proc/self/status", |b| {
        b.no_new_privileges(false);
    });
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "0"]
    );
}

/// No signal is ignored in the container's process: rt's own dispositions (Rust ignores SIGPIPE)
/// must not leak through execve.
#[test]
fn no_signal_is_ignored_inside() {
    // grep runs as the container's process itself: a shell would ignore SIGQUIT on its own.
    let out = run_sh("", |b| {
        b.args(&["grep", "SigIgn", "/proc/self/status"]);
    });
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.first(), Some(&"SigIgn:"), "{out}");
    let ignored = u64::from_str_radix(f.get(1).unwrap_or(&""), 16).expect("SigIgn mask");
    // Bit 31 is signal 32, a realtime signal libc keeps for itself.
    assert_eq!(ignored & !(1 << 31), 0, "{out}");
    if runc_differs(
        "runc 1.1.5 (Go) leaves signal 32 ignored across execve into the container's process \
         (SigIgn 0x80000000); nothing in the config asks for it",
    ) {
        return;
    }
    assert_eq!(ignored, 0, "{out}");
}
