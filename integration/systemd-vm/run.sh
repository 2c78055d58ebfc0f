#!/usr/bin/env bash
# systemd host tier: a VM whose PID 1 is Debian's systemd, where runtimes are driven with the
# systemd cgroup driver, directly (--systemd-cgroup) and by containerd's CRI plugin
# (SystemdCgroup = true), podman (cgroup_manager = "systemd") and Docker
# (native.cgroupdriver=systemd): see guest.sh for the checks.
#
# usage: integration/systemd-vm/run.sh [[xfail:][NAME=]RUNTIME_BINARY ...]   (default: runc=/usr/sbin/runc)
#   e.g. run.sh runc=/usr/sbin/runc rt=target/x86_64-unknown-linux-gnu/release/rt: every check
#   runs for each runtime, side by side, in the same boots. A runtime marked xfail: is one not
#   expected to pass yet (rt until it has a systemd cgroup driver): its checks run all the same,
#   its failures print as XFAIL, and its counts are printed on their own line, outside
#   "N passed, M failed" and the exit status.
#   While working on it: RT_SYSVM_BOOTS="v2 v1" (the boots), RT_SYSVM_CHECKS="own cri podman
#   docker" (the groups of checks), RT_SYSVM_DEBUG=1 (guest.sh traced, the journal's tail at the
#   end), KEEP=1 (keep the work dir, with the console logs), RT_SYSVM_TIMEOUT_V2/_V1 (seconds).
#
# The guest: Debian's cloud kernel under qemu (TCG: no KVM here), an initramfs (init) that
# mounts this machine's root filesystem, read-only over virtiofs, under a tmpfs overlay as the
# guest's root, so the guest runs exactly the packages installed here (systemd, dbus, containerd,
# podman, docker.io, runc, busybox...) without a disk image or network. virtiofsd serves a
# directory of read-only bind mounts (/ without its submounts, this run's files, the guest
# kernel's modules) made in a private mount namespace; nothing is mounted in the machine's own.
# Two boots, at once: pure cgroup v2 (systemd.unified_cgroup_hierarchy=1) with every check, and
# v1/hybrid (=0) with the runtimes' own checks. Each prints PASS/FAIL lines on its serial
# console; this script echoes them (the v1 boot's marked [v1]), each boot's time and qemu's CPU
# time, its own time and "N passed, M failed", and exits 1 on a failure or a boot that does not
# finish in time.
#
# Needs root and Debian's qemu-system-x86 (or its libraries: integration/vm/qemu.sh unpacks it),
# kmod (depmod for the guest's modprobe), systemd, dbus, containerd, podman, docker.io, runc,
# busybox-static, umoci, gcc, libc6-dev, protobuf-compiler, python3-grpcio,
# containernetworking-plugins, cpio, and a deb-src line for containerd (integration/cri).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
exec </dev/null
START=$(date +%s)
. integration/vm/qemu.sh
. integration/busybox_image.sh
. integration/cri/prepare.sh
die() { echo "$1" >&2; [ -f "${2:-}" ] && tail -20 "$2" >&2; exit 1; }
[ $# -gt 0 ] || set -- runc=/usr/sbin/runc

W=$(mktemp -d /tmp/rt-sysvm.XXXXXX)
cleanup() {
    # qemu (through its timeout) and virtiofsd that an interrupted run left: ours, by pid
    local f
    for f in "$W"/pid-*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
G=$W/rtvm # the guest's /rtvm
mkdir -p "$G/bin" "$W/share"/{root,rtvm,modules}

# ---------------------------------------------------------------- runtimes, image, bundles
names=() xfail=()
for a; do
    if [ "${a#xfail:}" != "$a" ]; then a=${a#xfail:} && xfail+=("${a%%=*}"); fi
    name=${a%%=*}
    [ "$name" != "$a" ] || name=$(basename "$a")
    bin=$(readlink -f "${a#*=}")
    [ -x "$bin" ] || die "no runtime binary at ${a#*=}"
    [[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || die "runtime name $name: letters, digits, _ and - only"
    cp "$bin" "$G/bin/$name"
    echo "$name=/rtvm/bin/$name" >>"$G/runtimes"
    names+=("$name")
done
R=$G/rootfs
busybox_rootfs "$R" sh cat echo sleep ps true readlink hostname id grep touch ls wc head mknod
gcc -static -O2 -Wall -o "$R/notify" "$here/notify.c" || die "building the notifier failed"
cri_image "$R" "$W"
mv "$W/image.tar" "$G/image.tar"
tar -C "$R" -cf "$G/rootfs.tar" .
cri_api_stubs "$W"
mv "$W/stubs" "$G/stubs"
python3 "$here/make_bundles.py" "$G/bundles" "${names[@]}"
cp "$here/guest.sh" integration/cri/cri.py "$G/"
printf 'CHECKS="%s"\nDEBUG="%s"\n' "${RT_SYSVM_CHECKS:-own cri podman docker}" "${RT_SYSVM_DEBUG:-}" >"$G/settings"

# ---------------------------------------------------------------- the guest's /etc (over the host's)
E=$G/etc
mkdir -p "$E/systemd/system" "$E/systemd/system-generators" "$E/containerd" "$E/docker" "$E/containers" "$E/rtvm/cni"
cat >"$E/systemd/system/rtvm.target" <<EOF
[Unit]
Description=rt systemd VM tier
Requires=basic.target rtvm-test.service
After=basic.target
AllowIsolate=yes
EOF
cat >"$E/systemd/system/rtvm-test.service" <<EOF
[Unit]
Description=rt systemd VM tier checks
After=basic.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/rtvm/guest.sh
StandardOutput=tty
TTYPath=/dev/ttyS0
# podman's default nofile limit for containers is 1048576, as docker.service allows dockerd
LimitNOFILE=1048576
EOF
# What a boot needs is basic.target with journald and dbus. Generators, timers and early boot
# services that serve no check cost a TCG guest seconds each: masked.
for g in /usr/lib/systemd/system-generators/*; do ln -s /dev/null "$E/systemd/system-generators/${g##*/}"; done
for u in timers.target systemd-timesyncd.service systemd-sysusers.service systemd-random-seed.service \
    systemd-update-utmp.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
    systemd-journal-flush.service systemd-pstore.service systemd-remount-fs.service apparmor.service \
    sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount \
    dev-hugepages.mount kmod-static-nodes.service systemd-tmpfiles-setup-dev.service \
    systemd-ask-password-console.path systemd-ask-password-wall.path modprobe@drm.service \
    modprobe@efi_pstore.service modprobe@dm_mod.service modprobe@loop.service e2scrub_reap.service; do
    ln -s /dev/null "$E/systemd/system/$u"
done
first=${names[0]}
{
    cat <<EOF
version = 2
$(cri_plugin /usr/lib/cni /etc/rtvm/cni "$first")
EOF
    for n in "${names[@]}"; do cri_runtime "$n" "/rtvm/bin/$n" "/run/rtvm-cri/$n" true; done
} >"$E/containerd/config.toml"
cat >"$E/rtvm/cni/10-rtcri.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "rtcri", "plugins": [{"type": "bridge", "bridge": "rtcri0", "isGateway": false,
 "ipMasq": false, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.213.0.0/24"}]]}}]}
EOF
{
    printf '{"exec-opts": ["native.cgroupdriver=systemd"], "iptables": false, "bridge": "none", "runtimes": {'
    sep=""
    # "runc" is a name Docker reserves: each runtime is docker-NAME
    for n in "${names[@]}"; do printf '%s"docker-%s": {"path": "/rtvm/bin/%s"}' "$sep" "$n" "$n"; sep=", "; done
    printf '}}\n'
} >"$E/docker/daemon.json"
cat >"$E/containers/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
[engine]
cgroup_manager = "systemd"
events_logger = "file"
EOF

# ---------------------------------------------------------------- kernel, qemu, initramfs
vm_fetch
virtiofsd=$(dirname "$qemu")/../lib/qemu/virtiofsd
[ -x "$virtiofsd" ] || die "no virtiofsd beside $qemu (Debian's qemu-system-common has it)"
ir=$W/ir
mkdir -p "$ir/bin" "$ir/lib/modules"
cp /bin/busybox "$ir/bin/busybox"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci fuse virtiofs overlay; do
    f=$(find "$modules" -name "$m.ko*" | head -n1)
    [ -n "$f" ] || die "the kernel has no module $m"
    cp "$f" "$ir/lib/modules/"
done
cp "$here/init" "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1 >"$W/initrd.gz")

# ---------------------------------------------------------------- boots
# boot NAME LABEL UNIFIED TIMEOUT: one boot; prints its PASS/FAIL lines marked with LABEL. The
# boots run at once: a TCG guest leaves a core idle while its checks wait on one process.
boot() {
    local label=$2 unified=$3 limit=$4 sock=$W/vfs-$1.sock log=$W/console-$1.log t0 qrc
    set +e
    t0=$(date +%s)
    unshare -m --propagation private sh -c '
        set -e
        bind_ro() { mount --bind "$1" "$2"; mount -o remount,bind,ro "$2"; }
        bind_ro / "$1/share/root"; bind_ro "$1/rtvm" "$1/share/rtvm"; bind_ro "$2" "$1/share/modules"
        # virtiofsd keeps a pid file in /run/virtiofsd: this namespace'"'"'s own /run, not the machine'"'"'s
        mount -t tmpfs -o mode=755 tmpfs /run
        exec "$3" --socket-path="$4" -o source="$1/share" -o cache=always -o sandbox=chroot' \
        sh "$W" "$modules" "$virtiofsd" "$sock" >"$W/virtiofsd-$1.log" 2>&1 &
    echo $! >"$W/pid-virtiofsd-$1"
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    if [ ! -S "$sock" ]; then
        echo "FAIL ${label}virtiofsd starts"
        sed 's/^/    /' "$W/virtiofsd-$1.log"
        return
    fi
    timeout "$limit" /usr/bin/time -f '%U %S' -o "$W/cpu-$1" "$qemu" "${qemu_l[@]}" -accel tcg -machine q35 -cpu max -smp 2 -m 2048 \
        -object memory-backend-memfd,id=mem,size=2048M,share=on -numa node,memdev=mem \
        -chardev socket,id=vfs,path="$sock" -device vhost-user-fs-pci,chardev=vfs,tag=host \
        -kernel "$kernel" -initrd "$W/initrd.gz" \
        -append "console=ttyS0 panic=-1 quiet loglevel=3 apparmor=0 systemd.unit=rtvm.target systemd.show_status=false systemd.unified_cgroup_hierarchy=$unified" \
        -display none -serial "file:$log" -monitor none -nic none -no-reboot &
    echo $! >"$W/pid-qemu-$1"
    wait $!
    qrc=$?
    wait "$(cat "$W/pid-virtiofsd-$1")" 2>/dev/null || true
    rm -f "$W/pid-qemu-$1" "$W/pid-virtiofsd-$1"
    tr -d '\r' <"$log" | grep -aE '^(PASS|FAIL|INFO) |^    ' | sed -E "s/^(PASS|FAIL|INFO) /\1 $label/"
    if ! grep -aq '^GUEST DONE' "$log"; then
        echo "FAIL ${label}the guest finished within ${limit}s (qemu exit $qrc); console tail:"
        tr -d '\r' <"$log" | tail -n 40 | sed 's/^/    /'
    fi
    echo "INFO ${label}boot took $(($(date +%s) - t0))s, qemu used $(awk '{print int($1 + $2)}' "$W/cpu-$1" 2>/dev/null)s of CPU"
}
boots=()
# Time limits, guards against a hang (runc's checks take 3.5-6 min of qemu CPU on v2,
# 1-1.5 on v1): an xfail runtime fails each group at its first step, in seconds.
full=$(($# - ${#xfail[@]}))
for b in ${RT_SYSVM_BOOTS:-v2 v1}; do
    case $b in
    v2) boot v2 "" 1 "${RT_SYSVM_TIMEOUT_V2:-$((300 + 780 * full + 120 * ${#xfail[@]}))}" >"$W/out-v2" & ;;
    v1) boot v1 "[v1] " 0 "${RT_SYSVM_TIMEOUT_V1:-$((300 + 300 * full + 60 * ${#xfail[@]}))}" >"$W/out-v1" & ;;
    *) die "RT_SYSVM_BOOTS takes v2 and v1" ;;
    esac
    boots+=("$b")
done
wait
# An xfail runtime's lines ("NAME: ...", "cri NAME: ...", "podman NAME: ...", "docker NAME: ...")
# are counted apart; its FAILs print as XFAIL.
mine='^(PASS|FAIL) (\[v1\] )?((cri|podman|docker) )?('$(IFS='|' && echo "${xfail[*]:-}")'):'
rc=0
for b in "${boots[@]}"; do cat "$W/out-$b"; done |
    awk -v re="$mine" -v x=${#xfail[@]} '
        x && $0 ~ re { if ($1 == "FAIL") { sub(/^FAIL/, "XFAIL"); xf++ } else xp++; print; next }
        /^PASS / { p++ } /^FAIL / { f++ } { print }
        END {
            if (x) printf "expected to fail (xfail:) runtimes: %d passed, %d failed\n", xp, xf
            printf "%d passed, %d failed\n", p, f
            exit (f > 0)
        }' >"$W/report" || rc=$?
sed '$d' "$W/report"
echo "systemd-vm: took $(($(date +%s) - START))s"
tail -n 1 "$W/report"
exit $rc
