# `witness record` saves what the module produced; `witness replay` decodes
# the capture later with the same result; a damaged capture is an error that
# names the file and offset.
. /tests/vm/lib.sh

install_known_binary
load_module
witness record -o run.cap --duration 3 2> record.err &
recorder=$!
sleep 1
"$KNOWN_BINARY" true
wait "$recorder" || fail "record failed: $(cat record.err)"
cat record.err

witness replay run.cap --format json > replayed.json 2> replay.err || fail "replay failed: $(cat replay.err)"
expect_record replayed.json exec "\"path\":\"$KNOWN_BINARY\"" > /dev/null
head -1 replay.err
grep -q "kernel $(uname -r)" replay.err || fail "replay does not name the recorded kernel: $(cat replay.err)"

# Cut the capture in the middle of a record.
size=$(stat -c %s run.cap)
head -c $((size - 5)) run.cap > cut.cap
set +e
witness replay cut.cap > /dev/null 2> cut.err
code=$?
set -e
assert_eq "replay of a cut capture" 1 "$code"
grep -q "cut.cap: record at byte 0: truncated" cut.err || fail "unexpected error: $(cat cut.err)"
echo "not a capture" > junk.cap
set +e
witness replay junk.cap 2> junk.err
set -e
grep -q "junk.cap: not a witness capture" junk.err || fail "unexpected error: $(cat junk.err)"
