#!/usr/bin/env bash
# The real callers drive rt: containerd (runc v2 shim, through ctr), podman (through conmon) and
# conmon alone the way CRI-O calls it, plus the --log contract. Everything lives in a private
# temp dir (containerd root/state/socket, podman root/runroot/tmpdir, rt --root) and in cgroups
# named after this run; the daemons are started here and stopped by pid.
#
# usage: integration/clients/run.sh [RUNTIME_BINARY]    (default: $CARGO_TARGET_DIR or target,
#        x86_64-unknown-linux-gnu/debug/rt). Pass /usr/sbin/runc to compare. Prints PASS/FAIL/SKIP per check and a final
#        line "N passed, M failed"; exits 1 on any failure.
# Needs root and Debian's containerd, podman, conmon, umoci, busybox-static, util-linux (script).
set -uo pipefail
cd "$(dirname "$0")/../.."
# CI may start us with stdin closed; the daemons and ctr must not inherit a random fd 0.
exec </dev/null
# script(1) runs its command with $SHELL; pin it so a run here behaves as under CI's bare env.
export SHELL=/bin/sh

RT=${1:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/debug/rt}
RT=$(readlink -m "$RT")
[ -x "$RT" ] || { echo "no runtime binary at $RT (cargo build first)" >&2; exit 1; }
for b in containerd ctr podman conmon umoci script busybox python3; do
    command -v $b >/dev/null || { echo "missing $b: apt-get install containerd podman conmon umoci busybox-static" >&2; exit 1; }
done

W=$(mktemp -d /tmp/rt-clients.XXXXXX)
TAG=rtclients$$              # containerd namespace and cgroup parent names: unique per run
NS=$TAG
. integration/clients/lib.sh

HAVE_EXEC=0
"$RT" exec --help >/dev/null 2>&1 && HAVE_EXEC=1
NO_EXEC="the runtime has no 'exec' command yet (branch exec not merged)"
# rt's seccomp is on the unmerged seccomp branch; podman always sends a profile unless told not to.
SECCOMP_OPT=()
if "$RT" features 2>/dev/null | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("linux",{}).get("seccomp",{}).get("enabled") else 1)'; then :; else
    SECCOMP_OPT=(--security-opt seccomp=unconfined)
    echo "NOTE runtime reports no seccomp support: podman runs with seccomp=unconfined"
fi

