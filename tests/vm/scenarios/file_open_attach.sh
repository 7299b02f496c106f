# How security_file_open is followed: an ftrace direct call into the
# module's trampoline where the kernel has them (both stock kernels do), a
# kretprobe with file_open_direct=0. Either way opens are counted and
# recorded; and the direct call survives being switched off and on and the
# module being unloaded and loaded while another CPU opens files without
# pause (a task returning into an unloaded trampoline would oops, which
# fails the run).
. /tests/vm/lib.sh

# opens_counted WHAT: 50 opens make at least 50 hits.
opens_counted() {
    before="$(hook_field security_file_open hits)"
    for i in $(seq 1 50); do cat /etc/passwd > /dev/null; done
    after="$(hook_field security_file_open hits)"
    [ "$after" -ge $((before + 50)) ] || fail "$1: 50 opens made $((after - before)) security_file_open hits"
    echo "ok: $1: $((after - before)) hits for 50 opens"
}

if grep -q ' register_ftrace_direct$' /proc/kallsyms; then
    expected="security_file_open: ftrace direct call"
else
    expected="security_file_open: kretprobe (no ftrace direct call: this kernel has none"
fi
dmesg -c > /dev/null
load_module
dmesg | grep -qF "witness: $expected" || fail "expected '$expected' in the kernel log: $(dmesg | grep witness: | tail -5)"
echo "ok: $expected"
opens_counted "$(echo "$expected" | cut -d' ' -f2-4)"

# Another CPU opens files all along.
taskset -c 1 sh -c 'while :; do cat /etc/passwd > /dev/null; done' &
opener=$!
for round in 1 2 3; do
    witness config --kinds none > /dev/null
    witness config --kinds all > /dev/null
    unload_module
    load_module
done
opens_counted "after 3 rounds of off, on, unload and load under a stream of opens"
kill "$opener"
wait "$opener" 2>/dev/null || true
unload_module

dmesg -c > /dev/null
load_module file_open_direct=0
dmesg | grep -qF "witness: security_file_open: kretprobe (no ftrace direct call: file_open_direct=0" \
    || fail "file_open_direct=0 did not select the kretprobe: $(dmesg | grep witness: | tail -5)"
echo "ok: file_open_direct=0 uses the kretprobe"
opens_counted "kretprobe"
unload_module

# Another tracer holds the direct call (witness_direct_holder.ko, standing
# in for a BPF fentry program): witness follows the function with the
# kretprobe, at load and when file_open is turned back on after being off.
holder=/witness/witness_direct_holder.ko
if [ "$expected" = "security_file_open: ftrace direct call" ]; then
    insmod "$holder" || fail "insmod $holder"
    dmesg -c > /dev/null
    load_module
    dmesg | grep -qF "witness: security_file_open: kretprobe (no ftrace direct call: another tracer holds it" \
        || fail "with the direct call taken, witness did not fall back to the kretprobe: $(dmesg | grep witness: | tail -5)"
    echo "ok: the direct call taken at load: the kretprobe"
    opens_counted "kretprobe, the direct call taken at load"
    unload_module
    rmmod witness_direct_holder

    load_module
    witness config --kinds none > /dev/null
    insmod "$holder" || fail "insmod $holder while file_open is off (witness's direct call should be removed)"
    dmesg -c > /dev/null
    witness config --kinds all > /dev/null
    dmesg | grep -qF "witness: security_file_open: the ftrace direct call is taken (error -16): now a kretprobe" \
        || fail "re-arming with the direct call taken did not fall back to the kretprobe: $(dmesg | grep witness: | tail -5)"
    echo "ok: the direct call taken while off: the kretprobe when back on"
    opens_counted "kretprobe, the direct call taken while file_open was off"
    unload_module
    rmmod witness_direct_holder
fi
