//! Unit tests of the cgroupfs manager, over one fake host cgroup tree ([`Fake`]) in a temp
//! dir; and, ignored unless asked for, checks on the real host.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use super::fs::testutil::{all_writes, writes_to};
use super::fs::write_file;
use super::host::{clean_path, hierarchies_from_mountinfo};
use super::{CgroupFs, CgroupMode, CgroupMount, DEFAULT_ROOT, FsManager, Manager, v2};
use crate::testutil::TempDir;

const UNLIMITED: &str = "9223372036854771712";

/// The fake host's v1 hierarchies (directory `a,b` holds controllers a and b, `systemd` is
/// name=systemd), each with the files the kernel shows in every cgroup of it.
const V1: &[(&str, &[(&str, &str)])] = &[
    (
        "cpu",
        &[
            ("cpu.shares", "1024"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "0"),
            ("cpu.idle", "0"),
            (
                "cpu.stat",
                "nr_periods 7\nnr_throttled 2\nthrottled_time 99\n",
            ),
        ],
    ),
    (
        "cpuacct",
        &[
            ("cpuacct.usage", "5000"),
            ("cpuacct.usage_percpu", "2000 3000 \n"),
            ("cpuacct.stat", "user 3\nsystem 1\n"),
        ],
    ),
    ("cpuset", &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")]),
    (
        "memory",
        &[
            ("memory.limit_in_bytes", UNLIMITED),
            ("memory.memsw.limit_in_bytes", UNLIMITED),
            ("memory.soft_limit_in_bytes", UNLIMITED),
            ("memory.kmem.limit_in_bytes", UNLIMITED),
            ("memory.kmem.tcp.limit_in_bytes", UNLIMITED),
            ("memory.swappiness", "60"),
            ("memory.use_hierarchy", "1"),
            ("memory.usage_in_bytes", "4096"),
            ("memory.max_usage_in_bytes", "8192"),
            ("memory.failcnt", "0"),
            ("memory.stat", "cache 100\nrss 200\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            ),
        ],
    ),
    (
        "devices",
        &[
            ("devices.allow", ""),
            ("devices.deny", ""),
            ("devices.list", ""),
        ],
    ),
    ("freezer", &[("freezer.state", "THAWED\n")]),
    ("pids", &[("pids.max", "max"), ("pids.current", "2")]),
    (
        "blkio",
        &[
            ("blkio.weight", "500"),
            ("blkio.leaf_weight", "500"),
            ("blkio.weight_device", ""),
            ("blkio.leaf_weight_device", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
            ),
        ],
    ),
    ("hugetlb", &[("hugetlb.2MB.limit_in_bytes", UNLIMITED)]),
    (
        "net_cls,net_prio",
        &[("net_cls.classid", "0"), ("net_prio.ifpriomap", "")],
    ),
    ("systemd", &[]),
];

/// The files of the cgroup2 root.
const V2_ROOT: &[(&str, &str)] = &[
    (
        "cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma\n",
    ),
    ("cgroup.subtree_control", "\n"),
    ("cgroup.procs", ""),
];

/// The files of every other cgroup2 cgroup.
const V2_CGROUP: &[(&str, &str)] = &[
    ("cgroup.controllers", ""),
    ("cgroup.subtree_control", ""),
    ("cgroup.procs", "10\n11\n"),
    ("cgroup.freeze", "0"),
    ("cgroup.events", "populated 1\nfrozen 0\n"),
    ("cgroup.kill", ""),
    ("cpu.weight", "100"),
    ("cpu.max", "max 100000"),
    ("cpu.max.burst", "0"),
    ("cpu.idle", "0"),
    ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n"),
    ("cpuset.cpus", ""),
    ("cpuset.mems", ""),
    ("memory.max", "max"),
    ("memory.swap.max", "max"),
    ("memory.low", "0"),
    ("memory.high", "max"),
    ("memory.current", "1000"),
    ("memory.stat", "anon 10\nfile 20\n"),
    ("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n"),
    ("pids.max", "max"),
    ("pids.current", "3"),
    ("io.weight", "default 100"),
    ("io.max", ""),
    (
        "io.stat",
        "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
    ),
    ("hugetlb.2MB.max", "max"),
];

/// A fake host cgroup tree in a temp dir: the hierarchy roots of its mode (the v1 hierarchies;
/// the cgroup2 root; or both, cgroup2 at `unified`), cgroups added with [`Fake::cgroup`], each
/// with the files the kernel would show; [`Fake::fs`] is what rt detects on it.
struct Fake {
    dir: TempDir,
    mode: CgroupMode,
}

impl Fake {
    fn new(mode: CgroupMode) -> Fake {
        let t = Fake {
            dir: TempDir::new("cgroups"),
            mode,
        };
        t.add("");
        if mode != CgroupMode::V2 {
            touch(
                &t.path().join("cpuset"),
                &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")],
            );
        }
        if let Some(u) = t.unified() {
            touch(&u, V2_ROOT);
        }
        t
    }

    /// With the cgroup `path` (e.g. "test", "a/b") in every hierarchy.
    fn cgroup(self, path: &str) -> Fake {
        self.add(path);
        if let Some(u) = self.unified() {
            touch(&u.join(path), V2_CGROUP);
        }
        self
    }

    /// Without the v1 hierarchy `name`.
    fn without(self, name: &str) -> Fake {
        fs::remove_dir_all(self.path().join(name)).unwrap();
        self
    }

    fn add(&self, path: &str) {
        if self.mode == CgroupMode::V2 {
            return;
        }
        for (h, files) in V1 {
            let d = self.path().join(h).join(path);
            touch(&d, files);
            touch(&d, &[("cgroup.procs", "")]);
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn unified(&self) -> Option<PathBuf> {
        match self.mode {
            CgroupMode::V1 => None,
            CgroupMode::Hybrid => Some(self.path().join("unified")),
            CgroupMode::V2 => Some(self.path().to_path_buf()),
        }
    }

    /// The layout rt detects here, from the mountinfo lines the kernel would show for the v1
    /// hierarchies, with `own` as rt's /proc/self/cgroup.
    fn fs(&self, own: &str) -> CgroupFs {
        let mut mountinfo = String::new();
        for (i, (h, _)) in V1.iter().enumerate() {
            let dir = self.path().join(h);
            if dir.is_dir() {
                let ctrls = if *h == "systemd" { "name=systemd" } else { h };
                mountinfo += &format!(
                    "{} 1 0:{i} / {} rw - cgroup cgroup rw,{ctrls}\n",
                    100 + i,
                    dir.display()
                );
            }
        }
        let mut fs = CgroupFs::from_mountinfo(
            self.path().to_path_buf(),
            self.mode,
            &mountinfo,
            own.to_string(),
        );
        // No eBPF device filter can be attached to a directory that is no cgroup.
        fs.device_filter = false;
        fs
    }

    /// A manager for the cgroup `path` (`/test` when None), rt being in the root cgroup.
    fn manager(&self, path: Option<&str>, r: Option<LinuxResources>) -> FsManager {
        FsManager::new(self.fs("0::/\n"), path.map(Path::new), "test", r).unwrap()
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path().join(rel)).unwrap()
    }
}

/// A v1 host with the container's cgroup `/test`, and its manager.
fn v1_host(r: Option<LinuxResources>) -> (Fake, FsManager) {
    let t = Fake::new(CgroupMode::V1).cgroup("test");
    let m = t.manager(Some("/test"), r);
    (t, m)
}

/// A cgroup v2 host with the container's cgroup `/test`, and its manager.
fn v2_host(r: Option<LinuxResources>) -> (Fake, FsManager) {
    let t = Fake::new(CgroupMode::V2).cgroup("test");
    let m = t.manager(None, r);
    (t, m)
}

/// Create `dir/name` for each (name, content).
fn touch(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (n, c) in files {
        fs::write(dir.join(n), c).unwrap();
    }
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

#[test]
fn clean_path_never_escapes() {
    assert_eq!(clean_path(Path::new("/a/../../b")), PathBuf::from("/b"));
    assert_eq!(clean_path(Path::new("../x/./y")), PathBuf::from("x/y"));
    assert_eq!(clean_path(Path::new("/a//b/")), PathBuf::from("/a/b"));
}

#[test]
fn mountinfo_parsing() {
    let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:1 - cgroup cgroup rw,cpu,cpuacct\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
42 31 0:39 / /sys/fs/cgroup/cpu\\040set rw - cgroup cgroup rw,cpuset,cpuset_v2_mode\n\
43 23 0:39 / /dev/cpuset rw - cgroup cgroup rw,cpuset,cpuset_v2_mode\n";
    let h = hierarchies_from_mountinfo(Path::new("/sys/fs/cgroup"), mi);
    assert_eq!(h.len(), 3);
    assert_eq!(h[0].controllers, vec!["cpu", "cpuacct"]);
    assert_eq!(h[0].mountpoint, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
    assert_eq!(h[1].controllers, vec!["name=systemd"]);
    assert_eq!(h[2].controllers, vec!["cpuset"]);
    assert_eq!(h[2].mountpoint, PathBuf::from("/sys/fs/cgroup/cpu set"));
}

#[test]
fn own_cgroup_lookup() {
    let fs = Fake::new(CgroupMode::V2)
        .fs("4:memory:/process_api/x\n3:cpu,cpuacct:/c\n0::/user.slice/s\n");
    assert_eq!(fs.own_path("memory").as_deref(), Some("/process_api/x"));
    assert_eq!(fs.own_path("cpuacct").as_deref(), Some("/c"));
    assert_eq!(fs.own_path("").as_deref(), Some("/user.slice/s"));
    assert_eq!(fs.own_path("pids"), None);
}

#[test]
fn real_host_detection_does_not_fail() {
    if Path::new(DEFAULT_ROOT).exists() {
        let fs = CgroupFs::detect().unwrap();
        if fs.mode != CgroupMode::V2 {
            assert!(!fs.hierarchies.is_empty());
        }
    }
}

#[test]
fn path_defaults_to_the_id_under_own_cgroup_and_is_cleaned() {
    let t = Fake::new(CgroupMode::V2);
    let fs = t.fs("0::/user.slice/s\n");
    let m = FsManager::new(fs.clone(), None, "abc", None).unwrap();
    assert_eq!(m.path(), Path::new("abc"));
    assert_eq!(
        m.layout().unified_dir(),
        Some(t.path().join("user.slice/abc").as_path())
    );
    let m = FsManager::new(fs.clone(), Some(Path::new("/a/../../b")), "x", None).unwrap();
    assert_eq!(m.path(), Path::new("/b"));
    assert!(FsManager::new(fs, Some(Path::new("/")), "x", None).is_err());
}

#[test]
fn relative_path_follows_runc() {
    let t = Fake::new(CgroupMode::V1);
    let own = "5:memory:/process_api/h\n4:pids:/\n0::/user.slice/sess\n";
    let fs = t.fs(own);
    let m = FsManager::new(fs, Some(Path::new("rel/c")), "x", None).unwrap();
    assert_eq!(
        m.layout().v1_dir("memory"),
        Some(t.path().join("memory/process_api/h/rel/c").as_path())
    );
    assert_eq!(
        m.layout().v1_dir("pids"),
        Some(t.path().join("pids/rel/c").as_path())
    );
    // v2: relative to the parent of rt's own cgroup.
    let t2 = Fake::new(CgroupMode::V2);
    let fs = t2.fs(own);
    let m = FsManager::new(fs, Some(Path::new("rel")), "x", None).unwrap();
    assert_eq!(
        m.layout().unified_dir(),
        Some(t2.path().join("user.slice/rel").as_path())
    );
}

/// The container's cgroup mount binds its own cgroup in each hierarchy, whatever the
/// hierarchy's mount options (cpuset_v2_mode once made rt bind the host's root cpuset
/// cgroup) or the escapes in its mount point; rt's own where rt makes none (name=foo, mounted
/// from a subtree).
#[test]
fn cgroup_mount_shows_the_container_its_own_cgroups() {
    let mi = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n\
              32 31 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset,cpuset_v2_mode\n\
              33 31 0:30 / /sys/fs/cgroup/cpu\\040acct rw - cgroup cgroup rw,cpuacct\n\
              34 31 0:31 /sub /sys/fs/cgroup/foo rw - cgroup cgroup rw,name=foo\n\
              35 31 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n";
    let own = "4:name=foo:/sub/rt\n3:cpuacct:/rt\n2:cpuset:/\n0::/rt\n".to_string();
    let root = PathBuf::from("/sys/fs/cgroup");
    let fs = CgroupFs::from_mountinfo(root.clone(), CgroupMode::Hybrid, mi, own.clone());
    let m = FsManager::new(fs, Some(Path::new("/ctr")), "x", None).unwrap();
    let bind = |name: &str, dir: &str| (name.into(), root.join(dir));
    assert_eq!(
        m.cgroup_mount(),
        CgroupMount::Tmpfs(vec![
            bind("cpuset", "cpuset/ctr"),
            bind("cpu acct", "cpu acct/ctr"),
            bind("foo", "foo/rt"),
        ])
    );
    let fs = CgroupFs::from_mountinfo(root.clone(), CgroupMode::V2, "", own);
    let m = FsManager::new(fs, Some(Path::new("/ctr")), "x", None).unwrap();
    assert_eq!(m.cgroup_mount(), CgroupMount::V2(root.join("ctr")));
}

/// The systemd driver checks the cgroupsPath first, then that systemd runs (in the VM tier it
/// does; on a host without it as init, a clear error, before anything is made).
#[test]
fn systemd_driver_without_systemd() {
    let cfg = |p: Option<&'static str>| crate::cgroups::CgroupConfig {
        cgroups_path: p.map(Path::new),
        id: "x",
        systemd: true,
        resources: None,
    };
    let e = crate::cgroups::new_manager(&cfg(Some("/x"))).err().unwrap();
    assert!(
        e.to_string()
            .starts_with("linux.cgroupsPath \"/x\": expected \"slice:prefix:name\""),
        "{e}"
    );
    if std::path::Path::new("/run/systemd/system").is_dir() {
        return;
    }
    let e = crate::cgroups::new_manager(&cfg(None)).err().unwrap();
    assert_eq!(
        e.to_string(),
        "systemd not running on this host, cannot use systemd cgroups manager"
    );
    assert!(!crate::cgroups::systemd_reachable());
}

#[test]
fn write_error_names_file_and_errno() {
    let t = TempDir::new("cgroups");
    let p = t.path().join("nope/pids.max");
    let e = write_file(&p, "1").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("failed to write {}: no such file or directory", p.display())
    );
}

#[test]
fn v1_memory_cpu_pids() {
    let r = res(json!({
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
                   "swappiness": 10, "disableOOMKiller": true, "kernelTCP": 1048576,
                   "useHierarchy": false},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "1", "mems": "0",
                "realtimeRuntime": 950000, "realtimePeriod": 1000000, "burst": 1000, "idle": 1},
        "pids": {"limit": 50}
    }));
    let (t, mut m) = v1_host(Some(r));
    m.create().unwrap();
    assert_eq!(t.read("memory/test/memory.limit_in_bytes"), "67108864");
    assert_eq!(
        t.read("memory/test/memory.memsw.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(t.read("memory/test/memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(t.read("memory/test/memory.swappiness"), "10");
    assert_eq!(t.read("memory/test/memory.oom_control"), "1");
    // kernelTCP is ignored, as runc does.
    assert_eq!(
        t.read("memory/test/memory.kmem.tcp.limit_in_bytes"),
        UNLIMITED
    );
    // useHierarchy is not written, as runc does.
    assert_eq!(t.read("memory/test/memory.use_hierarchy"), "1");
    assert_eq!(t.read("cpu/test/cpu.shares"), "512");
    assert_eq!(t.read("cpu/test/cpu.cfs_quota_us"), "50000");
    assert_eq!(t.read("cpu/test/cpu.cfs_period_us"), "100000");
    assert_eq!(t.read("cpu/test/cpu.rt_runtime_us"), "950000");
    assert_eq!(t.read("cpu/test/cpu.rt_period_us"), "1000000");
    assert_eq!(t.read("cpu/test/cpu.cfs_burst_us"), "1000");
    assert_eq!(t.read("cpu/test/cpu.idle"), "1");
    assert_eq!(t.read("cpuset/test/cpuset.cpus"), "1");
    assert_eq!(t.read("cpuset/test/cpuset.mems"), "0");
    assert_eq!(t.read("pids/test/pids.max"), "50");
    // rt period before runtime.
    let w: Vec<String> = all_writes()
        .into_iter()
        .filter(|(p, _)| p.starts_with(t.path().join("cpu/test")))
        .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
        .collect();
    let pos = |n: &str| w.iter().position(|x| x == n).unwrap();
    assert!(pos("cpu.rt_period_us") < pos("cpu.rt_runtime_us"));
    // Limit before memsw when the current limit is already above memsw.
    let w: Vec<String> = all_writes()
        .into_iter()
        .filter(|(p, _)| p.starts_with(t.path().join("memory/test")))
        .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
        .collect();
    let pos = |n: &str| w.iter().position(|x| x == n).unwrap();
    assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
}

#[test]
fn v1_memsw_written_first_when_raising() {
    let (t, mut m) = v1_host(None);
    m.create().unwrap();
    touch(
        &t.path().join("memory/test"),
        &[("memory.limit_in_bytes", "67108864")],
    );
    m.apply(&res(
        json!({"memory": {"limit": 134217728, "swap": 268435456}}),
    ))
    .unwrap();
    let w: Vec<String> = all_writes()
        .into_iter()
        .filter(|(p, _)| p.starts_with(t.path().join("memory/test")))
        .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_string))
        .collect();
    assert_eq!(
        w,
        vec!["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    );
    assert_eq!(t.read("memory/test/memory.limit_in_bytes"), "134217728");
    assert_eq!(
        t.read("memory/test/memory.memsw.limit_in_bytes"),
        "268435456"
    );
    // -1 memory, swap unset: both unlimited.
    m.apply(&res(json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(t.read("memory/test/memory.limit_in_bytes"), "-1");
    assert_eq!(t.read("memory/test/memory.memsw.limit_in_bytes"), "-1");
}

#[test]
fn v1_cpuset_copied_from_parent() {
    let (t, mut m) = v1_host(None);
    m.create().unwrap();
    assert_eq!(t.read("cpuset/test/cpuset.cpus"), "0-1");
    assert_eq!(t.read("cpuset/test/cpuset.mems"), "0");
}

#[test]
fn v1_pids_unlimited_and_blkio_hugetlb_network() {
    let r = res(json!({
        "pids": {"limit": -1},
        "blockIO": {
            "weight": 300, "leafWeight": 200,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 400, "leafWeight": 100}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2097152}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}
    }));
    let (t, mut m) = v1_host(Some(r));
    m.create().unwrap();
    assert_eq!(t.read("pids/test/pids.max"), "max");
    assert_eq!(t.read("blkio/test/blkio.weight"), "300");
    assert_eq!(t.read("blkio/test/blkio.leaf_weight"), "200");
    assert_eq!(t.read("blkio/test/blkio.weight_device"), "8:0 400");
    assert_eq!(t.read("blkio/test/blkio.leaf_weight_device"), "8:0 100");
    assert_eq!(
        t.read("blkio/test/blkio.throttle.read_bps_device"),
        "8:0 1048576"
    );
    assert_eq!(
        t.read("blkio/test/blkio.throttle.write_bps_device"),
        "8:16 2097152"
    );
    assert_eq!(
        t.read("blkio/test/blkio.throttle.read_iops_device"),
        "8:0 100"
    );
    assert_eq!(
        t.read("blkio/test/blkio.throttle.write_iops_device"),
        "8:0 200"
    );
    assert_eq!(t.read("hugetlb/test/hugetlb.2MB.limit_in_bytes"), "4194304");
    assert_eq!(t.read("net_cls,net_prio/test/net_cls.classid"), "1048577");
    assert_eq!(t.read("net_cls,net_prio/test/net_prio.ifpriomap"), "eth0 5");
    // A 0 that reaches the cgroup is a limit (runc 1.4+: "1"); a config's 0 that means "not
    // set" never gets here (spec::pids).
    m.apply(&res(json!({"pids": {"limit": 0}}))).unwrap();
    assert_eq!(t.read("pids/test/pids.max"), "1");
}

#[test]
fn v1_blkio_bfq_fallback() {
    let (t, mut m) = v1_host(None);
    m.create().unwrap();
    fs::remove_file(t.path().join("blkio/test/blkio.weight")).unwrap();
    touch(
        &t.path().join("blkio/test"),
        &[("blkio.bfq.weight", "100"), ("blkio.bfq.weight_device", "")],
    );
    m.apply(&res(json!({"blockIO": {"weight": 700,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 50}]}})))
        .unwrap();
    assert_eq!(t.read("blkio/test/blkio.bfq.weight"), "700");
    assert_eq!(t.read("blkio/test/blkio.bfq.weight_device"), "8:0 50");
}

#[test]
fn v1_devices_deny_all_then_rules_in_order() {
    let mut r = res(json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": false, "type": "b", "major": 8, "access": "w"},
        {"allow": true, "type": "c", "major": 4}
    ]}));
    // As create gives them: then runc's defaults.
    let rules = r.devices().clone().unwrap_or_default();
    r.set_devices(Some(super::with_default_rules(&rules, &[])));
    let (t, mut m) = v1_host(Some(r));
    m.create().unwrap();
    let d = t.path().join("devices/test");
    let seq: Vec<(String, String)> = all_writes()
        .into_iter()
        .filter(|(p, _)| p.starts_with(&d))
        .map(|(p, v)| (p.file_name().unwrap().to_string_lossy().into_owned(), v))
        .collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        &seq[..5],
        &[
            s("devices.deny", "a"),
            s("devices.deny", "a *:* rwm"),
            s("devices.allow", "c 1:3 rw"),
            s("devices.deny", "b 8:* w"),
            s("devices.allow", "c 4:* rwm"),
        ]
    );
    // Then runc's defaults, e.g. /dev/null and ptys.
    let allows = writes_to(&d.join("devices.allow"));
    assert!(allows.contains(&"c 1:3 rwm".to_string()));
    assert!(allows.contains(&"c 136:* rwm".to_string()));
    assert!(allows.contains(&"b *:* m".to_string()));
    // An update without devices leaves them alone.
    let before = all_writes().len();
    m.apply(&res(json!({"pids": {"limit": 5}}))).unwrap();
    assert_eq!(writes_to(&d.join("devices.deny")).len(), 3);
    assert_eq!(all_writes().len(), before + 1);
}

