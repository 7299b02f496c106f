# The demo, run inside the VM by `make demo`: load the module, start the
# daemon (`witness run`) with the example inventory and policies, let a
# declared workload and a misbehaving one act (examples/workloads.sh), then
# show the verdict per identity, the evidence, and an excerpt of /metrics.
. /examples/workloads.sh
setup_workloads
cd /tmp

echo "== loading witness.ko"
insmod /witness/witness.ko
dmesg | grep 'witness: loaded' | sed 's/^\[[^]]*\] /   kernel: /'

echo
echo "== the declared intent (examples/inventory.toml, examples/policy/*.cedar)"
witness policy validate --inventory /examples/inventory.toml /examples/policy 2>&1 | sed 's/^/   /'
grep -E '^(spiffe_id|owner|selectors|peers|binaries|secrets) ' /examples/inventory.toml | sed 's/^/   /'

echo
echo "== starting the daemon"
echo "   witness run --inventory /examples/inventory.toml --policy /examples/policy --evidence /tmp/evidence.jsonl --evidence-key /tmp/evidence.key"
witness run --inventory /examples/inventory.toml --policy /examples/policy \
    --evidence /tmp/evidence.jsonl --evidence-key /tmp/evidence.key --listen 127.0.0.1:9750 > /tmp/run.out 2> /tmp/run.err &
daemon=$!
i=0
until grep -q "reading /dev/witness" /tmp/run.err 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { cat /tmp/run.err; exit 1; }; sleep 0.2
done

echo
echo "== the workloads act"
echo "   api   (uid 1234) connects to db:5432            declared peer"
echo "   batch (uid 2000) connects to db:5432            undeclared peer"
echo "   batch reads /srv/payments/secrets/db.key        db's secret"
echo "   batch runs cat                                  not its declared binary"
echo "   batch runs a set-uid root copy of a tool        uid change to root"
act > /dev/null 2>&1
i=0
until grep -q suid-tool /tmp/evidence.jsonl 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 50 ] || break; sleep 0.2
done
sleep 0.5
wget -q -O /tmp/metrics.txt http://127.0.0.1:9750/metrics
kill -TERM "$daemon"
wait "$daemon"

echo
echo "== verdicts per identity (witness run prints this when it stops)"
grep -v -e '^20' -e 'INFO' /tmp/run.err | sed 's/^/   /'

echo
events=$(grep -c '"record":"event"' /tmp/evidence.jsonl || true)
streams=$(grep -o '"stream":"[a-z_]*"' /tmp/evidence.jsonl | sed 's/.*:"\(.*\)"/\1/' | paste -sd' ')
echo "== evidence log: one JSON line per non-allow event ($events), and what happened to the stream ($streams); the batch job's:"
grep '"spiffe_id":"spiffe://demo.witness.test/data/batch"' /tmp/evidence.jsonl \
    | grep -v '"kind":"exit"' \
    | sed -e 's/.*"kind":"\([a-z_]*\)".*"outcome":"\([a-z]*\)".*"divergence":\([a-z_"]*\).*"policies":\[\([^]]*\)\].*/\1  outcome=\2  divergence=\3  policies=\4/' \
          -e 's/"//g' \
    | sort | uniq -c | sed 's/^ */   /' | head -12
echo "   one of them in full:"
grep '"divergence":"foreign_secret"' /tmp/evidence.jsonl | head -1 | sed 's/^/   /'

echo
pub=$(witness evidence pubkey --key /tmp/evidence.key)
echo "== the log is hash-chained and its checkpoints signed: witness evidence verify --pubkey $pub"
witness evidence verify --pubkey "$pub" /tmp/evidence.jsonl | sed 's/^/   /'
echo "== and says whether it is complete: witness evidence completeness"
witness evidence completeness --pubkey "$pub" /tmp/evidence.jsonl | grep -v '^integrity' | sed 's/^/   /' || true
echo "== who held the db's key: witness possession"
witness possession --inventory /examples/inventory.toml /tmp/evidence.jsonl | sed 's/^/   /'
echo "== drift against declared intent: witness drift --identity spiffe://demo.witness.test/data/batch"
witness drift --identity spiffe://demo.witness.test/data/batch --inventory /examples/inventory.toml /tmp/evidence.jsonl | sed 's/^/   /'
first=$(grep -n '"record":"event"' /tmp/evidence.jsonl | head -1 | cut -d: -f1)
echo "== an edited line is named (the outcome on line $first changed in a copy):"
sed "${first}s/\"outcome\":\"/\"outcome\":\"x/" /tmp/evidence.jsonl > /tmp/edited.jsonl
witness evidence verify --pubkey "$pub" /tmp/edited.jsonl 2>&1 | grep 'NOT INTACT' | sed 's/^/   /' || true

echo
echo "== an excerpt of /metrics"
grep -E '^witness_(events_total\{identity="spiffe://demo.witness.test/(payments/api|data/batch)",kind="(sock_connect|file_open|exec|cred_change)"|divergences_total|kernel_denials_total|sequence_gaps_total|ring_fill_ratio|policy_cache|build_info)' \
    /tmp/metrics.txt | head -24 | sed 's/^/   /'

echo
echo "== unloading the module"
# An open /dev/witness pins the module; the shutdown parameter makes every
# collector let go first.
echo 1 > /sys/module/witness/parameters/shutdown
i=0
until rmmod witness 2> /dev/null || [ "$i" -ge 100 ]; do usleep 100000; i=$((i + 1)); done
if grep -q '^witness ' /proc/modules; then
    echo "   rmmod witness: still in use after 10 s ($(cat /sys/module/witness/refcnt) users)"
else
    echo "   echo 1 > /sys/module/witness/parameters/shutdown; rmmod witness: done"
fi
