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


if __name__ == "__main__":
    main(sys.argv[1])
