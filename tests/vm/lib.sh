# Helpers for VM scenarios (sourced by each file in tests/vm/scenarios/).
# A scenario is a shell script run with `sh -e` in its own directory under
# /tmp; it passes when it exits 0. Use `fail` to explain a failure.

MODULE=/witness/witness.ko

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
    [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
    echo "ok: $1 = $3"
}

load_module() {
    insmod "$MODULE" "$@" || fail "insmod $MODULE $*"
    [ -c /dev/witness ] || fail "/dev/witness did not appear"
}

# unload_module [SECONDS]: unloads witness as an operator would with
# collectors running: the shutdown parameter asks every user of
# /dev/witness to let go, then rmmod is retried (it is refused, never
# blocks, while any file is open) until it succeeds, for SECONDS (20).
unload_module() {
    echo 1 > /sys/module/witness/parameters/shutdown || fail "cannot set witness's shutdown parameter"
    limit=$(( ${1:-20} * 10 ))
    i=0
    until rmmod witness 2> rmmod.err; do
        i=$((i + 1))
        [ "$i" -lt "$limit" ] || fail "rmmod still refused after ${1:-20} s: $(cat rmmod.err); users: $(cat /sys/module/witness/refcnt)"
        usleep 100000
    done
    [ ! -e /dev/witness ] || fail "/dev/witness still there after rmmod"
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds.
wait_for() {
    limit=$(( $1 * 10 )); shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -lt "$limit" ] || fail "timed out waiting for: $*"
        usleep 100000
    done
}

# hook_field HOOK FIELD: a counter of one hook from `witness status`.
hook_field() {
    witness status --format json | tr '{' '\n' | grep "\"hook\":\"$1\"" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# json_field FIELD LINE: the value of a numeric or boolean field of a JSON line.
json_field() {
    echo "$2" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"
}

# A copy of busybox at a path no other program uses, so that its exec
# records are unambiguous. Run it as `$KNOWN_BINARY true`.
KNOWN_BINARY=/opt/wtest/busybox
install_known_binary() {
    mkdir -p /opt/wtest
    cp /bin/busybox "$KNOWN_BINARY"
}

# start_collector FILE [ARGS...]: runs `witness events --format json` into
# FILE (stderr into FILE.err) in the background, waits until it reads, and
# sets $collector to its pid.
start_collector() {
    out="$1" collector_out="$1"; shift
    witness events --format json "$@" > "$out" 2> "$out.err" &
    collector=$!
    wait_for 10 grep -q "witness: reading" "$out.err"
}

# drain_collector FILE: returns once the collector writing FILE has printed
# every record made before the call, on every CPU. Each ring is FIFO, so it
# opens a marker file on each CPU and waits for that file_open record: it
# comes after everything earlier, and after any sequence gap (the collector
# reports a gap when it reads the record behind it). A marker made while
# its ring is full is dropped like any record (and counted), so it is made
# again until one arrives. The markers live in $DRAIN_DIR (default /tmp),
# which a path filter must let through.
drain_collector() {
    dir="${DRAIN_DIR:-/tmp}"
    base="witness-drain-$$-$(cut -d' ' -f1 /proc/uptime | tr -d .)"
    for cpu in $(seq 0 $(( $(nproc) - 1 ))); do
        seen="\"kind\":\"file_open\".*$base-$cpu-[0-9]*\""
        n=0
        until grep -q "$seen" "$1"; do
            n=$((n + 1))
            [ "$n" -le 30 ] || fail "the collector did not print CPU $cpu's drain marker within 60 s"
            taskset -c "$cpu" sh -c ": > '$dir/$base-$cpu-$n'; cat '$dir/$base-$cpu-$n'"
            i=0
            until grep -q "$seen" "$1" || [ "$i" -ge 20 ]; do usleep 100000; i=$((i + 1)); done
        done
    done
    rm -f "$dir/$base"-*
}

# stop_collector: waits until the collector has printed everything recorded
# so far (drain_collector), then stops it.
stop_collector() {
    drain_collector "$collector_out"
    kill "$collector" 2>/dev/null || true
    wait "$collector" 2>/dev/null || true
}

# records FILE KIND [PATTERN]: the JSON lines of KIND (containing PATTERN).
records() {
    grep "\"kind\":\"$2\"" "$1" | grep -e "${3:-}" || true
}

# expect_record FILE KIND PATTERN: the first matching line, or fail.
expect_record() {
    line=$(records "$1" "$2" "$3" | head -1)
    [ -n "$line" ] || fail "no $2 record matching '$3' in $1"
    echo "$line"
}
