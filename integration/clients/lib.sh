# Shared by the client harnesses (run.sh, docker.sh): PASS/FAIL/SKIP lines and their counts,
# and the busybox rootfs every harness runs. Source it; it defines functions and counters only.
PASSED=0 FAILED=0 SKIPPED=0
pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1"; shift; for l in "$@"; do printf '    %s\n' "$l"; done; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $1: $2"; SKIPPED=$((SKIPPED + 1)); }
# expect NAME WANT_RC WANT_SUBSTRING RC OUTPUT
expect() {
    local name=$1 want_rc=$2 want=$3 rc=$4 out=$5
    if [ "$want_rc" != "$rc" ]; then
        fail "$name" "exit $rc, wanted $want_rc" "output: ${out:0:600}"
    elif [ -n "$want" ] && [[ "$out" != *"$want"* ]]; then
        fail "$name" "output lacks '$want'" "output: ${out:0:600}"
    else
        pass "$name"
    fi
}
# make_rootfs DIR: Debian's static busybox with every applet linked, and root in /etc/passwd.
make_rootfs() {
    mkdir -p "$1"/{bin,etc,tmp,proc,sys,dev}
    cp /bin/busybox "$1/bin/busybox"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"; done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$1/etc/passwd"
    echo 'root:x:0:' >"$1/etc/group"
    chmod 1777 "$1/tmp"
}

