# The evidence workflow on a live host: `witness run` judges with the
# example policies and a shadow set that would forbid the batch job's
# connects, every event written and checkpoints signed; a SIGHUP with a
# broken shadow set keeps the running one. Then, from the log alone:
# `witness shadow report` says what the candidate would change, `witness
# intent suggest` learns the window's intent (complete, so it may) and
# `witness policy validate` accepts it, and `witness evidence bundle`
# writes an incident archive that `witness evidence verify` checks
# offline with the pinned key.
. /tests/vm/lib.sh

BATCH=spiffe://demo.witness.test/data/batch
. /examples/workloads.sh
setup_workloads

mkdir -p shadow
cp /examples/policy/*.cedar shadow/
cat > shadow/zz-batch-offline.cedar <<'EOF'
@id("batch-offline")
forbid(principal == Workload::"spiffe://demo.witness.test/data/batch", action == Action::"sock_connect", resource);
EOF

load_module
witness run --inventory /examples/inventory.toml --policy /examples/policy --shadow-policy shadow \
    --evidence evidence.jsonl --evidence-all --evidence-key evidence.key --no-metrics > run.out 2> run.err &
daemon=$!
wait_for 20 grep -q "reading /dev/witness" run.err

act || fail "a workload failed"
wait_for 10 grep -q "suid-tool" evidence.jsonl
# A broken shadow set: refused alone, the running one kept.
echo 'forbid(principal, action, resource) when { nonsense };' > shadow/zz-broken.cedar
kill -HUP "$daemon"
wait_for 10 grep -q "the running shadow set is kept" run.err
act || fail "a workload failed after the reload"
sleep 1
kill -TERM "$daemon"
wait "$daemon" || fail "witness run exited $?: $(tail -5 run.err)"
rm shadow/zz-broken.cedar

witness shadow report evidence.jsonl > shadow.txt || fail "witness shadow report failed"
cat shadow.txt
grep -q "^would deny [0-9]* sock_connect of $BATCH (now investigate; batch-offline)" shadow.txt \
    || fail "the shadow report does not say the batch connects would be denied"
# Both rounds were judged by the shadow set: the broken one did not replace it.
n=$(sed -n "s/^would deny \([0-9]*\) sock_connect of .*/\1/p" shadow.txt | head -1)
[ "$n" -ge 2 ] || fail "only $n batch connects were judged by the shadow set; the reload dropped it"
# The active outcome (followed by the kernel's verdict; the shadow's comes
# later in the line) is never the shadow's deny.
if grep '"kind":"sock_connect"' evidence.jsonl | grep "\"spiffe_id\":\"$BATCH\"" | grep -q '"outcome":"deny","kernel"'; then
    fail "the shadow set was acted on"
fi
grep '"kind":"sock_connect"' evidence.jsonl | grep "\"spiffe_id\":\"$BATCH\"" | grep -q '"shadow":{"outcome":"deny"' \
    || fail "no evidence line carries the shadow outcome"

witness intent suggest --inventory /examples/inventory.toml -o suggested evidence.jsonl > intent.txt \
    || fail "intent suggest refused: $(cat intent.txt)"
cat intent.txt
grep -q "^not learned: $BATCH touched /srv/payments/secrets/db.key" intent.txt || fail "the foreign secret was learned"
witness policy validate --inventory suggested/inventory.toml suggested/policy > validate.txt 2>&1 \
    || fail "the suggested intent does not validate: $(cat validate.txt)"
grep -q '"spiffe://demo.witness.test/payments/db"' suggested/inventory.toml || fail "no learned peer in $(cat suggested/inventory.toml)"

pub=$(witness evidence pubkey --key evidence.key)
witness evidence bundle --identity "$BATCH" --inventory /examples/inventory.toml --policy /examples/policy \
    -o incident.tar evidence.jsonl > bundle.txt || fail "bundle failed: $(cat bundle.txt)"
cat bundle.txt
grep -q "the log is intact" bundle.txt || fail "the bundle says the log is not intact"
witness evidence verify --pubkey "$pub" incident.tar > verify.txt || fail "the bundle does not verify: $(cat verify.txt)"
grep -q "every member matches the manifest" verify.txt || fail "no manifest check: $(cat verify.txt)"
tar -xf incident.tar report.html
grep -q "$BATCH" report.html || fail "the report does not name the identity"
