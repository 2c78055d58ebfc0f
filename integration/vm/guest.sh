#!/bin/busybox sh
# The VM tier's guest side, run as /init. Prints one PASS/FAIL line per check, then GUEST DONE.
/bin/busybox --install -s /bin
# /usr/bin first: GNU tar over busybox's, for criu.
export PATH=/usr/bin:/bin:/sbin

# pivot_root cannot leave the initramfs (rootfs): move everything onto a tmpfs first.
if [ ! -e /.switched ]; then
    mount -t tmpfs -o size=500m tmpfs /mnt
    for d in bin lib lib64 usr etc rootfs bundles init guest_criu.sh guest_engines.sh; do
        [ -e "/$d" ] && cp -a "/$d" /mnt/
    done
    mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/tmp /mnt/run /mnt/mnt
    touch /mnt/.switched
    exec switch_root /mnt /init
fi

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /run
mount -t cgroup2 none /sys/fs/cgroup
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    [ -e /lib/modules/$m.ko ] && ! e=$(insmod /lib/modules/$m.ko 2>&1) && echo "INFO insmod $m: $e"
done
for m in $(cat /lib/modules/order); do
    ! e=$(insmod /lib/modules/$m.ko 2>&1) && echo "INFO insmod $m: $e"
done
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/block/vda/dev ] && break; sleep 1; done

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# check NAME WANT GOT (false when it failed)
check() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want '$2', got '$3'"; return 1; fi; }
finish() { echo "GUEST DONE"; poweroff -f; }

echo "INFO kernel $(uname -r); controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
if [ ! -e /sys/block/vda/dev ]; then
    fail disk "no virtio disk (/sys/block/vda)"
    finish
