#!/bin/bash
# The systemd VM's checks, run by rtvm-test.service once Debian's systemd (PID 1) has reached
# basic.target. For every runtime in /rtvm/runtimes (NAME=PATH lines): its own checks with
# --systemd-cgroup; on cgroup v2 also containerd's CRI plugin with SystemdCgroup = true (cri.py),
# podman with cgroup_manager = "systemd" and Docker with native.cgroupdriver=systemd. Prints
# "PASS NAME: check" / "FAIL NAME: check" with indented details, then "GUEST DONE"; the unit's
# SuccessAction powers the machine off.
set -u
exec </dev/null 2>&1
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /rtvm/settings # CHECKS (own cri podman docker), DEBUG
[ -z "$DEBUG" ] || set -x
START=$(date +%s)
V2=0
[ -e /sys/fs/cgroup/cgroup.controllers ] && V2=1
mapfile -t RUNTIMES </rtvm/runtimes
T="timeout 180" # no single command may hang the run

pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1"
    shift
    printf '%s\n' "$@" | head -n 30 | sed 's/^/    /'
}
# check NAME WANT GOT
check() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "wanted: $2" "got:    $3"; fi; }
# props UNIT NAME...: "NAME=VALUE" of each property, sorted, on one line
props() {
    local unit=$1 IFS=,
    shift
    systemctl show -p "$*" "$unit" | sort | tr '\n' ' '
}
sorted() { tr ' ' '\n' | grep . | sort | tr '\n' ' '; }
# files DIR FILE...: "FILE=CONTENT;" of each
files() {
    local d=$1 f
    shift
    for f; do printf '%s=%s;' "$f" "$(cat "$d/$f" 2>&1)"; done
}
wait_for() { # SECONDS COMMAND...: until COMMAND succeeds
    local end=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -ge $end ] && return 1
        sleep 0.5
    done
}
gone() { # UNIT: systemd forgot the unit (a transient unit is unloaded once stopped)
    [ "$(props "$1" LoadState ActiveState)" = "ActiveState=inactive LoadState=not-found " ]
}

echo "INFO $(systemctl --version | head -n1); cgroup $([ $V2 = 1 ] && echo v2 || echo v1/hybrid); booted in $(cut -d' ' -f1 /proc/uptime)s"
mkdir -p /tmp/rtvm
cp -a /rtvm/rootfs /rtvm/bundles /tmp/rtvm/

# ------------------------------------------------------------------------ the runtime's own checks
# Each own_* takes the runtime's NAME and R, its command line (--systemd-cgroup, its own --root).
own_state() { $R state "$1" 2>/dev/null | sed -n "s/.*\"$2\": *\"*\([a-z0-9]*\).*/\1/p"; }
own_stopped() { [ "$(own_state "$1" status)" = stopped ]; }
# the container keeps its stdio: a file, not the pipe of a $(...) that would wait for it
own_create() { # ID [BUNDLE (default: ID)]
    $R create -b /tmp/rtvm/bundles/${2:-$1} $1 >/tmp/rtvm/$1.out 2>&1 || { out=$(cat /tmp/rtvm/$1.out); false; }
}

