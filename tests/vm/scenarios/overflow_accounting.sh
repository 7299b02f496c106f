# A storm on every CPU overflows small rings while nobody reads. Afterwards
# the collector's count of sequence gaps must equal the kernel's drop
# counters exactly: loss is never silent. Network traffic runs at the same
# time so that softirq hooks nest inside task-context ones.
. /tests/vm/lib.sh

load_module ring_size_kib=64
witness-vmtool listen 127.0.0.1:8090 --accept 200 > /dev/null &
listener=$!
wait_for 10 sh -c 'netstat -ltn | grep -q ":8090"'
(for i in $(seq 200); do witness-vmtool connect 127.0.0.1:8090 > /dev/null || true; done) &
connector=$!
witness-vmtool storm --threads 2 --seconds 3 --path /etc/passwd
wait "$connector"
kill "$listener" 2>/dev/null || true

# Drain: the markers on each CPU come after the last gaps, so once they are
# printed every gap has been reported.
start_collector events.json
stop_collector
witness status --format json > status.json
cat status.json

dropped=$(tr ',' '\n' < status.json | sed -n 's/.*"dropped_\(full\|nested\)":\([0-9]*\).*/\2/p' | awk '{s += $1} END {print s + 0}')
lost=$(sed -n 's/.* \([0-9]*\) records lost on CPU.*/\1/p' events.json.err | awk '{s += $1} END {print s + 0}')
echo "kernel dropped: $dropped, collector saw gaps totalling: $lost"
[ "$dropped" -gt 0 ] || fail "the storm did not overflow a 64 KiB ring"
assert_eq "sequence gaps = kernel drops" "$dropped" "$lost"
