# The module is unloaded and reloaded while collectors wait on it (asked to
# let go through the shutdown parameter). A plain
# collector exits with code 3 and says the module went away; a --follow
# collector says so, waits, and reads records from the reloaded module.
. /tests/vm/lib.sh

install_known_binary

# Not loaded at all: a clear message and exit code 3.
set +e
witness events > /dev/null 2> absent.err
code=$?
set -e
assert_eq "exit code without the module" 3 "$code"
grep -q "is not loaded" absent.err || fail "no 'not loaded' message: $(cat absent.err)"

load_module
witness events --format json > plain.json 2> plain.err &
plain=$!
witness events --format json --follow > follow.json 2> follow.err &
follow=$!
wait_for 10 grep -q "witness: reading" plain.err
wait_for 10 grep -q "witness: reading" follow.err

# Unload while both are blocked in read(2): refused while they hold the
# device, done once the shutdown parameter has made them let go.
rmmod witness 2> refused.err && fail "rmmod unloaded the module under two readers"
echo "ok: refused while reading: $(cat refused.err)"
unload_module

set +e
wait "$plain"
code=$?
set -e
assert_eq "exit code after unload" 3 "$code"
grep -q "went away: the witness module was unloaded" plain.err \
    || fail "plain collector did not report the unload: $(cat plain.err)"
wait_for 10 grep -q "went away: the witness module was unloaded" follow.err
kill -0 "$follow" || fail "--follow collector exited: $(cat follow.err)"

# Reload: the follower reconnects and sees new records.
load_module
wait_for 10 sh -c '[ "$(grep -c "witness: reading" follow.err)" = 2 ]'
"$KNOWN_BINARY" true
wait_for 10 grep -q "\"path\":\"$KNOWN_BINARY\"" follow.json
kill "$follow"
echo "follow.err:"; cat follow.err
