"""Config generator for the differential run: random but valid OCI configs over every field rt
supports, mixed with the edge values real callers write (zeros meaning "unset", omitted
optionals, empty lists, Docker's and podman's captured profiles and mounts).

A case is a plain dict: `config` (config.json with placeholders, see PLACEHOLDERS) and `setup`
(what the runner must prepare: rootfs extras, scratch bind sources, a namespace holder). The
same seed, index and host always give the same case: every choice comes from one
random.Random(f"{seed}-{index}").

Host safety is decided here: cgroup paths are absolute and under /rt-diff-* (never relative, so
never below the harness's own cgroup), sysctls only for namespaces the container creates,
rlimits within the harness's hard limits, oomScoreAdj never below the current value, joined
namespaces only those of the holder process the runner starts, bind sources only scratch dirs.
"""

import json
import random
import resource
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Substituted per runtime by the runner, so rt and runc never share a path or a cgroup.
PLACEHOLDERS = {
    "@W@": "the runtime's work dir (absolute)",
    "@CG@": "a cgroup name unique to this case and runtime",
    "@HOLDER@": "pid of the namespace holder the runner started",
}

CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Name -> resource number (Python's resource module lacks some, e.g. RLIMIT_LOCKS).
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
# Lowest soft limits the probe still runs with (a static binary, a few fds and pages).
RLIMIT_FLOOR = {"RLIMIT_AS": 64 << 20, "RLIMIT_DATA": 32 << 20, "RLIMIT_STACK": 1 << 20,
                "RLIMIT_NOFILE": 64, "RLIMIT_CPU": 30, "RLIMIT_FSIZE": 1 << 20,
                "RLIMIT_NPROC": 64, "RLIMIT_RTTIME": 1 << 20}

# Character devices that are harmless to open for writing (null, zero, full, random,
# urandom); the probe writes only to these, and only stats everything else.
SAFE_CHAR_DEVICES = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9)]
DEFAULT_DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                   "/dev/tty", "/dev/ptmx", "/dev/console", "/dev/fd", "/dev/stdin",
                   "/dev/stdout", "/dev/stderr", "/dev/core", "/dev/shm", "/dev/pts",
                   "/dev/mqueue"]

PROC_MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
               "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
               "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
PROC_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# Sysctls by the namespace that owns them; only set when the container creates that namespace.
SYSCTLS = {
    "network": {"net.ipv4.ip_forward": ["0", "1"],
                "net.ipv4.ping_group_range": ["0 2147483647", "1 0"],
                "net.ipv4.ip_unprivileged_port_start": ["0", "1024"],
                "net.core.somaxconn": ["128", "4096"],
                "net.ipv4.conf.all.rp_filter": ["0", "2"]},
    "ipc": {"kernel.msgmax": ["8192", "65536"], "kernel.shmmni": ["4096", "100"],
            "kernel.sem": ["250 32000 32 128", "32000 1024000000 500 32000"],
            "fs.mqueue.msg_max": ["10", "100"]},
    "uts": {"kernel.domainname": ["sysctl.example"]},
}

MOUNT_FLAG_OPTS = ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync",
                   "async", "dirsync", "noatime", "atime", "nodiratime", "diratime",
                   "relatime", "norelatime", "strictatime", "nostrictatime", "nosymfollow",
                   "defaults", "silent", "loud"]
PROPAGATION = ["private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
               "runbindable"]
REC_ATTRS = ["rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
             "rnoatime", "ratime", "rstrictatime", "rnodiratime", "rnosymfollow"]

PROBE_EXITS = [0, 0, 0, 0, 1, 3, 42, 255]
# Paths the probe writes into: scratch binds and tmpfs only (never /proc, /sys or the host).
WRITE_TARGETS = ["/tmp/probe-w", "/probe-root-w"]


