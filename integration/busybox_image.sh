# Sourced by the integration harnesses: a busybox rootfs and an OCI image of it, made with
# Debian's busybox-static and umoci, so no registry is needed.

# busybox_rootfs DIR APPLET...: busybox with these applets linked in /bin, and a root user
busybox_rootfs() {
    local dir=$1 a
    shift
    mkdir -p "$dir"/{bin,etc,tmp,proc,sys,dev}
    cp /bin/busybox "$dir/bin/busybox"
    for a in "$@"; do ln -sf busybox "$dir/bin/$a"; done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
    echo 'root:x:0:' >"$dir/etc/group"
}

# oci_image ROOTFS LAYOUT: an OCI image layout at LAYOUT whose tag "latest" is ROOTFS as one
# layer, running sh with PATH=/bin (LAYOUT.unpacked is umoci's work dir)
oci_image() {
    local rootfs=$1 layout=$2
    umoci init --layout "$layout" &&
        umoci new --image "$layout:latest" &&
        umoci unpack --image "$layout:latest" "$layout.unpacked" &&
        cp -a "$rootfs/." "$layout.unpacked/rootfs/" &&
        umoci repack --image "$layout:latest" "$layout.unpacked" &&
        umoci config --image "$layout:latest" --config.cmd sh --config.env PATH=/bin
}