fi
majmin=$(cat /sys/block/vda/dev)
maj=${majmin%:*}
min=${majmin#*:}
sed -i "s/9999/$maj/; s/9998/$min/" /bundles/*/config.json

R="rt --root /run/rt"
status() { $R state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }
wait_status() {
    for _ in $(seq 1 300); do [ "$(status "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}

cgroup_checks() {
# --- limits, placement, freeze, stats, kill --all, delete
L=/sys/fs/cgroup/rt-vm/limits
if $R create -b /bundles/limits lim >/tmp/lim.out 2>&1; then
    pid=$($R state lim | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    check placement "$pid" "$(cat $L/cgroup.procs)"
    check memory.max 67108864 "$(cat $L/memory.max)"
    # v2 swap is on top of memory: 128M memory+swap - 64M memory
    check memory.swap.max 67108864 "$(cat $L/memory.swap.max)"
    check cpu.max "50000 100000" "$(cat $L/cpu.max)"
    # shares 512: runc 1.3.2+'s conversion (runc 1.1's linear one gave 20)
    check cpu.weight 59 "$(cat $L/cpu.weight)"
    check pids.max 50 "$(cat $L/pids.max)"
    check cpuset.cpus 1 "$(cat $L/cpuset.cpus)"
    check io.max "$maj:$min rbps=1048576 wbps=max riops=max wiops=max" "$(cat $L/io.max)"
    $R start lim
    $R pause lim
    check freeze "1 paused" "$(cat $L/cgroup.freeze) $(status lim)"
    $R resume lim
    check thaw "0 running" "$(cat $L/cgroup.freeze) $(status lim)"
    check ps-json "[$pid]" "$($R ps --format json lim)"
    st=$($R events --stats lim)
    if echo "$st" | grep -q '"type":"stats"' && echo "$st" | grep -q '"pids":{"current":1'; then
        pass events-stats
    else
        fail events-stats "$($R events --stats lim 2>&1 | head -c 300)"
    fi
    $R kill --all lim KILL
    if wait_status lim stopped; then pass kill-all; else fail kill-all "still $(status lim)"; fi
    $R delete lim
    if [ ! -d $L ]; then pass delete-removes-leaf; else fail delete-removes-leaf "$L remains"; fi
else
    fail create-limits "$(cat /tmp/lim.out)"
fi

# --- the eBPF device program: a denied block device can't be opened, /dev/zero can
out=$($R run -b /bundles/devices dev 2>/tmp/dev.err | tr '\n' ' ')
check device-filter "denied=1 zero=0 " "$out" || echo "INFO stderr: $(tr '\n' ' ' </tmp/dev.err)"

# --- OOM kill reported by events
if $R create -b /bundles/oom oom >/tmp/oom.out 2>&1; then
    $R events --interval 1s oom >/tmp/oom.events 2>&1 &
    ev=$!
    # events counts OOM kills from its first reading on: let it take that before the hog runs
    for _ in $(seq 1 100); do grep -q '"type":"stats"' /tmp/oom.events && break; sleep 0.2; done
    $R start oom
    got=
    for _ in $(seq 1 120); do
        if grep -q '"type":"oom"' /tmp/oom.events; then got=1; break; fi
        sleep 0.5
    done
    if [ -n "$got" ]; then
        pass oom-event
    else
        fail oom-event "no oom line; memory.events: $(tr '\n' ' ' </sys/fs/cgroup/rt-vm/oom/memory.events 2>&1); events: $(tail -c 300 /tmp/oom.events)"
    fi
    kill $ev 2>/dev/null
    $R delete -f oom
    if [ ! -d /sys/fs/cgroup/rt-vm/oom ]; then pass delete-f-oom; else fail delete-f-oom "leaf remains"; fi
else
    fail create-oom "$(cat /tmp/oom.out)"
fi
}

cpuset_check() {
# --- a cgroup v1 cpuset hierarchy mounted with cpuset_v2_mode, in a private mount namespace with
# a hybrid layout made for it: the container's /sys/fs/cgroup/cpuset must be its own cgroup, not
# the hierarchy's root. cpuset leaves cgroup2 first (the checks above enabled it there); its
# cgroup2 state goes away asynchronously, so the v1 mount is retried.
rmdir /sys/fs/cgroup/rt-vm
echo -cpuset >/sys/fs/cgroup/cgroup.subtree_control
out=$(unshare -m --propagation private sh -c '
    mount -t tmpfs tmpfs /sys/fs/cgroup && mkdir /sys/fs/cgroup/cpuset /sys/fs/cgroup/unified &&
        mount -t cgroup2 none /sys/fs/cgroup/unified || exit 1
    for _ in $(seq 1 50); do
        mount -t cgroup -o cpuset,cpuset_v2_mode cgroup /sys/fs/cgroup/cpuset 2>/dev/null && break
        sleep 0.2
    done
    grep -q " /sys/fs/cgroup/cpuset .*cpuset_v2_mode" /proc/self/mountinfo ||
        { echo "no cpuset_v2_mode mount: $(grep cpuset /proc/self/mountinfo)"; exit 1; }
    '"$R"' run -b /bundles/cpuset cpuset' 2>/tmp/cpuset.err | tr '\n' ' ')
check cpuset-v2-mode-own-cgroup "own " "$out" || echo "INFO stderr: $(tr '\n' ' ' </tmp/cpuset.err)"
}

# Each part's guest time, to keep the tier's wall time in view.
t0=$(cut -d. -f1 /proc/uptime)
took() {
    t=$(cut -d. -f1 /proc/uptime)
    echo "INFO $1 took $((t - t0)) s"
    t0=$t
}
# rtvm_only comes from the kernel command line (run.sh's RT_VM_ONLY). The cpuset check comes
# right after the cgroup checks: it takes cpuset out of the root's subtree_control, which the
# checkpoint checks' cgroups would otherwise hold.
case "$rtvm_only" in
criu | engines) ;;
*)
    cgroup_checks
    cpuset_check
    took cgroups
    ;;
esac
if [ "$rtvm_only" != cgroups ]; then
    . /guest_criu.sh
    cr_setup
    if [ "$rtvm_only" != engines ]; then
        cr_suite rt rt
        took "checkpoint/restore on rt"
        cr_suite runc runc
        took "checkpoint/restore on runc"
    fi
    # containerd and podman from the tools disk (run.sh), driving rt
    mkdir -p /opt && mount -o ro /dev/vdb /opt && export PATH=$PATH:/opt/bin
    . /guest_engines.sh
    cd_suite
    took "containerd"
    pm_suite
    took "podman"
fi
finish
