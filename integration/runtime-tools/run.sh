#!/usr/bin/env bash
# The OCI runtime-tools validation suite against rt, with runc as the reference, in one run.
#
# usage: integration/runtime-tools/run.sh [RT_BINARY]   (default: $CARGO_TARGET_DIR or target,
#        x86_64-unknown-linux-gnu/debug/rt). RUNC=/path picks the reference (default
#        /usr/sbin/runc); PROGRAMS="kill state ..." runs only those validation programs.
#
# Source: Debian's golang-github-opencontainers-runtime-tools source package (`apt-get source`
# with a deb-src line for trixie; .ci/run adds it), whose orig tarball is checked against the
# sha256 that `apt-cache showsrc` lists. It is built with Debian's Go and -dev packages in GOPATH
# mode; github.com/mndrix/tap-go, which Debian does not package, is our own ./tap. The download,
# unpacked source and Go build cache are kept in $RTOOLS_CACHE (default target/runtime-tools).
#
# Each validation program runs the runtime through a wrapper that adds a private --root, inside
# its own mount (private propagation), network, IPC, UTS and pid namespaces (unshare), so a
# program that mounts without a mount namespace (linux_ns_itype), sets sysctls (linux_sysctl) or
# leaves a process behind cannot reach the host: when the program ends, containers it left are
# force-deleted inside the namespaces and the pid namespace takes every process left with it.
# Cgroups the runtimes leave (named after a container id, or runtime-tools' fixed /cgrouptest and
# testdir) are reported as failures and removed.
#
# Prints per program "ok / not ok" for rt and runc, the totals, then every rt `not ok` that is
# not listed (program and TAP description) in integration/conformance/README.md's table of known
# failures; exits 1 if there is one.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec </dev/null
START=$SECONDS

PKG=golang-github-opencontainers-runtime-tools
VERSION=0.9.0.109.ge931285
ORIG=${PKG}_$VERSION.orig.tar.xz
IMPORT=github.com/opencontainers/runtime-tools
README=integration/conformance/README.md
TIMEOUT=${RTOOLS_TIMEOUT:-60}    # seconds per validation program (the slowest takes ~15 s)

RT=${1:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/debug/rt}
RT=$(readlink -m "$RT")
RUNC=${RUNC:-/usr/sbin/runc}
[ -x "$RT" ] || { echo "no runtime binary at $RT (cargo build first)" >&2; exit 1; }
[ -x "$RUNC" ] || { echo "no reference runtime at $RUNC (apt-get install runc)" >&2; exit 1; }
for b in go apt-get apt-cache unshare timeout tar xz sha256sum ip; do
    command -v $b >/dev/null || { echo "missing $b (see .ci/run for the packages)" >&2; exit 1; }
done