#[test]
fn v1_add_task_freeze_pids_stats_destroy() {
    let (t, mut m) = v1_host(None);
    m.create().unwrap();
    assert!(m.clone_into_fd().is_none());
    m.add_task(4242).unwrap();
    for c in [
        "cpu",
        "memory",
        "pids",
        "freezer",
        "systemd",
        "net_cls,net_prio",
    ] {
        assert_eq!(t.read(&format!("{c}/test/cgroup.procs")), "4242", "{c}");
    }
    // Root untouched.
    assert_eq!(t.read("pids/cgroup.procs"), "");
    assert_eq!(m.pids().unwrap(), vec![4242]);
    m.freeze().unwrap();
    assert_eq!(t.read("freezer/test/freezer.state"), "FROZEN");
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert_eq!(t.read("freezer/test/freezer.state"), "THAWED");
    assert!(!m.is_frozen().unwrap());
    assert_eq!(m.oom_kill_count().unwrap(), 3);

    let s = m.stats().unwrap();
    assert_eq!(s["cpu"]["usage"]["total"], 5000);
    assert_eq!(s["cpu"]["usage"]["percpu"], json!([2000, 3000]));
    assert_eq!(s["cpu"]["usage"]["user"], 30_000_000u64);
    assert_eq!(s["cpu"]["usage"]["kernel"], 10_000_000u64);
    assert_eq!(s["cpu"]["throttling"]["throttledPeriods"], 2);
    assert_eq!(s["memory"]["usage"]["usage"], 4096);
    assert_eq!(s["memory"]["usage"]["max"], 8192);
    assert_eq!(s["memory"]["cache"], 100);
    assert_eq!(s["memory"]["raw"]["rss"], 200);
    assert_eq!(s["pids"]["current"], 2);
    assert_eq!(
        s["blkio"]["ioServiceBytesRecursive"][0],
        json!({"major": 8, "minor": 0, "op": "Read", "value": 4096})
    );
    assert!(s["hugetlb"]["2MB"].is_object());

    // destroy: a real cgroupfs ignores control files in rmdir; the fake needs them gone.
    for d in m.layout().dirs() {
        for e in fs::read_dir(&d).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
    }
    m.destroy().unwrap();
    assert!(!t.path().join("memory/test").exists());
    assert!(t.path().join("memory").exists());
    m.destroy().unwrap(); // ENOENT is fine
}

