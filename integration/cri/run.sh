#!/usr/bin/env bash
# containerd's CRI plugin drives rt and runc side by side, as the kubelet would: cri.py is the CRI
# client (gRPC on Debian's python3-grpcio; its message classes made here by Debian's protoc from
# the CRI API's api.proto that Debian's containerd source carries). Two runtime handlers, "rt"
# (the binary given) and "runc" (/usr/sbin/runc), each with a host-network pod and a pod-network
# pod, in one private containerd.
#
# usage: integration/cri/run.sh [--capture] [RUNTIME_BINARY]
#   RUNTIME_BINARY defaults to $CARGO_TARGET_DIR or target, x86_64-unknown-linux-gnu/debug/rt.
#   --capture also saves the config.json files the CRI plugin wrote for the runc pod under
#   tests/corpus/callers/cri-*.json, host paths and ids replaced by @PLACEHOLDERS@
#   (listed in cri.py's capture()).
#   CRI_API_PROTO=FILE uses that api.proto instead of fetching containerd's source with apt-get.
# Prints PASS/FAIL per step and runtime, its time, and "N passed, M failed"; exits 1 on a failure.
#
# Isolation: containerd (and so its shims and the runtimes) runs in private mount and network
# namespaces (unshare -m -n), so the pods' /dev/shm, network namespaces, rootfs overlays, bridge
# and veths vanish with it; root, state, sockets, CNI dirs, runtime roots and logs live in one
# temp dir; cgroups are named after this run. containerd is stopped by pid; shims of ours still
# alive after it (found by the socket path they were given) are killed by pid.
# Needs root and Debian's containerd, umoci, busybox-static, gcc, libc6-dev, protobuf-compiler,
# python3-grpcio, containernetworking-plugins, runc, util-linux; a deb-src line for containerd.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec </dev/null
START=$(date +%s)
. integration/busybox_image.sh
. integration/cri/prepare.sh

CAPTURE=""
if [ "${1:-}" = --capture ]; then CAPTURE=$PWD/tests/corpus/callers; shift; fi
RT=${1:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/debug/rt}
RT=$(readlink -m "$RT")
RUNC=/usr/sbin/runc
CNI_BIN=/usr/lib/cni # Debian's containernetworking-plugins
PY=/usr/bin/python3 # Debian's, which has python3-grpcio (not a pyenv or venv python first on PATH)
[ -x "$RT" ] || { echo "no runtime binary at $RT (cargo build first)" >&2; exit 1; }
for b in containerd ctr umoci gcc protoc unshare busybox $RUNC $PY $CNI_BIN/bridge; do
    command -v $b >/dev/null || { echo "missing $b: apt-get install containerd umoci gcc libc6-dev protobuf-compiler python3-grpcio busybox-static runc containernetworking-plugins" >&2; exit 1; }
done
$PY -c 'import grpc, google.protobuf' 2>/dev/null || { echo "missing python3-grpcio / python3-protobuf" >&2; exit 1; }

W=$(mktemp -d /tmp/rt-cri.XXXXXX)
CG=/rtcri$$ # pods' cgroup parents are $CG-rt and $CG-runc
SOCK=$W/cd/containerd.sock
PASSED=0 FAILED=0
pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1"; shift; for l in "$@"; do printf '    %s\n' "$l"; done; FAILED=$((FAILED + 1)); }
die() { echo "$1" >&2; [ -f "${2:-}" ] && tail -20 "$2" >&2; exit 1; }

# pids of our shims (handed our containerd's socket) and of processes in our pods' cgroups
our_processes() {
    local p
    for p in /proc/[0-9]*; do
        { tr '\0' ' ' <"$p/cmdline" | grep -qF -- "$SOCK" || grep -qF ":$CG-" "$p/cgroup"; } 2>/dev/null && echo "${p#/proc/}"
    done
}
our_cgroups() { ls -d /sys/fs/cgroup/*"$CG"-* /sys/fs/cgroup/*/"${CG#/}"-* 2>/dev/null; }