CD_PID=""
RUN_CONTAINERD_EXISTED=0; [ -e /run/containerd ] && RUN_CONTAINERD_EXISTED=1
cleanup() {
    set +e
    if [ -n "$CD_PID" ]; then
        for t in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s KILL "$t"; ctr_ task delete -f "$t"; done >/dev/null 2>&1
        for c in $(ctr_ c ls -q 2>/dev/null); do ctr_ c delete "$c"; done >/dev/null 2>&1
        kill "$CD_PID"; wait "$CD_PID" 2>/dev/null
    fi
    pm rm -af -t 0 >/dev/null 2>&1
    # conmon (CRI-O style) containers of ours still alive
    for id in $(ls "$W/rtroot-conmon" 2>/dev/null); do "$RT" --root "$W/rtroot-conmon" delete -f "$id"; done >/dev/null 2>&1
    for pidf in "$W"/conmon/*.conmon.pid; do [ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null; done
    sleep 0.2
    for d in /sys/fs/cgroup/*/"$TAG" /sys/fs/cgroup/unified/"$TAG"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    if [ $RUN_CONTAINERD_EXISTED = 0 ]; then rmdir /run/containerd/fifo /run/containerd/s /run/containerd 2>/dev/null; fi
    umount -R "$W/podman/root" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# ---------------------------------------------------------------- rootfs and OCI image
ROOTFS=$W/rootfs
. integration/busybox_image.sh
busybox_rootfs "$ROOTFS" sh cat echo sleep id ps true false tty ls read printf wc
{ oci_image "$ROOTFS" "$W/img" && tar -C "$W/img" -cf "$W/bb.tar" .; } >"$W/umoci.log" 2>&1 ||
    { cat "$W/umoci.log"; echo "building the OCI image failed" >&2; exit 1; }

# ---------------------------------------------------------------- containerd
mkdir -p "$W/cd" "$W/rtroot-cd" "$W/fifo"
cat >"$W/cd/config.toml" <<EOF
version = 2
root = "$W/cd/root"
state = "$W/cd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$W/cd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/cd/opt"
EOF
ctr_() { timeout 60 ctr -a "$W/cd/containerd.sock" -n "$NS" "$@"; }
RUNOPTS=(--runc-binary "$RT" --runc-root "$W/rtroot-cd" --fifo-dir "$W/fifo")
containerd --config "$W/cd/config.toml" >"$W/cd/containerd.log" 2>&1 &
CD_PID=$!
for _ in $(seq 100); do [ -S "$W/cd/containerd.sock" ] && ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
echo "== containerd $(containerd --version | awk '{print $3}') with $RT"

out=$(ctr_ images import --base-name localhost/bb "$W/bb.tar" 2>&1); rc=$?
expect "containerd: ctr images import (umoci-built image)" 0 "localhost/bb:latest" $rc "$out"
IMG=localhost/bb:latest

out=$(ctr_ run --rm "${RUNOPTS[@]}" $IMG c-run sh -c 'echo out-$((6*7)); echo err >&2; exit 3' 2>&1); rc=$?
expect "containerd: ctr run (output and exit code)" 3 "out-42" $rc "$out"

out=$(ctr_ run --rm "${RUNOPTS[@]}" --cgroup "/$TAG/c-cg" $IMG c-cg sh -c 'cat /proc/self/cgroup' 2>&1); rc=$?
expect "containerd: ctr run with --cgroup (container in its cgroup)" 0 "/$TAG/c-cg" $rc "$out"

out=$(ctr_ run --rm "${RUNOPTS[@]}" --env PATH=/bin --rootfs "$ROOTFS" c-rootfs sh -c 'echo from-rootfs' 2>&1); rc=$?
expect "containerd: ctr run --rootfs DIR" 0 "from-rootfs" $rc "$out"

# -t: ctr needs a terminal on its own stdin; script(1) gives it one.
out=$(timeout 60 script -qec "ctr -a $W/cd/containerd.sock -n $NS run -t --rm ${RUNOPTS[*]} $IMG c-tty sh -c 'tty; exit 4'" /dev/null </dev/null 2>&1); rc=$?
expect "containerd: ctr run -t (process sees a pty, exit code)" 4 "/dev/pts/" $rc "$out"

out=$(ctr_ run -d "${RUNOPTS[@]}" --cgroup "/$TAG/c-long" $IMG c-long sh -c 'trap "exit 7" TERM; while true; do sleep 0.1; done' 2>&1); rc=$?
expect "containerd: ctr run -d" 0 "" $rc "$out"
sleep 0.3
out=$(ctr_ task ls 2>&1); rc=$?
expect "containerd: ctr task ls shows RUNNING" 0 "RUNNING" $rc "$(grep c-long <<<"$out")"
out=$(ctr_ task ps c-long 2>&1); rc=$?
pids=$(awk 'NR>1 {print $1}' <<<"$out" | wc -l)
if [ $rc = 0 ] && [ "$pids" -ge 1 ]; then pass "containerd: ctr task ps ($pids processes)"; else fail "containerd: ctr task ps" "$out"; fi
out=$(ctr_ task pause c-long 2>&1 && ctr_ task ls 2>&1); rc=$?
expect "containerd: ctr task pause -> PAUSED" 0 "PAUSED" $rc "$(grep c-long <<<"$out")"
out=$(ctr_ task resume c-long 2>&1 && ctr_ task ls 2>&1); rc=$?
expect "containerd: ctr task resume -> RUNNING" 0 "RUNNING" $rc "$(grep c-long <<<"$out")"
out=$(ctr_ task metrics c-long 2>&1); rc=$?
expect "containerd: ctr task metrics (pids, memory from the cgroup)" 0 "pids.current" $rc "$out"

if [ $HAVE_EXEC = 1 ]; then
    out=$(ctr_ task exec --fifo-dir "$W/fifo" --exec-id e1 c-long sh -c 'echo exec-$((5+5)); exit 9' 2>&1); rc=$?
    expect "containerd: ctr task exec (output and exit code)" 9 "exec-10" $rc "$out"
    out=$(timeout 60 script -qec "ctr -a $W/cd/containerd.sock -n $NS task exec -t --fifo-dir $W/fifo --exec-id e2 c-long sh -c 'tty; exit 5'" /dev/null </dev/null 2>&1); rc=$?
    expect "containerd: ctr task exec -t (pty, exit code)" 5 "/dev/pts/" $rc "$out"
else
    skip "containerd: ctr task exec" "$NO_EXEC"
    skip "containerd: ctr task exec -t" "$NO_EXEC"
fi

out=$(ctr_ task kill c-long 2>&1); rc=$?
expect "containerd: ctr task kill (SIGTERM)" 0 "" $rc "$out"
st=""
for _ in $(seq 50); do st=$(ctr_ task ls 2>/dev/null | awk '$1=="c-long" {print $3}'); [ "$st" = STOPPED ] && break; sleep 0.1; done
if [ "$st" = STOPPED ]; then pass "containerd: task STOPPED after kill"; else fail "containerd: task STOPPED after kill" "status $st"; fi
out=$(ctr_ task delete c-long 2>&1); rc=$?
expect "containerd: ctr task delete (exit status 7 from the trap)" 0 "7" $rc "$out"
out=$(ctr_ c delete c-long 2>&1); rc=$?
expect "containerd: ctr container delete" 0 "" $rc "$out"
left=$(ls "$W/rtroot-cd/$NS" 2>/dev/null)
if [ -z "$left" ]; then pass "containerd: nothing left under the runtime root"; else fail "containerd: nothing left under the runtime root" "$left"; fi

# kill --all path (shim: kill --all ID 9) on a task whose init ignores nothing
ctr_ run -d "${RUNOPTS[@]}" $IMG c-killall sh -c 'sleep 100 & sleep 100' >/dev/null 2>&1
sleep 0.3
out=$(ctr_ task kill -a -s KILL c-killall 2>&1); rc=$?
expect "containerd: ctr task kill --all -s KILL" 0 "" $rc "$out"
for _ in $(seq 50); do st=$(ctr_ task ls 2>/dev/null | awk '$1=="c-killall" {print $3}'); [ "$st" = STOPPED ] && break; sleep 0.1; done
out=$(ctr_ task delete c-killall 2>&1 && ctr_ c delete c-killall 2>&1); rc=$?
expect "containerd: delete after kill --all" 0 "" $rc "$out"

# Log contract through containerd: the shim shows the last JSON error line of log.json.
out=$(ctr_ run --rm "${RUNOPTS[@]}" $IMG c-nobin /no-such-binary 2>&1); rc=$?
expect "containerd: missing binary -> the runtime's own message" 1 "/no-such-binary" $rc "$out"
if [[ "$out" == *"o such file or directory"* ]]; then pass "containerd: missing binary message names the cause"; else fail "containerd: missing binary message names the cause" "$out"; fi
out=$(ctr_ run --rm "${RUNOPTS[@]}" --mount type=bind,src=$W/no-such-src,dst=/mnt,options=rbind $IMG c-badmount true 2>&1); rc=$?
expect "containerd: bad bind mount -> the runtime's message names the source" 1 "$W/no-such-src" $rc "$out"
ctr_ c delete c-nobin c-badmount >/dev/null 2>&1

# containerd's CRI plugin has a harness of its own: integration/cri

# ---------------------------------------------------------------- podman
P=$W/podman
mkdir -p "$P"/{root,runroot,tmp} "$W/rtroot-podman"
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' >"$P/containers.conf"
export CONTAINERS_CONF=$P/containers.conf
# podman 4.3 passes --runtime-flag to create/start/kill but not to the `delete --force` of
# `run --rm`, so a private --root given that way leaks containers. Instead podman's runtime is a
# wrapper that puts every call under the private root (and execs the runtime, so what podman
# sees is the runtime's own output).
PMRT=$W/podman-runtime
printf '#!/bin/sh\nexec %s --root=%s "$@"\n' "$RT" "$W/rtroot-podman" >"$PMRT"
chmod +x "$PMRT"
pm() {
    timeout 60 podman --root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp" --storage-driver vfs \
        --cgroup-manager cgroupfs --events-backend file --runtime "$PMRT" "$@"
}
# --foreground: plain timeout moves podman into its own process group, which leaves it in the
# background of script's terminal; with -t its tcsetattr then stops it with SIGTTOU (runc too).
cat >"$W/podman.sh" <<PODEOF
#!/bin/sh
export CONTAINERS_CONF=$P/containers.conf
exec timeout --foreground 60 podman --root $P/root --runroot $P/runroot --tmpdir $P/tmp --storage-driver vfs \\
    --cgroup-manager cgroupfs --events-backend file --runtime $PMRT "\$@"
PODEOF
chmod +x "$W/podman.sh"
PMRUN=(--network none --cgroup-parent "/$TAG" "${SECCOMP_OPT[@]}" --rootfs "$ROOTFS")
echo "== podman $(podman --version | awk '{print $3}') with $RT"

out=$(pm run --rm "${PMRUN[@]}" sh -c 'echo pm-$((6*7)); exit 5' 2>&1); rc=$?
expect "podman: run (output and exit code)" 5 "pm-42" $rc "$out"
out=$(timeout 60 script -qec "$W/podman.sh run --rm -t ${PMRUN[*]} sh -c 'tty; exit 6'" /dev/null </dev/null 2>&1); rc=$?
expect "podman: run -t (pty, exit code)" 6 "/dev/pts/" $rc "$out"

out=$(pm run -d --name p-long "${PMRUN[@]}" sh -c 'trap "exit 0" TERM; while true; do sleep 0.1; done' 2>&1); rc=$?
expect "podman: run -d" 0 "" $rc "$out"
out=$(pm ps --format '{{.Names}} {{.Status}}' 2>&1); rc=$?
expect "podman: ps shows it Up" 0 "p-long Up" $rc "$out"
if [ $HAVE_EXEC = 1 ]; then
    out=$(pm exec p-long sh -c 'echo pmexec-$((5+5)); exit 9' 2>&1); rc=$?
    expect "podman: exec (output and exit code)" 9 "pmexec-10" $rc "$out"
    out=$(timeout 60 script -qec "$W/podman.sh exec -t p-long sh -c 'tty; exit 3'" /dev/null </dev/null 2>&1); rc=$?
    expect "podman: exec -t (pty, exit code)" 3 "/dev/pts/" $rc "$out"
else
    skip "podman: exec" "$NO_EXEC"
    skip "podman: exec -t" "$NO_EXEC"
fi
out=$(pm pause p-long 2>&1 && pm inspect --format '{{.State.Status}}' p-long 2>&1); rc=$?
expect "podman: pause -> paused" 0 "paused" $rc "$out"
out=$(pm unpause p-long 2>&1 && pm inspect --format '{{.State.Status}}' p-long 2>&1); rc=$?
expect "podman: unpause -> running" 0 "running" $rc "$out"
out=$(pm stop -t 10 p-long 2>&1 && pm inspect --format '{{.State.Status}} {{.State.ExitCode}}' p-long 2>&1); rc=$?
expect "podman: stop (SIGTERM honoured, exit 0)" 0 "exited 0" $rc "$out"
out=$(pm rm p-long 2>&1); rc=$?
expect "podman: rm" 0 "" $rc "$out"
left=$(ls "$W/rtroot-podman" 2>/dev/null)
if [ -z "$left" ]; then pass "podman: nothing left under the runtime root"; else fail "podman: nothing left under the runtime root" "$left"; fi

out=$(pm run --rm "${PMRUN[@]}" /no-such-binary 2>&1); rc=$?
expect "podman: missing binary -> exit 127 and the runtime's message" 127 "/no-such-binary" $rc "$out"
if [[ "$out" == *"$PMRT"* ]] && ! grep -q "does not exist" <<<"$out"; then
    pass "podman: error comes from the runtime, no noise from the cleanup delete"
else
    fail "podman: error comes from the runtime, no noise from the cleanup delete" "$out"
fi

# ---------------------------------------------------------------- conmon as CRI-O drives it
echo "== conmon $(conmon --version | head -1 | awk '{print $3}') with $RT (CRI-O's way)"
C=$W/conmon
mkdir -p "$C/exits" "$C/socks" "$W/rtroot-conmon"
# bundle: CRI-O writes config.json itself; take rt's template and make it a CRI-like process
conmon_bundle() { # DIR TERMINAL ARGS_JSON
    mkdir -p "$1"
    # a real directory: runc refuses a rootfs that is a symlink
    cp -a "$ROOTFS" "$1/rootfs"
    (cd "$1" && "$RT" spec) || return 1
    python3 - "$1/config.json" "$2" "$3" "/$TAG/$(basename "$1")" <<'EOF'
import json, sys
p, term, args, cg = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3]), sys.argv[4]
c = json.load(open(p))
c["process"]["terminal"] = term
c["process"]["args"] = args
c["process"]["env"] = ["PATH=/bin", "TERM=xterm"]
c["linux"]["cgroupsPath"] = cg
json.dump(c, open(p, "w"))
EOF
}
# conmon_run ID TERMINAL(0/1) STDIN(0/1) ARGS_JSON: start conmon like CRI-O; then `rt start`
conmon_create() {
    local id=$1 term=$2 stdin=$3 args=$4
    conmon_bundle "$C/$id" "$term" "$args" || return 1
    local extra=()
    [ "$term" = 1 ] && extra+=(-t)
    [ "$stdin" = 1 ] && extra+=(-i)
    conmon_sync conmon --api-version 1 -c "$id" -u "$id" -n "$id" -r "$RT" -b "$C/$id" \
        -p "$C/$id/pidfile" -P "$C/$id.conmon.pid" -l "k8s-file:$C/$id.log" \
        --exit-dir "$C/exits" --socket-dir-path "$C/socks" --log-level debug \
        --runtime-arg "--root=$W/rtroot-conmon" "${extra[@]}" >"$C/$id.conmon.out" 2>&1
}
# Run conmon with _OCI_SYNCPIPE as CRI-O does and print what it reports ({"data": N} once the
# runtime's create returned, or a negative number and "message"); fail unless a pid came back.
conmon_sync() {
    timeout 30 python3 - "$@" <<'PYEOF'
import json, os, subprocess, sys
r, w = os.pipe()
env = dict(os.environ, _OCI_SYNCPIPE=str(w))
subprocess.run(sys.argv[1:], env=env, pass_fds=(w,), stdin=subprocess.DEVNULL)
os.close(w)
data = b""
while b"}" not in data:
    chunk = os.read(r, 4096)
    if not chunk:
        break
    data += chunk
print("sync pipe:", data.decode(errors="replace"))
msg = json.loads(data.decode().split("}")[0] + "}")
sys.exit(0 if msg.get("data", msg.get("pid", -1)) > 0 else 1)
PYEOF
}
wait_exit_file() { for _ in $(seq 100); do [ -s "$C/exits/$1" ] && return 0; sleep 0.1; done; return 1; }

