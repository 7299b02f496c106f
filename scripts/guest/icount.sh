#!/bin/sh
# `make bench`, in the VM (witness.mode=icount): guest instructions per
# system call, counted by the QEMU plugin scripts/icount/witness-icount.c.
# witness-vmtool brackets each round of a loop with the plugin's marker
# instructions; this script says, in the same order, which loop each round
# belongs to:
#
#   WITNESS-BENCH icount state=STATE op=OP iterations=N rounds=R
#
# and scripts/bench-icount.py pairs the plugin's counts with these lines.
# The loops run on CPU 0 with address-space randomisation off (the kernel
# boots with nokaslr), in four states: module unloaded; loaded with every
# kind off; every kind recorded into rings nobody reads (drained between
# loops); every kind recorded with `witness run` draining them on CPU 1,
# each round starting once the rings are empty so that the collector is
# asleep and the loop pays for waking it.
#
# Before the module is loaded, two more states measure an eBPF peer doing
# the equivalent capture of an open(2) (task context, path, verdict) with
# bpftrace draining its BPF ring buffer on CPU 1 into a file: the scripts
# in /peer (scripts/guest/peer; bpftrace and they come in the overlay
# scripts/build-peer.sh packs, on stock trixie kernels only):
#   bpftrace-kprobe  kprobe + kretprobe on security_file_open, the dentry's
#                    name only (bpf_d_path is not allowed in kprobes)
#   bpftrace-fexit   fexit on security_file_open, the full path (path())
# They run where the kernel has BTF and the overlay is there; each loop
# starts once bpftrace has printed everything before it. Boots with
# witness.profile=1 skip them (scripts/icount-profile.py knows only the
# four module states).
. /tests/vm/lib.sh

bench() { echo "WITNESS-BENCH $*"; }
rounds=5

loops() {
    state="$1"
    shift
    for spec in getpid:4000 open:1000 connect:400 fork-exec:40; do
        op="${spec%%:*}" n="${spec#*:}"
        case "$state" in bpftrace-*) peer_sync ;; esac
        bench "icount state=$state op=$op iterations=$n rounds=$rounds"
        line="$(witness-vmtool bench "$op" --iterations "$n" --rounds "$rounds" --marked "$@")" \
            || fail "bench $op: $line"
        if [ "$state" = recorded ]; then
            timeout 3 witness events --format json > /dev/null 2>&1 || true
        fi
    done
}

uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

# peer_said [FILE...]: what bpftrace printed, its "WARNING:" in lower case
# (the host fails the run on a kernel's WARNING, which would hide why).
peer_said() { sed 's/WARNING/warning/' "$@"; }

# peer_start STATE SCRIPT: starts bpftrace on SCRIPT pinned to CPU 1, its
# output (the records, formatted) into $peer_out, and returns once every
# probe is attached and a record has come through. bpftrace prints
# "Attaching N probes..." before it loads and attaches them, and runs
# BEGIN before attaching too; with __BPFTRACE_NOTIFY_PROBES_ATTACHED set
# it prints that name once the last probe is attached (bpftrace 0.23).
peer_start() {
    peer_state="$1" peer_out="/tmp/$1.out" peer_seq=0
    t0="$(uptime_ms)"
    __BPFTRACE_NOTIFY_PROBES_ATTACHED=1 taskset -c 1 bpftrace "$2" > "$peer_out" 2> "$peer_out.err" &
    peer_pid=$!
    # Under TCG bpftrace takes a while: LLVM, the kernel's BTF, the verifier.
    i=0
    until grep -q '^__BPFTRACE_NOTIFY_PROBES_ATTACHED' "$peer_out"; do
        kill -0 "$peer_pid" 2>/dev/null \
            || fail "bpftrace ($1) exited before attaching: $(peer_said "$peer_out" "$peer_out.err")"
        i=$((i + 1))
        [ "$i" -lt 6000 ] || fail "bpftrace ($1) did not attach within 600 s: $(peer_said "$peer_out" "$peer_out.err")"
        usleep 100000
    done
    attaching="$(grep '^Attaching [0-9]* probes*\.\.\.' "$peer_out")" \
        || fail "bpftrace ($1) attached without saying how many probes: $(peer_said "$peer_out")"
    peer_sync
    # Memory left with bpftrace running (the unpacked initramfs, 200 MB of
    # bpftrace and LLVM included, takes about 400 MB of the VM's 1 GiB),
    # and what it warned about.
    bench "peer state=$1 attached_ms=$(( $(uptime_ms) - t0 )) said=$(echo "$attaching" | tr ' ' _)" \
        "mem_available_kib=$(awk '/^MemAvailable/ { print $2 }' /proc/meminfo)"
    peer_said "$peer_out.err" | sed 's/^/bpftrace: /'
}

# peer_sync: opens a new file and waits until bpftrace has printed its
# record. The BPF ring buffer is one FIFO for every CPU, so everything
# recorded before it has been printed too, and bpftrace is asleep when the
# next loop starts (it pays for waking it, as the collector in the last
# module state does).
peer_sync() {
    peer_seq=$((peer_seq + 1))
    : > "/tmp/peer-sync-$peer_seq"
    i=0
    until grep -q "peer-sync-$peer_seq\$" "$peer_out"; do
        kill -0 "$peer_pid" 2>/dev/null || fail "bpftrace ($peer_state) died: $(peer_said "$peer_out.err")"
        i=$((i + 1))
        [ "$i" -lt 1200 ] || fail "bpftrace ($peer_state) did not print the record of /tmp/peer-sync-$peer_seq within 120 s"
        usleep 100000
    done
    rm -f "/tmp/peer-sync-$peer_seq"
}

