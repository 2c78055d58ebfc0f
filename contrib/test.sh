#!/usr/bin/env bash
# The whole test suite: unit tests and the integration tests that run the real rt binary on
# busybox bundles. Needs root and Debian's busybox-static. With RT_BIN=/usr/sbin/runc the
# integration tests run against runc instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "the integration tests create containers: run as root" >&2
    exit 1
fi
if [ ! -x /bin/busybox ]; then
    echo "missing /bin/busybox: apt-get install busybox-static" >&2
    exit 1
fi
if ! command -v gcc >/dev/null || { [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ] && [ ! -e /usr/lib/libc.a ]; }; then
    echo "missing gcc or libc.a (the conformance suite builds a static checker): apt-get install gcc libc6-dev" >&2
    exit 1
fi
# Skips, known runc differences and open rt bugs are recorded by tests/common (notes_file) and
# summed here, with the pass/fail totals of every test binary.
notes=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/tmp/test-notes.log
mkdir -p "$(dirname "$notes")"
: >"$notes"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
rc=0
cargo test --no-fail-fast "$@" 2>&1 | tee "$log" || rc=$?
sum() { awk -v w="$1" '/^test result:/ { for (i = 2; i <= NF; i++) if ($i ~ "^" w) n += $(i - 1) } END { print n + 0 }' "$log"; }
count() { grep -c "^$1 " "$notes" || true; }
echo "== ${RT_BIN:-rt}: $(sum passed) passed, $(sum failed) failed in $(($(date +%s) - start)) s; \
skipped checks: $(count SKIP); known runc differences: $(count RUNC-DIFFERS); open rt bugs: $(count RT-BUG-OPEN)"
sed 's/^/    /' "$notes"
exit $rc
