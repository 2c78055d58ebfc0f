#!/usr/bin/env bash
# Capture the config.json that real callers send (Docker, podman, containerd's ctr, buildah) into
# tests/corpus/callers/<caller>-<case>.json, through capture-runtime.sh in front of Debian's runc.
# Host-specific values become placeholders that tests/callers.rs fills in (see the README
# there); everything else is kept byte for byte. Run by hand, as root, after a caller's package
# changes:  integration/clients/capture.sh [OUT_DIR]   (default tests/corpus/callers)
# Everything runs in a private mount namespace with its own /run; daemons are stopped by pid.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${CAPTURE_IN_NS:-}" ]; then
    exec env CAPTURE_IN_NS=1 unshare -m --propagation private "$0" "$@"
fi
mount -t tmpfs -o mode=755 tmpfs /run
exec </dev/null
export SHELL=/bin/sh
OUT=$(readlink -m "${1:-tests/corpus/callers}")
. integration/clients/lib.sh
. integration/busybox_image.sh

W=$(mktemp -d /tmp/rt-capture.XXXXXX)
TAG=rtcapture$$
CAP=$W/captured
mkdir -p "$CAP" "$OUT"
WRAP=$W/capture-runtime
printf '#!/bin/sh\nCAPTURE_DIR=%s CAPTURE_RUNTIME=/usr/sbin/runc exec %s "$@"\n' \
    "$CAP" "$(readlink -f integration/clients/capture-runtime.sh)" >"$WRAP"
chmod +x "$WRAP"
CD_PID=""
cleanup() {
    set +e
    stop_dockerd
    [ -n "$CD_PID" ] && kill "$CD_PID" && wait "$CD_PID"
    for d in /sys/fs/cgroup/*/"$TAG" /sys/fs/cgroup/*/buildah-*; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$W"
}
trap cleanup EXIT

# keep NAME: the one config the last command captured becomes $OUT/NAME.json, with placeholders
keep() {
    local files=("$CAP"/*.json) rc=1
    if [ "${#files[@]}" != 1 ] || [ ! -f "${files[0]}" ]; then
        echo "FAIL $1: expected one captured config, got: ${files[*]}" >&2
    else
        to_placeholders "${files[0]}" "$OUT/$1.json" && echo "captured $1" && rc=0
    fi
    rm -f "$CAP"/*.json
    return $rc
}
# to_placeholders CAPTURED OUT: the captured config with its host-specific values replaced
to_placeholders() {
    python3 - "$1" "$2" "$W" "$TAG" <<'EOF'
import json, os, re, sys
src, dst, scratch, tag = sys.argv[1:]
cid = os.path.basename(src)[: -len(".json")]
raw = open(src).read()
assert "@" not in raw, "a placeholder character is already in the config"
c = json.loads(raw)
subs = []  # (host value, placeholder), applied in this order
if c.get("linux", {}).get("cgroupsPath"):
    subs.append((json.dumps(c["linux"]["cgroupsPath"]), '"@CGROUPS_PATH@"'))
if c["root"]["path"].startswith("/"):
    subs.append((json.dumps(c["root"]["path"]), '"@ROOTFS@"'))
for hooks in c.get("hooks", {}).values():
    for h in hooks:
        if h["path"].startswith("/proc/"):  # dockerd's own binary, /proc/<pid>/exe
            subs.append((json.dumps(h["path"]), '"@HOOK@"'))
subs.append((scratch, "@SCRATCH@"))
subs.append((cid, "@ID@"))
if re.fullmatch("[0-9a-f]{12}", c.get("hostname", "")):  # an engine's container id, shortened
    subs.append((c["hostname"], "@HOSTNAME@"))
text = raw
for host, ph in subs:
    text = text.replace(host, ph)
for left in (scratch, cid, tag):
    assert left not in text, f"{left} is still in the config: {text}"
back = text
for host, ph in reversed(subs):
    back = back.replace(ph, host)
assert back == raw, "filling the placeholders does not give the captured bytes back"
open(dst, "w").write(text)
EOF
}

ROOTFS=$W/rootfs
busybox_rootfs "$ROOTFS" $(/bin/busybox --list | grep -vx busybox)
tar -C "$ROOTFS" -cf "$W/bb.tar" .

# ---------------------------------------------------------------- Docker
start_dockerd "$W/docker" "$TAG" "capture=$WRAP" || exit 1
D import -c 'ENV PATH=/bin' "$W/bb.tar" localhost/bb >/dev/null || exit 1
mkdir -p "$W/vol"
docker_case() { # NAME DOCKER_RUN_ARGS...
    local name=$1
    shift
    D run --rm --runtime capture --network none "$@" localhost/bb true >/dev/null && keep "docker-$name"
}
docker_case run
docker_case user -u 1000:1000
docker_case read-only --read-only
docker_case volume -v "$W/vol:/data"
docker_case tmpfs --tmpfs /scratch -w /scratch -e FOO=bar
docker_case cap-drop-all --cap-drop ALL
docker_case resources --memory 64m --cpus 0.5 --pids-limit 50
docker_case tty -t
stop_dockerd

# ---------------------------------------------------------------- podman 4.3 (through conmon)
P=$W/podman
mkdir -p "$P"/{root,runroot,tmp}
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' >"$P/containers.conf"
export CONTAINERS_CONF=$P/containers.conf
PM="podman --root $P/root --runroot $P/runroot --tmpdir $P/tmp --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime $WRAP"
$PM run --rm --network none --cgroup-parent "/$TAG" --rootfs "$ROOTFS" true && keep podman-run
timeout 60 script -qec "$PM run --rm -t --network none --cgroup-parent /$TAG --rootfs $ROOTFS true" /dev/null >/dev/null && keep podman-tty
umount -R "$P/root" 2>/dev/null

# ---------------------------------------------------------------- containerd 1.6 through ctr
mkdir -p "$W/cd" "$W/fifo"
cat >"$W/cd/config.toml" <<EOF
version = 2
root = "$W/cd/root"
state = "$W/cd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$W/cd/containerd.sock"
EOF
containerd --config "$W/cd/config.toml" >"$W/cd/containerd.log" 2>&1 &
CD_PID=$!
CTR="ctr -a $W/cd/containerd.sock -n $TAG run --rm --runc-binary $WRAP --fifo-dir $W/fifo"
for _ in $(seq 100); do ctr -a "$W/cd/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
# --rootfs: the first argument is a directory, not an image; it brings no PATH, hence /bin/true
$CTR --rootfs "$ROOTFS" ctr-run /bin/true && keep ctr-run
$CTR --seccomp --rootfs "$ROOTFS" ctr-seccomp /bin/true && keep ctr-seccomp
timeout 60 script -qec "$CTR -t --rootfs $ROOTFS ctr-tty /bin/true" /dev/null >/dev/null && keep ctr-tty

# ---------------------------------------------------------------- buildah
mkdir -p "$W/buildah/tmp"
BH="env TMPDIR=$W/buildah/tmp buildah --root $W/buildah/root --runroot $W/buildah/runroot --storage-driver vfs"
$BH from --name bb scratch >/dev/null && $BH add bb "$W/bb.tar" / >/dev/null &&
    $BH run --runtime "$WRAP" --network none bb -- true && keep buildah-run
$BH rm bb >/dev/null

echo "argv seen by the runtime:"
sed "s|$W|\$W|g" "$CAP/argv.log"
