#!/usr/bin/env python3
"""Write the VM tier's bundles (config.json only; all share the guest's /rootfs).

The virtio disk's major:minor is only known in the guest: 9999:9998 stand for it and
guest.sh substitutes them."""
import json
import os
import sys

DISK = {"major": 9999, "minor": 9998}


def config(args, resources, caps=("CAP_KILL",)):
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": "/rootfs", "readonly": False},
        "hostname": "vm",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "mode=755", "size=1m"]},
        ],
        "linux": {
            "resources": resources,
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
        },
    }


def bundle(root, name, args, resources, caps=("CAP_KILL",), mounts=()):
    c = config(args, resources, caps)
    c["mounts"] += mounts
    c["linux"]["cgroupsPath"] = "/rt-vm/" + name
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=1)


# runc's `spec` template, as Docker and containerd configs look: the mounts, masked and
# read-only paths CRIU has to be told about.
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
COUNTER = "i=0; while :; do i=$((i+1)); echo $i; echo $i >>/data/out; sleep 0.1; done"


def cr_bundle(root, name, terminal, netns):
    """A checkpoint/restore bundle: a counter on its stdout and in a bind-mounted /data/out.
    guest_criu.sh copies it per runtime, substituting CGROUP and NETNS."""
    c = config(["sh", "-c", COUNTER], {}, caps=("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"))
    c["process"]["terminal"] = terminal
    c["process"]["noNewPrivileges"] = True
    c["mounts"] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "rw"]},
    ]
    c["linux"]["cgroupsPath"] = "CGROUP"
    c["linux"]["maskedPaths"] = MASKED
    c["linux"]["readonlyPaths"] = READONLY
    if netns:
        for ns in c["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = "NETNS"
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=1)


def main(root):
    deny_all = [{"allow": False, "access": "rwm"}]
    bundle(root, "limits", ["sleep", "100000"], {
        "devices": deny_all,
        "memory": {"limit": 64 << 20, "swap": 128 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "1"},
        "pids": {"limit": 50},
        "blockIO": {"throttleReadBpsDevice": [dict(DISK, rate=1048576)]},
    })
    bundle(root, "devices", ["sh", "-c",
                             "mknod /dev/vdx b 9999 9998; head -c1 /dev/vdx >/dev/null 2>&1;"
                             " echo denied=$?; head -c1 /dev/zero >/dev/null && echo zero=0"],
           {"devices": deny_all}, caps=("CAP_KILL", "CAP_MKNOD"))
    bundle(root, "oom", ["sh", "-c", "tail /dev/zero; sleep 100000"], {
        "devices": deny_all,
        "memory": {"limit": 16 << 20, "swap": 16 << 20},
    })
    # Is the container's /sys/fs/cgroup/cpuset its own cgroup (its pid 1 there) or the root?
    bundle(root, "cpuset", ["sh", "-c",
                            "grep -qx 1 /sys/fs/cgroup/cpuset/cgroup.procs && echo own || echo other"],
           {"devices": deny_all},
           mounts=[{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                    "options": ["nosuid", "noexec", "nodev", "ro"]}])
    cr_bundle(root, "cr-pipe", terminal=False, netns=False)
    cr_bundle(root, "cr-tty", terminal=True, netns=True)


if __name__ == "__main__":
    main(sys.argv[1])
