#!/usr/bin/python3
"""A CRI client that drives containerd's CRI plugin the way the kubelet does, one pod per runtime
handler, and checks each step from outside: the runtime's cgroup files, /proc inside the
container through ExecSync, the bundle and runtime root left behind.

The message classes come from protoc's Python output for the CRI API's api.proto (run.sh makes
it); the gRPC calls are plain unary calls by method name, so no grpc code generator is needed.
Prints "PASS <handler>: <step>" or "FAIL <handler>: <step>" with indented details per check.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import grpc
from google.protobuf import json_format

RUNTIME = "runtime.v1.RuntimeService"
NAMESPACE = "k8s.io"  # the containerd namespace the CRI plugin keeps everything in
MiB = 1 << 20
# A container that runs until SIGTERM and then exits 0 at once; StopContainer checks both.
LOOP = ["sh", "-c", 'echo started; trap "exit 0" TERM; while true; do sleep 0.1; done']
# What the kubelet (Kubernetes 1.26, of containerd 1.6's time) sends for the default ProcMount;
# containerd 1.6 masks nothing unless told.
KUBELET_MASKED = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
KUBELET_READONLY = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
TIME_SCALE = 1  # --time-scale: every deadline and time bound is multiplied by it
OOM_SCORE_ADJ = 936  # a Burstable pod's, as the kubelet computes them
RUNTIME_DEFAULT = {"profileType": "RuntimeDefault"}
# case -> (what it is, its container securityContext beyond the kubelet's defaults, the
# Seccomp mode /proc/self/status must show)
CASES = {
    "runtime-default": ("seccomp RuntimeDefault", {"seccomp": RUNTIME_DEFAULT}, "2"),
    "unconfined": ("no seccomp profile", {}, "0"),
    # Kubernetes' "restricted" Pod Security Standard, as most hardened workloads run
    "restricted": (
        "uid 1000, no_new_privs, all capabilities dropped, read-only rootfs, RuntimeDefault",
        {
            "seccomp": RUNTIME_DEFAULT,
            "runAsUser": {"value": 1000},
            "runAsGroup": {"value": 1000},
            "noNewPrivs": True,
            "capabilities": {"dropCapabilities": ["ALL"]},
            "readonlyRootfs": True,
        },
        "2",
    ),
}


class CheckFailed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


class Report:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def step(self, name, fn, *args):
        """Run one step; its return value (True if it has none), or None once it failed."""
        try:
            result = fn(*args)
        except CheckFailed as e:
            self.fail(name, str(e))
            return None
        except grpc.RpcError as e:
            self.fail(name, f"gRPC {e.code().name}: {e.details()}")
            return None
        except Exception as e:  # a surprise in a reply fails this step, not the whole run
            self.fail(name, f"{type(e).__name__}: {e}")
            return None
        print(f"PASS {name}", flush=True)
        self.passed += 1
        return True if result is None else result

    def fail(self, name, detail):
        print(f"FAIL {name}", flush=True)
        for line in detail.splitlines()[:20]:
            print(f"    {line}", flush=True)
        self.failed += 1


class Cri:
    def __init__(self, socket, pb):
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.pb = pb

    def call(self, method, request=None, timeout=60, service=RUNTIME):
        req = json_format.ParseDict(request or {}, getattr(self.pb, f"{method}Request")())
        rpc = self.channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=type(req).SerializeToString,
            response_deserializer=getattr(self.pb, f"{method}Response").FromString,
        )
        return rpc(req, timeout=timeout * TIME_SCALE)


def expand_slice(name):
    """Where systemd puts a slice: a-b-c.slice is /a.slice/a-b.slice/a-b-c.slice."""
    parts = name.removesuffix(".slice").split("-")
    return "".join("/" + "-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def cgroup_of(cgroups_path):
    """The cgroup a spec's cgroupsPath names: the path itself for the cgroupfs driver; for the
    systemd driver's slice:prefix:name, the scope unit prefix-name.scope in that slice."""
    if ":" not in cgroups_path:
        return cgroups_path
    slice_name, prefix, name = cgroups_path.split(":")
    return f"{expand_slice(slice_name)}/{prefix}-{name}.scope"


