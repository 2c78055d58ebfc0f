#!/usr/bin/env bash
# VM tier: rt's cgroup checks on a pure cgroup v2 machine with every controller enabled, and
# checkpoint/restore through CRIU for rt and runc side by side (CRIU 3.17 fails on newer
# kernels' vDSO; Debian's 6.1 kernel is one it knows).
#
# Boots Debian's cloud kernel under qemu (TCG, no KVM) with every v1 controller but cpuset
# disabled (`cgroup_no_v1=`; cpuset is left for the cpuset_v2_mode check), an initramfs
# holding the rt binary, criu, runc, GNU tar and iptables-restore (CRIU runs those two), each with
# its libraries per ldd, the kernel modules CRIU needs, busybox-static, a static console-socket
# receiver and guest.sh, plus a small virtio disk for io.max. The guest prints one PASS/FAIL line
# per check; this script echoes them and ends with `N passed, M failed` (and the counts of the
# checkpoint checks per runtime), exiting non-zero on any failure or if the guest never reports.
#
# Usage: integration/vm/run.sh [RT_BINARY]   (default: target/x86_64-unknown-linux-gnu/release/rt, built if missing)
# RT_VM_ONLY=cgroups, criu (CRIU's own checks, then the engines') or engines runs a part only.
# Needs root only for apt-get download; Debian packages: busybox-static, cpio, seabios, python3,
# criu, runc, iptables, gcc, libc6-dev and qemu-system-x86_64 (or qemu-system-x86's libraries:
# then the .deb is unpacked, see below).
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
# criu execs tar (GNU: tmpfs contents) and iptables-restore (to lock the network) by name.
mkdir -p "$ir/usr/bin" "$ir/usr/lib/x86_64-linux-gnu/xtables"
for b in /usr/sbin/criu /usr/sbin/runc /usr/bin/tar /usr/sbin/xtables-nft-multi; do
    cp "$b" "$ir/usr/bin/"
done
ln -s xtables-nft-multi "$ir/usr/bin/iptables-restore"
ln -s xtables-nft-multi "$ir/usr/bin/ip6tables-restore"
cp /usr/lib/x86_64-linux-gnu/xtables/lib{xt_mark,xt_standard}.so "$ir/usr/lib/x86_64-linux-gnu/xtables/"
# containerd's and podman's binaries go on a read-only disk (they would double the initramfs,
# which the guest copies to a tmpfs); their libraries, small, in the initramfs.
tools="$work/tools"
mkdir -p "$tools/bin" "$ir/etc/containers"
cp /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/bin/ctr /usr/bin/podman /usr/bin/conmon "$tools/bin/"
cp /etc/containers/policy.json "$ir/etc/containers/"
for b in "$rt" /usr/sbin/criu /usr/sbin/runc /usr/bin/tar /usr/sbin/xtables-nft-multi "$tools"/bin/*; do
    for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
        mkdir -p "$ir$(dirname "$lib")"
        cp -L "$lib" "$ir$lib"
    done
done
gcc -static -O2 -o "$ir/bin/recvtty" "$here/recvtty.c"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    f="$(find "$modules" -name "$m.ko*" | head -n1)"
    [ -n "$f" ] && cp "$f" "$ir/lib/modules/"
done
# CRIU's: socket diagnostics, conntrack (dumped with a network namespace), nftables with the
# mark match (its network lock), tun and veth (probed). Loaded in modules.dep order.
: >"$ir/lib/modules/order"
for m in unix_diag tcp_diag udp_diag netlink_diag af_packet_diag nf_conntrack_netlink nft_compat xt_mark tun veth; do
    line="$(grep -E "(^|/)$m\.ko[^:]*:" "$modules/modules.dep" || true)"
    [ -n "$line" ] || { echo "INFO kernel module $m not found" >&2; continue; }
    for dep in $(echo "${line#*:}" | tr ' ' '\n' | tac) "${line%%:*}"; do
        name="$(basename "$dep")" && name="${name%%.ko*}"
        grep -qx "$name" "$ir/lib/modules/order" && continue
        cp "$modules/$dep" "$ir/lib/modules/$name.ko"
        echo "$name" >>"$ir/lib/modules/order"
    done
done
python3 "$here/make_bundles.py" "$ir/bundles"
# containerd's image: the guest's busybox rootfs as an OCI image (umoci, no registry).
. "$repo/integration/busybox_image.sh"
{ oci_image "$ir/rootfs" "$work/img" && tar -C "$work/img" -cf "$tools/bb.tar" .; } >"$work/umoci.log" 2>&1 ||
    { cat "$work/umoci.log"; echo "building the OCI image failed" >&2; exit 1; }
mkfs.ext4 -q -L tools -d "$tools" "$work/tools.img" $(($(du -sm "$tools" | cut -f1) + 32))M
cp "$here/guest.sh" "$ir/init"
cp "$here/guest_criu.sh" "$here/guest_engines.sh" "$ir/"
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz")

qemu-img create -q -f raw "$work/disk.img" 16M

# --- boot; the guest powers off when done. Every v1 controller but cpuset, and named v1
# hierarchies, are kept out of cgroup v1 (unknown names are ignored by the kernel).
no_v1=cpu,cpuacct,io,memory,devices,freezer,net_cls,perf_event,net_prio,hugetlb,pids,rdma,misc,debug,named
log="$work/console.log"
set +e
timeout 1200 "$qemu" "${qemu_l[@]}" -accel tcg -machine q35 -cpu max -smp 2 -m 1024 \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 cgroup_no_v1=$no_v1 panic=-1 quiet loglevel=3 rtvm_only=${RT_VM_ONLY:-all}" \
    -drive "file=$work/disk.img,format=raw,if=virtio" \
    -drive "file=$work/tools.img,format=raw,if=virtio,readonly=on" \
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
for r in rt:rt runc:runc cd:"containerd on rt" podman:"podman on rt"; do
    echo "checkpoint/restore on ${r#*:}: $(grep -c "^PASS cr-${r%%:*}-" "$log") passed, $(grep -c "^FAIL cr-${r%%:*}-" "$log") failed"
done
echo "vm tier took $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
