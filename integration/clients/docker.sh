#!/usr/bin/env bash
# Docker drives rt: a dockerd of our own runs every step once with `--runtime rt` and once with
# `--runtime runc` (Debian's, the reference), and each step is reported per runtime. What a user
# would check is checked: output, exit codes, /proc/self/status, mounts, docker inspect, and the
# cgroup files on the host.
#
# The daemon is private to this run (start_dockerd in lib.sh): data-root, exec-root, pidfile,
# socket and key in a temp dir, a containerd namespace and a cgroup parent named after the run,
# and a private mount namespace with its own /run. dockerd starts its own containerd; it is
# stopped by pid, and a trap removes everything.
#
# usage: integration/clients/docker.sh [RUNTIME_BINARY]   (default: the release rt)
#        Prints PASS/FAIL per step and runtime, "N passed, M failed" and its own time; exits 1
#        on any failure. Needs root, Debian's docker.io, containerd, runc, busybox-static,
#        util-linux (script, unshare).
set -uo pipefail
cd "$(dirname "$0")/../.."
exec </dev/null
export SHELL=/bin/sh
START=$SECONDS
. integration/clients/lib.sh
. integration/busybox_image.sh

RT=$(readlink -m "${1:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/rt}")
[ -x "$RT" ] || { echo "no runtime binary at $RT (cargo build --release first)" >&2; exit 1; }
for b in dockerd "$DOCKER" containerd containerd-shim-runc-v2 runc script unshare busybox; do
    command -v "$b" >/dev/null || { echo "missing $b: apt-get install docker.io containerd runc busybox-static util-linux" >&2; exit 1; }
done

W=$(mktemp -d /tmp/rt-docker.XXXXXX)
TAG=rtdocker$$               # containerd namespace and cgroup parent: unique per run
CG=/sys/fs/cgroup

