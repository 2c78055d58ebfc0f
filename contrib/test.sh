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
# Skips and known runc differences are recorded by tests/common (notes_file) and summed here.
notes=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/tmp/test-notes.log
mkdir -p "$(dirname "$notes")"
: >"$notes"
rc=0
cargo test --no-fail-fast "$@" || rc=$?
skips=$(grep -c '^SKIP ' "$notes" || true)
diffs=$(grep -c '^RUNC-DIFFERS ' "$notes" || true)
echo "== skipped checks: $skips; known runc differences exercised: $diffs"
sed 's/^/    /' "$notes"
exit $rc
