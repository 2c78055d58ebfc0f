"""Run one generated case on one runtime and record what a user can observe.

The caller must be a child subreaper (PR_SET_CHILD_SUBREAPER, see `become_subreaper`): the
container's init is reparented to us when `create` exits, so we reap it and get its exit status
the way containerd's shim does. Everything lives under the run's work dir `W` (state --root,
bundle, rootfs, scratch bind sources, hook records) and in cgroups named /rt-diff-<CG>...; all
of it is removed before returning, and whatever the runtime left behind is recorded first.

Observations are normalised here (the work dir, container id, cgroup name, pids and namespace
inodes are replaced by stable tokens) so that compare.py sees only what should be equal.
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CMD_TIMEOUT = 15
EXIT_TIMEOUT = 20
PR_SET_CHILD_SUBREAPER = 36

# cgroup v1 files (by controller) whose values a config sets; read from outside after create.
CGROUP_FILES = {
    "memory": ["memory.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.oom_control",
               "memory.kmem.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes",
               "memory.use_hierarchy"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us",
            "cpu.rt_runtime_us", "cpu.rt_period_us", "cpu.idle"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max"],
    "blkio": ["blkio.weight", "blkio.leaf_weight", "blkio.weight_device",
              "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
              "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"],
    "devices": ["devices.list"],
    "freezer": ["freezer.state"],
    "hugetlb": ["hugetlb.2MB.limit_in_bytes", "hugetlb.1GB.limit_in_bytes"],
    "net_cls": ["net_cls.classid"],
    "net_prio": ["net_prio.ifpriomap"],
    "": ["memory.high", "cgroup.type"],
}
STATUS_KEYS = ["Umask", "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
               "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"]
SH_VARS = ("PWD=", "OLDPWD=", "SHLVL=", "_=", "PWD", "OLDPWD", "SHLVL", "_")
HOLDER_FLAGS = {"network": "--net", "ipc": "--ipc", "uts": "--uts"}


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def substitute(obj, subs):
    text = json.dumps(obj)
    for k, v in subs.items():
        text = text.replace(k, v)
    return json.loads(text)


class Run:
    """One runtime on one case: `observe()` returns the normalised observations."""

    def __init__(self, case, runtime_name, runtime_bin, work, tag, checker):
        self.case = case
        self.name = runtime_name
        self.bin = runtime_bin
        self.w = Path(work)
        self.cg = f"{tag}-{runtime_name}"
        self.id = f"rt-diff-{tag}-{runtime_name}"
        self.checker = checker
        self.holder = None
        self.pid = None
        self.timed_out = False
        self.obs = {}

    # -- helpers --------------------------------------------------------------------------
    def rt(self, *args, timeout=CMD_TIMEOUT, out=None):
        """Run the runtime; stdout/stderr go to files (a detached init keeps them open)."""
        out = out or self.w / f"cmd-{args[0]}"
        # stdin: an empty file of ours, never the host's /dev/null: runc 1.1.5 hands stdio to
        # process.user unless it matches the container's /dev/null, which a generated
        # linux.devices entry may replace (it then chowns the host's /dev/null).
        with open(f"{out}.in", "w+b") as i, open(f"{out}.out", "wb") as o, \
                open(f"{out}.err", "wb") as e:
            # cwd: the work dir, so a hook run in the runtime's own cwd shows a stable path.
            p = subprocess.Popen([self.bin, "--root", str(self.w / "root"), *args],
                                 stdin=i, stdout=o, stderr=e, cwd=self.w,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rc = "timeout"
                self.timed_out = True
        return rc, Path(f"{out}.out").read_text(errors="replace"), \
            Path(f"{out}.err").read_text(errors="replace")

    def norm(self, s):
        if not isinstance(s, str):
            return s
        for k, v in [(str(self.w), "$W"), (self.id, "$ID"), (self.cg, "$CG")]:
            s = s.replace(k, v)
        return s

    # -- preparation ----------------------------------------------------------------------
    def prepare(self):
        setup = self.case["setup"]
        for d in ["root", "bundle", "scratch", "hooks"]:
            (self.w / d).mkdir(parents=True)
        rootfs = self.w / ("rootfs-abs" if setup["rootfs_abs"] else "bundle/rootfs")
        make_rootfs(rootfs, self.checker, setup["etc"])
        for d in setup["scratch_dirs"]:
            p = self.w / "scratch" / d
            p.mkdir(exist_ok=True)
            os.chmod(p, 0o777)  # in-container hooks and probes may run as any user
            (p / "hello").write_text(f"{d}\n")
        for f in setup["scratch_files"]:
            (self.w / "scratch" / f).write_text(f"{f}\n")
        subs = {"@W@": str(self.w), "@CG@": self.cg}
        if setup["holder"]:
            self.holder = start_holder(setup["holder"])
            subs["@HOLDER@"] = str(self.holder.pid)
        self.config = substitute(self.case["config"], subs)
        (self.w / "bundle/config.json").write_text(json.dumps(self.config, indent=1))

    # -- the lifecycle --------------------------------------------------------------------
    def observe(self):
        unsafe = safety_problems(self.case["config"])
        if unsafe:
            # Never run it: the runtime would touch the host (the minimizer makes such
            # configs when it drops a namespace; the generator never should).
            return {"outcome": {"class": "skipped", "why": unsafe}}
        try:
            self.prepare()
            self.lifecycle()
        finally:
            self.cleanup()
        return self.obs

    def lifecycle(self):
        o = self.obs
        rc, _, err = self.rt("create", "--bundle", str(self.w / "bundle"), "--pid-file",
                             str(self.w / "init.pid"), self.id, out=self.w / "ctr")
        # What create wrote; the container's own stderr (same file) comes after it.
        self.create_err_len = (self.w / "ctr.err").stat().st_size
        if rc != 0:
            o["outcome"] = {"class": "error", "stage": "create", "rc": rc,
                            "msg": self.norm(err.strip()[-2000:])}
            return
        try:
            self.pid = int((self.w / "init.pid").read_text().strip())
        except (OSError, ValueError) as e:
            o["outcome"] = {"class": "error", "stage": "pid-file", "msg": str(e)}
            return
        self.observe_state()
        self.observe_cgroups()
        rc, _, err = self.rt("start", self.id)
        if rc != 0:
            o["outcome"] = {"class": "error", "stage": "start", "rc": rc,
                            "msg": self.norm(err.strip()[-2000:])}
            self.kill_init()
            self.finish()
            return
        o["outcome"] = self.wait_init()
        self.finish()

    def finish(self):
        """Delete (poststop hooks run here), then read what the container and hooks left."""
        rc, _, err = self.rt("delete", self.id)
        self.obs["delete"] = "ok" if rc == 0 else "error"
        if rc != 0:
            self.obs["delete_msg"] = self.norm(err.strip()[-500:])
        self.observe_output()
        self.observe_hooks()

    def wait_init(self):
        deadline = time.monotonic() + EXIT_TIMEOUT
        while time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                # Not reparented to us (cannot happen with a subreaper unless the runtime
                # keeps a parent around); fall back to watching /proc.
                if not Path(f"/proc/{self.pid}").exists():
                    return {"class": "exit", "code": "unknown (not our child)"}
                time.sleep(0.01)
                continue
            if pid == self.pid:
                if os.WIFSIGNALED(status):
                    return {"class": "signal", "signal": os.WTERMSIG(status)}
                return {"class": "exit", "code": os.WEXITSTATUS(status)}
            time.sleep(0.005)
        self.kill_init()
        return {"class": "timeout"}

    def kill_init(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    # -- observations ---------------------------------------------------------------------
    def observe_state(self):
        rc, out, _ = self.rt("state", self.id)
        if rc != 0:
            self.obs["state"] = {"error": rc}
            return
        try:
            st = json.loads(out)
        except ValueError:
            self.obs["state"] = {"unparsable": self.norm(out[:200])}
            return
        self.obs["state"] = self.norm_state(st)

    def norm_state(self, st):
        out = {}
        for k, v in st.items():
            if k == "pid":
                v = "init" if v == self.pid else ("1" if v == 1 else "other")
            elif k == "created":
                v = "<time>" if isinstance(v, str) and v[:2] == "20" else v
            elif isinstance(v, str):
                v = self.norm(v)
            out[k] = v
        return out

    def observe_cgroups(self):
        """The container's cgroups (normalised paths) and the files a config sets."""
        try:
            lines = Path(f"/proc/{self.pid}/cgroup").read_text().splitlines()
        except OSError as e:
            self.obs["cgroup"] = {"error": str(e)}
            return
        cg = {}
        self.cgroup_dirs = []
        for line in lines:
            _, ctrls, path = line.split(":", 2)
            for ctrl in ctrls.split(","):
                key = ctrl or "unified"
                cg[f"path {key}"] = self.norm(path)
                if self.cg not in path:
                    continue
                base = CGROUP_ROOT / (ctrl.replace("name=", "") if ctrl else "unified")
                d = base / path.lstrip("/")
                for f in CGROUP_FILES.get(ctrl, []):
                    try:
                        cg[f] = (d / f).read_text().strip()
                    except OSError:
                        continue
                    if f == "devices.list":
                        # Listed in the order rules were written; the access is the same.
                        cg[f] = "\n".join(sorted(cg[f].splitlines()))
        self.obs["cgroup"] = cg

    def observe_output(self):
        raw = (self.w / "ctr.out").read_text(errors="replace")
        err = (self.w / "ctr.err").read_bytes()[self.create_err_len:].decode(errors="replace")
        facts, other = parse_probe(raw)
        self.obs["stdout_other"] = [self.norm(x) for x in other]
        self.obs["stderr"] = self.norm(err.strip())
        self.obs["facts"] = self.norm_facts(facts)

    def norm_facts(self, facts):
        host_ns = {t: os.readlink(f"/proc/self/ns/{t}") for t in os.listdir("/proc/self/ns")}
        holder_ns = {}
        if self.holder:
            for t in os.listdir(f"/proc/{self.holder.pid}/ns"):
                holder_ns[t] = os.readlink(f"/proc/{self.holder.pid}/ns/{t}")
        out = {}
        for key, v in facts.items():
            if key == "ns":
                n = {}
                for t, link in v.items():
                    if t == "cmd":
                        continue
                    if t == "mypid":
                        n[t] = "1" if link == 1 else "not 1"
                    elif link == "":
                        n[t] = "absent"
                    elif link == host_ns.get(t):
                        n[t] = "host"
                    elif link == holder_ns.get(t) and t not in ("mnt", "pid", "user"):
                        n[t] = "holder"
                    else:
                        n[t] = "new"
                out[key] = n
            elif key == "cat /proc/self/status" and "data" in v:
                status = {}
                for line in v["data"].splitlines():
                    k, _, val = line.partition(":")
                    if k in STATUS_KEYS:
                        status[k] = " ".join(val.split())
                out["status"] = status
            elif key == "cat /proc/self/mountinfo" and "data" in v:
                out["mounts"] = [self.norm_mountinfo(line) for line in v["data"].splitlines()]
            elif key == "getppid":
                out[key] = {"ret": "ok" if v.get("ret", -1) > 0 else v.get("ret"),
                            "errno": v.get("errno")}
            else:
                out[key] = {k: self.norm(x) for k, x in v.items() if k != "cmd"}
        return out

    def norm_mountinfo(self, line):
        pre, _, post = line.partition(" - ")
        f = pre.split()
        # Split on single spaces: an empty source (a mount made with source "") stays empty.
        fstype, source, sopts = (post.split(" ") + ["", "", ""])[:3]
        tags = sorted(t.split(":")[0] for t in f[6:])
        return {"target": self.norm(f[4]), "root": self.norm(f[3]), "opts": f[5],
                "propagation": ",".join(tags), "fstype": fstype,
                "source": self.norm(source), "super": self.norm(sopts)}

    def observe_hooks(self):
        h = {}
        hooks_dir = self.w / "hooks"
        for p in sorted(hooks_dir.glob("*")):
            name = p.name
            text = p.read_text(errors="replace")
            if name.endswith(".json"):
                h[name] = self.norm_hook_state(text)
            elif name.endswith(".env"):
                # sh's own variables are dropped; the harness's environment (which the
                # runtime passes on when a hook has no env) is one token.
                env = [x for x in text.splitlines() if not x.startswith(SH_VARS)]
                ours = sorted(f"{k}={v}" for k, v in os.environ.items()
                              if "\n" not in v and not k.startswith(SH_VARS))
                proc_env = set(self.config.get("process", {}).get("env") or [])
                if env == ours:
                    h[name] = "<runtime env>"
                elif proc_env and any(x in proc_env for x in env):
                    h[name] = ["<process env>"] + [self.norm(x) for x in env
                                                   if x not in proc_env]
                else:
                    h[name] = [self.norm(x) for x in env]
            else:
                h[name] = self.norm(text.strip())
        for p in sorted((self.w / "scratch/hookout").glob("*.json")):
            h["in-container " + p.name] = self.norm_hook_state(p.read_text(errors="replace"))
        if h:
            self.obs["hooks"] = h

    def norm_hook_state(self, text):
        try:
            return self.norm_state(json.loads(text))
        except ValueError:
            return {"unparsable": self.norm(text[:300])}

    # -- cleanup --------------------------------------------------------------------------
    def cleanup(self):
        left = {}
        root = self.w / "root"
        if root.exists() and any(root.iterdir()):
            # A runtime we killed after a timeout leaves its state: not counted.
            if not self.timed_out:
                left["state dir"] = sorted(self.norm(p.name) for p in root.iterdir())
            self.rt("delete", "--force", self.id)
        self.kill_init()
        kill_strays(self.holder)
        dirs = self.our_cgroups()
        # The container's own cgroup left in some hierarchies ({path: how many}). Parents
        # of a nested cgroupsPath are made on the way (mkdir -p) and runc leaves them too.
        leaf = self.config.get("linux", {}).get("cgroupsPath", "").strip("/")
        paths = {}
        for d in set(dirs):
            p = "/".join(d.relative_to(CGROUP_ROOT).parts[1:])
            if leaf and (p == leaf or p.startswith(leaf + "/")):
                paths[self.norm(p)] = paths.get(self.norm(p), 0) + 1
        if paths and not self.timed_out:
            left["cgroups"] = dict(sorted(paths.items()))
        for d in sorted(dirs, key=lambda p: -len(p.parts)):
            remove_cgroup(d)
        if self.holder:
            self.holder.kill()
            self.holder.wait()
        reap_orphans()
        mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if str(self.w) in line]
        if mounts:
            left["host mounts"] = [self.norm(m.split()[4]) for m in mounts]
        if left:
            self.obs["left behind"] = left
        if not mounts and not os.environ.get("RT_DIFF_KEEP"):
            shutil.rmtree(self.w, ignore_errors=True)

    def our_cgroups(self):
        """Every cgroup dir named after this run (leaf and nested), deepest first later."""
        found = []
        for ctrl in CGROUP_ROOT.iterdir():
            top = ctrl / f"rt-diff-{self.cg}"
            if top.is_dir():
                found += [Path(dp) for dp, _, _ in os.walk(top)]
            for d in ctrl.glob(f"{self.id}"):
                found.append(d)
        return found


