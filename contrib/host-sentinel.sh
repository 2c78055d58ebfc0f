#!/usr/bin/env bash
# What the tests must never change on the machine that runs them: the host's device nodes,
# sysctls a container may only set in its own namespaces (and some no container may set), the
# root mount namespace's mount table, the hostname and the top of the filesystem.
#
# usage: contrib/host-sentinel.sh snapshot FILE   (before the tests)
#        contrib/host-sentinel.sh check FILE      (after: exit 1 and a diff if anything changed)
set -euo pipefail
state() {
    for n in null zero full random urandom tty ptmx console; do
        stat -c '%n %F %t:%T %U:%G %a' "/dev/$n" 2>&1
    done
    for k in net.ipv4.ping_group_range net.ipv4.ip_forward net.core.somaxconn fs.mqueue.queues_max \
        fs.mqueue.msg_max kernel.msgmax kernel.shmmax kernel.sem vm.overcommit_ratio \
        kernel.hostname kernel.domainname; do
        printf '%s = %s\n' "$k" "$(sysctl -n "$k" 2>&1 | tr '\t' ' ')"
    done
    # mount points of the root mount namespace (ids and propagation peers may differ: targets only)
    awk '{print $5, $9}' /proc/1/mountinfo | sort
    ls -la --time-style=+ / | awk '{print $1, $3, $4, $NF}'
}
case "${1:-}" in
snapshot) state >"$2" ;;
check)
    if ! diff -u "$2" <(state); then
        echo "host-sentinel: the tests changed the host (diff above: - before, + after)" >&2
        exit 1
    fi
    echo "host-sentinel: host device nodes, sysctls, mounts and / unchanged" ;;
*) echo "usage: $0 snapshot|check FILE" >&2; exit 2 ;;
esac
