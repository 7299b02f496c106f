# Bad arguments to every ioctl, read, poll, write and seek of /dev/witness,
# as root and as an unprivileged user who was given the device: errors only
# (the harness fails the run on any oops or warning), control requests
# refused without CAP_SYS_ADMIN, and the device still works afterwards.
. /tests/vm/lib.sh

load_module
witness-vmtool hostile-device --rounds 100 --seed 7 | tee hostile-root.txt
grep -q "ioctl-random:ENOTTY" hostile-root.txt || fail "random ioctl commands were not refused with ENOTTY"
grep -q "read-bad-ptr:EFAULT\|read-bad-ptr:EAGAIN" hostile-root.txt || fail "reads into bad pointers did not fail cleanly"

# An unprivileged user who can open the device still cannot change it.
chmod 0666 /dev/witness
su -s /bin/sh wtest -c 'witness-vmtool hostile-device --rounds 20 --seed 11' | tee hostile-user.txt
set +e
su -s /bin/sh wtest -c 'witness config --kinds exec' 2> config-user.err
code=$?
set -e
assert_eq "unprivileged config exit code" 1 "$code"
grep -q "needs CAP_SYS_ADMIN" config-user.err || fail "unexpected message: $(cat config-user.err)"
chmod 0600 /dev/witness

# Still working: the configuration is intact and records flow.
witness status --format json > status.json
grep -q '"kinds":\["exec","fork"' status.json || fail "kind mask changed by junk: $(cat status.json)"
start_collector events.json
/bin/true
stop_collector
grep -q '"kind":"exec"' events.json || fail "no records after the hostile run"

# Several threads at once, each opening, closing, polling, reading,
# querying and mapping with random arguments, on descriptors of their own
# and on one they share (so reads and maps of the same rings race). Errors
# only, a clean kernel log, and the module still unloads and works.
witness-vmtool hostile-device --rounds 1 --seed 13 --threads 4 --seconds 5 | tee hostile-threads.txt
grep -q "operations on 4 threads" hostile-threads.txt || fail "the concurrent run did not finish"
grep -q "mmap:ok" hostile-threads.txt || fail "no mapping succeeded: the mmap paths were not exercised"
grep -q "read:ok" hostile-threads.txt || fail "no read succeeded: the read paths were not exercised"
unload_module 5
load_module
start_collector events2.json
/bin/true
stop_collector
grep -q '"kind":"exec"' events2.json || fail "no records after reloading"
