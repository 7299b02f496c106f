# A filtered event is never a loss: the path filters judge a file event
# before it takes ring space or a sequence number. With the rings full and
# nobody reading, opens the path filter discards count as filtered, and the
# hook's and the rings' drop counters do not move.
. /tests/vm/lib.sh

# ring_drops: ring overflow drops, summed over the rings.
ring_drops() {
    witness status --format json | tr ',' '\n' | sed -n 's/.*"dropped_full":\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}'
}

load_module ring_size_kib=64
mkdir -p /opt/kept
echo kept > /opt/kept/file
witness config --kinds file_open --path-prefix /opt/kept

# Fill every CPU's ring with kept opens until they overflow.
for cpu in $(seq 0 $(( $(nproc) - 1 ))); do
    taskset -c "$cpu" witness-vmtool storm --threads 1 --seconds 2 --path /opt/kept/file > /dev/null
done
dropped_before=$(hook_field security_file_open dropped)
ring_before=$(ring_drops)
filtered_before=$(hook_field security_file_open filtered)
[ "$ring_before" -gt 0 ] || fail "the kept opens did not fill a 64 KiB ring"
echo "full: ring drops $ring_before, hook drops $dropped_before, filtered $filtered_before"

# Now only opens the filter discards, on every CPU, into the full rings.
for cpu in $(seq 0 $(( $(nproc) - 1 ))); do
    taskset -c "$cpu" witness-vmtool storm --threads 1 --seconds 2 --path /etc/passwd > /dev/null
done
dropped_after=$(hook_field security_file_open dropped)
ring_after=$(ring_drops)
filtered_after=$(hook_field security_file_open filtered)
echo "after filtered opens: ring drops $ring_after, hook drops $dropped_after, filtered $filtered_after"
[ "$filtered_after" -gt $((filtered_before + 1000)) ] || fail "the /etc/passwd opens were not counted as filtered"
assert_eq "ring drops while only filtered events came" "$ring_before" "$ring_after"
assert_eq "hook drops while only filtered events came" "$dropped_before" "$dropped_after"
witness config --clear path-prefix --kinds all