# peer_stop: stops bpftrace (SIGINT: it detaches and prints what is left),
# checks that it lost nothing and recorded the open loop's opens, and says
# how many records it wrote.
peer_stop() {
    peer_sync
    kill -INT "$peer_pid"
    i=0
    while kill -0 "$peer_pid" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -lt 1200 ] || fail "bpftrace ($peer_state) did not exit within 120 s of SIGINT"
        usleep 100000
    done
    wait "$peer_pid" 2>/dev/null || true
    lost="$(sed -n 's/^Lost \([0-9]*\) events.*/\1/p' "$peer_out" | awk '{ n += $1 } END { print n + 0 }')"
    # The open loop: 100 warm-up opens of /etc/passwd, then rounds x iterations.
    opens="$(grep -c '^witness-vmtool .*passwd$' "$peer_out" || true)"
    bench "peer state=$peer_state records=$(grep -c '' "$peer_out") loop_opens=$opens lost=$lost"
    # One record, to show what was captured: comm pid tid uid gid cgroup verdict path.
    echo "WITNESS-BENCH peer-sample $peer_state: $(grep -m 1 '^witness-vmtool .*passwd$' "$peer_out")"
    [ "$lost" -eq 0 ] || fail "bpftrace ($peer_state) lost $lost records"
    [ "$opens" -ge $((100 + 1000 * rounds)) ] \
        || fail "bpftrace ($peer_state) printed $opens records of the open loop's /etc/passwd, not $((100 + 1000 * rounds))"
    rm -f "$peer_out"
}

peer() {
    if grep -q 'witness\.profile=1' /proc/cmdline; then
        echo "== icount: no eBPF peer in a profile boot (scripts/icount-profile.py knows only the module's states)"
        return 0
    fi
    if [ ! -e /sys/kernel/btf/vmlinux ]; then
        echo "== icount: no eBPF peer: the kernel has no BTF (/sys/kernel/btf/vmlinux)"
        return 0
    fi
    if [ ! -x /usr/bin/bpftrace ]; then
        echo "== icount: no eBPF peer: no bpftrace in this initramfs (scripts/build-peer.sh packs it for stock trixie kernels)"
        return 0
    fi
    # What bpftrace needs mounted (init mounts debugfs): tracefs for its
    # list of traceable functions, bpffs as a BPF program expects it.
    # (busybox has no mountpoint.)
    grep -q ' /sys/kernel/tracing ' /proc/mounts || mount -t tracefs tracefs /sys/kernel/tracing \
        || fail "cannot mount tracefs"
    grep -q ' /sys/fs/bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf || fail "cannot mount bpffs"
    bench "peer info $(bpftrace --version | tr ' ' _)"

    echo "== icount: bpftrace kprobe+kretprobe on security_file_open (name only), draining on CPU 1"
    peer_start bpftrace-kprobe /peer/kprobe.bt
    loops bpftrace-kprobe
    peer_stop

    echo "== icount: bpftrace fexit on security_file_open (full path), draining on CPU 1"
    peer_start bpftrace-fexit /peer/fexit.bt
    loops bpftrace-fexit
    peer_stop
}

echo 0 > /proc/sys/kernel/randomize_va_space
bench "info kernel=$(uname -r) cpus=$(nproc) mem_kib=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo) cmdline=$(tr ' ' ',' < /proc/cmdline)"

echo "== icount: module unloaded"
loops unloaded

peer

# witness.insmod=A,B on the kernel command line: module parameters.
load_module $(sed -n 's/.*witness\.insmod=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
# With witness.profile=1: the kernel's and the module's functions, for the
# instruction profile (scripts/icount-profile.py).
if grep -q 'witness\.profile=1' /proc/cmdline; then
    awk '$2 ~ /^[tT]$/ { print "WITNESS-KSYM " $1 " " $3 " " $4 }' /proc/kallsyms
fi
echo "== icount: loaded, every kind off"
witness config --kinds none > /dev/null
loops off

echo "== icount: every kind recorded, rings drained between loops"
witness config --kinds all > /dev/null
loops recorded
dropped="$(witness status --format json | sed -n 's/.*"dropped_total":\([0-9]*\).*/\1/p')"
[ "${dropped:-0}" -eq 0 ] || fail "rings overflowed during the loops ($dropped dropped)"

echo "== icount: every kind recorded, witness run draining on CPU 1"
taskset -c 1 witness run --inventory /examples/inventory.toml --policy /examples/policy \
    --evidence /tmp/icount-evidence.jsonl --listen 127.0.0.1:9464 > /tmp/run.out 2> /tmp/run.err &
run_pid=$!
wait_for 20 grep -q "reading /dev/witness" /tmp/run.err
loops draining --drained
kill "$run_pid"
wait "$run_pid" 2>/dev/null || true
unload_module
echo "== done"