def cgroup_file(cgroups_path, controller, v1_name, v2_name):
    path = cgroup_of(cgroups_path)
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return f"/sys/fs/cgroup{path}/{v2_name}"
    return f"/sys/fs/cgroup/{controller}{path}/{v1_name}"


def unit_properties(cgroups_path, *names):
    """systemd driver: these properties of the container's scope unit, as `systemctl show` has them."""
    unit = os.path.basename(cgroup_of(cgroups_path))
    r = subprocess.run(["systemctl", "show", "-p", ",".join(names), unit], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"systemctl show {unit}: {r.stderr.strip()}")
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def check_unit(cgroups_path, memory, quota, period):
    """systemd driver: the scope unit runs and holds the limits as properties; a limit that is
    only in the cgroup files is lost at the next `systemctl daemon-reload`. (systemctl shows the
    CPU times in ms: every value used here is a whole number of ms below a second.)"""
    names = ("ActiveState", "MemoryMax", "CPUQuotaPerSecUSec", "CPUQuotaPeriodUSec")
    got = unit_properties(cgroups_path, *names)
    want = dict(zip(names, ("active", str(memory), f"{quota * 1000 // period}ms", f"{period // 1000}ms")))
    check(got == want, f"unit properties {got}, wanted {want}")


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise CheckFailed(f"{path}: {e.strerror}")


def check_limits(cgroups_path, memory, quota, period, shares):
    """The host's cgroup files hold what CRI asked for (v1 or v2 names)."""
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    mem = read(cgroup_file(cgroups_path, "memory", "memory.limit_in_bytes", "memory.max"))
    check(mem == str(memory), f"memory limit {mem}, wanted {memory}")
    if v2:
        cpu = read(cgroup_file(cgroups_path, "cpu", "", "cpu.max"))
        check(cpu == f"{quota} {period}", f"cpu.max {cpu!r}, wanted '{quota} {period}'")
        return
    got = read(cgroup_file(cgroups_path, "cpu", "cpu.cfs_quota_us", ""))
    check(got == str(quota), f"cpu.cfs_quota_us {got}, wanted {quota}")
    got = read(cgroup_file(cgroups_path, "cpu", "cpu.cfs_period_us", ""))
    check(got == str(period), f"cpu.cfs_period_us {got}, wanted {period}")
    got = read(cgroup_file(cgroups_path, "cpu", "cpu.shares", ""))
    check(got == str(shares), f"cpu.shares {got}, wanted {shares}")


def wait_for(pred, seconds=10):
    end = time.monotonic() + seconds * TIME_SCALE
    while True:
        value = pred()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.1)


