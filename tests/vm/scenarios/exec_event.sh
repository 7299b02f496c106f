# A known binary, run in a new cgroup as an unprivileged user, produces
# exactly one exec record with the right pid, ppid, uid, gid, path and
# cgroup id.
. /tests/vm/lib.sh

install_known_binary
load_module
mkdir /sys/fs/cgroup/wtest
cgroup_id=$(stat -c %i /sys/fs/cgroup/wtest)

witness events --format json > events.json 2> collector.err &
collector=$!
wait_for 10 grep -q "witness: reading" collector.err

# The child joins the cgroup, drops to uid/gid 1234 with su, and execs the
# known binary: all in one pid, whose parent is this shell.
sh -c "echo \$\$ > /sys/fs/cgroup/wtest/cgroup.procs && exec su -s /bin/sh wtest -c 'exec $KNOWN_BINARY true'" &
child=$!
wait "$child" || fail "the known binary failed"

wait_for 10 grep -q "\"path\":\"$KNOWN_BINARY\"" events.json
sleep 1
kill "$collector"

grep '"kind":"exec"' events.json > exec.json
matches=$(grep -c "\"path\":\"$KNOWN_BINARY\"" exec.json)
assert_eq "exec records for $KNOWN_BINARY" 1 "$matches"
line=$(grep "\"path\":\"$KNOWN_BINARY\"" exec.json)
echo "record: $line"
assert_eq pid "$child" "$(json_field pid "$line")"
assert_eq tgid "$child" "$(json_field tgid "$line")"
assert_eq ppid "$$" "$(json_field ppid "$line")"
assert_eq uid 1234 "$(json_field uid "$line")"
assert_eq euid 1234 "$(json_field euid "$line")"
assert_eq gid 1234 "$(json_field gid "$line")"
assert_eq cgroup_id "$cgroup_id" "$(json_field cgroup_id "$line")"
assert_eq path_truncated false "$(json_field path_truncated "$line")"
# The same pid exec'd the shell and su as root before su dropped to 1234:
# the records show the credential change in order.
# (Records arrive in order per CPU; the task may have moved, so sort by time.)
uids=$(grep "\"pid\":$child," exec.json \
    | while read -r l; do echo "$(json_field ts_boot_ns "$l") $(json_field uid "$l")"; done \
    | sort -n | cut -d' ' -f2 | tr '\n' ' ')
echo "uids of pid $child, in order: $uids"
case "$uids" in
    "0 "*"1234 ") ;;
    *) fail "expected the pid's execs to start as uid 0 and end as 1234, got: $uids" ;;
esac
rmdir /sys/fs/cgroup/wtest 2>/dev/null || true
