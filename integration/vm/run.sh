#!/usr/bin/env bash
# VM tier: rt's cgroup checks on a pure cgroup v2 machine with every controller enabled.
#
# Boots Debian's cloud kernel under qemu (TCG, no KVM) with every v1 controller but cpuset
# disabled (`cgroup_no_v1=`; cpuset is left for the cpuset_v2_mode check), an initramfs
# holding the rt binary (and its libraries, per ldd), busybox-static and tests/guest.sh, plus a
# small virtio disk for io.max. The guest prints one PASS/FAIL line per check; this script echoes
# them and ends with `N passed, M failed`, exiting non-zero on any failure or if the guest never
# reports.
#
# Usage: integration/vm/run.sh [RT_BINARY]   (default: target/x86_64-unknown-linux-gnu/release/rt, built if missing)
# Needs root only for apt-get download; Debian packages: busybox-static, cpio, seabios, python3
# and qemu-system-x86_64 (or qemu-system-x86's libraries: then the .deb is unpacked, see below).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rt="${1:-$repo/target/x86_64-unknown-linux-gnu/release/rt}"
if [ ! -x "$rt" ]; then
    (cd "$repo" && cargo build --release)
fi
rt="$(readlink -f "$rt")"
start=$(date +%s)

work="$(mktemp -d /tmp/rt-vm.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"

. "$here/qemu.sh"
vm_fetch

# --- initramfs
ir="$work/ir"
mkdir -p "$ir"/{bin,sbin,proc,sys,dev,tmp,mnt,run,lib/modules,bundles,rootfs/bin}
cp /bin/busybox "$ir/bin/busybox"
cp /bin/busybox "$ir/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
    # the list names busybox itself: don't replace the binary by a link to itself
    [ "$a" = busybox ] || ln -sf busybox "$ir/rootfs/bin/$a"
done
mkdir -p "$ir"/rootfs/{proc,sys,dev,tmp,etc}
echo 'root:x:0:0:root:/root:/bin/sh' >"$ir/rootfs/etc/passwd"
cp "$rt" "$ir/bin/rt"
for lib in $(ldd "$rt" | grep -o '/[^ ]*'); do
    mkdir -p "$ir$(dirname "$lib")"
    cp -L "$lib" "$ir$lib"
done
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    f="$(find "$modules" -name "$m.ko*" | head -n1)"
    [ -n "$f" ] && cp "$f" "$ir/lib/modules/"
done
python3 "$here/make_bundles.py" "$ir/bundles"
cp "$here/guest.sh" "$ir/init"
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz")

qemu-img create -q -f raw "$work/disk.img" 16M

# --- boot; the guest powers off when done. Every v1 controller but cpuset, and named v1
# hierarchies, are kept out of cgroup v1 (unknown names are ignored by the kernel).
no_v1=cpu,cpuacct,io,memory,devices,freezer,net_cls,perf_event,net_prio,hugetlb,pids,rdma,misc,debug,named
log="$work/console.log"
set +e
timeout 900 "$qemu" "${qemu_l[@]}" -accel tcg -machine q35 -cpu max -smp 2 -m 768 \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 cgroup_no_v1=$no_v1 panic=-1 quiet loglevel=3" \
    -drive "file=$work/disk.img,format=raw,if=virtio" \
    -display none -serial "file:$log" -monitor none -nic none -no-reboot
qrc=$?
set -e

grep -E '^(PASS|FAIL|INFO) ' "$log" | tr -d '\r' || true
passed=$(grep -c '^PASS ' "$log" || true)
failed=$(grep -c '^FAIL ' "$log" || true)
if ! grep -q '^GUEST DONE' "$log"; then
    echo "FAIL vm: the guest did not finish (qemu exit $qrc); console tail:"
    tail -n 40 "$log" | tr -d '\r'
    failed=$((failed + 1))
fi
echo "vm tier took $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
