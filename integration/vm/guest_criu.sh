# Checkpoint/restore checks for the VM tier, sourced by guest.sh (which defines pass, fail and
# check). `cr_suite NAME RUNTIME...` runs them for one runtime, with its own --root, bundles,
# cgroups and netns, so rt and runc run the same steps side by side; every line is tagged
# `cr-NAME-`. Each CRIU dump or restore takes 10-15 s under TCG, hence few of them, each
# checked for several things.

# What CRIU needs from the host: loopback (its TCP-repair probe), a devpts for /dev/ptmx, and a
# place for the namespace the tty container joins by path.
cr_setup() {
    ip link set lo up
    mkdir -p /dev/pts /run/netns
    mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
    ln -sf pts/ptmx /dev/ptmx
}

cr_suite() {
    n=$1
    shift
    R="$* --root /run/cr-$n"
    W=/tmp/cr/$n
    rm -rf "$W"
    mkdir -p "$W"
    cr_pipe
    cr_tty
}

cr_pass() { pass "cr-$n-$1"; }
cr_fail() { fail "cr-$n-$1" "$2"; }
cr_check() { check "cr-$n-$1" "$2" "$3"; }
cr_state() { $R state "$1" 2>/dev/null | sed -n "s/.*\"$2\": *\"*\([a-z0-9]*\).*/\1/p"; }
# cr_wait CMD...: until CMD succeeds, at most 30 s
cr_wait() {
    for _ in $(seq 1 150); do "$@" 2>/dev/null && return 0; sleep 0.2; done
    return 1
}
cr_last() { tail -n 1 "$1" 2>/dev/null | tr -d '\r'; }
cr_atleast() { [ "$(cr_last "$1")" -ge "$2" ]; }
# The counter's lines in FILE are consecutive numbers: it neither skipped nor repeated.
cr_consecutive() { tr -d '\r' <"$1" | awk 'NR > 1 && $1 != p + 1 { bad = 1 } { p = $1 } END { exit bad || NR == 0 }'; }
cr_tail() { tr '\n' ' ' <"$1" | tail -c 300; }
# CRIU's errors for a failed step: the runtime's output and the log's error lines.
cr_why() { echo "$(cr_tail "$1") $(grep -h Error "$2"/*.log 2>/dev/null | tail -n 3 | tr '\n' ' ')"; }

# A copy of /bundles/SRC for this runtime, binding its own data directory.
cr_bundle() {
    mkdir -p "$W/$1/data"
    sed "s#CGROUP#/crtest/$n-$1#; s#NETNS#/run/netns/cr-$n#" "/bundles/$2/config.json" >"$W/$1/config.json"
}

# Nothing of container ID is left: no state, no cgroup, no counter process.
cr_gone() {
    [ ! -e "/run/cr-$n/$1" ] && [ ! -d "/sys/fs/cgroup/crtest/$n-$1" ] &&
        ! ps -o args | grep -q "[W]$n/$1/"
}