#[test]
fn v1_unified_refused() {
    let (_t, mut m) = v1_host(None);
    m.create().unwrap();
    let e = m
        .apply(&res(json!({"unified": {"memory.high": "1"}})))
        .unwrap_err();
    assert!(e.to_string().contains("cgroup v2"), "{e}");
}

#[test]
fn v2_resources() {
    let r = res(json!({
        "memory": {"limit": 67108864, "swap": 100663296, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0",
                "burst": 10000, "idle": 0},
        "pids": {"limit": 50},
        "blockIO": {
            "weight": 500,
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 300}]
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
        "unified": {"memory.high": "50000000"}
    }));
    let (t, mut m) = v2_host(Some(r));
    m.create().unwrap();
    assert_eq!(t.read("test/memory.max"), "67108864");
    assert_eq!(t.read("test/memory.swap.max"), "33554432");
    assert_eq!(t.read("test/memory.low"), "33554432");
    assert_eq!(t.read("test/cpu.weight"), "59");
    assert_eq!(t.read("test/cpu.max"), "50000 100000");
    assert_eq!(t.read("test/cpu.max.burst"), "10000");
    assert_eq!(t.read("test/cpu.idle"), "0");
    assert_eq!(t.read("test/cpuset.cpus"), "0-1");
    assert_eq!(t.read("test/cpuset.mems"), "0");
    assert_eq!(t.read("test/pids.max"), "50");
    // 1 + (500-10)*9999/990
    assert_eq!(t.read("test/io.weight"), "4950");
    assert_eq!(
        writes_to(&t.path().join("test/io.max")),
        vec!["8:0 rbps=1048576", "8:0 wiops=300"]
    );
    assert_eq!(t.read("test/hugetlb.2MB.max"), "2097152");
    assert_eq!(t.read("test/memory.high"), "50000000");
    // Controllers enabled in the root only, each once.
    assert_eq!(
        writes_to(&t.path().join("cgroup.subtree_control")),
        vec!["+cpuset", "+cpu", "+memory", "+pids", "+io", "+hugetlb"]
    );
    assert!(writes_to(&t.path().join("test/cgroup.subtree_control")).is_empty());
    assert!(m.clone_into_fd().is_some());
}

