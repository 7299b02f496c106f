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
