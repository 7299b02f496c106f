# Load/unload cycles while a storm runs and a --follow collector reads: no
# oops, no warning, and the collector survives every unload.
#
# One storm thread: each load and unload waits for RCU grace periods and
# live code patching, which under single-threaded TCG take seconds when
# both vCPUs are busy (a cycle takes about 1 s idle, 2 s with one storm
# thread and 5 s with two on Debian's stock kernel).
. /tests/vm/lib.sh

witness-vmtool storm --threads 1 --seconds 280 --path /etc/passwd > /dev/null &
storm=$!
witness events --format json --follow > follow.json 2> follow.err &
follower=$!
# 50 cycles, or as many as fit in 240 s on a slow (debug) kernel, at least 10.
start=$(cut -d. -f1 /proc/uptime)
cycles=0
while [ "$cycles" -lt 50 ] && [ $(( $(cut -d. -f1 /proc/uptime) - start )) -lt 240 ]; do
    cycles=$((cycles + 1))
    insmod "$MODULE" || fail "insmod failed on cycle $cycles"
    usleep 20000
    unload_module 30
done
echo "$cycles load/unload cycles in $(( $(cut -d. -f1 /proc/uptime) - start )) s"
[ "$cycles" -ge 10 ] || fail "only $cycles cycles in 240 s"
kill -0 "$storm" || fail "the storm ended before the cycles did"
kill -0 "$follower" || fail "the --follow collector died: $(tail -3 follow.err)"
kill "$storm" "$follower"
unloads=$(grep -c "went away" follow.err || true)
echo "collector saw $unloads unloads"
[ "$unloads" -ge 1 ] || fail "collector never saw an unload"
