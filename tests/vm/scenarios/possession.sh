# Possession: who holds an identity's credentials. The db workload reads
# its own key; the batch workload reads the same file through a hard link
# and through /proc/self/root. `witness possession` must list all three
# accesses under the db's key (matched by device and inode, whatever the
# path), mark the key divergent because batch held it, and say the owner
# used it; `witness drift` must then not call the db's secret unused.
. /tests/vm/lib.sh

DB=spiffe://demo.witness.test/payments/db
BATCH=spiffe://demo.witness.test/data/batch

. /examples/workloads.sh
setup_workloads
ln /srv/payments/secrets/db.key /srv/shared.key

load_module
witness run --inventory /examples/inventory.toml --policy /examples/policy \
    --evidence evidence.jsonl --no-metrics > run.out 2> run.err &
daemon=$!
wait_for 20 grep -q "reading /dev/witness" run.err

su -s /bin/sh wdb -c 'cat /srv/payments/secrets/db.key > /dev/null' || fail "the db could not read its key"
su -s /bin/sh wbatch -c 'cat /srv/shared.key > /dev/null' || fail "batch could not read the hard link"
su -s /bin/sh wbatch -c 'cat /proc/self/root/srv/payments/secrets/db.key > /dev/null' || fail "batch could not read through /proc/self/root"
wait_for 10 grep -q '"path":"/srv/shared.key"' evidence.jsonl
sleep 1
kill -TERM "$daemon"
wait "$daemon" || fail "witness run exited $?: $(tail -5 run.err)"

witness possession --inventory /examples/inventory.toml evidence.jsonl > possession.txt || fail "witness possession failed"
cat possession.txt
grep -q "^secret /srv/payments/secrets/db.key ($DB)  DIVERGENT" possession.txt || fail "the db's key is not reported divergent"
grep -q "^  $BATCH via .* as /srv/shared.key: 1 accesses (1 allowed" possession.txt || fail "the read through the hard link is not listed"
grep -q "^  $BATCH via .* as /srv/payments/secrets/db.key: 1 accesses" possession.txt || fail "the read through /proc/self/root is not listed"
grep -q "^  $DB via .* as /srv/payments/secrets/db.key: 1 accesses" possession.txt || fail "the owner's own read is not listed"
if grep -q "never opened" possession.txt; then fail "the owner's read was not counted: $(grep 'never opened' possession.txt)"; fi

witness possession --format json --identity "$BATCH" evidence.jsonl > possession.json
grep -q '"owner_used": true' possession.json || fail "owner_used is not true: $(cat possession.json)"

witness drift --identity "$DB" --inventory /examples/inventory.toml evidence.jsonl > drift.txt
cat drift.txt
if grep -q "declared, unused    secret" drift.txt; then fail "drift calls the db's secret unused"; fi
