#!/bin/sh
# `make bench`, in the VM (witness.mode=bench): the in-kernel overhead of
# witness and the loss-free event rate. Prints WITNESS-BENCH lines that
# scripts/bench.sh turns into the results table.
#
# 1. Syscall loops (witness-vmtool bench) in four states: module unloaded;
#    loaded with every kind off (`witness config --kinds none`: every hook
#    disarmed, the cost of being loaded); every kind
#    recorded into the rings, which are drained between loops (the whole
#    in-kernel cost, with no collector competing for the CPUs); every kind
#    recorded and `witness run` draining the rings through the whole
#    pipeline at the same time. Then the module's own per-hook cost from
#    its counters. Under single-threaded TCG both vCPUs share one host
#    thread, so in the last state the collector's work on the other vCPU
#    slows the loop too (getpid, which no hook sees, shows by how much).
# 2. Loss-free rate: `witness run` drains while witness-vmtool opens files
#    on every CPU at rising rates (doubling) until the kernel drops records;
#    the last rate without drops, and the drop fraction at twice it. At the
#    end the collector's sequence gaps must equal the kernel's drop count.
. /tests/vm/lib.sh

bench() { echo "WITNESS-BENCH $*"; }

loops() {
    state="$1"
    for spec in getpid:20000 open:4000 connect:400 fork-exec:100; do
        op="${spec%%:*}" n="${spec#*:}"
        line="$(witness-vmtool bench "$op" --iterations "$n" --rounds 5)" || fail "bench $op: $line"
        ns="$(echo "$line" | sed -n 's/.* ns=\([0-9]*\) .*/\1/p')"
        bench "overhead state=$state op=$op ns=$ns"
        if [ "$state" = recording-kernel ]; then
            # Drain what the loop recorded (and say if the rings overflowed,
            # which would make the loop look cheaper than it is).
            timeout 3 witness events --format json > /dev/null 2>&1 || true
            d="$(dropped)"
            [ "${d:-0}" -eq 0 ] || fail "rings overflowed during the $op loop ($d dropped)"
        fi
    done
}

# Kernel drop counters summed over CPUs, and records written.
dropped() { witness status --format json | sed -n 's/.*"dropped_total":\([0-9]*\).*/\1/p'; }
produced() {
    witness status --format json | tr '{' '\n' | sed -n 's/.*"produced":\([0-9]*\).*/\1/p' \
        | awk '{s += $1} END {print s + 0}'
}

start_run() {
    witness run --inventory /examples/inventory.toml --policy /examples/policy \
        --evidence /tmp/bench-evidence.jsonl --listen 127.0.0.1:9464 > /tmp/run.out 2> /tmp/run.err &
    run_pid=$!
    wait_for 20 grep -q "reading /dev/witness" /tmp/run.err
}

stop_run() {
    sleep 1
    kill "$run_pid"
    wait "$run_pid" 2>/dev/null || true
}

bench "info clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) cpus=$(nproc)"
dmesg | grep -i clocksource | tail -3

echo "== overhead: module unloaded"
loops unloaded

load_module
echo "== overhead: loaded, every kind off"
witness config --kinds none > /dev/null
loops recording-off

echo "== overhead: loaded, every kind recorded, rings drained between loops"
witness config --kinds all > /dev/null
witness config --reset-counters > /dev/null
loops recording-kernel

echo "== overhead: loaded, every kind recorded, witness run draining"
witness config --reset-counters > /dev/null
start_run
loops recording-on
witness status --format json | tr '{' '\n' | grep '"hook"' | while read -r h; do
    name="$(echo "$h" | sed -n 's/.*"hook":"\([^"]*\)".*/\1/p')"
    hits="$(json_field hits "$h")"
    cost="$(json_field avg_cost_ns "$h")"
    attached="$(json_field attached "$h")"
    [ "$attached" = true ] && [ "${hits:-0}" -gt 0 ] && bench "hook name=$name hits=$hits avg_ns=$cost"
done
stop_run
unload_module

echo "== loss-free rate: open storm on every CPU, default rings, witness run draining"
load_module
witness config --kinds all > /dev/null
witness config --reset-counters > /dev/null
start_run
# CPU time (clock ticks) witness run has used so far.
run_ticks() { awk '{print $14 + $15}' "/proc/$run_pid/stat"; }
rate=2000
while :; do
    d0="$(dropped)" p0="$(produced)" t0="$(run_ticks)"
    line="$(witness-vmtool storm --threads "$(nproc)" --rate "$rate" --seconds 3 --path /etc/passwd)"
    sleep 1
    d1="$(dropped)" p1="$(produced)" t1="$(run_ticks)"
    achieved="$(echo "$line" | sed -n 's/.*(\([0-9]*\)\/s).*/\1/p')"
    bench "storm rate=$rate achieved=$achieved dropped=$((d1 - d0)) produced=$((p1 - p0)) collector_ticks=$((t1 - t0))"
    # Stop once records were dropped, or when the storm cannot go faster.
    [ "$((d1 - d0))" -gt 0 ] && break
    [ "$achieved" -lt "$((rate * 8 / 10))" ] && break
    [ "$rate" -ge 1024000 ] && break
    rate=$((rate * 2))
done
# Full speed, for the record.
d0="$(dropped)" p0="$(produced)" t0="$(run_ticks)"
line="$(witness-vmtool storm --threads "$(nproc)" --seconds 3 --path /etc/passwd)"
sleep 1
d1="$(dropped)" p1="$(produced)" t1="$(run_ticks)"
achieved="$(echo "$line" | sed -n 's/.*(\([0-9]*\)\/s).*/\1/p')"
bench "storm rate=max achieved=$achieved dropped=$((d1 - d0)) produced=$((p1 - p0)) collector_ticks=$((t1 - t0))"
# One record on each CPU after the storm, so the last gaps show.
taskset -c 0 true
taskset -c 1 true
stop_run
total_dropped="$(dropped)"
gaps="$(sed -n 's/^witness: \([0-9]*\) records lost (sequence gaps).*/\1/p' /tmp/run.err)"
bench "accounting dropped=$total_dropped gaps=${gaps:-missing}"
rmmod witness
echo "== done"