#[test]
fn v2_conversions() {
    assert_eq!(crate::cgroups::cpu_shares_to_weight(2), 1);
    // runc 1.3.2+ (opencontainers/cgroups), checked against its Go code for every share value
    // from 0 to 262150: these are spot values of that table.
    for (shares, weight) in [
        (0, 0),
        (1, 1),
        (3, 2),
        (10, 4),
        (100, 17),
        (512, 59),
        (1024, 100),
        (2048, 174),
        (262143, 10000),
        (262144, 10000),
        (1 << 40, 10000),
    ] {
        assert_eq!(
            crate::cgroups::cpu_shares_to_weight(shares),
            weight,
            "{shares}"
        );
    }
    // The whole table for shares 0..=262150, as sums over Go's (runc's) results: Σw and Σw·s.
    let (sum, weighted) = (0..=262150u64).fold((0u64, 0u64), |(a, b), s| {
        let w = crate::cgroups::cpu_shares_to_weight(s);
        (a + w, b.wrapping_add(w * s))
    });
    assert_eq!((sum, weighted), (1405438461, 239605511723744));
    assert_eq!(crate::cgroups::blkio_weight_to_io_weight(10), 1);
    assert_eq!(crate::cgroups::blkio_weight_to_io_weight(1000), 10000);
    assert_eq!(v2::cpu_max(-1, 100000), "max 100000");
    assert_eq!(v2::cpu_max(20000, 0), "20000 100000");
    assert_eq!(v2::swap_to_v2(0, -1).unwrap(), -1);
    assert_eq!(v2::swap_to_v2(-1, 100).unwrap(), -1);
    assert!(v2::swap_to_v2(50, 100).is_err());
    assert!(v2::swap_to_v2(50, 0).is_err());
}

