# `witness run` killed with SIGKILL in the middle of an open storm, then
# started again: the evidence log holds whole lines only (a line cut by the
# kill is repaired when the log is opened again), and every record the
# module wrote reaches the evidence log at least once (the mmap reader
# gives ring space back only after the sinks have the records, so what the
# killed daemon had read but not written is read again by its successor).
# Drops, if the rings overflowed while no one read, are counted by the
# kernel and equal the sequence gaps the new daemon reports.
. /tests/vm/lib.sh

load_module
# Only the storm's opens are recorded, so the counters below are the storm.
witness config --kinds file_open > /dev/null
witness config --path-prefix /etc/passwd > /dev/null
# Records so far (seq numbers start at 0 and nothing was dropped yet, so
# the storm's records are the sequence numbers from here on).
witness status --format json > before.json
first_seq() { json_field produced "$(tr '{' '\n' < before.json | grep "\"cpu\":$1,")"; }

start_run() {
    witness run --source mmap --evidence-all --evidence evidence.jsonl --listen 127.0.0.1:9752 \
        > "run$1.out" 2> "run$1.err" &
    daemon=$!
    wait_for 20 grep -q "reading /dev/witness through mmap" "run$1.err"
}

witness-vmtool storm --threads 2 --seconds 6 --path /etc/passwd > storm.out &
storm=$!
start_run 1
# Kill it once it is writing evidence (likely in the middle of a write).
wait_for 60 test -s evidence.jsonl
kill -9 "$daemon"
wait "$daemon" 2>/dev/null || true
lines_at_kill=$(wc -l < evidence.jsonl)
echo "killed the daemon with $lines_at_kill evidence lines written"
sleep 1
start_run 2
wait "$storm"
cat storm.out
# The storm overran the rings while the daemons were dead or starved; let
# the second one catch up.
drained() {
    witness status --format json | tr '{' '\n' | grep '"cpu":' | grep -qv '"unread":0,' && return 1
    return 0
}
wait_for 120 drained
# One more record on each CPU so the last gaps show, then a clean stop.
taskset -c 0 cat /etc/passwd > /dev/null
taskset -c 1 cat /etc/passwd > /dev/null
wait_for 30 drained
kill "$daemon"
wait "$daemon" 2>/dev/null || true
tail -3 run2.err

bad=$(grep -cv '^{.*}$' evidence.jsonl || true)
assert_eq "evidence lines that are not whole JSON objects" 0 "$bad"

witness status --format json > status.json
for cpu in 0 1; do
    row=$(tr '{' '\n' < status.json | grep "\"cpu\":$cpu,")
    from=$(first_seq "$cpu")
    written=$(( $(json_field produced "$row") - from ))
    seen=$(grep "\"cpu\":$cpu," evidence.jsonl | sed -n 's/.*"cpu":[0-9]*,"seq":\([0-9]*\),.*/\1/p' \
        | awk -v from="$from" '$1 >= from' | sort -u | wc -l)
    echo "cpu $cpu: the module wrote $written records since seq $from; the evidence log has $seen of them"
    # The storm ran on this CPU (a debug kernel opens a few hundred files
    # a second under emulation, a plain one thousands).
    [ "$written" -gt 200 ] || fail "cpu $cpu: the storm wrote only $written records"
    assert_eq "cpu $cpu: records written and delivered" "$written" "$seen"
done
dropped=$(( $(json_field dropped_total "$(cat status.json)") - $(json_field dropped_total "$(cat before.json)") ))
gaps=$(sed -n 's/^witness: \([0-9]*\) records lost (sequence gaps).*/\1/p' run2.err)
echo "kernel drops: $dropped; gaps seen by the second daemon: ${gaps:-none reported}"
assert_eq "sequence gaps after the restart" "$dropped" "${gaps:-0}"