CACHE=$(readlink -m "${RTOOLS_CACHE:-${CARGO_TARGET_DIR:-target}/runtime-tools}")
W=$(mktemp -d /tmp/rt-rtools.XXXXXX)
chmod 755 "$W"   # a user-namespace container's root must be able to reach its bundle
cleanup() { [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"; }
trap cleanup EXIT

# ---------------------------------------------------------------- fetch and verify the source
want_sha=$(apt-cache showsrc "$PKG" | awk -v f="$ORIG" '
    /^Checksums-Sha256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == f { print $1; exit }')
[ -n "$want_sha" ] || { echo "apt-cache showsrc $PKG lists no $ORIG: add a deb-src line for trixie and apt-get update" >&2; exit 1; }
mkdir -p "$CACHE/download"
if ! echo "$want_sha  $CACHE/download/$ORIG" | sha256sum -c --status 2>/dev/null; then
    echo "== fetching $ORIG (apt-get source)"
    # The mirror serves the tarballs but not always the .dsc, so apt-get may fail after the
    # download: the sha256 check below is what decides.
    (cd "$CACHE/download" && rm -f "$ORIG" && apt-get source -q --download-only "$PKG=$VERSION-1" >apt-get.log 2>&1)
    echo "$want_sha  $CACHE/download/$ORIG" | sha256sum -c --status || {
        echo "$ORIG missing or its sha256 differs from apt-cache showsrc ($want_sha):" >&2
        tail -5 "$CACHE/download/apt-get.log" >&2; exit 1; }
fi
echo "source: $ORIG (sha256 $want_sha, as apt-cache showsrc lists it)"

# ---------------------------------------------------------------- build
SRC=$CACHE/gopath/src/$IMPORT
rm -rf "$CACHE/gopath"
mkdir -p "$SRC" "$CACHE/gopath/src/github.com/mndrix"
tar -xJf "$CACHE/download/$ORIG" -C "$SRC" --strip-components=1
cp -r integration/runtime-tools/tap "$CACHE/gopath/src/github.com/mndrix/tap-go"
export GO111MODULE=off GOPATH=$CACHE/gopath:/usr/share/gocode GOCACHE=$CACHE/gocache GOFLAGS= GOPROXY=off
BIN=$SRC/bin
mkdir -p "$BIN"
echo "== building runtimetest and validation/* with $(go version | cut -d' ' -f3)"
go test github.com/mndrix/tap-go || { echo "our tap package fails its test" >&2; exit 1; }
(cd "$SRC" && go build -tags "netgo osusergo" -ldflags "-extldflags -static" -o runtimetest ./cmd/runtimetest &&
    go build -o "$BIN/" ./validation/...) || { echo "build failed" >&2; exit 1; }
ALL=()
for f in "$SRC"/validation/*/*.go; do
    d=$(basename "$(dirname "$f")")
    [ "$d" = util ] && continue
    [[ " ${ALL[*]} " == *" $d "* ]] || ALL+=("$d")
done
for p in "${ALL[@]}"; do
    [ -x "$BIN/$p" ] || { echo "validation/$p did not build into $BIN/$p" >&2; exit 1; }
done
echo "built runtimetest and ${#ALL[@]} validation programs in $((SECONDS - START)) s"
PROGRAMS=(${PROGRAMS:-${ALL[@]}})

# ---------------------------------------------------------------- cgroups runtime-tools names
# runtime-tools uses fixed cgroup paths; refuse to run over cgroups that are not ours.
CG_MOUNTS=()   # "mountpoint own-path" per hierarchy this process is in
while IFS=: read -r _ ctrl path; do
    case $ctrl in
        "") m=/sys/fs/cgroup/unified; [ -d $m ] || m=/sys/fs/cgroup ;;
        name=*) m=/sys/fs/cgroup/${ctrl#name=} ;;
        *) m=/sys/fs/cgroup/$ctrl ;;
    esac
    [ -d "$m" ] && CG_MOUNTS+=("$m $path")
done </proc/self/cgroup
# cgroup_dirs NAME: existing directories NAME at a hierarchy's root or in our own cgroup
cgroup_dirs() {
    local mp own
    for e in "${CG_MOUNTS[@]}"; do
        mp=${e% *} own=${e#* }
        for d in "$mp/$1" "$mp${own%/}/$1"; do [ -d "$d" ] && echo "$d"; done
    done | sort -u
}
for n in cgrouptest testdir; do
    if [ -n "$(cgroup_dirs $n)" ]; then
        echo "cgroups named $n exist already (not made by this run): $(cgroup_dirs $n | tr '\n' ' ')" >&2
        echo "runtime-tools uses that fixed name; remove them or run elsewhere" >&2
        exit 1
    fi
done
# remove_cgroup DIR: kill what is left in it (only container processes of this run can be in a
# cgroup named after one of its containers) and remove it, children first.
remove_cgroup() {
    local d
    for d in $(find "$1" -depth -type d 2>/dev/null); do
        for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    sleep 0.2
    find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ ! -d "$1" ] || echo "    could not remove $1"
}

# ---------------------------------------------------------------- run
# run_program NAME BINARY TAG: prints the program's TAP to $W/TAG/NAME.tap and its stderr to
# NAME.err; appends "NAME: description" of each failure to $W/TAG/notok and counts to TAG/counts.
run_program() {
    local prog=$1 bin=$2 tag=$3 dir=$W/$3 state=$W/$3/state
    local wrap=$dir/runtime ids=$dir/$prog.ids tap=$dir/$prog.tap
    mkdir -p "$state" "$W/tmp"
    # runtime-tools runs "$RUNTIME create|start|state|kill|delete ..." with the default --root;
    # this wrapper keeps the state in our private root and logs each container id it creates.
    cat >"$wrap" <<EOF
#!/bin/sh
if [ "\$1" = create ]; then for a; do id=\$a; done; echo "\$id" >>"$ids"; fi
exec "$bin" --root "$state" "\$@"
EOF
    chmod +x "$wrap"
    : >"$ids"
    local t0=$SECONDS rc
    (cd "$SRC" && RUNTIME=$wrap TMPDIR=$W/tmp timeout -k 5 "$TIMEOUT" \
        unshare --mount --propagation private --net --ipc --uts --pid --fork --kill-child --mount-proc \
        sh -c 'ip link set lo up; ip link add rtools0 type veth peer name rtools1   # linux_cgroups_network wants 2 links
               "$1" >"$2"; rc=$?
               for id in $("$3" list -q 2>/dev/null); do
                   echo "left container $id behind: deleting it" >&2; "$3" delete -f "$id" >&2
               done
               exit $rc' sh "$BIN/$prog" "$tap" "$wrap") 2>"$dir/$prog.err"
    rc=$?
    # Parse the TAP: a program may print several streams (one per tap.New), each with its plan.
    local counts
    counts=$(awk -v prog="$prog" -v rc=$rc -v timeout="$TIMEOUT" -v notok="$dir/notok" -v notes="$dir/notes" '
        function close_stream() {
            if (!open) return
            if (plan == "") fail("no TAP plan")
            else if (plan != results) fail("plan 1.." plan " but " results " results")
            else if (results == 0 && err != "") fail("error: " err)
            else if (results == 0) print prog ": a TAP stream reported no result" >>notes
            open = 0
        }
        function fail(d) { print prog ": " d >>notok; nok++ }
        /^TAP version/ { close_stream(); open = 1; plan = ""; results = 0; err = ""; next }
        /^1\.\.[0-9]+/ { if (!open) { open = 1; results = 0; err = "" } plan = substr($1, 4); next }
        /^(not )?ok [0-9]+/ {
            if (!open) { open = 1; plan = ""; results = 0; err = "" }
            results++
            if ($0 ~ /^ok [0-9]+ # SKIP/) skip++
            else if ($0 ~ /^not ok [0-9]+ # TODO/) todo++
            else if ($1 == "ok") ok++
            else { d = $0; sub(/^not ok [0-9]+ (- )?/, "", d); fail(d) }
            next
        }
        # A program that reports only failures (the hooks programs) puts them in a top-level
        # YAML "error" key (our tap writes YAML as JSON, indented by 4 at the top level).
        /^    "error": "./ && results == 0 { e = $0; sub(/^    "error": "/, "", e); sub(/(\\n|").*/, "", e); if (err == "") err = e }
        END {
            close_stream()
            if (rc != 0) {
                s = "exit status " rc; if (rc == 124 || rc == 137) s = s " (timeout " timeout " s)"
                fail("program failed: " s)
            } else if (NR == 0) print prog ": exit status 0 without TAP output (it prints only failures)" >>notes
            print ok + 0, nok + 0, skip + 0, todo + 0
        }' "$tap")
    local ok notok skip todo
    read -r ok notok skip todo <<<"$counts"
    grep '^left container' "$dir/$prog.err" | sed "s/^/$prog: /" >>"$dir/notes"
    # A container's own cgroup left after its delete is the runtime's failure. The parents that
    # a relative cgroupsPath made (testdir/cgrouptest) are left by runc too: removed, noted.
    for n in $(cat "$ids") cgrouptest testdir/cgrouptest/container testdir; do
        local dirs
        dirs=$(cgroup_dirs "$n")
        [ -n "$dirs" ] || continue
        if [ "$n" = testdir ]; then
            echo "$prog: left the parents of its relative cgroupsPath: $(echo ${dirs//\/sys\/fs\/cgroup\//})" >>"$dir/notes"
        else
            echo "$prog: cgroup left behind: $n" >>"$dir/notok"; notok=$((notok + 1))
            echo "$prog: cgroup $n left in $(echo ${dirs//\/sys\/fs\/cgroup\//})" >>"$dir/notes"
        fi
        for d in $dirs; do remove_cgroup "$d"; done
    done
    echo "$prog $ok $notok $skip $todo $((SECONDS - t0))" >>"$dir/counts"
    if [ -s "$dir/$prog.err" ] && [ "$notok" -gt 0 ]; then sed 's/^/      | /' "$dir/$prog.err" | head -20 >"$dir/$prog.errshort"; fi
}