def processes_mentioning(word):
    """Pids whose command line has `word` as one argument (to find a pod's shim)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if word.encode() in args:
            found.append(int(pid))
    return found


class Pod:
    """One pod on one runtime handler: a host-network pod with the CASES containers, or a
    pod-network pod with one container."""

    def __init__(self, cri, opts, handler, report, network):
        """network: NODE (a hostNetwork pod: containerd's own network namespace) or POD (a
        network namespace of the pod's own, set up by the CNI bridge plugin)."""
        self.cri, self.opts, self.handler, self.report = cri, opts, handler, report
        self.network = network
        self.kind = "pod" if network == "NODE" else "podnet"
        self.cgroup_parent = f"{opts.cgroup_prefix}-{handler}"
        if opts.systemd_cgroup:  # as the kubelet's systemd driver names a pod's slice
            self.cgroup_parent = expand_slice(self.cgroup_parent + ".slice")
        self.log_dir = os.path.join(opts.work, f"logs-{self.kind}-{handler}")
        self.pod_config = {
            "metadata": {"name": f"{self.kind}-{handler}", "uid": f"uid-{self.kind}-{handler}", "namespace": "rt-cri"},
            "logDirectory": self.log_dir,
            "linux": {
                "cgroupParent": self.cgroup_parent,
                "securityContext": {"namespaceOptions": {"network": network, "pid": "POD", "ipc": "POD"}},
            },
        }
        # the kubelet names only pods with a UTS namespace of their own, which a hostNetwork pod
        # lacks (runc refuses a hostname there)
        if network == "POD":
            self.pod_config["hostname"] = f"{self.kind}-{handler}"
        self.pod = None
        self.containers = {}  # case -> container id

    def name(self, step):
        return f"{self.handler}: {step}" if self.network == "NODE" else f"{self.handler}: pod network: {step}"

    def bundle(self, cid):
        return os.path.join(self.opts.state, "io.containerd.runtime.v2.task", NAMESPACE, cid)

    def runtime_state(self, cid):
        """The runtime's own state dir: proof that this handler's binary runs the container."""
        return os.path.join(self.opts.runtime_root[self.handler], NAMESPACE, cid)

    def spec(self, cid):
        """The config.json the runtime was given (the task exists from StartContainer on)."""
        with open(os.path.join(self.bundle(cid), "config.json")) as f:
            return json.load(f)

    def planned_spec(self, cid):
        """The spec the CRI plugin keeps for a container it has not started yet."""
        info = self.cri.call("ContainerStatus", {"containerId": cid, "verbose": True}).info
        return json.loads(info["info"])["runtimeSpec"]

    # ---------------------------------------------------------------- steps
    def run_pod(self):
        resp = self.cri.call("RunPodSandbox", {"config": self.pod_config, "runtimeHandler": self.handler})
        self.pod = resp.pod_sandbox_id
        st = self.cri.call("PodSandboxStatus", {"podSandboxId": self.pod}).status
        check(st.state == self.cri.pb.SANDBOX_READY, f"pod state {st.state}, wanted SANDBOX_READY")
        check(st.runtime_handler == self.handler, f"runtime handler {st.runtime_handler!r}")
        cg = self.spec(self.pod)["linux"]["cgroupsPath"]
        if self.opts.systemd_cgroup:
            want = f"{os.path.basename(self.cgroup_parent)}:cri-containerd:{self.pod}"
            check(cg == want, f"sandbox cgroupsPath {cg}, wanted {want}")
        else:
            check(cg.startswith(self.cgroup_parent + "/"), f"sandbox cgroupsPath {cg}")
        # the sandbox's pause holds the pod's cgroup: its pid is in the cgroup the spec names
        procs = read(cgroup_file(cg, "pids", "cgroup.procs", "cgroup.procs")).split()
        check(len(procs) == 1, f"{cg} holds {procs}, wanted the pause process")

    def volume(self, case):
        return os.path.join(self.opts.work, f"volumes-{self.kind}-{self.handler}", case)

    def create(self, case, security_context):
        security = {
            "namespaceOptions": {"pid": "CONTAINER"},
            "maskedPaths": KUBELET_MASKED,
            "readonlyPaths": KUBELET_READONLY,
            **security_context,
        }
        # the kubelet's two kinds of mount: a file (the termination log, inside the runtime's
        # /dev tmpfs) and a directory volume; writable for the restricted case's uid too
        vol = self.volume(case)
        os.makedirs(os.path.join(vol, "data"))
        open(os.path.join(vol, "termination-log"), "w").close()
        os.chmod(os.path.join(vol, "data"), 0o777)
        os.chmod(os.path.join(vol, "termination-log"), 0o666)
        config = {
            "metadata": {"name": case},
            "image": {"image": self.opts.image},
            "command": LOOP,
            "envs": [{"key": "CASE", "value": case}],
            "mounts": [
                {"containerPath": "/dev/termination-log", "hostPath": os.path.join(vol, "termination-log")},
                {"containerPath": "/data", "hostPath": os.path.join(vol, "data")},
            ],
            "logPath": f"{case}.log",
            "linux": {
                "resources": {
                    "memoryLimitInBytes": 64 * MiB,
                    "cpuShares": 512,
                    "cpuPeriod": 100000,
                    "cpuQuota": 20000,
                    "oomScoreAdj": OOM_SCORE_ADJ,
                },
                "securityContext": security,
            },
        }
        resp = self.cri.call(
            "CreateContainer",
            {"podSandboxId": self.pod, "config": config, "sandboxConfig": self.pod_config},
        )
        cid = resp.container_id
        self.containers[case] = cid
        st = self.cri.call("ContainerStatus", {"containerId": cid}).status
        check(st.state == self.cri.pb.CONTAINER_CREATED, f"state {st.state}, wanted CONTAINER_CREATED")
        has_seccomp = "seccomp" in self.planned_spec(cid).get("linux", {})
        want = "seccomp" in security
        check(has_seccomp == want, f"the spec has linux.seccomp: {has_seccomp}, wanted {want}")
        return cid

    def start(self, case):
        cid = self.containers[case]
        self.cri.call("StartContainer", {"containerId": cid})
        st = self.cri.call("ContainerStatus", {"containerId": cid}).status
        check(st.state == self.cri.pb.CONTAINER_RUNNING, f"state {st.state}, wanted CONTAINER_RUNNING")
        check(os.path.isdir(self.runtime_state(cid)), f"no {self.runtime_state(cid)}: another runtime ran it")
        if self.opts.capture and self.handler == "runc":  # the reference runtime's pod
            capture(self, cid, f"cri-{case}.json")
            capture(self, self.pod, f"cri-sandbox-{'hostnet' if self.network == 'NODE' else 'podnet'}.json")
        log = os.path.join(self.log_dir, f"{case}.log")
        ok = wait_for(lambda: os.path.exists(log) and " stdout F started" in open(log).read(), 5)
        check(ok, f"{log} lacks the container's 'started' line (CRI log format)")

    def created_limits(self, case):
        cg = self.spec(self.containers[case])["linux"]["cgroupsPath"]
        check_limits(cg, 64 * MiB, 20000, 100000, 512)
        if self.opts.systemd_cgroup:
            check_unit(cg, 64 * MiB, 20000, 100000)

    def exec_sync(self, case, cmd, timeout=None):
        cid = self.containers[case]
        timeout = timeout or round(30 * TIME_SCALE)
        return self.cri.call("ExecSync", {"containerId": cid, "cmd": cmd, "timeout": timeout}, timeout=timeout + 30)

    def seccomp_mode(self, case, want):
        r = self.exec_sync(case, ["cat", "/proc/self/status", "/proc/1/status"])
        check(r.exit_code == 0, f"exit {r.exit_code}: {r.stderr.decode(errors='replace')}")
        modes = re.findall(r"^Seccomp:\s*(\d+)$", r.stdout.decode(), re.M)
        check(modes == [want, want], f"Seccomp lines of the exec and of pid 1: {modes}, wanted {want} twice")

    def kubelet_extras(self, case):
        """Mounts, masked and read-only paths and oom_score_adj as a kubelet pod has them."""
        script = (
            "echo term-$CASE >/dev/termination-log; echo vol-$CASE >/data/f; cat /proc/1/oom_score_adj; "
            "for p in " + " ".join(KUBELET_MASKED) + "; do "
            '[ -d $p ] && echo "$p $(ls -A $p | wc -l)"; [ -e $p ] && [ ! -d $p ] && echo "$p $(cat $p | wc -c)"; done; '
            "cat /proc/self/mountinfo"
        )
        r = self.exec_sync(case, ["sh", "-c", script])
        check(r.exit_code == 0, f"exit {r.exit_code}: {r.stderr.decode(errors='replace')}")
        out = [line.split() for line in r.stdout.decode().splitlines()]
        vol = self.volume(case)
        got = read(os.path.join(vol, "termination-log")), read(os.path.join(vol, "data", "f"))
        check(got == (f"term-{case}", f"vol-{case}"), f"host side of the mounts holds {got}")
        with open("/proc/self/oom_score_adj") as f:  # containerd raises what is below its own
            want_adj = max(OOM_SCORE_ADJ, int(f.read()))
        check(out[0] == [str(want_adj)], f"oom_score_adj {out[0]}, wanted {want_adj}")
        # a masked path that exists is empty (/dev/null or an empty tmpfs) inside
        masked = {f[0]: f[1] for f in out if len(f) == 2 and f[0] in KUBELET_MASKED}
        for p in KUBELET_MASKED:
            if os.path.exists(p):
                check(masked.get(p) == "0", f"masked {p} shows {masked.get(p)} bytes or entries")
        mounts = {f[4]: f[5].split(",") for f in out if len(f) > 6 and f[0].isdigit()}  # mountinfo
        for p in KUBELET_READONLY:
            if os.path.exists(p):
                check("ro" in mounts.get(p, []), f"read-only {p}: mount options {mounts.get(p)}")

    def restricted(self, case):
        script = "id -u; id -g; grep -E '^(NoNewPrivs|CapEff|CapBnd):' /proc/self/status; touch /x"
        r = self.exec_sync(case, ["sh", "-c", script])
        out = r.stdout.decode().split()
        want = ["1000", "1000", "CapEff:", "0000000000000000", "CapBnd:", "0000000000000000", "NoNewPrivs:", "1"]
        check(out == want, f"inside: {out}, wanted {want}")
        err = r.stderr.decode()
        check(r.exit_code != 0 and "Read-only file system" in err, f"touch /x: exit {r.exit_code}, {err!r}")

    def exec_exit_code(self, case):
        r = self.exec_sync(case, ["sh", "-c", "echo out-$((6*7)); echo err >&2; exit 3"])
        check(r.exit_code == 3, f"exit code {r.exit_code}, wanted 3")
        check(r.stdout == b"out-42\n", f"stdout {r.stdout!r}")
        check(r.stderr == b"err\n", f"stderr {r.stderr!r}")

    def exec_timeout(self, case):
        started = time.monotonic()
        try:
            r = self.exec_sync(case, ["sleep", "37"], timeout=1)
        except grpc.RpcError as e:
            check("timeout" in e.details(), f"error without 'timeout': {e.details()}")
        else:
            raise CheckFailed(f"ExecSync returned exit {r.exit_code} instead of timing out")
        took = time.monotonic() - started
        check(took < 15 * TIME_SCALE, f"took {took:.1f}s for a 1s timeout")

        def sleeper_gone():
            r = self.exec_sync(case, ["ps", "-o", "args"])
            return "sleep 37" not in r.stdout.decode()

        check(wait_for(sleeper_gone, 5), "the timed-out 'sleep 37' still runs in the container")

    def stats(self, case):
        cid = self.containers[case]
        s = self.cri.call("ContainerStats", {"containerId": cid}).stats
        check(s.attributes.id == cid, f"stats for {s.attributes.id!r}")
        check(s.memory.working_set_bytes.value > 0, f"memory working set {s.memory.working_set_bytes.value}")
        check(s.cpu.usage_core_nano_seconds.value > 0, f"cpu usage {s.cpu.usage_core_nano_seconds.value}")

    def update(self, case):
        cid = self.containers[case]
        res = {"memoryLimitInBytes": 96 * MiB, "cpuShares": 256, "cpuPeriod": 50000, "cpuQuota": 25000}
        self.cri.call("UpdateContainerResources", {"containerId": cid, "linux": res})
        cg = self.spec(cid)["linux"]["cgroupsPath"]
        check_limits(cg, 96 * MiB, 25000, 50000, 256)
        if self.opts.systemd_cgroup:
            check_unit(cg, 96 * MiB, 25000, 50000)
            r = subprocess.run(["systemctl", "daemon-reload"], capture_output=True, text=True, timeout=120)
            check(r.returncode == 0, f"systemctl daemon-reload: {r.stderr.strip()}")
            try:
                check_limits(cg, 96 * MiB, 25000, 50000, 256)
            except CheckFailed as e:
                raise CheckFailed(f"after systemctl daemon-reload: {e}")

    def stop(self, case):
        cid = self.containers[case]
        started = time.monotonic()
        self.cri.call("StopContainer", {"containerId": cid, "timeout": 20}, timeout=60)
        took = time.monotonic() - started
        st = self.cri.call("ContainerStatus", {"containerId": cid}).status
        check(st.state == self.cri.pb.CONTAINER_EXITED, f"state {st.state}, wanted CONTAINER_EXITED")
        check(st.exit_code == 0, f"exit code {st.exit_code}, wanted 0 from the TERM trap")
        check(took < 10 * TIME_SCALE, f"stop took {took:.1f}s: SIGTERM did not reach the container")
        # the task is deleted once it exited: `delete` ran and took the runtime's state with it
        check(not os.path.exists(self.bundle(cid)), f"bundle {self.bundle(cid)} left")
        check(not os.path.exists(self.runtime_state(cid)), f"{self.runtime_state(cid)} left")

    def remove(self, case):
        cid = self.containers.pop(case)
        cg = self.planned_spec(cid)["linux"]["cgroupsPath"]
        self.cri.call("RemoveContainer", {"containerId": cid})
        listed = [c.id for c in self.cri.call("ListContainers").containers]
        check(cid not in listed, "still listed")
        left = [p for c in ("memory", "pids", "cpu") if os.path.exists(p := cgroup_file(cg, c, "", ""))]
        check(not left, f"cgroups left: {left}")
        if self.opts.systemd_cgroup:
            state = unit_properties(cg, "LoadState", "ActiveState")
            check(state == {"LoadState": "not-found", "ActiveState": "inactive"}, f"the scope unit is left: {state}")

    def stop_pod(self):
        self.cri.call("StopPodSandbox", {"podSandboxId": self.pod})
        st = self.cri.call("PodSandboxStatus", {"podSandboxId": self.pod}).status
        check(st.state == self.cri.pb.SANDBOX_NOTREADY, f"pod state {st.state}, wanted SANDBOX_NOTREADY")

    def remove_pod(self):
        pod = self.pod
        self.cri.call("RemovePodSandbox", {"podSandboxId": pod})
        self.pod = None
        listed = [p.id for p in self.cri.call("ListPodSandbox").items]
        check(pod not in listed, "pod still listed")
        check(not os.path.exists(self.bundle(pod)), "sandbox bundle left")
        # one shim per pod, started with `-id <pod id>`: it must have exited
        check(wait_for(lambda: not processes_mentioning(pod), 10), f"shim still running: {processes_mentioning(pod)}")
        root = os.path.join(self.opts.runtime_root[self.handler], NAMESPACE)
        left = os.listdir(root) if os.path.isdir(root) else []
        check(not left, f"left under the runtime root {root}: {left}")
        netns = os.path.join(self.opts.state, "io.containerd.grpc.v1.cri", "netns")
        left = os.listdir(netns) if os.path.isdir(netns) else []
        check(not left, f"network namespaces left in {netns}: {left}")
        for c in ("memory", "pids", "cpu"):
            d = cgroup_file(self.cgroup_parent, c, "", "")
            kids = [k for k in os.listdir(d) if os.path.isdir(os.path.join(d, k))] if os.path.isdir(d) else []
            check(not kids, f"cgroups left under {d}: {kids}")

    # ---------------------------------------------------------------- the sequence
    def run(self):
        s = self.report.step
        net = "host network" if self.network == "NODE" else "CNI bridge"
        unit = ", the scope unit's properties" if self.opts.systemd_cgroup else ""
        if s(self.name(f"RunPodSandbox ({net}, pod READY, pause in its cgroup)"), self.run_pod) is None:
            return
        if self.network == "POD":
            return self.run_pod_network()
        cases = {case: CASES[case] for case in self.opts.cases}
        for case, (what, security, _) in cases.items():
            s(self.name(f"CreateContainer {case} ({what})"), self.create, case, security)
        for case, (_, _, mode) in cases.items():
            if case not in self.containers:
                continue
            if s(self.name(f"StartContainer {case} (RUNNING, CRI log)"), self.start, case) is None:
                continue
            s(self.name(f"CreateContainer's resources for {case} in the host cgroup files{unit}"), self.created_limits, case)
            s(self.name(f"ExecSync {case}: Seccomp {mode} in /proc/self/status and /proc/1/status"),
              self.seccomp_mode, case, mode)
            s(self.name(f"ExecSync {case}: kubelet's mounts, masked and read-only paths, oom_score_adj"),
              self.kubelet_extras, case)
        if "restricted" in self.containers:
            s(self.name("ExecSync restricted: uid, gid, no_new_privs, no capabilities, read-only /"),
              self.restricted, "restricted")
        case = "runtime-default"
        if case in self.containers:
            s(self.name("ExecSync exit code, stdout, stderr"), self.exec_exit_code, case)
            s(self.name("ExecSync timeout kills the exec"), self.exec_timeout, case)
            s(self.name("ContainerStats (memory and cpu from the cgroup)"), self.stats, case)
            reload = " kept over daemon-reload" if unit else ""
            s(self.name(f"UpdateContainerResources (host cgroup files{unit}{reload})"), self.update, case)
        for case in list(self.containers):
            s(self.name(f"StopContainer {case} (SIGTERM, exit 0, task deleted)"), self.stop, case)
            s(self.name(f"RemoveContainer {case} (unlisted, cgroups{' and scope unit' if unit else ''} gone)"), self.remove, case)
        s(self.name("StopPodSandbox"), self.stop_pod)
        s(self.name("RemovePodSandbox (shim, bundle, runtime root, cgroups gone)"), self.remove_pod)

    def run_pod_network(self):
        s = self.report.step
        case = "pod-network"
        if s(self.name(f"CreateContainer {case}"), self.create, case, {}):
            if s(self.name(f"StartContainer {case}"), self.start, case):
                s(self.name("ExecSync: the container is in the pod's network namespace, with its IP"),
                  self.in_pod_network, case)
            s(self.name(f"StopContainer {case}"), self.stop, case)
            s(self.name(f"RemoveContainer {case}"), self.remove, case)
        s(self.name("StopPodSandbox"), self.stop_pod)
        s(self.name("RemovePodSandbox"), self.remove_pod)

    def in_pod_network(self, case):
        status = self.cri.call("PodSandboxStatus", {"podSandboxId": self.pod, "verbose": True})
        ip = status.status.network.ip
        check(ip, "the pod has no IP")
        pause_netns = os.readlink(f"/proc/{json.loads(status.info['info'])['pid']}/ns/net")
        r = self.exec_sync(case, ["sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/fib_trie; hostname"])
        out = r.stdout.decode()
        check(r.exit_code == 0, f"exit {r.exit_code}: {r.stderr.decode(errors='replace')}")
        lines = out.split()
        check(lines[0] == pause_netns, f"the container's {lines[0]}, the pause's {pause_netns}")
        check(pause_netns != os.readlink(f"/proc/{self.opts.containerd_pid}/ns/net"), "the pod is in containerd's netns")
        check(ip in out, f"the pod's {ip} is not in the container's /proc/net/fib_trie")
        check(lines[-1] == self.pod_config["hostname"], f"hostname {lines[-1]}")

    def clean_up(self):
        """After a failure: take down whatever is left of the pod, quietly."""
        if self.pod is None:
            return
        for call in ("StopPodSandbox", "RemovePodSandbox"):
            try:
                self.cri.call(call, {"podSandboxId": self.pod})
            except grpc.RpcError as e:
                print(f"    cleanup {call}: {e.details()}", file=sys.stderr)


def capture(pod, cid, filename):
    """Save the config.json the CRI plugin wrote, with what belongs to this run replaced:
    @CRI_ROOT@ and @CRI_STATE@  the CRI plugin's dirs under containerd's root and state
                                (sandboxes/@SANDBOX_ID@/{hostname,hosts,resolv.conf} and /shm)
    @SANDBOX_ID@, @CONTAINER_ID@  the 64-hex ids
    @SANDBOX_PID@               the pause process, in /proc/@SANDBOX_PID@/ns/{ipc,uts,net}
    @NETNS_PATH@                the pod network's namespace file (bind mount of an nsfs)
    @CGROUP_PARENT@             the pod's cgroup parent (absolute, cgroupfs driver)
    @VOLUMES@                   host dir of the kubelet-style mounts: @VOLUMES@/<case>/data
                                (a directory) and @VOLUMES@/<case>/termination-log (a file)
    @LOG_DIR@                   the pod's log directory (an annotation only)
    @HOSTNAME@                  the node's hostname (HOSTNAME= in a hostNetwork pod's env)
    The rootfs is "rootfs", relative to the bundle, as containerd writes it."""
    with open(os.path.join(pod.bundle(cid), "config.json")) as f:
        text = f.read()
    info = pod.cri.call("PodSandboxStatus", {"podSandboxId": pod.pod, "verbose": True}).info
    pause_pid = json.loads(info["info"])["pid"]
    opts = pod.opts
    subs = [
        (os.path.join(opts.state, "io.containerd.grpc.v1.cri"), "@CRI_STATE@"),
        (os.path.join(opts.root, "io.containerd.grpc.v1.cri"), "@CRI_ROOT@"),
        (pod.log_dir, "@LOG_DIR@"),
        (os.path.dirname(pod.volume("x")), "@VOLUMES@"),
        (pod.cgroup_parent, "@CGROUP_PARENT@"),
        (pod.pod, "@SANDBOX_ID@"),
    ]
    if cid != pod.pod:
        subs.append((cid, "@CONTAINER_ID@"))
    text = re.sub(re.escape(os.path.join(opts.state, "io.containerd.grpc.v1.cri", "netns")) + r"/cni-[0-9a-f-]+",
                  "@NETNS_PATH@", text)
    for old, new in subs:
        text = text.replace(old, new)
    text = text.replace(f"/proc/{pause_pid}/ns/", "/proc/@SANDBOX_PID@/ns/")
    check(opts.work not in text, f"{filename}: a host path is left: {opts.work}")
    spec = json.loads(text)
    env = spec["process"].get("env", [])
    # a host-network pod's containers get the node's name
    spec["process"]["env"] = [("HOSTNAME=@HOSTNAME@" if e.startswith("HOSTNAME=") else e) for e in env]
    os.makedirs(opts.capture, exist_ok=True)
    with open(os.path.join(opts.capture, filename), "w") as f:
        json.dump(spec, f, indent=2, sort_keys=False)
        f.write("\n")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--socket", required=True)
    p.add_argument("--stubs", required=True, help="directory holding protoc's api_pb2.py")
    p.add_argument("--root", required=True, help="containerd's root directory")
    p.add_argument("--state", required=True, help="containerd's state directory")
    p.add_argument("--work", required=True, help="the run's temp dir (log dirs go here)")
    p.add_argument("--image", required=True)
    p.add_argument("--cgroup-prefix", required=True, help="pods' cgroup parents are PREFIX-<handler>")
    p.add_argument("--systemd-cgroup", action="store_true",
                   help="the runtimes use systemd's cgroup driver: pods' parents are slices PREFIX-<handler>.slice")
    p.add_argument("--handler", action="append", required=True, metavar="NAME=RUNTIME_ROOT")
    p.add_argument("--containerd-pid", required=True, type=int)
    p.add_argument("--time-scale", type=float, default=1,
                   help="multiply every deadline and time bound by this (a slow machine: a TCG guest)")
    p.add_argument("--cases", default=",".join(CASES), type=lambda v: v.split(","),
                   help=f"the host-network pod's containers, of {','.join(CASES)} (default: all)")
    p.add_argument("--networks", default="NODE,POD", type=lambda v: v.split(","),
                   help="NODE (a host-network pod), POD (a pod-network pod) or both (the default)")
    p.add_argument("--capture", help="save the config.json files the CRI plugin wrote for the runc pod here")
    opts = p.parse_args()
    opts.runtime_root = dict(h.split("=", 1) for h in opts.handler)
    global TIME_SCALE
    TIME_SCALE = opts.time_scale
    if not set(opts.cases) <= set(CASES) or not set(opts.networks) <= {"NODE", "POD"}:
        p.error(f"--cases takes {','.join(CASES)}; --networks takes NODE,POD")
    sys.path.insert(0, opts.stubs)
    import api_pb2

    cri = Cri(opts.socket, api_pb2)
    report = Report()
    version = report.step("CRI Version", lambda: cri.call("Version", {"version": "v1"}))
    if version is not None:
        print(f"== {version.runtime_name} {version.runtime_version}, CRI {version.runtime_api_version}")
    for handler in opts.runtime_root:
        for network in opts.networks:
            pod = Pod(cri, opts, handler, report, network)
            try:
                pod.run()
            finally:
                pod.clean_up()
    print(f"cri.py: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
