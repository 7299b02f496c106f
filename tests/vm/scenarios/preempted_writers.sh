# From Linux 7.x, tracepoint probes run preemptible (under SRCU, not with
# preemption disabled), so a handler can lose its CPU in the middle of
# writing a record. The writer must keep its CPU and its ring to itself
# until it is done: another task on that CPU must not find the ring busy (a
# "nested" drop) or write into it, and a task that migrates must not finish
# its record in another CPU's ring. Three fork/exec loops and two busy loops
# share CPU 0, so exec/fork/exit handlers are preempted often; every record
# must arrive, without a drop of any kind and without a damaged record.
. /tests/vm/lib.sh

load_module
start_collector events.json
hogs=""
for i in 1 2; do
    taskset -c 0 sh -c 'while :; do :; done' &
    hogs="$hogs $!"
done
loops=""
for i in 1 2 3; do
    taskset -c 0 witness-vmtool bench fork-exec --iterations 150 --rounds 1 > "loop$i.out" &
    loops="$loops $!"
done
for p in $loops; do wait "$p" || fail "a fork/exec loop failed: $(cat loop*.out)"; done
# shellcheck disable=SC2086 # a list of pids
kill $hogs
stop_collector

witness status --format json > status.json
execs=$(records events.json exec '"argv":\["/bin/true"\]' | wc -l)
echo "exec records of /bin/true: $execs"
[ "$execs" -ge 450 ] || fail "expected at least 450 exec records of /bin/true, got $execs"
nested=$(tr ',' '\n' < status.json | sed -n 's/.*"dropped_nested":\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
full=$(tr ',' '\n' < status.json | sed -n 's/.*"dropped_full":\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
assert_eq "nested drops" 0 "$nested"
assert_eq "drops because full" 0 "$full"
if grep -E 'lost|invalid|corrupt|error' events.json.err; then
    fail "the collector reported loss or damaged records (above)"
fi