for tag in rt runc; do
    bin=$RT; [ $tag = runc ] && bin=$RUNC
    echo "== $tag ($bin): ${#PROGRAMS[@]} programs"
    mkdir -p "$W/$tag"; : >"$W/$tag/notok"; : >"$W/$tag/counts"; : >"$W/$tag/notes"
    t0=$SECONDS
    for p in "${PROGRAMS[@]}"; do run_program "$p" "$bin" "$tag"; done
    echo "   $tag took $((SECONDS - t0)) s"
    [ -n "$(ls -A "$W/$tag/state" 2>/dev/null | grep -v '^seccomp')" ] && echo "NOTE $tag state root not empty: $(ls "$W/$tag/state")"
done

# ---------------------------------------------------------------- report
printf '\n%-36s %14s %14s\n' "program (ok / not ok)" rt runc
tot() { awk -v c="$2" '{ s += $c } END { print s + 0 }' "$W/$1/counts"; }
for p in "${PROGRAMS[@]}"; do
    r=$(awk -v p="$p" '$1 == p { print $2 " / " $3 }' "$W/rt/counts")
    c=$(awk -v p="$p" '$1 == p { print $2 " / " $3 }' "$W/runc/counts")
    printf '%-36s %14s %14s\n' "$p" "$r" "$c"