# Which namespace a sysctl belongs to (the kernel's list of namespaced sysctls).
SYSCTL_OWNERS = [("net.", "network"), ("kernel.msg", "ipc"), ("kernel.sem", "ipc"),
                 ("kernel.shm", "ipc"), ("fs.mqueue.", "ipc"), ("kernel.domainname", "uts"),
                 ("kernel.hostname", "uts")]


def safety_problems(cfg):
    """Why running cfg could touch the host, or "" when it cannot: no new mount namespace
    (the runtime would mount in ours), a cgroup path outside /rt-diff-* (a relative one
    lands below the harness's own cgroup), a sysctl of a namespace the container does not
    create (it would set the host's)."""
    linux = cfg.get("linux") or {}
    new = {n.get("type") for n in linux.get("namespaces") or [] if not n.get("path")}
    if "mount" not in new:
        return "no new mount namespace"
    if not str(linux.get("cgroupsPath", "")).startswith("/rt-diff-"):
        return "cgroupsPath is not /rt-diff-*"
    for key in linux.get("sysctl") or {}:
        owner = next((ns for prefix, ns in SYSCTL_OWNERS if key.startswith(prefix)), None)
        if owner not in new:
            return f"sysctl {key} is not in a namespace the container creates"
    return ""


def remove_cgroup(d, timeout=5):
    """Kill what is left in a cgroup of ours and remove it. A killed task in a throttled cgroup
    dies only at its next CPU slice, so retry for a while."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pids = (d / "cgroup.procs").read_text().split()
        except OSError:
            return  # already gone
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap_orphans()
        try:
            d.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def kill_strays(holder):
    """Kill our children other than the holder: what a runtime we killed on a timeout left
    running (reparented to us, the subreaper), before it creates more cgroups. A worker runs
    one case at a time, so every child is this run's."""
    me = str(os.getpid())
    for p in os.listdir("/proc"):
        if not p.isdigit() or (holder and int(p) == holder.pid):
            continue
        try:
            ppid = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == me:
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
    reap_orphans()


