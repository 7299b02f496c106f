# A zero-copy consumer maps each CPU's ring (read-only, plus the writable
# consumer page), drains it with the shared ring code, and the module refuses
# writable mappings of anything else, private writable mappings, ranges
# beyond a ring and mprotect to writable.
. /tests/vm/lib.sh

load_module
ls / > /dev/null
for cpu in 0 1; do
    witness-vmtool mmap-check --cpu "$cpu" --expect ok
done

# A consumer that holds a mapping (and so the file) keeps the module: rmmod
# is refused at once, and succeeds after the holder unmapped; the holder's
# pages stayed valid meanwhile, shutdown parameter or not.
witness-vmtool mmap-check --cpu 0 --hold 3 --expect ok > holder.out &
holder=$!
wait_for 10 grep -q "holding the mapping" holder.out
rmmod witness 2> refused.err && fail "rmmod unloaded the module under a live mapping"
echo "ok: refused with a live mapping: $(cat refused.err)"
echo 1 > /sys/module/witness/parameters/shutdown
wait "$holder" || fail "the mapping holder failed: $(cat holder.out)"
cat holder.out
grep -q "after holding" holder.out || fail "holder did not survive the shutdown"
unload_module 5