for term in 0 1; do
    id=cm-run$term
    if conmon_create $id $term 0 '["sh","-c","echo conmon-out-$((6*7)); exit 11"]'; then
        pid=$(cat "$C/$id/pidfile" 2>/dev/null)
        st=$("$RT" --root "$W/rtroot-conmon" state $id 2>&1)
        if [[ "$st" == *'"created"'* ]] && [ -n "$pid" ]; then pass "conmon(terminal=$term): create, pid file $pid"; else fail "conmon(terminal=$term): create" "$st"; fi
        out=$("$RT" --root "$W/rtroot-conmon" start $id 2>&1); rc=$?
        expect "conmon(terminal=$term): start" 0 "" $rc "$out"
        if wait_exit_file $id; then
            expect "conmon(terminal=$term): exit file holds the exit code" 11 "" "$(cat "$C/exits/$id")" ""
        else
            fail "conmon(terminal=$term): exit file written" "$(cat "$C/$id.conmon.out")"
        fi
        for _ in $(seq 20); do grep -q conmon-out-42 "$C/$id.log" 2>/dev/null && break; sleep 0.1; done
        expect "conmon(terminal=$term): output in the k8s-file log" 0 "stdout" 0 "$(grep conmon-out-42 "$C/$id.log" 2>&1)"
        out=$("$RT" --root "$W/rtroot-conmon" delete $id 2>&1); rc=$?
        expect "conmon(terminal=$term): delete" 0 "" $rc "$out"
    else
        fail "conmon(terminal=$term): create" "$(cat "$C/$id.conmon.out")"
    fi
