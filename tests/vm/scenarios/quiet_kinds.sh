# What is off costs nothing, and what is quiet is still read. A kind that is
# off has its hooks disarmed: the kernel no longer enters them, so their hit
# counters stand still, until the kind is turned back on. And the poll
# watermark, a sixteenth of a ring by default, wakes readers only for
# bursts: a record below it still reaches a blocking read(2) within that
# read's 200 ms wait.
. /tests/vm/lib.sh

load_module
watermark="$(witness status --format json | sed -n 's/.*"watermark":\([0-9]*\).*/\1/p')"
assert_eq "default watermark of 4 MiB rings" 262144 "$watermark"

witness config --kinds exec > /dev/null
before="$(hook_field security_file_open hits)"
for i in $(seq 1 50); do cat /etc/passwd > /dev/null; done
after="$(hook_field security_file_open hits)"
assert_eq "security_file_open hits while file_open is off (the probe is disarmed)" "$before" "$after"

witness config --kinds all > /dev/null
for i in $(seq 1 50); do cat /etc/passwd > /dev/null; done
again="$(hook_field security_file_open hits)"
[ "$again" -ge $((after + 50)) ] || fail "security_file_open counted $((again - after)) hits for 50 opens after file_open was turned back on"
echo "ok: file_open re-armed ($((again - after)) hits for 50 opens)"

mkdir -p /opt/quiet
echo quiet > /opt/quiet/file
witness config --kinds file_open --path-prefix /opt/quiet > /dev/null
# Empty the rings, then read with nothing there: read(2) sleeps.
timeout 2 witness events > /dev/null 2>&1 || true
dd if=/dev/witness of=one.bin bs=65536 count=1 2> dd.err &
dd_pid=$!
sleep 1
kill -0 "$dd_pid" 2>/dev/null || fail "read(2) of empty rings returned at once: $(cat dd.err)"
cat /opt/quiet/file > /dev/null
i=0
while kill -0 "$dd_pid" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 30 ] || fail "a blocking read did not return a record below the watermark within 3 s"
    usleep 100000
done
grep -q /opt/quiet/file one.bin || fail "the blocking read returned no record of /opt/quiet/file ($(wc -c < one.bin) bytes)"
echo "ok: a record below the watermark was read within $((i * 100)) ms"
witness config --clear path-prefix --kinds all > /dev/null
