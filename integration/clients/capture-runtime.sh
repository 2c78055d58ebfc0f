#!/bin/sh
# An OCI runtime that records how a caller drives it, then runs the real one: it appends its
# argv to $CAPTURE_DIR/argv.log and, for `create` and `run`, copies the bundle's config.json to
# $CAPTURE_DIR/<container id>.json before exec'ing $CAPTURE_RUNTIME (default /usr/sbin/runc)
# with the same argv. Callers that take only a path (dockerd --add-runtime, ctr --runc-binary,
# podman and buildah --runtime) get a wrapper that sets the two variables and execs this script
# (see capture.sh).
set -u
dir=${CAPTURE_DIR:?CAPTURE_DIR is not set}
printf '%s\n' "$*" >>"$dir/argv.log"
verb="" bundle=. prev="" id=""
for a in "$@"; do
    case "$prev" in --bundle | -b) bundle=$a ;; esac
    case "$a" in --bundle=*) bundle=${a#--bundle=} ;; esac
    [ -n "$verb" ] || case "$a" in create | run) verb=$a ;; esac
    prev=$a id=$a
done
if [ -n "$verb" ]; then cp "$bundle/config.json" "$dir/$id.json"; fi
exec "${CAPTURE_RUNTIME:-/usr/sbin/runc}" "$@"
