# `witness run` on the mmap fast path across a module reload, and a SIGHUP
# reload of its configuration: rmmod must finish once the shutdown
# parameter is set while the daemon has the rings mapped (the daemon unmaps
# on POLLHUP), the daemon must pick the
# reloaded module up and keep judging, a bad configuration must be rejected
# while the running one stays, and no record may go missing.
. /tests/vm/lib.sh
. /examples/workloads.sh
setup_workloads

BATCH=spiffe://demo.witness.test/data/batch
mkdir -p conf
cp -r /examples/policy conf/policy
cp /examples/inventory.toml conf/inventory.toml
# The daemon's settings file names the inventory and policies (relative to
# the file); SIGHUP re-reads it.
printf 'inventory = "inventory.toml"\npolicy = ["policy"]\n' > conf/witness.toml

read_secret() {
    su -s /bin/sh wbatch -c 'cat /srv/payments/secrets/db.key > /dev/null'
}
secret_reads() {
    grep '"divergence":"foreign_secret"' evidence.jsonl 2>/dev/null | grep -c "\"spiffe_id\":\"$BATCH\"" || true
}
metric() {
    wget -q -O - http://127.0.0.1:9750/metrics | grep -v '^#' | grep -F "$1" | head -1 | awk '{print $NF}'
}
# expect_metric SERIES VALUE: /metrics shows it within 5 s (it is published
# a few times a second).
expect_metric() {
    i=0
    until [ "$(metric "$1")" = "$2" ]; do
        i=$((i + 1))
        [ "$i" -lt 25 ] || fail "$1 is $(metric "$1"), not $2: $(wget -q -O - http://127.0.0.1:9750/metrics | grep -F "${1%%\{*}")"
        sleep 0.2
    done
}

load_module
witness run --source mmap --config conf/witness.toml --evidence evidence.jsonl > run.out 2> run.err &
daemon=$!
wait_for 20 grep -q "reading /dev/witness through mmap" run.err
read_secret
wait_for 10 sh -c "[ \"\$(grep -c foreign_secret evidence.jsonl 2>/dev/null)\" -ge 1 ]"

# Unload while the rings are mapped: the daemon lets go on shutdown.
rmmod witness 2> /dev/null && fail "rmmod unloaded the module under witness run's mapping"
start=$(date +%s)
unload_module 20
echo "ok: shutdown and rmmod took $(( $(date +%s) - start ))s with the rings mapped"
wait_for 10 grep -q "went away" run.err
kill -0 "$daemon" || fail "witness run exited on unload: $(tail -5 run.err)"

load_module
wait_for 20 sh -c '[ "$(grep -c "reading /dev/witness through mmap" run.err)" -ge 2 ]'
read_secret
wait_for 10 sh -c "[ \"\$(grep -c foreign_secret evidence.jsonl)\" -ge 2 ]"
expect_metric witness_module_unloads_total 1

# A broken policy: SIGHUP is rejected with file and line, judging goes on.
echo 'forbid(principal, action == Action::"exec", resource) when { resource.nonsense };' > conf/policy/broken.cedar
kill -HUP "$daemon"
wait_for 10 grep -q "reload rejected" run.err
grep "reload rejected" run.err | grep -q "broken.cedar:1" || fail "no file:line: $(grep 'reload rejected' run.err)"
read_secret
wait_for 10 sh -c "[ \"\$(grep -c foreign_secret evidence.jsonl)\" -ge 3 ]"
expect_metric 'witness_config_reloads_total{result="rejected"}' 1

rm conf/policy/broken.cedar

# A broken settings file: rejected with file and line, judging goes on.
printf 'inventory = "inventory.toml"\npolicy = ["policy"]\ninventroy = "x.toml"\n' > conf/witness.toml
kill -HUP "$daemon"
wait_for 10 sh -c '[ "$(grep -c "reload rejected" run.err)" -ge 2 ]'
grep "reload rejected" run.err | tail -1 | grep -q "witness.toml:3" || fail "no file:line: $(grep 'reload rejected' run.err | tail -1)"
expect_metric 'witness_config_reloads_total{result="rejected"}' 2

# A good change through the settings file: another inventory in which the
# db's key is no longer a declared secret (and a new listen address, which
# needs a restart and says so). SIGHUP applies it, and the same read stops
# being evidence of a foreign secret.
sed 's|^secrets = \["/srv/payments/secrets/\*"\]|secrets = []|' conf/inventory.toml > conf/inventory-2.toml
printf 'inventory = "inventory-2.toml"\npolicy = ["policy"]\nlisten = "127.0.0.1:9751"\n' > conf/witness.toml
kill -HUP "$daemon"
wait_for 10 grep -q "configuration reloaded" run.err
grep -q "listen changed; that takes effect when witness run restarts" run.err \
    || fail "no restart notice for listen: $(tail -3 run.err)"
expect_metric 'witness_config_reloads_total{result="applied"}' 1
before=$(secret_reads)
read_secret
sleep 1
[ "$(secret_reads)" = "$before" ] || fail "the reloaded inventory was not applied"

gaps=$(wget -q -O - http://127.0.0.1:9750/metrics | grep '^witness_sequence_gaps_total' | awk '{s+=$NF} END {print s+0}')
assert_eq "sequence gaps" 0 "$gaps"
kill -TERM "$daemon"
wait "$daemon" || fail "witness run exited $?: $(tail -5 run.err)"
grep -v INFO run.err | tail -8