#[test]
fn v2_memory_edge_cases() {
    let (t, mut m) = v2_host(None);
    m.create().unwrap();
    // swap == limit: no swap.
    m.apply(&res(json!({"memory": {"limit": 1048576, "swap": 1048576}})))
        .unwrap();
    assert_eq!(t.read("test/memory.swap.max"), "0");
    assert_eq!(t.read("test/memory.max"), "1048576");
    // -1: unlimited, swap too.
    m.apply(&res(json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(t.read("test/memory.max"), "max");
    assert_eq!(t.read("test/memory.swap.max"), "max");
    // checkBeforeUpdate refuses a limit below usage (memory.current = 1000).
    assert!(
        m.apply(&res(
            json!({"memory": {"limit": 500, "checkBeforeUpdate": true}})
        ))
        .is_err()
    );
    assert_eq!(t.read("test/memory.max"), "max");
    m.apply(&res(json!({"pids": {"limit": -1}}))).unwrap();
    assert_eq!(t.read("test/pids.max"), "max");
    assert!(
        m.apply(&res(json!({"cpu": {"realtimeRuntime": 1000}})))
            .is_err()
    );
}

#[test]
fn v2_nested_enables_only_ancestors() {
    let t = Fake::new(CgroupMode::V2).cgroup("a/b");
    touch(&t.path().join("a"), &[("cgroup.subtree_control", "pids\n")]);
    let r = res(json!({"pids": {"limit": 7}, "memory": {"limit": 4096}}));
    let mut m = t.manager(Some("/a/b"), Some(r));
    m.create().unwrap();
    assert_eq!(
        writes_to(&t.path().join("cgroup.subtree_control")),
        vec!["+memory", "+pids"]
    );
    // pids was already enabled in /a.
    assert_eq!(
        writes_to(&t.path().join("a/cgroup.subtree_control")),
        vec!["+memory"]
    );
    assert!(writes_to(&t.path().join("a/b/cgroup.subtree_control")).is_empty());
    assert_eq!(t.read("a/b/pids.max"), "7");
}

#[test]
fn v2_missing_controller_is_named() {
    let t = Fake::new(CgroupMode::V2);
    touch(t.path(), &[("cgroup.controllers", "cpu memory\n")]);
    let r = res(json!({"pids": {"limit": 50}}));
    let mut m = t.manager(None, Some(r));
    let e = m.create().unwrap_err();
    assert_eq!(e.to_string(), "cgroup controller pids is not available");
    assert!(!t.path().join("test").exists());
}

#[test]
fn v2_unified_keys_are_checked() {
    let (_t, mut m) = v2_host(None);
    m.create().unwrap();
    for k in ["../memory.max", "a/b", ".."] {
        let mut u = std::collections::HashMap::new();
        u.insert(k.to_string(), "1".to_string());
        let e = m.apply(&res(json!({"unified": u}))).unwrap_err();
        assert!(
            e.to_string().contains("invalid unified resource key"),
            "{e}"
        );
    }
    let e = m
        .apply(&res(json!({"unified": {"misc.max": "1"}})))
        .unwrap_err();
    assert_eq!(e.to_string(), "cgroup controller misc is not available");
}

#[test]
fn v2_freeze_kill_pids_stats() {
    let (t, mut m) = v2_host(None);
    m.create().unwrap();
    touch(
        &t.path().join("test"),
        &[("cgroup.events", "populated 1\nfrozen 1\n")],
    );
    m.freeze().unwrap();
    assert_eq!(t.read("test/cgroup.freeze"), "1");
    assert!(m.is_frozen().unwrap());
    touch(
        &t.path().join("test"),
        &[("cgroup.events", "populated 1\nfrozen 0\n")],
    );
    m.thaw().unwrap();
    assert_eq!(t.read("test/cgroup.freeze"), "0");
    assert!(!m.is_frozen().unwrap());
    assert_eq!(m.pids().unwrap(), vec![10, 11]);
    m.kill_all(9).unwrap();
    assert_eq!(t.read("test/cgroup.kill"), "1");
    m.add_task(77).unwrap();
    assert_eq!(t.read("test/cgroup.procs"), "77");
    assert_eq!(m.oom_kill_count().unwrap(), 2);

    let s = m.stats().unwrap();
    assert_eq!(s["cpu"]["usage"]["total"], 5000);
    assert_eq!(s["cpu"]["usage"]["user"], 3000);
    assert_eq!(s["memory"]["usage"]["usage"], 1000);
    assert_eq!(s["memory"]["usage"]["limit"], u64::MAX);
    assert_eq!(s["memory"]["usage"]["failcnt"], 4);
    assert_eq!(s["memory"]["cache"], 20);
    assert_eq!(s["memory"]["raw"]["anon"], 10);
    assert_eq!(s["pids"]["current"], 3);
    assert_eq!(s["pids"]["limit"], 0);
    assert_eq!(
        s["blkio"]["ioServiceBytesRecursive"],
        json!([{"major": 8, "minor": 0, "op": "Read", "value": 512},
               {"major": 8, "minor": 0, "op": "Write", "value": 1024}])
    );
}

#[test]
fn v2_freeze_without_events_file_fails() {
    // A missing cgroup.events is an error, not a hang.
    let (t, mut m) = v2_host(None);
    m.create().unwrap();
    fs::remove_file(t.path().join("test/cgroup.events")).unwrap();
    assert!(m.freeze().is_err());
}

#[test]
fn hybrid_hugetlb_goes_to_unified() {
    let t = Fake::new(CgroupMode::Hybrid)
        .cgroup("test")
        .without("hugetlb");
    let u = t.path().join("unified");
    let r = res(
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
                       "memory": {"limit": 1048576}}),
    );
    let mut m = t.manager(Some("/test"), Some(r));
    m.create().unwrap();
    assert_eq!(t.read("unified/test/hugetlb.2MB.max"), "2097152");
    assert_eq!(
        writes_to(&u.join("cgroup.subtree_control")),
        vec!["+hugetlb"]
    );
    assert_eq!(t.read("memory/test/memory.limit_in_bytes"), "1048576");
    assert!(m.clone_into_fd().is_none());
    m.add_task(5).unwrap();
    assert_eq!(t.read("unified/test/cgroup.procs"), "5");
    assert_eq!(t.read("memory/test/cgroup.procs"), "5");
}

