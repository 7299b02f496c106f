# Credentials, capabilities, namespaces, kernel integrity (module and BPF
# loads, ptrace with a Landlock denial) and keyrings.
. /tests/vm/lib.sh

load_module
start_collector events.json

su -s /bin/sh wtest -c 'hostname not-allowed' 2>/dev/null || true
unshare -u true
insmod /witness/witness_testmod.ko && rmmod witness_testmod
witness-vmtool bpf-load --expect ok
sleep 30 &
sleeper=$!
witness-vmtool ptrace-attach "$sleeper" --expect ok
witness-vmtool ptrace-attach "$sleeper" --landlock --expect errno:EPERM
kill "$sleeper"
witness-vmtool add-key user witness-test-key s3cret --expect ok
witness-vmtool request-key user witness-missing-key --expect errno:ENOKEY
stop_collector

cred=$(expect_record events.json cred_change '"new_uid":1234')
assert_eq "old uid" 0 "$(json_field uid "$cred")"
cap=$(expect_record events.json cap_denied '"cap":21')
assert_eq "denied task uid" 1234 "$(json_field uid "$cap")"
ns=$(expect_record events.json ns_change '')
echo "ns: $ns"
echo "$ns" | grep -q '"uts"' || fail "uts change not shown"
expect_record events.json module_load '"name":"witness_testmod"' > /dev/null
bpf=$(expect_record events.json bpf_prog_load '"verdict":0')
echo "bpf: $bpf"
expect_record events.json ptrace_attach "\"target_tgid\":$sleeper," | grep -q '"verdict":0' || fail "allowed ptrace not recorded"
denied=$(records events.json ptrace_attach "\"verdict\":-1,\"mode\":[0-9]*,\"target_tgid\":$sleeper," | head -1)
[ -n "$denied" ] || fail "Landlock ptrace denial not recorded: $(records events.json ptrace_attach)"
expect_record events.json key_access '"description":"witness-test-key"' | grep -q '"verdict":0' || fail "add_key not recorded"
expect_record events.json key_access '"description":"witness-missing-key"' | grep -q '"verdict":-126' || fail "request_key miss not recorded"
