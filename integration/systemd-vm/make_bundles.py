#!/usr/bin/env python3
"""Write the systemd VM's bundles for each runtime NAME given (config.json only, all sharing the
guest's /tmp/rtvm/rootfs), in the shape of integration/vm's (its config()):

  NAME-lim      sh and two sleeps with every limit the systemd driver turns into a unit property,
                cgroupsPath system.slice:rtvm:NAME-lim (the scope rtvm-NAME-lim.scope)
  NAME-nest     a sleep in a nested slice: rtvm-NAME.slice:rtvmn:NAME-nest (also the bundle of
                the check with systemd out of reach)
  NAME-default  no cgroupsPath: the driver's default scope in system.slice
  NAME-bad      a malformed cgroupsPath (two fields): refused

usage: make_bundles.py DIR NAME..."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm"))
from make_bundles import config  # noqa: E402

MiB = 1 << 20
ROOTFS = "/tmp/rtvm/rootfs"
SLEEP = ["sleep", "100000"]


def bundle(root, name, args, resources, cgroups_path=None):
    c = config(args, resources, caps=("CAP_KILL", "CAP_MKNOD"))
    c["root"]["path"] = ROOTFS
    if cgroups_path is not None:
        c["linux"]["cgroupsPath"] = cgroups_path
    os.makedirs(os.path.join(root, name), exist_ok=True)
    with open(os.path.join(root, name, "config.json"), "w") as f:
        json.dump(c, f, indent=1)


def main(root, names):
    for n in names:
        bundle(root, f"{n}-lim", ["sh", "-c", "sleep 100000 & sleep 100001"], {
            "devices": [{"allow": False, "access": "rwm"}],
            "memory": {"limit": 64 * MiB, "reservation": 16 * MiB, "swap": 128 * MiB},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "1"},
            "pids": {"limit": 50},
        }, f"system.slice:rtvm:{n}-lim")
        bundle(root, f"{n}-nest", SLEEP, {}, f"rtvm-{n}.slice:rtvmn:{n}-nest")
        bundle(root, f"{n}-default", SLEEP, {})
        bundle(root, f"{n}-bad", SLEEP, {}, f"system.slice:{n}-bad")
        bundle(root, f"{n}-true", ["true"], {})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