#[test]
fn v1_limit_without_its_controller_fails_before_mkdir() {
    let t = Fake::new(CgroupMode::V1)
        .cgroup("test")
        .without("pids")
        .without("hugetlb");
    let fs = t.fs("0::/\n");
    for (r, ctrl) in [
        (json!({"pids": {"limit": 5}}), "pids"),
        (
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}),
            "hugetlb",
        ),
    ] {
        let mut m =
            FsManager::new(fs.clone(), Some(Path::new("/new")), "new", Some(res(r))).unwrap();
        let e = m.create().unwrap_err().to_string();
        assert_eq!(e, format!("cgroup controller {ctrl} is not available"));
        assert!(
            !t.path().join("memory/new").exists(),
            "mkdir before the check"
        );
        // update refuses it as well
        let m = FsManager::new(fs.clone(), Some(Path::new("/test")), "test", None).unwrap();
        assert!(m.apply(&res(json!({"pids": {"limit": 5}}))).is_err());
    }
    // net_cls is mounted (as net_cls,net_prio) in the fake tree: a classID is fine.
    let mut m = FsManager::new(
        fs,
        Some(Path::new("/test")),
        "test",
        Some(res(json!({"network": {"classID": 7}}))),
    )
    .unwrap();
    m.create().unwrap();
    assert_eq!(t.read("net_cls,net_prio/test/net_cls.classid"), "7");
}

