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
. /tests/vm/lib.sh

bench() { echo "WITNESS-BENCH $*"; }
rounds=5

loops() {
    state="$1"
    shift
    for spec in getpid:4000 open:1000 connect:400 fork-exec:40; do
        op="${spec%%:*}" n="${spec#*:}"
        bench "icount state=$state op=$op iterations=$n rounds=$rounds"
        line="$(witness-vmtool bench "$op" --iterations "$n" --rounds "$rounds" --marked "$@")" \
            || fail "bench $op: $line"
        if [ "$state" = recorded ]; then
            timeout 3 witness events --format json > /dev/null 2>&1 || true
        fi
    done
}

echo 0 > /proc/sys/kernel/randomize_va_space
bench "info kernel=$(uname -r) cpus=$(nproc) cmdline=$(tr ' ' ',' < /proc/cmdline)"

echo "== icount: module unloaded"
loops unloaded

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