done
printf '%-36s %14s %14s\n' TOTAL "$(tot rt 2) / $(tot rt 3)" "$(tot runc 2) / $(tot runc 3)"
echo "(SKIP results, not counted above: rt $(tot rt 4), runc $(tot runc 4); TODO results, not counted: rt $(tot rt 5), runc $(tot runc 5))"

# Known rt failures: rows "| `program` | description | reason |" of the README table between
# the runtime-tools-known markers.
sed -n '/<!-- runtime-tools-known:begin -->/,/<!-- runtime-tools-known:end -->/p' "$README" |
    awk -F'|' 'NF >= 4 && $2 ~ /`/ { p = $2; d = $3; gsub(/[ `]/, "", p); sub(/^ +/, "", d); sub(/ +$/, "", d); print p ": " d }' \
    >"$W/known"
echo
for tag in rt runc; do
    echo "-- $tag not ok:"
    sort "$W/$tag/notok" | uniq -c | sed 's/^/   /'
    echo "-- $tag notes:"
    sed 's/^/   /' "$W/$tag/notes"
done
UNEXPECTED=0
while IFS= read -r line; do
    if ! grep -qxF "$line" "$W/known"; then
        echo "UNEXPECTED rt not ok: $line"
        p=${line%%:*}; [ -f "$W/rt/$p.errshort" ] && cat "$W/rt/$p.errshort"
        UNEXPECTED=$((UNEXPECTED + 1))
    fi
done < <(sort -u "$W/rt/notok")
while IFS= read -r line; do
    p=${line%%:*}
    [[ " ${PROGRAMS[*]} " == *" $p "* ]] && ! grep -qxF "$line" "$W/rt/notok" &&
        echo "NOTE listed in $README but rt passed it: $line"
done <"$W/known"
echo "runtime-tools step took $((SECONDS - START)) s; rt: $(tot rt 2) ok, $(tot rt 3) not ok ($UNEXPECTED not listed in $README); runc: $(tot runc 2) ok, $(tot runc 3) not ok"
echo "runtime-tools: $(tot rt 2) passed, $UNEXPECTED failed"
[ $UNEXPECTED -eq 0 ]