/// `exec --cgroup`: the named controllers' cgroups (all for "") replaced by existing
/// sub-cgroups of the container's; a v2 process is cloned into the container's own cgroup only.
#[test]
fn exec_placement_in_sub_cgroups() {
    let subs = |v: &[(&str, &str)]| -> std::collections::BTreeMap<String, PathBuf> {
        v.iter().map(|(c, p)| (c.to_string(), p.into())).collect()
    };
    let t = Fake::new(CgroupMode::Hybrid)
        .cgroup("test")
        .cgroup("test/s")
        .without("cpuacct");
    let m = t.manager(Some("/test"), None);
    let p = m
        .exec_placement(&subs(&[("pids", "s"), ("unified", "s")]))
        .unwrap();
    assert!(p.clone_into.is_none());
    p.add(42).unwrap();
    for d in ["pids/test/s", "unified/test/s", "memory/test"] {
        assert_eq!(t.read(&format!("{d}/cgroup.procs")), "42", "{d}");
    }
    assert_eq!(t.read("pids/test/cgroup.procs"), "");
    m.exec_placement(&subs(&[("", "s")]))
        .unwrap()
        .add(43)
        .unwrap();
    assert_eq!(t.read("memory/test/s/cgroup.procs"), "43");
    assert_eq!(t.read("unified/test/s/cgroup.procs"), "43");
    let e = |v: &[(&str, &str)]| m.exec_placement(&subs(v)).err().unwrap().to_string();
    assert_eq!(
        e(&[("cpuacct", "s")]),
        "--cgroup: controller cpuacct is not in use"
    );
    assert_eq!(
        e(&[("pids", "nope")]),
        format!(
            "--cgroup: {} does not exist",
            t.path().join("pids/test/nope").display()
        )
    );

    let (t, mut m) = v2_host(None);
    m.create().unwrap();
    let p = m.exec_placement(&subs(&[])).unwrap();
    assert!(p.clone_into.is_some());
    p.add(44).unwrap();
    assert_eq!(t.read("test/cgroup.procs"), "44");
}

