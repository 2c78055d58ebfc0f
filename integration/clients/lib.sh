# Shared by the client harnesses (run.sh, docker.sh, capture.sh): PASS/FAIL/SKIP lines and their
# counts, and a dockerd of their own. Source it; it defines functions and counters only.
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

# ---- a dockerd of our own (docker.sh, capture.sh)
# Debian's client, matching its daemon (another `docker` may come first in PATH).
DOCKER=/usr/bin/docker
DPID="" DOCKER_DIR=""
D() { timeout 60 "$DOCKER" -H "unix://$DOCKER_DIR/docker.sock" "$@"; }
# start_dockerd DIR TAG NAME=RUNTIME...: data-root, exec-root, pidfile, socket and key under DIR;
# containerd namespace and cgroup parent TAG; in a private mount namespace whose /run is a
# tmpfs, so that its overlay mounts and the shims' sockets (/run/containerd/s) stay there;
# no iptables, bridge or ip_forward. Sets DPID (stop it with stop_dockerd).
start_dockerd() {
    local dir=$1 tag=$2 r
    shift 2
    local rts=()
    for r in "$@"; do rts+=(--add-runtime "$r"); done
    DOCKER_DIR=$dir
    mkdir -p "$dir/data" "$dir/exec"
    # dockerd reads /etc/docker/daemon.json and writes /etc/docker/key.json unless told otherwise
    echo "{\"deprecated-key-path\": \"$dir/key.json\"}" >"$dir/daemon.json"
    unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=755 tmpfs /run && exec "$@"' sh \
        dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
        --pidfile "$dir/docker.pid" -H "unix://$dir/docker.sock" --iptables=false --ip-forward=false \
        --ip-masq=false --bridge=none --cgroup-parent "/$tag" --containerd-namespace "$tag" \
        --containerd-plugins-namespace "${tag}p" "${rts[@]}" --log-level warn \
        >"$dir/dockerd.log" 2>&1 &
    DPID=$!
    for _ in $(seq 300); do D version >/dev/null 2>&1 && return 0; sleep 0.1; done
    tail -20 "$dir/dockerd.log"
    echo "dockerd did not start" >&2
    return 1
}
# stop_dockerd: remove every container, then stop dockerd by pid (it stops its containerd).
stop_dockerd() {
    [ -n "$DPID" ] || return 0
    for c in $(D ps -aq 2>/dev/null); do D rm -f "$c"; done >/dev/null 2>&1
    kill "$DPID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
    DPID=""
}