def reap_orphans():
    """Reap whatever was reparented to us (runtime helpers, hook children)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def start_holder(types):
    """A process in new namespaces of the given types, for configs that join them."""
    args = ["unshare"] + [HOLDER_FLAGS[t] for t in types] + ["sleep", "1000"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    mine = os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/uts"), \
        os.readlink("/proc/self/ns/ipc")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            theirs = tuple(os.readlink(f"/proc/{p.pid}/ns/{t}") for t in ["net", "uts", "ipc"])
            exe = os.readlink(f"/proc/{p.pid}/exe")
        except OSError:
            theirs, exe = mine, ""
        if exe.endswith("sleep") and theirs != mine:
            return p
        time.sleep(0.01)
    p.kill()
    p.wait()
    raise RuntimeError("namespace holder did not start")


def make_rootfs(rootfs, checker, etc):
    for d, mode in [("proc", 0o755), ("sys", 0o755), ("dev", 0o755), ("tmp", 0o1777),
                    ("mnt", 0o755), ("etc", 0o755), ("root", 0o700), ("home/u", 0o755),
                    ("var/tmp", 0o1777), ("run", 0o755)]:
        (rootfs / d).mkdir(parents=True, exist_ok=True)
        os.chmod(rootfs / d, mode)
    os.chown(rootfs / "home/u", 1000, 1000)
    shutil.copy(checker, rootfs / "checker")
    os.chmod(rootfs / "checker", 0o755)
    (rootfs / "tmp/in-image").write_text("from the image\n")
    if etc:
        (rootfs / "etc/passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000:u:/home/u:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        (rootfs / "etc/group").write_text(
            "root:x:0:\ntty:x:5:\nusers:x:100:u\nu:x:1000:\nnogroup:x:65534:\n")


def parse_probe(raw):
    """checker's JSON lines -> {key: fact}; anything else is returned separately."""
    facts, other = {}, []
    for line in raw.splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            other.append(line)
            continue
        if not isinstance(v, dict) or "cmd" not in v:
            other.append(line)
            continue
        facts[v["cmd"] + (f" {v['arg']}" if "arg" in v else "")] = v
    return facts, other