/// Checks on the real host (root, cgroup v1 or hybrid or v2).  They create
/// and remove their own uniquely named cgroups only.  Run with `--ignored`.
mod host {
    use super::*;
    use crate::cgroups::fs::{read_string, read_trimmed};
    use crate::cgroups::host::join_cgroup;
    use crate::cgroups::{Result, bpf, manager::open_dir};
    use std::process::Command;

    fn unique(tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("/rt-cgtest-{tag}-{}-{nanos}", std::process::id())
    }

    #[test]
    #[ignore]
    fn host_roundtrip() {
        let fs = CgroupFs::detect().unwrap();
        let path = unique("rt");
        let r: LinuxResources = serde_json::from_value(json!({
            "memory": {"limit": 67108864, "reservation": 33554432},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 50},
            "devices": [{"allow": false, "access": "rwm"}]
        }))
        .unwrap();
        let mut m = FsManager::new(fs, Some(Path::new(&path)), "x", Some(r)).unwrap();
        m.create().unwrap();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let res = (|| -> Result<()> {
            m.add_task(pid)?;
            assert_eq!(m.pids()?, vec![pid]);
            if let Some(d) = m.layout().v1_dir("memory") {
                assert_eq!(read_trimmed(&d.join("memory.limit_in_bytes"))?, "67108864");
            }
            if let Some(d) = m.layout().v1_dir("pids") {
                assert_eq!(read_trimmed(&d.join("pids.max"))?, "50");
            }
            if let Some(d) = m.layout().v1_dir("cpu") {
                assert_eq!(read_trimmed(&d.join("cpu.cfs_quota_us"))?, "50000");
            }
            if let Some(d) = m.layout().v1_dir("devices") {
                let list = read_string(&d.join("devices.list"))?;
                assert!(list.contains("c 1:3 rwm"), "{list}");
                assert!(!list.contains("a *:* rwm"), "{list}");
            }
            if m.layout().mode() == CgroupMode::V2 {
                let d = m.layout().unified_dir().unwrap();
                assert_eq!(read_trimmed(&d.join("memory.max"))?, "67108864");
                assert_eq!(read_trimmed(&d.join("cpu.max"))?, "50000 100000");
            }
            m.freeze()?;
            assert!(m.is_frozen()?);
            m.thaw()?;
            assert!(!m.is_frozen()?);
            let s = m.stats()?;
            assert_eq!(s["pids"]["current"], 1, "{s}");
            if m.layout().v1_dir("memory").is_some() {
                assert_eq!(m.oom_kill_count()?, 0);
            }
            m.kill_all(libc::SIGKILL)?;
            Ok(())
        })();
        let _ = child.kill();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        m.destroy().unwrap();
        res.unwrap();
        for d in m.layout().dirs() {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }

    /// The eBPF device filter on a cgroup2 hierarchy (root or `unified`).
    #[test]
    #[ignore]
    fn host_bpf_device_filter() {
        let fs = CgroupFs::detect().unwrap();
        let Some(root) = fs.unified.clone() else {
            return;
        };
        let dir = join_cgroup(&root, Path::new(&unique("bpf")));
        fs::create_dir(&dir).unwrap();
        let res = (|| -> std::io::Result<(bool, bool)> {
            let fd = open_dir(&dir).map_err(std::io::Error::other)?;
            let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
                serde_json::from_value(json!([{"allow": false, "access": "rwm"}])).unwrap();
            bpf::apply(&fd, &rules)?;
            // Applying again replaces the program rather than stacking it.
            bpf::apply(&fd, &rules)?;
            let run = |dev: &str| {
                Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "echo $$ > {}/cgroup.procs && exec 3< {dev}",
                        dir.display()
                    ))
                    .status()
                    .map(|s| s.success())
            };
            Ok((run("/dev/null")?, run("/dev/kmsg")?))
        })();
        let _ = fs::remove_dir(&dir);
        let (null_ok, kmsg_ok) = res.unwrap();
        assert!(null_ok, "/dev/null must be allowed");
        assert!(!kmsg_ok, "/dev/kmsg must be denied");
    }
}

#[test]
fn default_rule_dropped_for_a_device_at_its_path() {
    let dev: oci_spec::runtime::LinuxDevice =
        serde_json::from_value(json!({"path": "/dev/null", "type": "c", "major": 1, "minor": 3}))
            .unwrap();
    let rules: Vec<String> = super::with_default_rules(&[], &[dev])
        .iter()
        .map(super::device_rule_string)
        .collect();
    assert!(!rules.contains(&"c 1:3 rwm".to_string()), "{rules:?}");
    assert!(rules.contains(&"c 1:5 rwm".to_string()), "{rules:?}");
    assert_eq!(rules.len(), super::DEFAULT_DEVICE_RULES.len() - 1);
}
