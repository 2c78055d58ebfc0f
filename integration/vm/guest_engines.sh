# containerd and podman checkpointing and restoring through rt in the VM tier, sourced by
# guest.sh after guest_criu.sh (whose helpers it uses). Their binaries come from the read-only
# tools disk run.sh makes (/opt/bin); their libraries are in the initramfs.
# Each engine checkpoints a counter with a bind-mounted /data and restores it: the runtime gets
# the engine's own argv (containerd's shim: `checkpoint --image-path --work-path
# --leave-running`, `restore --detach --pid-file --image-path --work-path --no-subreaper
# --bundle`; podman: `checkpoint --image-path --work-path`, conmon: `restore --bundle
# --pid-file --detach --image-path --work-path`).

COUNTER='i=0; while :; do i=$((i+1)); echo $i; echo $i >>/data/out; sleep 0.1; done'

# containerd with a private root, state and socket. ctr 1.6 has no `run --checkpoint` (the
# flag is read but never declared): `ctr containers checkpoint --task` pauses the task, has the
# shim checkpoint it leaving it running, resumes it and stores an image with the spec and the
# runtime options; `ctr containers restore --live` makes a new container from it and restores
# the task. The task's stdio are the shim's pipes (with --log-uri or --null-io stdin is the
# host's /dev/null, which CRIU cannot dump, for runc as for rt).
cd_suite() {
    n=cd
    W=/tmp/cr/cd
    mkdir -p $W/data $W/root
    cat >$W/config.toml <<EOF
version = 2
root = "$W/root"
state = "/run/cd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.overlayfs"]
[grpc]
  address = "/run/cd/sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/opt"
EOF
    containerd --config $W/config.toml >$W/containerd.log 2>&1 &
    cdpid=$!
    cr_wait ctr version >/dev/null
    if ! ctr images import --snapshotter native --base-name localhost/bb /opt/bb.tar >$W/import 2>&1 ||
        ! ctr run -d --snapshotter native --runc-binary /bin/rt --runc-root /run/cd-rt \
            --mount type=bind,src=$W/data,dst=/data,options=rbind:rw \
            localhost/bb:latest c1 sh -c "$COUNTER" </dev/null >$W/run 2>&1 ||
        ! cr_wait cr_atleast $W/data/out 5; then
        cr_fail ctr-run "$(cat $W/import $W/run | tr '\n' ' ') $(tail -n 3 $W/containerd.log | tr '\n' ' ')"
        cd_stop
        return
    fi
    if ! ctr containers checkpoint --task c1 localhost/ck:c1 >$W/ck 2>&1; then
        cr_fail ctr-containers-checkpoint "$(cr_tail $W/ck) $(cd_errors c1)"
        cd_remove c1
        cd_stop
        return
    fi
    v=$(cr_last $W/data/out)
    sleep 1
    if ctr task ls | grep -q "c1 .*RUNNING" && cr_atleast $W/data/out $((v + 1)); then
        cr_pass ctr-checkpoint-leaves-running
    else
        cr_fail ctr-checkpoint-leaves-running "$(ctr task ls 2>&1 | tr '\n' ' ')"
    fi
    cd_remove c1
    : >$W/data/out
    if ctr containers restore --live c2 localhost/ck:c1 </dev/null >$W/restore 2>&1 &&
        cr_wait cr_atleast $W/data/out 3; then
        first=$(head -n 1 $W/data/out)
        if [ "$first" -gt 5 ] && [ "$first" -le $((v + 1)) ] && cr_consecutive $W/data/out; then
            cr_pass ctr-restore-continues
        else
            cr_fail ctr-restore-continues "dumped near $v; now $(cr_tail $W/data/out)"
        fi
        cr_check ctr-restored-task-running 1 "$(ctr task ls | grep -c 'c2 .*RUNNING')"
    else
        cr_fail ctr-restore "$(cr_tail $W/restore) $(cd_errors c2)"
    fi
    cd_remove c2
    if [ -z "$(ls /run/cd-rt/cr 2>/dev/null)" ]; then cr_pass ctr-nothing-left; else cr_fail ctr-nothing-left "$(ls /run/cd-rt/cr)"; fi
    cd_stop
}
ctr() { /opt/bin/ctr -a /run/cd/sock -n cr "$@"; }
# The runtime's and CRIU's last errors for container $1.
cd_errors() {
    grep -h -i error /run/cd/state/io.containerd.runtime.v2.task/cr/$1/log.json $W/root/*/*/$1/*.log 2>/dev/null |
        tail -n 3 | tr '\n' ' '
}
cd_remove() {
    ctr task kill -s KILL $1 2>/dev/null
    cr_wait sh -c "! /opt/bin/ctr -a /run/cd/sock -n cr task ls | grep -q '$1 .*RUNNING'"
    ctr task delete $1 >/dev/null 2>&1
    ctr containers delete $1 >/dev/null 2>&1
}
cd_stop() {
    kill $cdpid
    wait $cdpid 2>/dev/null
}

# podman with private storage, --rootfs, conmon and rt's default root. conmon gives the
# detached container the host's /dev/null as stdin: CRIU can dump it only because the runtime
# reopened it on the container's own /dev/null (runc's reOpenDevNull).
pm_suite() {
    n=podman
    W=/tmp/cr/pm
    rm -rf $W
    mkdir -p $W/data $W/root $W/tmp /dev/shm
    # podman's locks live in /dev/shm
    mountpoint -q /dev/shm || mount -t tmpfs shm /dev/shm
    pm() {
        podman --root $W/root --runroot /run/pm --tmpdir $W/tmp --storage-driver vfs \
            --cgroup-manager cgroupfs --events-backend file --runtime /bin/rt "$@"
    }
    if ! pm run -d --name p1 --network none --security-opt seccomp=unconfined \
        -v $W/data:/data --rootfs /rootfs sh -c "$COUNTER" >$W/run 2>&1 ||
        ! cr_wait cr_atleast $W/data/out 5; then
        cr_fail podman-run "$(cr_tail $W/run)"
        return
    fi
    if pm container checkpoint p1 >$W/ck 2>&1; then
        last=$(cr_last $W/data/out)
        sleep 1
        cr_check podman-checkpoint-stops "exited $last" "$(pm inspect --format '{{.State.Status}}' p1) $(cr_last $W/data/out)"
        if pm container restore p1 >$W/restore 2>&1 && cr_wait cr_atleast $W/data/out $((last + 3)); then
            if cr_consecutive $W/data/out; then
                cr_pass podman-restore-continues
            else
                cr_fail podman-restore-continues "stopped at $last: $(cr_tail $W/data/out)"
            fi
            cr_check podman-restored-running running "$(pm inspect --format '{{.State.Status}}' p1)"
        else
            cr_fail podman-restore "$(tr '\n' ' ' <$W/restore) $(pm_errors restore.log)"
        fi
    else
        cr_fail podman-checkpoint "$(tr '\n' ' ' <$W/ck) $(pm_errors dump.log)"
    fi
    pm rm -f -t 0 p1 >/dev/null 2>&1
    if [ -z "$(ls /run/rt 2>/dev/null)" ]; then cr_pass podman-nothing-left; else cr_fail podman-nothing-left "$(ls /run/rt)"; fi
}
# CRIU's last errors in podman's container directory (its --work-path).
pm_errors() { find $W/root -name "$1" -exec grep -h -i error {} + 2>/dev/null | tail -n 3 | tr '\n' ' '; }