done

# attach: conmon's attach socket (SOCK_SEQPACKET) feeds stdin and streams output, as CRI-O's
# Attach does. The container echoes one line read from stdin.
id=cm-attach
if conmon_create $id 0 1 '["sh","-c","read l; echo got-$l; exit 12"]'; then
    "$RT" --root "$W/rtroot-conmon" start $id >/dev/null 2>&1
    out=$(timeout 20 python3 - "$C/socks/$id/attach" <<'EOF' 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b"hello\n")
buf = b""
while b"got-hello" not in buf:
    m = s.recv(8192)
    if not m:
        break
    buf += m[1:]  # first byte: which pipe (2 = stdout)
print(buf.decode(errors="replace"))
EOF
    ); rc=$?
    expect "conmon: attach socket feeds stdin and streams stdout" 0 "got-hello" $rc "$out"
    if wait_exit_file $id; then
        expect "conmon: attached container's exit code" 12 "" "$(cat "$C/exits/$id")" ""
    else
        fail "conmon: attached container exited" "$(cat "$C/$id.conmon.out")"
    fi
    "$RT" --root "$W/rtroot-conmon" delete -f $id >/dev/null 2>&1
else
    fail "conmon: create for attach" "$(cat "$C/$id.conmon.out")"
fi

# exec sync: CRI-O's ExecSync runs conmon -e with a process spec.
if [ $HAVE_EXEC = 1 ]; then
    id=cm-long
    if conmon_create $id 0 0 '["sh","-c","while true; do sleep 0.1; done"]'; then
        "$RT" --root "$W/rtroot-conmon" start $id >/dev/null 2>&1
        printf '%s' '{"terminal":false,"cwd":"/","env":["PATH=/bin"],"args":["sh","-c","echo sync-$((3*3)); exit 4"],"user":{"uid":0,"gid":0}}' >"$C/exec.json"
        mkdir -p "$C/execexits"
        timeout 30 conmon --api-version 1 -c $id -u ${id}-exec -r "$RT" -b "$C/$id" -p "$C/exec.pid" \
            -l "k8s-file:$C/exec.log" --exit-dir "$C/execexits" --socket-dir-path "$C/socks" \
            --runtime-arg "--root=$W/rtroot-conmon" -e --exec-process-spec "$C/exec.json" -T 20 >"$C/exec.out" 2>&1
        for _ in $(seq 100); do [ -s "$C/execexits/$id" ] && break; sleep 0.1; done
        expect "conmon: exec sync exit code" 4 "" "$(cat "$C/execexits/$id" 2>/dev/null)" ""
        expect "conmon: exec sync output" 0 "sync-9" 0 "$(cat "$C/exec.log" 2>&1)"
        "$RT" --root "$W/rtroot-conmon" delete -f $id >/dev/null 2>&1
    else
        fail "conmon: create for exec" "$(cat "$C/$id.conmon.out")"
    fi
else
    skip "conmon: exec sync" "$NO_EXEC"
fi

# ---------------------------------------------------------------- the --log contract itself
B=$W/badbundle
conmon_bundle "$B" 0 '["/no-such-binary"]' >/dev/null
out=$("$RT" --root "$W/rtroot-conmon" --log "$W/log.json" --log-format json create --bundle "$B" logtest 2>&1); rc=$?
last=$(grep '"error"' "$W/log.json" | tail -1)
if [ $rc = 1 ] && python3 - "$last" <<'EOF'
import json, sys, datetime
e = json.loads(sys.argv[1])
assert e["level"] == "error", e
assert "/no-such-binary" in e["msg"] and "o such file" in e["msg"], e
import re
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", e["time"]), e
EOF
then pass "log: --log-format json last error line carries the root cause"; else fail "log: --log-format json last error line carries the root cause" "rc=$rc" "stderr: $out" "last: $last"; fi

echo "$PASSED passed, $FAILED failed"
[ "$SKIPPED" = 0 ] || echo "($SKIPPED skipped)"
[ "$FAILED" = 0 ]
