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
    out="$1"; shift
    witness events --format json "$@" > "$out" 2> "$out.err" &
    collector=$!
    wait_for 10 grep -q "witness: reading" "$out.err"
}

# stop_collector: gives the collector a moment to drain, then stops it.
stop_collector() {
    sleep 1
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