# A counter on a pipe and a bind mount: leave-running, pre-dump, dump, restore into the same id
# (detached, new pipes for its stdio), kill and delete; then a foreground restore of the
# leave-running images into a new id and bundle.
cr_pipe() {
    cr_bundle a cr-pipe
    cr_bundle b cr-pipe
    # All three of its stdio are pipes: CRIU cannot dump a file of the host's (not even
    # /dev/null) that the container cannot see, and a pipe comes back as the restorer's own.
    : | $R run -d --bundle "$W/a" a 2>&1 | cat >"$W/a.stdout" &
    if ! cr_wait cr_atleast "$W/a/data/out" 5; then
        cr_fail run "$(cr_tail "$W/a.stdout")"
        return
    fi

    if $R checkpoint --leave-running --image-path "$W/img0" --work-path "$W/w0" a >"$W/ck0" 2>&1; then
        v=$(cr_last "$W/a/data/out")
        sleep 1
        if [ "$(cr_state a status)" = running ] && cr_atleast "$W/a/data/out" $((v + 1)); then
            cr_pass leave-running
        else
            cr_fail leave-running "status '$(cr_state a status)', counter $v -> $(cr_last "$W/a/data/out")"
        fi
    else
        cr_fail leave-running "$(cr_why "$W/ck0" "$W/w0")"
    fi

    mkdir -p "$W/pre"
    if $R checkpoint --pre-dump --image-path "$W/pre" --work-path "$W/wp" a >"$W/ckp" 2>&1 &&
        [ "$(cr_state a status)" = running ]; then
        cr_pass pre-dump-leaves-running
    else
        cr_fail pre-dump-leaves-running "$(cr_why "$W/ckp" "$W/wp")"
    fi

    if ! $R checkpoint --image-path "$W/img1" --work-path "$W/w1" --parent-path ../pre a >"$W/ck1" 2>&1; then
        cr_fail dump "$(cr_why "$W/ck1" "$W/w1")"
        $R delete -f a
        return
    fi
    last=$(cr_last "$W/a/data/out")
    sleep 1
    if [ "$(cr_last "$W/a/data/out")" = "$last" ] && [ -L "$W/img1/parent" ] &&
        $R state a 2>&1 | grep -q "does not exist" && cr_gone a; then
        cr_pass dump-after-pre-dump-stops-and-removes
    else
        cr_fail dump-after-pre-dump-stops-and-removes "counter $last -> $(cr_last "$W/a/data/out"), parent link $(ls "$W/img1/parent" 2>&1 | head -c 40), state $($R state a 2>&1 | head -c 80)"
    fi

    : | (
        $R restore -d --image-path "$W/img1" --work-path "$W/w1" --bundle "$W/a" --pid-file "$W/a.pid" a 2>"$W/r1.err"
        echo $? >"$W/r1.rc"
    ) 2>&1 | cat >"$W/a.stdout2" &
    cr_wait test -s "$W/r1.rc"
    if [ "$(cat "$W/r1.rc")" = 0 ]; then
        cr_check restored-running running "$(cr_state a status)"
        cr_check pid-file "$(cr_state a pid)" "$(cat "$W/a.pid")"
        cr_wait cr_atleast "$W/a/data/out" $((last + 5))
        if cr_consecutive "$W/a/data/out" && cr_atleast "$W/a/data/out" $((last + 5)); then
            cr_pass counter-continues-after-restore
        else
            cr_fail counter-continues-after-restore "stopped at $last: $(cr_tail "$W/a/data/out")"
        fi
        cr_check stdout-is-the-new-pipe $((last + 1)) "$(head -n 1 "$W/a.stdout2")"
    else
        cr_fail restore "$(cr_why "$W/r1.err" "$W/w1")"
    fi
    $R kill a KILL
    cr_wait test "$(cr_state a status)" = stopped
    $R delete a
    if cr_gone a; then cr_pass restored-killed-deleted-leaves-nothing; else cr_fail restored-killed-deleted-leaves-nothing "$(ls /run/cr-$n /sys/fs/cgroup/crtest 2>&1 | tr '\n' ' ')"; fi

    : | (
        $R restore --image-path "$W/img0" --work-path "$W/wb" --bundle "$W/b" b 2>"$W/rb.err"
        echo $? >"$W/rb.rc"
    ) 2>&1 | cat >"$W/b.stdout" &
    if cr_wait cr_atleast "$W/b/data/out" 1; then
        first=$(head -n 1 "$W/b/data/out")
        cr_check new-id-running running "$(cr_state b status)"
        # It goes on from the leave-running dump: neither from 1 nor from where a got to.
        if [ "$first" -gt 5 ] && [ "$first" -le $((v + 1)) ] && cr_consecutive "$W/b/data/out"; then
            cr_pass new-id-continues-from-checkpoint
        else
            cr_fail new-id-continues-from-checkpoint "dumped near $v; b: $(cr_tail "$W/b/data/out")"
        fi
        $R kill b KILL
        cr_wait test -s "$W/rb.rc"
        cr_check foreground-restore-exit-code 137 "$(cat "$W/rb.rc")"
        if cr_wait cr_gone b; then cr_pass foreground-restore-deletes; else cr_fail foreground-restore-deletes "$(ls /run/cr-$n 2>&1)"; fi
    else
        cr_fail new-id "$(cr_why "$W/rb.err" "$W/wb")"
        $R delete -f b
    fi
}

# A terminal through a console socket, in a network namespace joined by path.
cr_tty() {
    cr_bundle c cr-tty
    touch "/run/netns/cr-$n"
    unshare --net="/run/netns/cr-$n" true
    ns="net:[$(stat -L -c %i "/run/netns/cr-$n")]"
    recvtty "$W/c1.sock" "$W/c.tty" >"$W/c1.ready" &
    cr_wait test -s "$W/c1.ready"
    if ! $R run -d --console-socket "$W/c1.sock" --bundle "$W/c" c >"$W/runc.err" 2>&1 ||
        ! cr_wait cr_atleast "$W/c.tty" 5; then
        cr_fail tty-run "$(cr_tail "$W/runc.err")"
        $R delete -f c
        return
    fi
    if ! $R checkpoint --image-path "$W/imgc" --work-path "$W/wc" c >"$W/ckc" 2>&1; then
        cr_fail tty-checkpoint "$(cr_why "$W/ckc" "$W/wc")"
        $R delete -f c
        return
    fi
    last=$(cr_last "$W/c.tty")
    recvtty "$W/c2.sock" "$W/c2.tty" >"$W/c2.ready" &
    cr_wait test -s "$W/c2.ready"
    if $R restore -d --console-socket "$W/c2.sock" --image-path "$W/imgc" --work-path "$W/wc" \
        --bundle "$W/c" c >"$W/rc.err" 2>&1; then
        pid=$(cr_state c pid)
        cr_check joined-netns-kept "$ns" "$(readlink "/proc/$pid/ns/net")"
        cr_wait cr_atleast "$W/c2.tty" $((last + 3))
        cr_check tty-continues-on-new-console $((last + 1)) "$(head -n 1 "$W/c2.tty" | tr -d '\r')"
    else
        cr_fail tty-restore "$(cr_why "$W/rc.err" "$W/wc")"
        grep -B 25 Error "$W/wc/restore.log" | head -n 60 | sed 's/^/INFO /'
    fi
    $R delete -f c
    if cr_gone c; then cr_pass tty-deleted-leaves-nothing; else cr_fail tty-deleted-leaves-nothing "$(ls /run/cr-$n 2>&1)"; fi
    umount "/run/netns/cr-$n"
}
