# Unload is safe on a preemptible kernel with users coming and going: an
# open file pins the module, so rmmod is refused (never blocks) while a
# descriptor or mapping is held, even by a stopped process, and succeeds
# once the shutdown parameter has made every user let go. Threads that
# open, map, poll, read and close in random orders race the unloads; the
# harness fails the run on any oops, KASAN report or warning.
. /tests/vm/lib.sh

# A leaked descriptor: a stopped process holds a mapping of the rings.
load_module
witness-vmtool mmap-check --cpu 0 --hold 600 --expect ok > holder.out &
holder=$!
wait_for 10 grep -q "holding the mapping" holder.out
kill -STOP "$holder"
start=$(cut -d' ' -f1 /proc/uptime)
if timeout 10 rmmod witness 2> refused.err; then
    fail "rmmod unloaded the module under a held descriptor"
fi
took=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
echo "ok: rmmod refused in ${took} s with a descriptor held: $(cat refused.err)"
awk -v t="$took" 'BEGIN { exit !(t < 5) }' || fail "rmmod took ${took} s to be refused (it must not wait)"
[ -c /dev/witness ] || fail "the device went away after a refused rmmod"
echo 1 > /sys/module/witness/parameters/shutdown
rmmod witness 2> /dev/null && fail "rmmod succeeded while a stopped process held the device"
witness status > /dev/null 2> status.err && fail "the device opened while shut down"
echo "ok: shut down: $(cat status.err)"
kill -KILL "$holder"
wait "$holder" 2> /dev/null || true
unload_module 10
echo "ok: unloaded once the holder died"

# The race: users churn while the module goes and comes back.
witness-vmtool churn --threads 3 --seconds 60 > churn.out &
churn=$!
cycles=0
while [ "$cycles" -lt 25 ] && kill -0 "$churn" 2> /dev/null; do
    cycles=$((cycles + 1))
    load_module
    usleep 200000
    unload_module 30
done
echo "$cycles unloads under churn"
[ "$cycles" -ge 5 ] || fail "only $cycles unloads while the churn ran"
load_module
wait "$churn" || fail "the churn failed: $(cat churn.out)"
cat churn.out
for op in open mmap poll read; do
    grep -q "$op:ok" churn.out || fail "no $op succeeded: the race did not exercise it"
done
witness status > /dev/null || fail "the device does not work after the race"
