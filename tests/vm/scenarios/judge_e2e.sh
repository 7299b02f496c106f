# End to end: `witness run` with the example inventory and policies judges a
# declared workload (api talking to its declared db) and a misbehaving one
# (batch: an undeclared peer, an unexpected binary, the db's secret, a
# set-uid root binary). The evidence log and /metrics must name the right
# SPIFFE IDs and outcomes. The same actions are then recorded to a capture
# (only one reader may drain the rings at a time), printed base64 on the
# console (WITNESS-CAPTURE lines) for the host replay test.
. /tests/vm/lib.sh

API=spiffe://demo.witness.test/payments/api
DB=spiffe://demo.witness.test/payments/db
BATCH=spiffe://demo.witness.test/data/batch

. /examples/workloads.sh
setup_workloads

load_module
WITNESS_LOG=info,witness::enrich::cgroup_paths=debug \
    witness run --inventory /examples/inventory.toml --policy /examples/policy \
    --evidence evidence.jsonl --listen 127.0.0.1:9750 > run.out 2> run.err &
daemon=$!
wait_for 20 grep -q "reading /dev/witness" run.err
wait_for 10 wget -q -O /dev/null http://127.0.0.1:9750/healthz

act || fail "a workload failed"
# UDP to a closed port: the kernel drops the datagrams (NO_SOCKET).
witness-vmtool udp-send 127.0.0.1:9 --count 3 > /dev/null

# Let the daemon drain and publish (packet drops are summed once a second).
wait_for 10 grep -q "suid-tool" evidence.jsonl
sleep 2
wget -q -O metrics.txt http://127.0.0.1:9750/metrics || fail "scrape failed"
# Live drift, next to /metrics on loopback.
wget -q -O drift.txt "http://127.0.0.1:9750/drift?format=text&identity=$BATCH" || fail "/drift failed"
grep -q "used, undeclared    peer    spiffe://demo.witness.test/payments/db" drift.txt || fail "/drift misses batch's undeclared peer: $(cat drift.txt)"
grep -q "declared, unused    peer    10.20.0.0/16:443" drift.txt || fail "/drift misses batch's unused peer: $(cat drift.txt)"
kill -TERM "$daemon"
wait "$daemon" || fail "witness run exited $?: $(tail -5 run.err)"
cat run.err | tail -8

# evidence_line KIND IDENTITY PATTERN: the first matching evidence line.
evidence_line() {
    line=$(grep "\"kind\":\"$1\"" evidence.jsonl | grep "\"spiffe_id\":\"$2\"" | grep -e "$3" | head -1)
    [ -n "$line" ] || fail "no $1 evidence for $2 matching '$3'"
    echo "$line"
}
l=$(evidence_line sock_connect "$BATCH" '"divergence":"undeclared_peer"')
echo "$l" | grep -q '"outcome":"investigate"' || fail "undeclared peer not investigate: $l"
echo "$l" | grep -q '"owner":"team-data"' || fail "owner missing: $l"
l=$(evidence_line file_open "$BATCH" '"path":"/srv/payments/secrets/db.key"')
echo "$l" | grep -q '"divergence":"foreign_secret"' || fail "secret read not a divergence: $l"
echo "$l" | grep -q '"foreign-secret"' || fail "secret policy did not decide: $l"
l=$(evidence_line exec "$BATCH" '"divergence":"unexpected_binary"')
echo "ok: unexpected binary: $l" | cut -c1-200
l=$(evidence_line cred_change "$BATCH" '"outcome":"deny"')
echo "$l" | grep -q '"privilege-escalation"' || fail "escalation policy did not decide: $l"
echo "$l" | grep -q '"denied":false' || fail "the kernel allowed it; evidence must say so: $l"
# The declared workload's connection is not evidence.
if grep '"kind":"sock_connect"' evidence.jsonl | grep -q "\"spiffe_id\":\"$API\""; then
    fail "api's declared connection was judged non-allow: $(grep "$API" evidence.jsonl | head -1)"
fi
echo "ok: evidence names identities and outcomes ($(wc -l < evidence.jsonl) lines)"
# Each line says where it comes from, and the log says the stream began
# and ended.
echo "$l" | grep -q '"schema":"witness.evidence/1","record":"event","time":"20' || fail "no schema and time: $l"
echo "$l" | grep -q '"config":{"inventory":"sha256:' || fail "no inventory digest: $l"
head -1 evidence.jsonl | grep -q '"stream":"started"' || fail "the log does not start with started: $(head -1 evidence.jsonl)"
tail -2 evidence.jsonl | head -1 | grep -q '"stream":"stopped"' || fail "the log does not end with stopped: $(tail -2 evidence.jsonl)"
tail -1 evidence.jsonl | grep -q '"record":"checkpoint"' || fail "the log does not end with a checkpoint: $(tail -1 evidence.jsonl)"
witness evidence verify evidence.jsonl > verify.txt || fail "the log does not verify: $(cat verify.txt)"
# cgroup v2 ids resolve by file handle, so evidence names the cgroup.
grep -q "cgroup paths by file handle" run.err || fail "cgroup ids were not resolved by handle: $(grep cgroup run.err)"
echo "$l" | grep -q '"cgroup":"/' || fail "evidence names no cgroup: $l"

metric() {
    grep -F "$1" metrics.txt | head -1 | awk '{print $NF}'
}
v=$(metric "witness_events_total{identity=\"$API\",kind=\"sock_connect\",outcome=\"allow\"}")
[ "${v:-0}" -ge 1 ] || fail "api allow connects not counted: $(grep witness_events_total metrics.txt)"
v=$(metric "witness_events_total{identity=\"$BATCH\",kind=\"sock_connect\",outcome=\"investigate\"}")
[ "${v:-0}" -ge 1 ] || fail "batch connect not counted as investigate"
v=$(metric "witness_events_total{identity=\"$BATCH\",kind=\"cred_change\",outcome=\"deny\"}")
[ "${v:-0}" -ge 1 ] || fail "batch escalation not counted as deny"
v=$(metric "witness_divergences_total{identity=\"$BATCH\",divergence=\"foreign_secret\"}")
[ "${v:-0}" -ge 1 ] || fail "foreign secret divergence not counted"
grep -q '^witness_build_info{' metrics.txt || fail "no build info"
# Drop reasons by the kernel's names, not numbers that change between kernels.
v=$(metric 'witness_packet_drops_total{reason="NO_SOCKET"}')
[ "${v:-0}" -ge 1 ] || fail "no NO_SOCKET drops by name: $(grep packet_drops metrics.txt)"
grep -q '^witness_sequence_gaps_total{cpu="0"} 0' metrics.txt || fail "sequence gaps: $(grep sequence_gaps metrics.txt)"
echo "ok: /metrics names identities and outcomes"

witness record -o e2e.cap --duration 8 2> record.err &
recorder=$!
sleep 1
act || fail "a workload failed"
wait "$recorder" || fail "record failed: $(cat record.err)"
witness replay e2e.cap --inventory /examples/inventory.toml --policy /examples/policy --summary --evidence-only \
    --format json > replay.out 2> replay.err || fail "replay failed: $(cat replay.err)"
tail -5 replay.out
# Hand the capture to the host (tests/replay_e2e.sh saves it).
echo "WITNESS-CAPTURE-BEGIN"
base64 e2e.cap | sed 's/^/WITNESS-CAPTURE /'
echo "WITNESS-CAPTURE-END"
