# Sourced by the VM tiers: Debian's cloud kernel and qemu, unpacked from their .debs into a cache
# (RT_VM_CACHE, default /tmp/rt-vm-cache), never installed. Sets:
#   kernel   the vmlinuz
#   modules  its /lib/modules/<version> tree (with modules.dep when depmod is installed)
#   qemu     qemu-system-x86_64, and qemu_l the -L options its unpacked copy needs
# Needs apt-get download (root), dpkg-deb; seabios and qemu's libraries when qemu is unpacked.
vm_fetch() {
    local cache="${RT_VM_CACHE:-/tmp/rt-vm-cache}" real d
    mkdir -p "$cache"
    # --- kernel: the metapackage names the real image package
    if ! ls "$cache"/k/boot/vmlinuz-* >/dev/null 2>&1; then
        (cd "$cache" && apt-get download -q linux-image-cloud-amd64 >/dev/null 2>&1)
        real="$(dpkg-deb -f "$cache"/linux-image-cloud-amd64_*.deb Depends |
            tr ',' '\n' | grep -o 'linux-image-[0-9][^ ]*-cloud-amd64' | head -n1)"
        (cd "$cache" && apt-get download -q "$real" >/dev/null 2>&1)
        rm -rf "$cache/k" && mkdir -p "$cache/k"
        dpkg-deb -x "$cache/$real"_*.deb "$cache/k"
    fi
    kernel="$(ls "$cache"/k/boot/vmlinuz-* | head -n1)"
    modules="$(ls -d "$cache"/k/lib/modules/* | head -n1)"
    # the package's postinst would run depmod: modprobe in a guest needs its modules.dep
    if [ ! -e "$modules/modules.dep" ] && command -v depmod >/dev/null; then
        depmod -b "$cache/k" "$(basename "$modules")"
    fi

    # --- qemu: the installed one, else Debian's qemu-system-x86 unpacked (its package conflicts
    # with the newer qemu-utils some machines carry; the libraries install fine).
    qemu="$(command -v qemu-system-x86_64 || true)"
    qemu_l=()
    if [ -z "$qemu" ]; then
        if [ ! -x "$cache/q/usr/bin/qemu-system-x86_64" ]; then
            (cd "$cache" && apt-get download -q qemu-system-x86 qemu-system-common qemu-system-data >/dev/null 2>&1)
            rm -rf "$cache/q" && mkdir -p "$cache/q"
            for d in "$cache"/qemu-system-{x86,common,data}_*.deb; do
                dpkg-deb -x "$d" "$cache/q"
            done
        fi
        qemu="$cache/q/usr/bin/qemu-system-x86_64"
        qemu_l=(-L "$cache/q/usr/share/qemu" -L /usr/share/seabios)
        # TCG itself is a loadable module in Debian's build.
        export QEMU_MODULE_DIR="$cache/q/usr/lib/x86_64-linux-gnu/qemu"
    fi
}
