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

# Unload while a consumer holds a mapping: rmmod waits for the mapping to go
# (it holds the file open), then completes; the holder's pages stay valid.
witness-vmtool mmap-check --cpu 0 --hold 3 --expect ok > holder.out &
holder=$!
sleep 1
start=$(cut -d. -f1 /proc/uptime)
rmmod witness || fail "rmmod failed with a live mapping"
end=$(cut -d. -f1 /proc/uptime)
wait "$holder" || fail "the mapping holder failed: $(cat holder.out)"
cat holder.out
grep -q "after holding" holder.out || fail "holder did not survive the unload"
echo "rmmod took $((end - start)) s with a live mapping"
[ ! -e /dev/witness ] || fail "/dev/witness still there after rmmod"
