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