CD_PID=""
RUN_CONTAINERD_EXISTED=0; [ -e /run/containerd ] && RUN_CONTAINERD_EXISTED=1
stop_everything() {
    # containers a failed run left: their runtimes kill them and take their cgroups and state
    local h id
    for h in "$RT=$W/root-rt" "$RUNC=$W/root-runc"; do
        for id in $(ls "${h#*=}/k8s.io" 2>/dev/null); do
            "${h%%=*}" --root "${h#*=}/k8s.io" delete -f "$id" >/dev/null 2>&1
        done
    done
    if [ -n "$CD_PID" ]; then
        kill "$CD_PID" 2>/dev/null; wait "$CD_PID" 2>/dev/null; CD_PID=""
    fi
    local p
    for p in $(our_processes); do kill -KILL "$p" 2>/dev/null; done
    sleep 0.2
    for d in $(our_cgroups); do find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
    # the runc v2 shim keeps its socket under /run/containerd/s whatever containerd's state dir
    if [ $RUN_CONTAINERD_EXISTED = 0 ]; then rmdir /run/containerd/s /run/containerd 2>/dev/null; fi
}
cleanup() {
    set +e
    stop_everything
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# ---------------------------------------------------------------- the CRI API's messages, the image
cri_api_stubs "$W"
R=$W/rootfs
busybox_rootfs "$R" sh cat echo sleep ps true readlink hostname id grep touch ls wc
cri_image "$R" "$W"

# ---------------------------------------------------------------- containerd with the CRI plugin
mkdir -p "$W/cd" "$W/root-rt" "$W/root-runc" "$W/cni/net.d"
# The pod network: Debian's CNI bridge plugin, in containerd's own network namespace, so the
# bridge, veths and addresses never reach the machine's; no gateway, no masquerade, no iptables.
cat >"$W/cni/net.d/10-rtcri.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "rtcri", "plugins": [{"type": "bridge", "bridge": "rtcri0", "isGateway": false,
 "ipMasq": false, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.213.0.0/24"}]], "dataDir": "$W/cni/ipam"}}]}
EOF
cat >"$W/cd/config.toml" <<EOF
version = 2
root = "$W/cd/root"
state = "$W/cd/state"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/cd/opt"
$(cri_plugin "$CNI_BIN" "$W/cni/net.d" runc)
$(cri_runtime rt "$RT" "$W/root-rt" false)
$(cri_runtime runc "$RUNC" "$W/root-runc" false)
EOF
ctr_() { timeout 60 ctr -a "$SOCK" -n k8s.io "$@"; }
# Its own network namespace too: "host network" pods and the CRI streaming server then live
# there, with a loopback of their own, and nothing of them reaches the machine's network.
unshare -m -n --propagation private sh -c 'busybox ip link set lo up && exec containerd --config "$1"' sh \
    "$W/cd/config.toml" >"$W/cd/containerd.log" 2>&1 &
CD_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
ctr_ version >/dev/null 2>&1 || die "containerd did not come up" "$W/cd/containerd.log"
echo "== containerd $(containerd --version | awk '{print $3}') CRI plugin: rt=$RT, runc=$RUNC"
out=$(ctr_ images import --base-name localhost/cri "$W/image.tar" 2>&1) || die "ctr images import failed: $out"

$PY integration/cri/cri.py --socket "$SOCK" --stubs "$W/stubs" --root "$W/cd/root" --state "$W/cd/state" \
    --work "$W" --containerd-pid "$CD_PID" --image localhost/cri:latest --cgroup-prefix "$CG" \
    --handler "rt=$W/root-rt" --handler "runc=$W/root-runc" ${CAPTURE:+--capture "$CAPTURE"} | tee "$W/cri.out"
PASSED=$((PASSED + $(grep -c '^PASS ' "$W/cri.out")))
FAILED=$((FAILED + $(grep -c '^FAIL ' "$W/cri.out")))
grep -q '^cri.py: ' "$W/cri.out" || fail "cri.py ran to its end" "see the output above"
# Every step runc passes must pass on rt.
rt_only=$(sed -n 's/^PASS runc: //p' "$W/cri.out" | while read -r s; do grep -qxF "FAIL rt: $s" "$W/cri.out" && echo "$s"; done)
if [ -n "$rt_only" ]; then echo "NOTE steps that pass on runc and fail on rt:"; sed 's/^/    /' <<<"$rt_only"; fi

# ---------------------------------------------------------------- nothing left behind
# every pod is removed and containerd still runs: no shim and no container process may remain
left=$(our_processes)
if [ -z "$left" ]; then pass "cleanup: no shim or container process left"; else fail "cleanup: no shim or container process left" "$(ps -o pid,args -p "${left//$'\n'/,}")"; fi
stop_everything
left=$(our_cgroups | xargs -r -I{} find {} -mindepth 1 -type d)
if [ -z "$left" ]; then pass "cleanup: no cgroup of the run left"; else fail "cleanup: no cgroup of the run left" "$left"; fi
left=$(grep -F "$W" /proc/self/mountinfo)
if [ -z "$left" ]; then pass "cleanup: no mount of the run in the host's mount namespace"; else fail "cleanup: no mount in the host's mount namespace" "$left"; fi

echo "cri: took $(($(date +%s) - START))s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