# a container with every limit: the scope, its properties, the files, daemon-reload, update,
# pause/resume, ps, kill --all, delete
own_limits() {
    local n=$1 id=$1-lim unit=rtvm-$1-lim.scope out pid cg want props_want files_want list
    # cgroup v2 weight of 512 shares: runc 1.1.5's linear conversion gives 20; rt follows
    # runc >= 1.3.2's (59), see integration/conformance/README.md
    local weight=20
    [ "$n" = rt ] && weight=59
    if ! own_create $id; then
        fail "$n: create with cgroupsPath system.slice:rtvm:$id" "$out"
        return
    fi
    pid=$(own_state $id pid)
    out=$($R start $id 2>&1) || fail "$n: start" "$out"
    if [ $V2 = 1 ]; then
        cg=/sys/fs/cgroup/system.slice/$unit
        check "$n: create: the init process is in the scope's cgroup" "$pid" "$(grep -x "$pid" $cg/cgroup.procs 2>&1)"
        # CPUWeight: the runtime's conversion of 512 shares; CPUQuotaPerSecUSec: quota/period
        props_want="ActiveState=active AllowedCPUs=1 CPUQuotaPerSecUSec=500ms CPUQuotaPeriodUSec=100ms CPUWeight=$weight
            Delegate=yes DevicePolicy=strict MemoryLow=16777216 MemoryMax=67108864 MemorySwapMax=67108864 Slice=system.slice TasksMax=50"
        files_want="memory.max=67108864;memory.low=16777216;memory.swap.max=67108864;cpu.weight=$weight;cpu.max=50000 100000;pids.max=50;cpuset.cpus=1;"
        v2_files() { files $cg memory.max memory.low memory.swap.max cpu.weight cpu.max pids.max cpuset.cpus; }
        limit_files=v2_files
        in_scope="0::/system.slice/$unit"
    else
        cg=system.slice/$unit
        check "$n: create: the init process is in the scope's cgroup (memory, pids, systemd)" "$pid $pid $pid" \
            "$(cat /sys/fs/cgroup/{memory,pids,systemd}/$cg/cgroup.procs 2>&1 | grep -x "$pid" | tr '\n' ' ' | sed 's/ $//')"
        props_want="ActiveState=active AllowedCPUs=1 CPUQuotaPerSecUSec=500ms CPUQuotaPeriodUSec=100ms CPUShares=512
            Delegate=yes DevicePolicy=strict MemoryLimit=67108864 Slice=system.slice TasksMax=50"
        files_want="memory/memory.limit_in_bytes=67108864;memory/memory.soft_limit_in_bytes=16777216;memory/memory.memsw.limit_in_bytes=134217728;cpu/cpu.shares=512;cpu/cpu.cfs_quota_us=50000;cpu/cpu.cfs_period_us=100000;pids/pids.max=50;cpuset/cpuset.cpus=1;"
        v1_files() {
            local f
            for f in memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes memory/memory.memsw.limit_in_bytes \
                cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us pids/pids.max cpuset/cpuset.cpus; do
                printf '%s=%s;' $f "$(cat /sys/fs/cgroup/${f%%/*}/$cg/${f#*/} 2>&1)"
            done
        }
        limit_files=v1_files
        in_scope="memory:/system.slice/$unit"
    fi
    props_want=$(sorted <<<"$props_want")
    local props_names=$(sed 's/=[^ ]*//g' <<<"$props_want")
    out=$(systemctl status $unit 2>&1)
    if [ $? = 0 ] && grep -q "$pid" <<<"$out"; then pass "$n: systemctl status $unit: active, lists the init pid"; else fail "$n: systemctl status $unit: active, lists the init pid" "$out"; fi
    check "$n: systemctl show $unit: the limits as unit properties, Delegate=yes" "$props_want" "$(props $unit $props_names)"
    check "$n: the cgroup files hold the limits" "$files_want" "$($limit_files)"
    # the exec joins the scope; the device rules (all denied but runtimes' defaults): /dev/zero
    # reads, a /dev/kmsg node (1:11, writable without capabilities) made in the container does not
    devices_inside() {
        $R exec $id sh -c "grep -c '$in_scope\$' /proc/self/cgroup; head -c1 /dev/zero | wc -c; rm -f /dev/k; mknod /dev/k c 1 11;
            (echo rtvm-devices >/dev/k) 2>/dev/null && echo kmsg-allowed || echo kmsg-denied" 2>&1 | tr '\n' ' '
    }
    check "$n: exec joins the scope; device rules (/dev/zero reads, a kmsg node is denied)" "1 1 kmsg-denied " "$(devices_inside)"
    systemctl daemon-reload
    check "$n: after systemctl daemon-reload: unit properties" "$props_want" "$(props $unit $props_names)"
    check "$n: after systemctl daemon-reload: the cgroup files keep the limits" "$files_want" "$($limit_files)"
    check "$n: after systemctl daemon-reload: device rules hold" "1 1 kmsg-denied " "$(devices_inside)"

    # update: properties and files, and they survive a reload
    out=$($R update --memory 100663296 --memory-swap 201326592 --cpu-quota 20000 --cpu-period 50000 --pids-limit 40 $id 2>&1) ||
        fail "$n: update" "$out"
    if [ $V2 = 1 ]; then
        want="CPUQuotaPerSecUSec=400ms CPUQuotaPeriodUSec=50ms MemoryMax=100663296 MemorySwapMax=100663296 TasksMax=40 "
        check "$n: update: unit properties" "$want" "$(props $unit CPUQuotaPerSecUSec CPUQuotaPeriodUSec MemoryMax MemorySwapMax TasksMax)"
        files_want="memory.max=100663296;memory.low=16777216;memory.swap.max=100663296;cpu.weight=$weight;cpu.max=20000 50000;pids.max=40;cpuset.cpus=1;"
    else
        want="CPUQuotaPerSecUSec=400ms CPUQuotaPeriodUSec=50ms MemoryLimit=100663296 TasksMax=40 "
        check "$n: update: unit properties" "$want" "$(props $unit CPUQuotaPerSecUSec CPUQuotaPeriodUSec MemoryLimit TasksMax)"
        files_want="memory/memory.limit_in_bytes=100663296;memory/memory.soft_limit_in_bytes=16777216;memory/memory.memsw.limit_in_bytes=201326592;cpu/cpu.shares=512;cpu/cpu.cfs_quota_us=20000;cpu/cpu.cfs_period_us=50000;pids/pids.max=40;cpuset/cpuset.cpus=1;"
    fi
    check "$n: update: the cgroup files" "$files_want" "$($limit_files)"
    systemctl daemon-reload
    check "$n: update, then systemctl daemon-reload: the cgroup files keep the new limits" "$files_want" "$($limit_files)"
    out=$($R events --stats $id 2>&1)
    if [[ "$out" =~ \"pids\":\{\"current\":[1-9][0-9]*,\"limit\":40\} ]]; then pass "$n: events --stats: the scope's pids and limit"; else fail "$n: events --stats: the scope's pids and limit" "$out"; fi

    # pause / resume through the cgroup
    $R pause $id
    if [ $V2 = 1 ]; then out=$(cat $cg/cgroup.freeze); else out=$(cat /sys/fs/cgroup/freezer/$cg/freezer.state); fi
    check "$n: pause: frozen, state paused" "$([ $V2 = 1 ] && echo 1 || echo FROZEN) paused" "$out $(own_state $id status)"
    $R resume $id
    if [ $V2 = 1 ]; then out=$(cat $cg/cgroup.freeze); else out=$(cat /sys/fs/cgroup/freezer/$cg/freezer.state); fi
    check "$n: resume: thawed, state running" "$([ $V2 = 1 ] && echo 0 || echo THAWED) running" "$out $(own_state $id status)"
    list=$($R ps --format json $id 2>&1)
    if grep -q "\b$pid\b" <<<"$list" && [ "$(tr ',' '\n' <<<"$list" | wc -l)" -ge 2 ]; then
        pass "$n: ps: the scope's processes"
    else fail "$n: ps: the scope's processes" "$list"; fi

    # kill --all, delete: no unit, no cgroup, no failed unit left
    $R kill --all $id KILL
    if wait_for 30 own_stopped $id; then pass "$n: kill --all: stopped"; else fail "$n: kill --all: stopped" "$(own_state $id status)"; fi
    out=$($R delete $id 2>&1) || fail "$n: delete" "$out"
    if wait_for 10 gone $unit; then pass "$n: delete: no unit left"; else fail "$n: delete: no unit left" "$(systemctl status $unit 2>&1)"; fi
    if [ $V2 = 1 ]; then out=$(ls -d $cg 2>&1); else out=$(ls -d /sys/fs/cgroup/*/$cg 2>&1); fi
    check "$n: delete: no cgroup left" "" "$(grep -v 'No such file' <<<"$out")"
    check "$n: delete: no failed unit left" "" "$(systemctl list-units --failed --all --plain --no-legend "*$n-*")"
}

# a nested slice: a-b.slice lives in a.slice/a-b.slice
own_nested() {
    local n=$1 id=$1-nest unit=rtvmn-$1-nest.scope out pid
    if own_create $id; then
        pid=$(own_state $id pid)
        if [ $V2 = 1 ]; then
            check "$n: nested slice rtvm-$n.slice: the scope's cgroup" "/rtvm.slice/rtvm-$n.slice/$unit" "$(sed -n 's/^0:://p' /proc/$pid/cgroup)"
        else
            check "$n: nested slice rtvm-$n.slice: the scope's cgroup" "/rtvm.slice/rtvm-$n.slice/$unit" "$(sed -n 's/^[0-9]*:memory://p' /proc/$pid/cgroup)"
        fi
        check "$n: nested slice: the unit" "ActiveState=active Slice=rtvm-$n.slice " "$(props $unit ActiveState Slice)"
        $R delete -f $id
        if wait_for 10 gone $unit; then pass "$n: nested slice: delete -f leaves no unit"; else fail "$n: nested slice: delete -f leaves no unit" "$(props $unit LoadState ActiveState)"; fi
    else
        fail "$n: create in a nested slice" "$out"
    fi
}

# no cgroupsPath: the driver's default scope in system.slice
own_default() {
    local n=$1 id=$1-default out pid unit
    if own_create $id; then
        pid=$(own_state $id pid)
        unit=$(sed -n 's|^[0-9]*:name=systemd:||p; s|^0::||p' /proc/$pid/cgroup | head -n1)
        case $unit in
        /system.slice/*-$id.scope) pass "$n: no cgroupsPath: a scope *-$id.scope in system.slice" ;;
        *) fail "$n: no cgroupsPath: a scope *-$id.scope in system.slice" "$(cat /proc/$pid/cgroup)" ;;
        esac
        unit=${unit##*/}
        check "$n: no cgroupsPath: the unit is active" "ActiveState=active " "$(props "$unit" ActiveState)"
        $R delete -f $id
        if wait_for 10 gone "$unit"; then pass "$n: no cgroupsPath: delete -f leaves no unit"; else fail "$n: no cgroupsPath: delete -f leaves no unit" "$(props "$unit" LoadState ActiveState)"; fi
    else
        fail "$n: create without cgroupsPath" "$out"
    fi
}

# a malformed cgroupsPath is refused, naming it, and leaves nothing
own_malformed() {
    local n=$1 id=$1-bad out
    if own_create $id; then
        fail "$n: cgroupsPath system.slice:$id (two fields) is refused" "create succeeded"
        $R delete -f $id
    elif ! grep -q cgroupsPath <<<"$out"; then
        fail "$n: cgroupsPath system.slice:$id (two fields) is refused" "the error does not name cgroupsPath: $out"
    else
        pass "$n: cgroupsPath system.slice:$id (two fields) is refused, naming cgroupsPath"
    fi
    check "$n: the refused create leaves no container and no unit" "" \
        "$($R list -q 2>&1 | grep -x $id)$(systemctl list-units --all --plain --no-legend "*$id*")"
}

# systemd out of reach (/run/systemd and the system bus hidden in a mount namespace of the
# command's own): a clear error, naming what it could not reach, before anything is made
own_no_systemd() {
    local n=$1 id=$1-nosd out
    if unshare -m sh -c 'mount -t tmpfs none /run/systemd && mount -t tmpfs none /run/dbus && exec "$@"' sh \
        $R create -b /tmp/rtvm/bundles/$n-nest $id >/tmp/rtvm/$id.out 2>&1; then
        fail "$n: systemd out of reach: create fails" "create succeeded"
        $R delete -f $id
    elif out=$(cat /tmp/rtvm/$id.out) && ! grep -qiE 'not running|bus|/run/systemd|connect|reach' <<<"$out"; then
        fail "$n: systemd out of reach: create fails" "the error does not name what it could not reach: $out"
    else
        pass "$n: systemd out of reach: create fails, saying so"
    fi
    check "$n: systemd out of reach: no container and no unit left" "" \
        "$($R list -q 2>&1 | grep -x $id)$(systemctl list-units --all --plain --no-legend "*$id*")"
}

want() { [[ " $CHECKS " == *" $1 "* ]]; }
section() { want $1 && echo "INFO at $(($(date +%s) - START))s: $1"; }
finish() {
    [ -z "$DEBUG" ] || journalctl -b --no-pager | tail -n 300
    echo "INFO guest checks took $(($(date +%s) - START))s"
    echo "GUEST DONE"
    exit 0
}
# containerd and dockerd take minutes to start in a TCG guest: they start now, while the
# runtimes' own checks run (which neither touches); their checks wait for the start jobs.
if [ $V2 = 1 ]; then
    want cri && systemctl start --no-block containerd
    want docker && systemctl start --no-block docker
fi
if section own; then
    for r in "${RUNTIMES[@]}"; do
        R="$T ${r#*=} --systemd-cgroup --root /run/rtvm-${r%%=*}"
        for c in own_limits own_nested own_default own_malformed own_no_systemd; do $c "${r%%=*}"; done
    done
fi
# CPU of `run` (create, start, wait, delete of `true`) with the systemd driver and with cgroupfs:
# figures for the record, never a check (TCG makes every time slow; systemd's own work for the
# scope is not counted). /usr/bin/time counts the runtime and every process it reaps.
run_cpu() { # NAME BIN [FLAG]: user+sys seconds of 5 runs, or "failed"
    local n=$1 bin=$2 i s=0
    shift 2
    for i in 1 2 3 4 5; do
        /usr/bin/time -o /tmp/rtvm/cpu -f '%U %S' $T $bin "$@" --root /run/rtvm-cpu-$n run \
            -b /tmp/rtvm/bundles/$n-true cpu-$n-$i >/dev/null 2>&1 || { echo failed; return; }
        s=$(awk -v s=$s '{ print s + $1 + $2 }' /tmp/rtvm/cpu)
    done
    echo "${s}s"
}
if section own; then
    for r in "${RUNTIMES[@]}"; do
        echo "INFO ${r%%=*}: CPU of 5 runs: systemd driver $(run_cpu "${r%%=*}" "${r#*=}" --systemd-cgroup), cgroupfs $(run_cpu "${r%%=*}" "${r#*=}")"
    done
fi
[ $V2 = 1 ] || finish

# ------------------------------------------------------------------------ containerd's CRI plugin
# /etc/containerd/config.toml (made by run.sh) has a handler per runtime with SystemdCgroup = true
cri_checks() {
    local handlers=() r left
    for r in "${RUNTIMES[@]}"; do handlers+=(--handler "${r%%=*}=/run/rtvm-cri/${r%%=*}"); done
    if ! out=$($T systemctl start containerd 2>&1); then fail "cri: containerd starts" "$out" "$(journalctl -u containerd | tail -n 20)"; return; fi
    if ! out=$($T ctr -n k8s.io images import --base-name localhost/cri /rtvm/image.tar 2>&1); then fail "cri: ctr images import" "$out"; return; fi
    mkdir -p /tmp/rtvm/cri
    # one container in a host-network pod: the cgroup driver's part (integration/cri runs them all)
    timeout 900 python3 /rtvm/cri.py --socket /run/containerd/containerd.sock --stubs /rtvm/stubs --root /var/lib/containerd \
        --state /run/containerd --work /tmp/rtvm/cri --containerd-pid "$(systemctl show -P MainPID containerd)" \
        --image localhost/cri:latest --cgroup-prefix rtcri --systemd-cgroup --time-scale 5 --cases runtime-default --networks NODE "${handlers[@]}" | grep -v '^cri.py: ' | sed -E 's/^(PASS|FAIL) /\1 cri /'
    left=$(systemctl list-units --all --plain --no-legend 'cri-containerd-*')
    check "cri: no cri-containerd scope unit left" "" "$left"
}
section cri && cri_checks

# ------------------------------------------------------------------------ podman and Docker
# Both run the same busybox image (imported from /rtvm/rootfs.tar) with the same limits, and are
# checked the same way from outside: the scope unit's properties and the cgroup files.
LOOP='trap "exit 0" TERM; while :; do sleep 0.2; done'
LIMITS="--network none --memory 64m --memory-reservation 16m --cpus 0.5 --pids-limit 50"
PROPS="CPUQuotaPerSecUSec MemoryLow MemoryMax TasksMax"
# engine_checks ENGINE N WHO ID SLICE/PREFIX: the checks both engines share, on container ID
engine_checks() {
    local e=$1 n=$2 who=$3 id=$4 scope=$5 pid cg out t0
    pid=$($e inspect -f '{{.State.Pid}}' $id)
    cg=/sys/fs/cgroup/$scope-$id.scope
    check "$who: run: the container in ${scope##*/}-<id>.scope" "0::/$scope-$id.scope" "$(cat /proc/$pid/cgroup)"
    check "$who: run: unit properties" "ActiveState=active CPUQuotaPerSecUSec=500ms MemoryLow=16777216 MemoryMax=67108864 TasksMax=50 " \
        "$(props ${scope##*/}-$id.scope ActiveState $PROPS)"
    check "$who: run: cgroup files" "memory.max=67108864;memory.low=16777216;cpu.max=50000 100000;pids.max=50;" \
        "$(files $cg memory.max memory.low cpu.max pids.max)"
    # a private cgroup namespace: the container's own cgroup is its /sys/fs/cgroup
    check "$who: exec: in the container's cgroup" "67108864 0::/" "$($T $e exec $id sh -c 'cat /sys/fs/cgroup/memory.max; cat /proc/self/cgroup' 2>&1 | tr '\n' ' ' | sed 's/ $//')"
    out=$($T $e stats --no-stream --format '{{.MemUsage}}|{{.PIDs}}' $id 2>&1)
    if [[ "$out" =~ ^[0-9.]+[kKMG]i?B\ /\ (64MiB|67.11MB)\|[1-9] ]]; then pass "$who: stats: memory usage / limit, pids"; else fail "$who: stats: memory usage / limit, pids" "$out"; fi
    out=$($T $e update --memory 96m --memory-swap 192m --cpus 0.25 $id 2>&1) || fail "$who: update" "$out"
    check "$who: update: unit properties" "ActiveState=active CPUQuotaPerSecUSec=250ms MemoryLow=16777216 MemoryMax=100663296 TasksMax=50 " \
        "$(props ${scope##*/}-$id.scope ActiveState $PROPS)"
    systemctl daemon-reload
    check "$who: update, then daemon-reload: cgroup files" "memory.max=100663296;cpu.max=25000 100000;" "$(files $cg memory.max cpu.max)"
}

podman_lifecycle() {
    local n=$1 bin=$2 who="podman $1" id out t0 code P="$T podman --runtime $2"
    if ! id=$($P run -d --name pm-$n $LIMITS localhost/rtvm sh -c "$LOOP" 2>&1); then fail "$who: run -d" "$id"; return; fi
    engine_checks "$P" $n "$who" "$id" machine.slice/libpod
    t0=$(date +%s)
    out=$($P stop -t 60 $id 2>&1) || fail "$who: stop" "$out"
    code=$($P inspect -f '{{.State.Status}} {{.State.ExitCode}}' $id)
    check "$who: stop: SIGTERM ends it at once, exit 0" "exited 0 fast" "$code $([ $(($(date +%s) - t0)) -lt 30 ] && echo fast || echo slow)"
    if wait_for 10 gone libpod-$id.scope; then pass "$who: stop: no scope unit left"; else fail "$who: stop: no scope unit left" "$(props libpod-$id.scope LoadState ActiveState)"; fi
    out=$($P rm $id 2>&1) || fail "$who: rm" "$out"
    check "$who: rm: gone from podman and from the runtime's list" "" "$($P ps -a -q --no-trunc | grep $id)$($T $bin list -q | grep $id)"
}

# --sdnotify=container: the container's READY=1 (from /notify, through the NOTIFY_SOCKET the
# runtime binds in) is what lets the Type=notify service start
podman_sdnotify() {
    local n=$1 bin=$2 who="podman $1" out
    out=$($T systemd-run --unit rtvm-notify-$n -p Type=notify -p NotifyAccess=all -p TimeoutStartSec=90 \
        podman --runtime $bin run --rm --name pn-$n --sdnotify=container --network none localhost/rtvm /notify 2>&1)
    if [ $? = 0 ] && [ "$(props rtvm-notify-$n.service ActiveState)" = "ActiveState=active " ]; then
        pass "$who: --sdnotify=container: READY=1 from the container starts a Type=notify unit"
        $T systemctl stop rtvm-notify-$n
    else
        fail "$who: --sdnotify=container: READY=1 from the container starts a Type=notify unit" "$out" "$(journalctl -u rtvm-notify-$n | tail -n 15)"
        $T systemctl stop rtvm-notify-$n
        systemctl reset-failed rtvm-notify-$n 2>/dev/null # counted above
    fi
    check "$who: --sdnotify=container: the unit stopped, the container removed" "" \
        "$(systemctl list-units --all --plain --no-legend "rtvm-notify-$n*" | grep -v inactive)$($T podman ps -a -q -f name=pn-$n)"
}

docker_checks() {
    local n=$1 who="docker $1" id out pid D="$T docker"
    if ! id=$($D run -d --runtime docker-$n --name dk-$n $LIMITS localhost/rtvm sh -c "$LOOP" 2>&1); then fail "$who: run -d" "$id"; return; fi
    engine_checks "$D" $n "$who" "$id" system.slice/docker
    pid=$($D inspect -f '{{.State.Pid}}' $id)
    out=$($D restart -t 20 $id 2>&1) || fail "$who: restart" "$out"
    check "$who: restart: a new init, running, in its scope with the updated limit" "true running 0::/system.slice/docker-$id.scope MemoryMax=100663296 " \
        "$([ "$($D inspect -f '{{.State.Pid}}' $id)" != "$pid" ] && echo true) $($D inspect -f '{{.State.Status}}' $id) $(cat /proc/$($D inspect -f '{{.State.Pid}}' $id)/cgroup) $(props docker-$id.scope MemoryMax)"
    out=$($D rm -f $id 2>&1) || fail "$who: rm -f" "$out"
    if wait_for 10 gone docker-$id.scope; then pass "$who: rm -f: no scope unit left"; else fail "$who: rm -f: no scope unit left" "$(props docker-$id.scope LoadState ActiveState)"; fi
    check "$who: rm -f: no container state left in the runtime's root" "" "$(ls /run/docker/runtime-docker-$n/moby 2>/dev/null | grep $id)"
}

if ! section podman; then
    :
elif out=$($T podman import /rtvm/rootfs.tar localhost/rtvm 2>&1); then
    for r in "${RUNTIMES[@]}"; do
        podman_lifecycle "${r%%=*}" "${r#*=}"
        podman_sdnotify "${r%%=*}" "${r#*=}"
    done
else
    fail "podman: import the busybox image" "$out"
fi
if ! section docker; then
    :
elif out=$($T systemctl start docker 2>&1) && out=$($T docker import /rtvm/rootfs.tar localhost/rtvm 2>&1); then
    for r in "${RUNTIMES[@]}"; do docker_checks "${r%%=*}"; done
else
    fail "docker: start dockerd, import the busybox image" "$out" "$(journalctl -u docker | tail -n 20)"
fi

left=$(systemctl list-units --all --plain --no-legend '*.scope' | grep -E 'rtvm|libpod|docker-|cri-containerd')
check "no container scope unit left" "" "$left"
finish
