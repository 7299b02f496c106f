# 50 load/unload cycles while a storm runs and a --follow collector reads:
# no oops, no warning, and the collector survives every unload.
. /tests/vm/lib.sh

witness-vmtool storm --threads 2 --seconds 280 --path /etc/passwd > /dev/null &
storm=$!
witness events --format json --follow > follow.json 2> follow.err &
follower=$!
for i in $(seq 50); do
    insmod "$MODULE" || fail "insmod failed on cycle $i"
    usleep 20000
    rmmod witness || fail "rmmod failed on cycle $i"
done
kill -0 "$follower" || fail "the --follow collector died: $(tail -3 follow.err)"
kill "$storm" "$follower"
unloads=$(grep -c "went away" follow.err || true)
echo "collector saw $unloads unloads"
[ "$unloads" -ge 1 ] || fail "collector never saw an unload"