# Processes of this run: anything in our cgroups, and the shims and daemons whose argv names $W.
our_pids() {
    cat "$CG"/*/"$TAG"/*/cgroup.procs 2>/dev/null
    for p in /proc/[0-9]*; do
        grep -qF "$W/" "$p/cmdline" 2>/dev/null && echo "${p#/proc/}"
    done
}
cleanup() {
    set +e
    stop_dockerd
    for p in $(our_pids | sort -u); do [ "$p" != $$ ] && kill -KILL "$p"; done 2>/dev/null
    sleep 0.2
    for d in "$CG"/*/"$TAG"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# ---------------------------------------------------------------- the daemon and the image
busybox_rootfs "$W/rootfs" $(/bin/busybox --list | grep -vx busybox)
tar -C "$W/rootfs" -cf "$W/bb.tar" .
start_dockerd "$W" "$TAG" "rt=$RT" || exit 1
echo "== docker $(D version -f '{{.Server.Version}}') (own dockerd, pid $DPID) with rt=$RT and runc"
out=$(D import -c 'ENV PATH=/bin' "$W/bb.tar" localhost/bb 2>&1); rc=$?
expect "docker: import a busybox rootfs tar" 0 "sha256:" $rc "$out"
IMG=localhost/bb

# inspect FORMAT NAME
inspect() { D inspect -f "$1" "$2" 2>&1; }
# wait_for NAME FORMAT WANT: poll docker inspect until FORMAT gives WANT (20 s); prints the last value
wait_for() {
    local v=""
    for _ in $(seq 200); do v=$(inspect "$2" "$1"); [ "$v" = "$3" ] && break; sleep 0.1; done
    echo "$v"
}
# cgfile CONTROLLER CONTAINER FILE: a cgroup file of the container, read on the host
cgfile() { cat "$CG/$1/$TAG/$(inspect '{{.Id}}' "$2")/$3" 2>&1; }
# dscript ARGS...: the docker client on a terminal (script(1)), for -it
dscript() { timeout 60 script -qec "$DOCKER -H unix://$DOCKER_DIR/docker.sock $*" /dev/null 2>&1; }

docker_steps() {
    local R=$1 T="docker/$1:"
    local RUN=(--runtime "$R" --network none)
    local out rc v pid

    out=$(D run --name "$R-plain" "${RUN[@]}" $IMG sh -c 'echo out-$((6*7)); echo err >&2; grep CapEff /proc/self/status' 2>&1); rc=$?
    expect "$T run (output, stderr, Docker's default capabilities)" 0 "out-42" $rc "$out"
    expect "$T run: default CapEff" 0 "00000000a80425fb" 0 "$out"
    expect "$T run: inspect Status/ExitCode" 0 "exited 0" 0 "$(inspect '{{.State.Status}} {{.State.ExitCode}}' "$R-plain")"
    out=$(D rm "$R-plain" 2>&1); rc=$?
    expect "$T rm a stopped container" 0 "" $rc "$out"

    out=$(printf 'from-stdin\n' | D run -i --rm "${RUN[@]}" $IMG sh -c 'read l; echo got-$l' 2>&1); rc=$?
    expect "$T run -i (stdin reaches the container)" 0 "got-from-stdin" $rc "$out"
    out=$(dscript run -it --rm "${RUN[*]}" $IMG sh -c "'tty; exit 3'"); rc=$?
    expect "$T run -it (pty, exit code)" 3 "/dev/pts/" $rc "$out"
    for code in 1 42; do
        out=$(D run --rm --name "$R-rm$code" "${RUN[@]}" $IMG sh -c "exit $code" 2>&1); rc=$?
        expect "$T run --rm exit code $code" $code "" $rc "$out"
        v=$(D ps -aq --filter "name=^$R-rm$code\$")
        if [ -z "$v" ]; then pass "$T run --rm exit $code: container removed"; else fail "$T run --rm exit $code: container removed" "left: $v"; fi
    done

    out=$(D run --rm -u 1000:1000 "${RUN[@]}" $IMG sh -c 'id; grep CapEff /proc/self/status' 2>&1); rc=$?
    expect "$T run -u 1000:1000 (id)" 0 "uid=1000 gid=1000" $rc "$out"
    expect "$T run -u 1000:1000 (no capabilities left)" 0 "0000000000000000" 0 "$out"

    out=$(D run --rm --read-only "${RUN[@]}" $IMG sh -c 'touch /x 2>&1; awk "\$2==\"/\" {print \$4}" /proc/mounts' 2>&1); rc=$?
    expect "$T run --read-only (write refused)" 0 "Read-only file system" $rc "$out"
    expect "$T run --read-only (/ mounted ro)" 0 $'\nro,' 0 "$out"

    mkdir -p "$W/vol-$R" && echo from-host >"$W/vol-$R/in"
    out=$(D run --rm -v "$W/vol-$R:/data" "${RUN[@]}" $IMG sh -c 'cat /data/in; echo from-ctr >/data/out' 2>&1); rc=$?
    expect "$T run -v (host file read inside)" 0 "from-host" $rc "$out"
    expect "$T run -v (file written inside seen on the host)" 0 "from-ctr" 0 "$(cat "$W/vol-$R/out" 2>&1)"
    out=$(D run --rm -v "$W/vol-$R:/data:ro" "${RUN[@]}" $IMG sh -c 'echo x >/data/new' 2>&1); rc=$?
    expect "$T run -v :ro (write refused)" 1 "Read-only file system" $rc "$out"

    out=$(D run --rm --tmpfs /scratch -w /scratch -e FOO=bar "${RUN[@]}" $IMG sh -c 'pwd; echo FOO=$FOO; awk "\$2==\"/scratch\" {print \"fs=\" \$3}" /proc/mounts' 2>&1); rc=$?
    expect "$T run --tmpfs -w -e (cwd)" 0 "/scratch" $rc "$out"
    expect "$T run --tmpfs -w -e (env)" 0 "FOO=bar" 0 "$out"
    expect "$T run --tmpfs -w -e (tmpfs mounted)" 0 "fs=tmpfs" 0 "$out"

    out=$(D run --rm --cap-drop ALL "${RUN[@]}" $IMG grep -E 'Cap(Eff|Bnd)' /proc/self/status 2>&1); rc=$?
    expect "$T run --cap-drop ALL (CapEff and CapBnd empty)" 0 "CapEff:	0000000000000000" $rc "$out"
    expect "$T run --cap-drop ALL (CapBnd empty)" 0 "CapBnd:	0000000000000000" 0 "$out"
    out=$(D run --rm --cap-drop NET_RAW "${RUN[@]}" $IMG grep CapEff /proc/self/status 2>&1); rc=$?
    expect "$T run --cap-drop NET_RAW (bit 13 gone)" 0 "00000000a80405fb" $rc "$out"

    # Docker's default profile: the filter is on, the shell can fork (its clone rule is a
    # MASKED_EQ without valueTwo) and unshare(2) is refused without CAP_SYS_ADMIN.
    out=$(D run --rm "${RUN[@]}" $IMG sh -c 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status; echo fork-$(echo ok); unshare -U true 2>&1' 2>&1); rc=$?
    expect "$T seccomp default (Seccomp: 2)" 1 "Seccomp:	2" $rc "$out"
    expect "$T seccomp default (fork allowed)" 0 "fork-ok" 0 "$out"
    expect "$T seccomp default (unshare refused)" 0 "Operation not permitted" 0 "$out"
    out=$(D run --rm --security-opt seccomp=unconfined "${RUN[@]}" $IMG sh -c 'grep "^Seccomp:" /proc/self/status; unshare -U true && echo userns-ok' 2>&1); rc=$?
    expect "$T seccomp=unconfined (Seccomp: 0)" 0 "Seccomp:	0" $rc "$out"
    expect "$T seccomp=unconfined (unshare allowed)" 0 "userns-ok" 0 "$out"

    # ---- one long-running container: logs, exec, ps, top, stats, pause, restart, stop
    local L=$R-long
    out=$(D run -d --name "$L" "${RUN[@]}" $IMG sh -c 'trap "exit 0" TERM; echo started-long; while true; do sleep 0.2; done' 2>&1); rc=$?
    expect "$T run -d" 0 "" $rc "$out"
    expect "$T run -d: running" 0 "running" 0 "$(wait_for "$L" '{{.State.Status}}' running)"
    for _ in $(seq 50); do D logs "$L" 2>&1 | grep -q started-long && break; sleep 0.1; done
    out=$(D logs "$L" 2>&1); rc=$?
    expect "$T logs" 0 "started-long" $rc "$out"

    out=$(D exec "$L" sh -c 'echo exec-$((5+5))' 2>&1); rc=$?
    expect "$T exec (output)" 0 "exec-10" $rc "$out"
    out=$(D exec "$L" sh -c 'exit 9' 2>&1); rc=$?
    expect "$T exec (exit code 9)" 9 "" $rc "$out"
    out=$(D exec -t "$L" tty 2>&1); rc=$?
    expect "$T exec -t (pty)" 0 "/dev/pts/" $rc "$out"
    out=$(dscript exec -it "$L" sh -c "'tty; exit 5'"); rc=$?
    expect "$T exec -it (pty, exit code)" 5 "/dev/pts/" $rc "$out"
    out=$(D exec -u 1000:1000 "$L" id 2>&1); rc=$?
    expect "$T exec -u 1000:1000" 0 "uid=1000 gid=1000" $rc "$out"
    out=$(D exec -d "$L" sh -c 'echo bg-done >/tmp/exec-d' 2>&1); rc=$?
    expect "$T exec -d" 0 "" $rc "$out"
    for _ in $(seq 50); do out=$(D exec "$L" cat /tmp/exec-d 2>&1) && break; sleep 0.1; done
    expect "$T exec -d ran in the container" 0 "bg-done" 0 "$out"

    out=$(D ps --filter "name=^$L\$" --format '{{.Names}} {{.Status}}' 2>&1); rc=$?
    expect "$T ps (Up)" 0 "$L Up" $rc "$out"
    out=$(D top "$L" 2>&1); rc=$?
    expect "$T top (the container's processes)" 0 "started-long" $rc "$out"
    out=$(D stats --no-stream --format '{{.Name}} pids={{.PIDs}} mem={{.MemUsage}}' "$L" 2>&1); rc=$?
    if [ $rc = 0 ] && [[ "$out" =~ pids=[1-9] ]] && [[ "$out" != *"mem=0B"* ]]; then pass "$T stats --no-stream"; else fail "$T stats --no-stream" "rc=$rc" "$out"; fi

    out=$(D pause "$L" 2>&1); rc=$?
    expect "$T pause" 0 "" $rc "$out"
    expect "$T pause: inspect paused" 0 "paused" 0 "$(inspect '{{.State.Status}}' "$L")"
    expect "$T pause: freezer.state FROZEN" 0 "FROZEN" 0 "$(cgfile freezer "$L" freezer.state)"
    out=$(D unpause "$L" 2>&1); rc=$?
    expect "$T unpause" 0 "" $rc "$out"
    expect "$T unpause: inspect running" 0 "running" 0 "$(inspect '{{.State.Status}}' "$L")"
    expect "$T unpause: freezer.state THAWED" 0 "THAWED" 0 "$(cgfile freezer "$L" freezer.state)"

    pid=$(inspect '{{.State.Pid}}' "$L")
    out=$(D restart -t 10 "$L" 2>&1); rc=$?
    v=$(inspect '{{.State.Status}} {{.State.Pid}}' "$L")
    if [ $rc = 0 ] && [[ "$v" == running* ]] && [ "${v#running }" != "$pid" ]; then pass "$T restart (running, new pid)"; else fail "$T restart" "rc=$rc" "before: $pid, after: $v" "$out"; fi
    out=$(D stop -t 10 "$L" 2>&1); rc=$?
    expect "$T stop (SIGTERM trapped: exit 0)" 0 "exited 0" $rc "$(inspect '{{.State.Status}} {{.State.ExitCode}}' "$L")"
    D rm "$L" >/dev/null 2>&1

    out=$(D run -d --name "$R-kill" "${RUN[@]}" $IMG sleep 1000 2>&1) && out=$(D kill "$R-kill" 2>&1); rc=$?
    expect "$T kill" 0 "" $rc "$out"
    expect "$T kill: exit 137" 0 "exited 137" 0 "$(wait_for "$R-kill" '{{.State.Status}} {{.State.ExitCode}}' 'exited 137')"
    D rm "$R-kill" >/dev/null 2>&1

    out=$(D run -d --name "$R-onfail" --restart on-failure:2 "${RUN[@]}" $IMG sh -c 'exit 3' 2>&1); rc=$?
    expect "$T run --restart on-failure:2" 0 "" $rc "$out"
    expect "$T restart policy: restarted twice, then exited 3" 0 "2 exited 3" 0 \
        "$(wait_for "$R-onfail" '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}' '2 exited 3')"
    D rm "$R-onfail" >/dev/null 2>&1

    # ---- resources: what Docker asked for is in the host's cgroup files
    local M=$R-lim
    out=$(D run -d --name "$M" --memory 64m --cpus 0.5 --pids-limit 50 "${RUN[@]}" $IMG sleep 1000 2>&1); rc=$?
    expect "$T run --memory --cpus --pids-limit" 0 "" $rc "$out"
    expect "$T memory.limit_in_bytes 64m" 0 "67108864" 0 "$(cgfile memory "$M" memory.limit_in_bytes)"
    expect "$T memory.memsw.limit_in_bytes 128m (Docker's swap default)" 0 "134217728" 0 "$(cgfile memory "$M" memory.memsw.limit_in_bytes)"
    expect "$T cpu.cfs_quota_us/period 0.5 CPU" 0 "50000/100000" 0 "$(cgfile cpu "$M" cpu.cfs_quota_us)/$(cgfile cpu "$M" cpu.cfs_period_us)"
    expect "$T pids.max 50" 0 "50" 0 "$(cgfile pids "$M" pids.max)"
    out=$(D update --memory 128m --memory-swap 256m --cpus 1 --pids-limit 60 "$M" 2>&1); rc=$?
    expect "$T update" 0 "" $rc "$out"
    expect "$T update: memory.limit_in_bytes 128m" 0 "134217728" 0 "$(cgfile memory "$M" memory.limit_in_bytes)"
    expect "$T update: memory.memsw.limit_in_bytes 256m" 0 "268435456" 0 "$(cgfile memory "$M" memory.memsw.limit_in_bytes)"
    expect "$T update: cpu.cfs_quota_us 1 CPU" 0 "100000" 0 "$(cgfile cpu "$M" cpu.cfs_quota_us)"
    expect "$T update: pids.max 60" 0 "60" 0 "$(cgfile pids "$M" pids.max)"

    out=$(D run --name "$R-oom" --memory 32m --memory-swap 32m "${RUN[@]}" $IMG tail /dev/zero 2>&1); rc=$?
    expect "$T OOM kill: exit 137" 137 "" $rc "$out"
    expect "$T OOM kill: inspect OOMKilled" 0 "true 137" 0 "$(inspect '{{.State.OOMKilled}} {{.State.ExitCode}}' "$R-oom")"
    D rm "$R-oom" >/dev/null 2>&1

    local H=$R-health
    out=$(D run -d --name "$H" --health-cmd 'test -e /tmp/ready' --health-interval 1s --health-retries 30 "${RUN[@]}" $IMG sh -c 'touch /tmp/ready; exec sleep 1000' 2>&1); rc=$?
    expect "$T run --health-cmd" 0 "" $rc "$out"
    expect "$T healthcheck: healthy" 0 "healthy" 0 "$(wait_for "$H" '{{.State.Health.Status}}' healthy)"

    pid=$(inspect '{{.State.Pid}}' "$H")
    out=$(D rm -f "$H" "$M" 2>&1); rc=$?
    expect "$T rm -f (running containers)" 0 "$H" $rc "$out"
    v=$(D ps -aq --filter "name=^$R-")
    if [ -z "$v" ] && ! kill -0 "$pid" 2>/dev/null; then pass "$T rm -f: containers and processes gone"; else fail "$T rm -f: containers and processes gone" "containers: $v" "pid $pid alive?"; fi
}

for R in rt runc; do
    T0=$SECONDS
    docker_steps "$R"
    echo "-- $R steps took $((SECONDS - T0)) s"
done

# ---------------------------------------------------------------- nothing left
v=$(D ps -aq 2>&1)
if [ -z "$v" ]; then pass "docker: no containers left"; else fail "docker: no containers left" "$v"; fi
# Docker gives every runtime the same --root (runtime-runc/<namespace>): nothing may stay there.
v=$(ls "$W"/exec/runtime-*/"$TAG" 2>/dev/null)
if [ -z "$v" ]; then pass "docker: no container state under the exec-root's runtime dirs"; else fail "docker: no container state under the exec-root's runtime dirs" "$v"; fi
v=$(find "$CG"/*/"$TAG" -mindepth 1 -type d 2>/dev/null)
if [ -z "$v" ]; then pass "docker: no cgroups left under /$TAG"; else fail "docker: no cgroups left under /$TAG" "$v"; fi
v=$(cat "$CG"/*/"$TAG"/cgroup.procs 2>/dev/null)
if [ -z "$v" ]; then pass "docker: no processes left in the run's cgroups"; else fail "docker: no processes left in the run's cgroups" "$v"; fi
# dockerd and the containerd it started stay until the end; nothing else may
v=$(for p in $(our_pids | sort -u); do
    [ "$p" = "$DPID" ] || [ "$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)" = "$DPID" ] || ps -o pid=,args= -p "$p"
done)
if [ -z "$v" ]; then pass "docker: no shims or container processes left"; else fail "docker: no shims or container processes left" "$v"; fi
v=$(awk '{print $5}' "/proc/$DPID/mountinfo" | grep -E "^$W/data/(overlay2/.*/merged|containers/)")
if [ -z "$v" ]; then pass "docker: no container mounts left in dockerd's mount namespace"; else fail "docker: no container mounts left in dockerd's mount namespace" "$v"; fi
v=$(awk '{print $5}' /proc/self/mountinfo | grep -F "$W")
if [ -z "$v" ]; then pass "docker: no mounts under the run's dir in the host's mount namespace"; else fail "docker: no mounts in the host's mount namespace" "$v"; fi

echo "docker: $PASSED passed, $FAILED failed in $((SECONDS - START)) s"
[ "$FAILED" = 0 ]