class Host:
    """What the generator needs to know about the machine (read once, never changed)."""

    def __init__(self):
        self.rlimit_hard = {}
        for name, num in RLIMITS.items():
            self.rlimit_hard[name] = resource.getrlimit(num)[1]
        self.oom_score_adj = int(Path("/proc/self/oom_score_adj").read_text().strip())
        bnd = 0
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                bnd = int(line.split()[1], 16)
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        self.caps = [c for i, c in enumerate(CAPS) if i <= last and bnd >> i & 1]
        self.missing_caps = [c for i, c in enumerate(CAPS) if i <= last and not bnd >> i & 1]
        cpus = Path("/sys/fs/cgroup/cpuset/cpuset.effective_cpus")
        self.cpus = cpus.read_text().strip() if cpus.exists() else "0"
        self.block_dev = self._block_device()
        self.hugepage_sizes = sorted(
            p.name.split("-")[1] for p in Path("/sys/kernel/mm/hugepages").glob("hugepages-*"))
        # What real callers send: Docker's and podman's configs as captured, runc's template.
        self.callers = {p.stem.split("-")[0]: json.loads(p.read_text())
                        for p in sorted((HERE / "profiles").glob("*.json"))}
        self.callers["runc"] = runc_spec()

    @staticmethod
    def _block_device():
        for line in Path("/proc/partitions").read_text().splitlines()[2:]:
            f = line.split()
            if len(f) == 4 and not f[3][-1].isdigit():
                return int(f[0]), int(f[1])
        return None


def fmt_hugepage(size):
    """'2048kB' -> '2MB', '1048576kB' -> '1GB' (the spec's pageSize spelling)."""
    kb = int(size[:-2])
    return f"{kb // 1024 // 1024}GB" if kb >= 1 << 20 else f"{kb // 1024}MB"


