# Completeness and integrity from the evidence log alone, checked against
# the kernel's own counters. A collector writes a chained, signed log and
# stops; a storm overflows small rings while nobody reads; a second
# collector reads what is left, and a record on every CPU shows each ring's
# gap. Then `witness evidence completeness` must say "complete" for a
# window before the storm and, for the whole log, name lost records that
# add up to exactly what the kernel dropped, with nothing it cannot
# account for; `witness evidence verify` must pass with the pinned key and
# name the line that was edited.
. /tests/vm/lib.sh

load_module ring_size_kib=64
key=$PWD/evidence.key
log=$PWD/evidence.jsonl
pub=$(witness evidence pubkey --key "$key")
case "$pub" in ed25519:*) ;; *) fail "pubkey printed '$pub'" ;; esac
[ "$(stat -c %a "$key")" = 600 ] || fail "the key was created with mode $(stat -c %a "$key")"

run_collector() {
    witness run --no-metrics --evidence "$log" --evidence-all --evidence-key "$key" \
        --evidence-checkpoint-seconds 1 > "run$1.out" 2> "run$1.err" &
    runner=$!
    wait_for 10 grep -q "reading /dev/witness" "run$1.err"
}

stop_runner() {
    kill -TERM "$runner"
    wait "$runner" || fail "witness run exited $?: $(tail -5 "run$1.err")"
}

run_collector 1
sleep 1
t1=$(date +%s)
cat /etc/passwd > /dev/null
sleep 2
t2=$(date +%s)
sleep 2
stop_runner 1

witness-vmtool storm --threads 2 --seconds 3 --path /etc/passwd

run_collector 2
# A record on every CPU after its ring was drained shows that ring's gap.
# One made before the collector drained the ring is dropped like the
# storm's, so each marker is made again until the log has it.
for cpu in $(seq 0 $(( $(nproc) - 1 ))); do
    n=0
    until grep -q "\"path\":\"$PWD/marker-$cpu-" "$log" 2>/dev/null; do
        n=$((n + 1))
        [ "$n" -le 50 ] || fail "no marker from CPU $cpu reached the evidence log"
        taskset -c "$cpu" sh -c ": > '$PWD/marker-$cpu-$n'; cat '$PWD/marker-$cpu-$n'"
        usleep 300000
    done
done
sleep 2
stop_runner 2

witness status --format json > status.json
dropped=$(tr ',' '\n' < status.json | sed -n 's/.*"dropped_\(full\|nested\)":\([0-9]*\).*/\2/p' | awk '{s += $1} END {print s + 0}')
[ "$dropped" -gt 0 ] || fail "the storm did not overflow a 64 KiB ring"

witness evidence verify --pubkey "$pub" "$log" > verify.txt || fail "verify failed on an untouched log: $(cat verify.txt)"
cat verify.txt
grep -q "^intact" verify.txt || fail "verify did not say intact"

witness evidence completeness --from "$t1" --to "$t2" --pubkey "$pub" "$log" > quiet.txt \
    || fail "the window before the storm is not complete: $(cat quiet.txt)"
cat quiet.txt
grep -q "^complete" quiet.txt || fail "no 'complete' for the window before the storm"

rc=0
witness evidence completeness --pubkey "$pub" "$log" > all.txt || rc=$?
cat all.txt
assert_eq "exit code of an incomplete window" 5 "$rc"
named=$(sed -n 's/^  CPU [0-9]*: records [0-9]*\.\.=[0-9]* (\([0-9]*\)) lost.*/\1/p' all.txt | awk '{s += $1} END {print s + 0}')
assert_eq "records the statement names = the kernel's drops" "$dropped" "$named"
if grep -q "no sequence gap names" all.txt; then fail "drops the gaps do not account for: $(grep 'no sequence gap' all.txt)"; fi

# An edited line is named, and the pinned key is needed to trust a log.
sed '5s/"record":"/"record":"x/' "$log" > edited.jsonl
rc=0
witness evidence verify --pubkey "$pub" edited.jsonl > edited.txt 2>&1 || rc=$?
cat edited.txt
assert_eq "exit code of an edited log" 5 "$rc"
grep -q "edited.jsonl:5: edited" edited.txt || fail "verify did not name line 5 as edited"
