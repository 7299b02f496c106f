# The demo, run inside the VM by `make demo`: load the module, start the
# collector, run a few programs, and show the exec records it decoded.
echo "== loading witness.ko"
insmod /witness/witness.ko
dmesg | grep 'witness: loaded' | sed 's/^\[[^]]*\] /   kernel: /'

echo
echo "== starting the collector: witness events --format table --kinds exec,cred_change,cap_denied,sock_connect"
witness events --format table --kinds exec,cred_change,cap_denied,sock_connect > /tmp/demo.table 2> /tmp/demo.err &
collector=$!
sleep 1

echo
echo "== running programs: as root, then a 'workload' as uid 1234 in cgroup /demo"
mkdir -p /opt/demo /sys/fs/cgroup/demo
cp /bin/busybox /opt/demo/busybox
uname -a > /dev/null
/opt/demo/busybox ls / > /dev/null
sh -c 'echo $$ > /sys/fs/cgroup/demo/cgroup.procs && exec su -s /bin/sh wtest -c "/opt/demo/busybox hostname evil 2>/dev/null; exec /opt/demo/busybox true"'
echo hi | nc 127.0.0.1 9 2>/dev/null
echo "   (cgroup /demo has id $(stat -c %i /sys/fs/cgroup/demo))"
sleep 1
kill "$collector"

echo
echo "== what the collector printed (stderr, then stdout)"
sed 's/^/   /' /tmp/demo.err
cat /tmp/demo.table

echo
echo "== a record as a JSON line (witness events --format json --duration 2)"
witness events --format json --duration 2 > /tmp/demo.json 2>/dev/null &
sleep 0.5
/opt/demo/busybox true
wait
grep -m1 "\"kind\":\"exec\".*\"path\":\"/opt/demo/busybox\"" /tmp/demo.json

echo
echo "== the kernel's own accounting: witness status"
witness status

echo
echo "== unloading the module while a collector is blocked reading"
witness events --format json > /dev/null &
collector=$!
sleep 0.5
rmmod witness && echo "   rmmod witness: done"
wait "$collector"
echo "   collector exit code: $?"