class Gen:
    def __init__(self, rng: random.Random, host: Host):
        self.r = rng
        self.h = host
        self.setup = {"etc": True, "rootfs_abs": False, "holder": [], "scratch_dirs": [],
                      "scratch_files": []}
        self.probe_stat = list(DEFAULT_DEVICES)
        self.probe_write = []

    # -- helpers --------------------------------------------------------------------------
    def chance(self, p):
        return self.r.random() < p

    def pick(self, seq):
        return self.r.choice(seq)

    def subset(self, seq, p=0.5):
        return [x for x in seq if self.chance(p)]

    def maybe(self, obj, key, value, p=0.5):
        """Set obj[key] = value with probability p (else the field is omitted)."""
        if self.chance(p):
            obj[key] = value

    # -- top level ------------------------------------------------------------------------
    def caller(self, flavour):
        """A deep copy of the config the caller sends (bare: an empty one)."""
        return json.loads(json.dumps(self.h.callers.get(flavour, {})))

    def case(self):
        flavour = self.pick(["runc", "runc", "docker", "podman", "bare"])
        self.base = self.caller(flavour)
        ns = self.namespaces()
        cfg = {"ociVersion": self.pick(["1.0.2-dev", "1.0.2-dev", "1.0.0", "1.0.2"])}
        if flavour == "bare":
            cfg["ociVersion"] = "1.0.2-dev"
        cfg["root"] = self.root()
        cfg["process"] = self.process()
        new_uts = any(n["type"] == "uts" and "path" not in n for n in ns)
        self.uts(cfg, new_uts)
        cfg["mounts"] = self.mounts()
        linux = {"namespaces": ns, "cgroupsPath": self.cgroups_path()}
        self.linux_paths(linux, flavour)
        self.maybe(linux, "resources", self.resources(), 0.85)
        self.devices(linux)
        self.sysctls(linux, ns)
        self.id_mappings(linux, ns)
        if self.chance(0.35):
            linux["seccomp"] = self.seccomp()
        # Not shared/rshared: runc 1.1 makes / private whatever it says (a known runc bug,
        # tests/conformance), and then every mount after it differs.
        self.maybe(linux, "rootfsPropagation",
                   self.pick(["", "private", "rprivate", "slave", "rslave", "unbindable",
                              "runbindable"]), 0.25)
        if self.chance(0.04):
            linux["personality"] = {"domain": self.pick(["LINUX", "LINUX32"])}
        cfg["linux"] = linux
        self.maybe(cfg, "annotations", self.annotations(), 0.35)
        if self.chance(0.35):
            cfg["hooks"] = self.hooks(cfg)
        cfg["process"]["args"] = self.probe_args(cfg)
        return {"config": cfg, "setup": self.setup}

    def root(self):
        root = {"path": "rootfs"}
        if self.chance(0.15):
            self.setup["rootfs_abs"] = True
            root["path"] = "@W@/rootfs-abs"
        self.maybe(root, "readonly", self.chance(0.4), 0.7)
        self.setup["etc"] = self.chance(0.8)
        return root

    # -- process --------------------------------------------------------------------------
    def process(self):
        p = {"terminal": False} if self.chance(0.7) else {}
        p["user"] = self.user()
        p["env"] = self.env()
        if p["env"] is None:
            del p["env"]
        p["cwd"] = self.pick(["/", "/", "/tmp", "/etc", "/mnt", "/new/cwd/dir", "/root",
                              "/home/u"])
        caps = self.capabilities()
        if caps is not None:
            p["capabilities"] = caps
        rl = self.rlimits()
        if rl is not None:
            p["rlimits"] = rl
        if self.chance(0.6):
            p["noNewPrivileges"] = self.chance(0.6)
        # Spec 1.1/1.2 fields rt implements (runc 1.1 predates them and ignores them).
        if self.chance(0.05):
            p["ioPriority"] = {"class": self.pick(["IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"]),
                               "priority": self.pick([0, 4, 7])}
        if self.chance(0.05):
            p["scheduler"] = {"policy": self.pick(["SCHED_OTHER", "SCHED_BATCH",
                                                   "SCHED_IDLE"])}
            self.maybe(p["scheduler"], "nice", self.pick([0, 5, 19]), 0.6)
        if self.chance(0.04):
            p["execCPUAffinity"] = {"final": self.pick(["0", self.h.cpus])}
        if self.chance(0.4):
            cur = self.h.oom_score_adj
            p["oomScoreAdj"] = self.pick([cur, cur, min(1000, cur + 1), 500, 1000])
        return p

    def user(self):
        u = {"uid": self.pick([0, 0, 0, 1000, 65534, 12345]),
             "gid": self.pick([0, 0, 0, 1000, 65534, 5, 12345])}
        if self.chance(0.5):
            u["additionalGids"] = self.pick([[], [0], [5, 100], [1000, 2000, 3000], [65534]])
        if self.chance(0.4):
            u["umask"] = self.pick([0, 0o22, 0o77, 0o777, 0o2])
        return u

    def env(self):
        if self.chance(0.05):
            return None
        if self.chance(0.05):
            return []
        env = list(self.base.get("process", {}).get("env") or [PATH_ENV])
        extras = [["FOO=bar"], ["EMPTY="], ["A=1", "A=2"], ["HOME=/custom"],
                  ["WITH_EQ=a=b=c"], ["SPACE=a b", "UNICODE=\u00e9t\u00e9"],
                  ["PATH=/bin"], ["LONG=" + "x" * 3000]]
        for e in self.subset(extras, 0.2):
            env.extend(e)
        return env

    def capabilities(self):
        if self.chance(0.08):
            return None
        base = self.base.get("process", {}).get("capabilities", {}).get("bounding", [])
        kind = self.pick(["base", "base", "random", "all", "empty", "bounding-only"])
        usable = self.h.caps
        if kind == "base":
            names = list(base)
        elif kind == "random":
            names = self.subset(usable, 0.3)
        elif kind == "all":
            names = list(usable)
        else:
            names = []
        caps = {}
        for s in ["bounding", "effective", "permitted", "inheritable", "ambient"]:
            if kind == "bounding-only" and s != "bounding":
                continue
            if s in ("inheritable", "ambient") and self.chance(0.5):
                continue
            v = list(names) if kind != "bounding-only" else self.subset(usable, 0.5)
            if self.chance(0.15):
                v = self.subset(v, 0.5)
            caps[s] = v
        if self.chance(0.05):
            caps.setdefault("bounding", []).append("CAP_BOGUS")
        if self.chance(0.05) and self.h.missing_caps:
            caps.setdefault("bounding", []).append(self.pick(self.h.missing_caps))
        if self.chance(0.03) and self.h.missing_caps:
            # Not in the runtime's own bounding set: both runtimes must fail alike.
            caps.setdefault("permitted", []).append(self.pick(self.h.missing_caps))
        return caps

    def rlimits(self):
        if self.chance(0.2):
            return None
        out = [r for r in self.base.get("process", {}).get("rlimits", [])
               if r["hard"] <= self.h.rlimit_hard.get(r["type"], 0)]
        for name in self.subset(RLIMITS, 0.15):
            if any(r["type"] == name for r in out):
                continue
            hard_max = self.h.rlimit_hard[name]
            inf = 2**64 - 1
            floor = RLIMIT_FLOOR.get(name, 0)
            top = inf if hard_max == resource.RLIM_INFINITY else hard_max
            if top < floor:
                continue
            hard = self.pick([top, top, floor + (top - floor) // 3 if top != inf else
                              floor + 1000000, floor])
            soft = self.pick([hard, floor, floor + (hard - floor) // 2])
            out.append({"type": name, "hard": hard, "soft": soft})
        return out

    # -- hostname / namespaces ------------------------------------------------------------
    def uts(self, cfg, new_uts):
        names = ["", "host-a", "a" * 64, "x.y.z", "UPPER-case"]
        if new_uts or self.chance(0.05):
            self.maybe(cfg, "hostname", self.pick(names), 0.8)
            self.maybe(cfg, "domainname", self.pick(names), 0.3)

    def namespaces(self):
        ns = [{"type": "mount"}]
        for t in ["pid", "network", "ipc", "uts", "cgroup"]:
            if self.chance(0.75):
                ns.append({"type": t})
        if self.chance(0.12):
            ns.append({"type": "user"})
        # Join namespaces of the holder process the runner starts (never the host's).
        joinable = [n for n in ["network", "ipc", "uts"]
                    if not any(x["type"] == n for x in ns)]
        for t in joinable:
            if self.chance(0.12):
                self.setup["holder"].append(t)
                ns.append({"type": t, "path": f"/proc/@HOLDER@/ns/{ns_file(t)}"})
        self.r.shuffle(ns)
        return ns

    def id_mappings(self, linux, ns):
        if not any(n["type"] == "user" for n in ns):
            return
        size = self.pick([65536, 65536, 1000, 1])
        linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": size}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": size}]

    def sysctls(self, linux, ns):
        new = {n["type"] for n in ns if "path" not in n}
        chosen = {}
        for owner, keys in SYSCTLS.items():
            if owner not in new:
                continue
            for k, vals in keys.items():
                if self.chance(0.25):
                    chosen[k] = self.pick(vals)
        if chosen or self.chance(0.05):
            linux["sysctl"] = chosen

    def cgroups_path(self):
        return self.pick(["/rt-diff-@CG@", "/rt-diff-@CG@", "/rt-diff-@CG@/nested"])

    # -- mounts ---------------------------------------------------------------------------
    def mounts(self):
        base = self.base.get("mounts") or [{"destination": "/proc", "type": "proc",
                                             "source": "proc"}]
        for m in base:
            # The callers' bind sources (resolv.conf, hosts, shm...) become scratch files.
            src = m.get("source", "")
            if src.startswith("@W@/scratch/"):
                name = src.rsplit("/", 1)[1]
                kind = "scratch_dirs" if name.endswith("shm") else "scratch_files"
                self.setup[kind].append(name)
        if self.chance(0.05):
            base = []
        elif self.chance(0.1):
            base = [m for m in base if m["destination"] == "/proc" or self.chance(0.7)]
        out = list(base)
        for _ in range(self.pick([0, 0, 1, 2, 3, 4])):
            out.extend(self.extra_mount())
        for m in out:
            # `source` is OPTIONAL for filesystems that take none.
            if m.get("type") in ("proc", "tmpfs", "sysfs", "mqueue") and self.chance(0.05):
                m.pop("source", None)
        return out

    def extra_mount(self):
        """One or two mounts (a bind nested in a tmpfs comes after that tmpfs)."""
        kind = self.pick(["tmpfs", "bind", "bind", "bindfile", "proc", "sysfs", "mqueue",
                          "devpts", "cgroup", "nested", "devnull"])
        if kind == "tmpfs":
            opts = self.subset(["nosuid", "nodev", "noexec", "size=1m", "size=65536k",
                                "mode=700", "mode=1777", "uid=1000", "gid=1000",
                                "nr_inodes=100", "strictatime", "noatime", "ro", "rw",
                                "tmpcopyup"] + PROPAGATION[:2], 0.25)
            d = self.pick(["/mnt/t0", "/mnt/t1", "/tmp", "/etc", "/var/tmp"])
            self.probe_write.append(d + "/probe-w")
            return [self.omit_empty({"destination": d, "type": "tmpfs", "source": "tmpfs",
                                     "options": opts})]
        if kind in ("bind", "nested"):
            i = len(self.setup["scratch_dirs"])
            src = f"@W@/scratch/src{i}"
            self.setup["scratch_dirs"].append(f"src{i}")
            d = f"/mnt/b{i}" if kind == "bind" else f"/mnt/t0/b{i}"
            m = {"destination": d, "source": src}
            m.update(self.bind_type_and_opts())
            self.probe_write.append(d + "/probe-w")
            if kind == "nested":
                return [{"destination": "/mnt/t0", "type": "tmpfs", "source": "tmpfs"}, m]
            return [m]
        if kind == "bindfile":
            i = len(self.setup["scratch_files"])
            self.setup["scratch_files"].append(f"file{i}")
            m = {"destination": self.pick([f"/mnt/f{i}", f"/etc/bound{i}", "/etc/passwd"]),
                 "source": f"@W@/scratch/file{i}"}
            m.update(self.bind_type_and_opts())
            return [m]
        if kind == "proc":
            return [{"destination": "/mnt/proc", "type": "proc", "source": "proc",
                    "options": self.subset(["nosuid", "nodev", "noexec", "ro"], 0.4)}]
        if kind == "sysfs":
            return [{"destination": "/mnt/sys", "type": "sysfs", "source": "sysfs",
                    "options": self.subset(["nosuid", "nodev", "noexec", "ro"], 0.5)}]
        if kind == "mqueue":
            return [{"destination": "/mnt/mq", "type": "mqueue", "source": "mqueue",
                    "options": self.subset(["nosuid", "nodev", "noexec"], 0.5)}]
        if kind == "devpts":
            return [{"destination": "/mnt/pts", "type": "devpts", "source": "devpts",
                    "options": self.subset(["nosuid", "noexec", "newinstance",
                                            "ptmxmode=0666", "mode=0620", "gid=5"], 0.5)}]
        if kind == "cgroup":
            return [{"destination": "/mnt/cg", "type": "cgroup", "source": "cgroup",
                    "options": self.subset(["nosuid", "noexec", "nodev", "relatime", "ro"],
                                           0.5)}]
        if kind == "devnull":
            return [{"destination": "/mnt/null", "type": "bind", "source": "/dev/null",
                    "options": ["bind", self.pick(["ro", "rw"])]}]
        return []

    def bind_type_and_opts(self):
        style = self.pick(["bind+opt", "none+opt", "notype", "bind-only", "rbind"])
        opts = []
        m = {}
        if style == "bind+opt":
            m["type"] = "bind"
            opts.append(self.pick(["bind", "rbind"]))
        elif style == "none+opt":
            m["type"] = "none"
            opts.append(self.pick(["bind", "rbind"]))
        elif style == "notype":
            opts.append(self.pick(["bind", "rbind"]))
        elif style == "bind-only":
            m["type"] = "bind"
        else:
            m["type"] = "bind"
            opts.append("rbind")
        opts += self.subset(MOUNT_FLAG_OPTS, 0.12)
        opts += self.subset(PROPAGATION, 0.08)
        opts += self.subset(REC_ATTRS, 0.04)
        self.r.shuffle(opts)
        if opts or self.chance(0.3):
            m["options"] = opts
        return m

    @staticmethod
    def omit_empty(m):
        if not m.get("options"):
            m.pop("options", None)
        return m

    # -- linux ----------------------------------------------------------------------------
    def linux_paths(self, linux, flavour):
        if flavour == "bare" or self.chance(0.2):
            masked = self.subset(PROC_MASKED + ["/proc/nonexistent", "/sys/dev/block",
                                                "/sys/fs/selinux", "/etc/passwd", "/mnt",
                                                "/tmp"], 0.3)
            ro = self.subset(PROC_READONLY + ["/proc/nonexistent", "/etc", "/mnt/t0",
                                              "/tmp"], 0.3)
        else:
            masked = list(self.base.get("linux", {}).get("maskedPaths", PROC_MASKED))
            ro = list(self.base.get("linux", {}).get("readonlyPaths", PROC_READONLY))
        if masked or self.chance(0.5):
            linux["maskedPaths"] = masked
        if ro or self.chance(0.5):
            linux["readonlyPaths"] = ro
        self.probe_stat += [p for p in masked if not p.startswith("/proc/sys")]

    def devices(self, linux):
        if not self.chance(0.3):
            return
        devs = []
        for i in range(self.pick([0, 1, 2, 3])):
            kind = self.pick(["c", "c", "c", "b", "p", "u"])
            d = {"path": self.pick([f"/dev/x{i}", f"/dev/sub/x{i}", f"/mnt/dev{i}",
                                    "/dev/null"]), "type": kind}
            if kind in ("c", "u"):
                d["major"], d["minor"] = self.pick(SAFE_CHAR_DEVICES)
            elif kind == "b":
                d["major"], d["minor"] = (7, self.pick([0, 200]))
            else:
                d["major"], d["minor"] = 0, 0
            self.maybe(d, "fileMode", self.pick([0o666, 0o600, 0o644, 0o7777, 0o20666]), 0.6)
            self.maybe(d, "uid", self.pick([0, 1000]), 0.4)
            self.maybe(d, "gid", self.pick([0, 1000]), 0.4)
            devs.append(d)
            self.probe_stat.append(d["path"])
            if kind in ("c", "u"):
                self.probe_write.append(d["path"])
        linux["devices"] = devs

    def resources(self):
        r = self.base.get("linux", {}).get("resources", {})
        if self.chance(0.3):
            r["devices"] = self.device_rules()
        if self.chance(0.4):
            r["memory"] = self.memory()
        if self.chance(0.4):
            r["cpu"] = self.cpu()
        if self.chance(0.3):
            # Not below 64: runc's init and the hooks it starts are Go programs that need
            # threads in the container's cgroup, so runc fails at random under small limits.
            r["pids"] = {"limit": self.pick([-1, 0, 64, 1000, 2048])}
        if self.chance(0.25):
            r["blockIO"] = self.blkio()
        if self.chance(0.1) and self.h.hugepage_sizes:
            r["hugepageLimits"] = [{"pageSize": fmt_hugepage(self.pick(self.h.hugepage_sizes)),
                                    "limit": self.pick([0, 2 << 20, 1 << 30])}]
        if self.chance(0.05):
            r["network"] = {"classID": 0x100001,
                            "priorities": [{"name": "lo", "priority": 5}]}
        if self.chance(0.03):
            r["unified"] = {"memory.high": "max"}
        return r

    def device_rules(self):
        rules = [{"allow": False, "access": "rwm"}] if self.chance(0.8) else []
        for _ in range(self.pick([0, 1, 2, 3])):
            d = {"allow": self.chance(0.7)}
            self.maybe(d, "type", self.pick(["c", "b", "a"]), 0.8)
            self.maybe(d, "major", self.pick([1, 5, 7, -1]), 0.7)
            self.maybe(d, "minor", self.pick([3, 5, 7, 9, -1]), 0.6)
            self.maybe(d, "access", self.pick(["rwm", "r", "w", "m", "rw", "wm"]), 0.9)
            rules.append(d)
        return rules

    def memory(self):
        m = {}
        limit = self.pick([-1, 0, 32 << 20, 64 << 20, 256 << 20, 1 << 30])
        self.maybe(m, "limit", limit, 0.8)
        lim = m.get("limit", 0)
        if self.chance(0.4):
            swaps = [-1, 0]
            if lim > 0:
                swaps += [lim, lim * 2]
            m["swap"] = self.pick(swaps)
        self.maybe(m, "reservation", self.pick([0, 16 << 20, 128 << 20, -1]), 0.3)
        self.maybe(m, "swappiness", self.pick([0, 10, 60, 100]), 0.25)
        self.maybe(m, "disableOOMKiller", self.chance(0.5), 0.3)
        self.maybe(m, "kernel", self.pick([-1, 0, 64 << 20]), 0.1)
        self.maybe(m, "kernelTCP", self.pick([-1, 0, 64 << 20]), 0.1)
        self.maybe(m, "useHierarchy", self.chance(0.5), 0.05)
        self.maybe(m, "checkBeforeUpdate", self.chance(0.5), 0.05)
        return m

    def cpu(self):
        c = {}
        self.maybe(c, "shares", self.pick([0, 2, 512, 1024, 262144, 1]), 0.6)
        # At least 5% of a CPU: less makes create (whose hooks and init run in the cgroup)
        # take longer than the harness waits on a busy machine.
        if self.chance(0.1):
            c["quota"], c["period"] = 1000, 1000
        else:
            self.maybe(c, "quota", self.pick([-1, 0, 50000, 200000]), 0.4)
            self.maybe(c, "period", self.pick([0, 100000, 1000000]), 0.4)
        self.maybe(c, "burst", self.pick([0, 1000]), 0.05)
        self.maybe(c, "realtimeRuntime", self.pick([0, -1]), 0.1)
        self.maybe(c, "realtimePeriod", self.pick([0, 1000000]), 0.1)
        self.maybe(c, "cpus", self.pick(["", "0", self.h.cpus]), 0.3)
        self.maybe(c, "mems", self.pick(["", "0"]), 0.2)
        self.maybe(c, "idle", self.pick([0, 1]), 0.05)
        return c

    def blkio(self):
        b = {}
        self.maybe(b, "weight", self.pick([0, 0, 10, 500, 1000]), 0.7)
        self.maybe(b, "leafWeight", self.pick([0, 10, 500]), 0.2)
        dev = self.h.block_dev
        if dev and self.chance(0.5):
            key = self.pick(["throttleReadBpsDevice", "throttleWriteBpsDevice",
                             "throttleReadIOPSDevice", "throttleWriteIOPSDevice"])
            b[key] = [{"major": dev[0], "minor": dev[1],
                       "rate": self.pick([0, 1000, 1 << 20])}]
        if dev and self.chance(0.1):
            b["weightDevice"] = [{"major": dev[0], "minor": dev[1], "weight": 500}]
        return b

    def seccomp(self):
        kind = self.pick(["docker", "podman", "small", "small", "empty"])
        if kind in ("docker", "podman") and "seccomp" in self.h.callers[kind]["linux"]:
            return self.caller(kind)["linux"]["seccomp"]
        if kind == "empty":
            return {"defaultAction": "SCMP_ACT_ALLOW"} if self.chance(0.5) else \
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
        action = self.pick(["SCMP_ACT_ERRNO", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG",
                            "SCMP_ACT_ALLOW", "SCMP_ACT_TRACE"])
        # ioprio_get: the probe calls it (`ioprio`) and runc's own init does not (a filter on
        # a syscall runc makes after installing it, such as getppid, kills runc itself).
        rule = {"names": ["ioprio_get"], "action": action}
        if action == "SCMP_ACT_ERRNO":
            self.maybe(rule, "errnoRet", self.pick([0, 1, 13, 38]), 0.7)
        if self.chance(0.3):
            rule["args"] = [{"index": 0, "value": 0, "op": self.pick(
                ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"])}]
        s = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}
        self.maybe(s, "architectures", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                        "SCMP_ARCH_X32"], 0.5)
        self.maybe(s, "flags", self.subset(["SECCOMP_FILTER_FLAG_LOG",
                                            "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], 0.5), 0.2)
        return s

    def annotations(self):
        a = {}
        for k, v in [("org.example.key", "value"), ("io.kubernetes.cri-o.TTY", "false"),
                     ("empty", ""), ("com.example/with-slash", "x=y")]:
            if self.chance(0.5):
                a[k] = v
        return a

    def hooks(self, cfg):
        hooks = {}
        for kind in ["prestart", "createRuntime", "createContainer", "startContainer",
                     "poststart", "poststop"]:
            n = self.pick([0, 0, 1, 2])
            if n == 0:
                if self.chance(0.1):
                    hooks[kind] = []
                continue
            hooks[kind] = [self.hook(kind, i, cfg) for i in range(n)]
        return hooks

    def hook(self, kind, i, cfg):
        if kind == "startContainer":
            # Resolved inside the container: the probe itself records stdin on a scratch
            # bind mounted read-write at /hookout.
            if not any(m.get("destination") == "/hookout" for m in cfg["mounts"]):
                self.setup["scratch_dirs"].append("hookout")
                cfg["mounts"].append({"destination": "/hookout", "type": "bind",
                                      "source": "@W@/scratch/hookout",
                                      "options": ["rbind", "rw"]})
            h = {"path": "/checker", "args": ["checker", "stdin_to",
                                              f"/hookout/{kind}-{i}.json"]}
        else:
            out = f"@W@/hooks/{kind}-{i}"
            fail = self.chance(0.04)
            script = ('cat > "$1.json"; pwd > "$1.cwd"; env | LC_ALL=C sort > "$1.env"; '
                      'echo "$2" >> "$(dirname "$1")/order"' +
                      ('; echo "$2 fails" >&2; exit 3' if fail else ""))
            h = {"path": "/bin/sh", "args": ["sh", "-c", script, "sh", out, f"{kind}-{i}"]}
        self.maybe(h, "env", self.pick([[], ["HOOKVAR=1"], [PATH_ENV, "HOOKVAR=2"]]), 0.4)
        self.maybe(h, "timeout", self.pick([5, 30]), 0.3)
        return h

    # -- the probe ------------------------------------------------------------------------
    def probe_args(self, cfg):
        args = ["/checker", "ids", "cat", "/proc/self/status", "cwd", "env", "hostname",
                "rlimits", "ns", "oom_score_adj", "mounts", "getppid", "ioprio", "sched",
                "affinity", "personality"]
        if self.chance(0.1):
            args[0] = self.pick(["checker", "/./checker", "/missing-binary"])
            if args[0] == "checker" and self.chance(0.5):
                cfg["process"].setdefault("env", []).append("PATH=/")
        for k in sorted(cfg["linux"].get("sysctl", {})):
            args += ["sysctl", k]
        for p in dict.fromkeys(self.probe_stat + [cfg["process"]["cwd"]]):
            args += ["stat", p]
        for p in dict.fromkeys(WRITE_TARGETS + self.probe_write):
            args += ["write", p]
        if self.chance(0.15):
            args += ["args", "with space", "", "-x", "\u00e9"]
        else:
            args += ["exit", str(self.pick(PROBE_EXITS))]
        return args


def ns_file(t):
    return {"network": "net", "mount": "mnt"}.get(t, t)


def runc_spec():
    """`runc spec`'s template, from the runc on this machine."""
    with tempfile.TemporaryDirectory(prefix="rt-diff-spec.") as d:
        subprocess.run(["runc", "spec", "--bundle", d], check=True)
        return json.loads((Path(d) / "config.json").read_text())


def generate(seed, index, host):
    """The case for (seed, index): reproducible on the same host."""
    g = Gen(random.Random(f"{seed}-{index}"), host)
    case = g.case()
    case["seed"], case["index"] = seed, index
    return case


if __name__ == "__main__":
    import sys
    h = Host()
    print(json.dumps(generate(int(sys.argv[1]), int(sys.argv[2]), h), indent=1))
