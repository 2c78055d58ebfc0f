# Sourced by the harnesses that drive containerd's CRI plugin through cri.py (integration/cri,
# integration/systemd-vm), after integration/busybox_image.sh; the caller defines
# `die MESSAGE [LOG]`. Run from the repository's top directory.

# cri_api_stubs W: protoc's Python message classes (api_pb2.py) for the installed containerd's
# CRI API, in W/stubs. CRI_API_PROTO=FILE takes that api.proto instead of containerd's source.
cri_api_stubs() {
    local W=$1 version orig want
    mkdir -p "$W/src" "$W/stubs"
    if [ -n "${CRI_API_PROTO:-}" ]; then
        cp "$CRI_API_PROTO" "$W/src/api.proto"
    else
        # The CRI API of the containerd that is installed, from Debian's source package. The proxy
        # may serve the tarballs but not the .dsc (apt-get then fails after downloading): check the
        # tarball against the archive's own sha256 instead of trusting apt-get's exit status.
        version=$(dpkg-query -W -f='${source:Version}' containerd)
        orig=containerd_$(sed 's/^[0-9]*://; s/-[^-]*$//' <<<"$version").orig.tar.xz
        (cd "$W/src" && timeout 300 apt-get source -q --download-only "containerd=$version") >"$W/src/apt.log" 2>&1
        want=$(apt-cache showsrc containerd | awk -v v="$version" -v f="$orig" '
            /^Package:/ {inv = 0} $1 == "Version:" {inv = ($2 == v)}
            inv && /^Checksums-Sha256:/ {c = 1; next} inv && c && /^ / {if ($3 == f) print $1; next} {c = 0}')
        [ -n "$want" ] || die "apt-cache showsrc has no $orig for containerd $version: add a deb-src line for the suite it comes from and apt-get update"
        [ -f "$W/src/$orig" ] || die "apt-get source containerd=$version did not fetch $orig" "$W/src/apt.log"
        [ "$(sha256sum <"$W/src/$orig" | cut -d' ' -f1)" = "$want" ] || die "$orig does not match the archive's sha256"
        tar -xJf "$W/src/$orig" -O --wildcards '*/vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto' >"$W/src/api.proto" ||
            die "no vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto in $orig"
    fi
    # gogoproto's import and options only steer Go code generation: drop them for Python's.
    sed -i '/gogoproto/d' "$W/src/api.proto"
    protoc -I "$W/src" --python_out="$W/stubs" "$W/src/api.proto" || die "protoc failed on the CRI api.proto"
}

# cri_image ROOTFS W: W/image.tar, an OCI image layout of ROOTFS plus the pause program, tagged
# "latest" (runs sh) and "pause" (runs /pause)
cri_image() {
    local R=$1 W=$2
    gcc -static -O2 -Wall -o "$R/pause" integration/cri/pause.c || die "building the pause program failed"
    {
        oci_image "$R" "$W/img" &&
            umoci config --image "$W/img:latest" --tag pause --config.cmd /pause &&
            tar -C "$W/img" -cf "$W/image.tar" .
    } >"$W/umoci.log" 2>&1 || die "building the OCI image failed" "$W/umoci.log"
}

# cri_plugin CNI_BIN CNI_CONF_DIR DEFAULT_HANDLER: the config.toml lines of the CRI plugin as the
# harnesses run it, up to its runtimes table (cri_runtime adds the handlers)
cri_plugin() {
    cat <<EOF
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/cri:pause"
  # integration/cri runs containerd without CAP_SYS_RESOURCE: a container may not get a lower
  # oom_score_adj than containerd's
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # the pod network's namespaces are bind mounts: under our state dir, in containerd's private
  # mount namespace
  netns_mounts_under_state_dir = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "$1"
  conf_dir = "$2"
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "$3"
EOF
}

# cri_runtime NAME BINARY ROOT SYSTEMD_CGROUP: the config.toml lines of a CRI runtime handler NAME
# that runs BINARY through containerd's runc shim, with --root ROOT, and the systemd cgroup
# driver if SYSTEMD_CGROUP is true
cri_runtime() {
    cat <<EOF
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$1]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$1.options]
    BinaryName = "$2"
    Root = "$3"
    SystemdCgroup = $4
EOF
}
