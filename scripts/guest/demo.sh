# The demo, run inside the VM by `make demo`: load the module, start the
# collector, run a few programs, and show the exec records it decoded.
echo
echo "== loading witness.ko"
insmod /witness/witness.ko
dmesg | grep 'witness:' | tail -1
echo
echo "== starting the collector: witness events --format table"
witness events --format table > /tmp/demo.table 2> /tmp/demo.err &
collector=$!
sleep 1
echo
echo "== running some programs (as root, and as uid 1234 in cgroup /demo)"
mkdir -p /sys/fs/cgroup/demo
uname -a > /dev/null
ls / > /dev/null
date > /dev/null
sh -c 'echo $$ > /sys/fs/cgroup/demo/cgroup.procs && exec su -s /bin/sh wtest -c "id > /dev/null; cat /etc/hostname 2>/dev/null; true"'
echo "   cgroup /demo has id $(stat -c %i /sys/fs/cgroup/demo)"
sleep 1
kill "$collector"
echo
echo "== what the collector printed"
cat /tmp/demo.err
cat /tmp/demo.table
echo
echo "== the same events as JSON lines (witness events --format json), first 3"
insmod /witness/witness.ko 2>/dev/null
rmmod witness
insmod /witness/witness.ko
witness events --format json --count 3 > /tmp/demo.json 2>/dev/null &
sleep 0.5
/bin/true; /bin/true; /bin/true
wait
cat /tmp/demo.json
rmmod witness
