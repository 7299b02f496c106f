# Credentials, capabilities, namespaces, kernel integrity (module and BPF
# loads, refused ones included; ptrace with a Landlock denial) and keyrings.
. /tests/vm/lib.sh

load_module
start_collector events.json

su -s /bin/sh wtest -c 'hostname not-allowed' 2>/dev/null || true
unshare -u true
insmod /witness/witness_testmod.ko && rmmod witness_testmod
# Refused loads are evidence too: an image that is no module, by file and
# from memory, and a program the verifier rejects.
head -c 4096 /dev/urandom > /tmp/garbage.ko
witness-vmtool module-load /tmp/garbage.ko --expect errno:ENOEXEC
witness-vmtool module-load /tmp/garbage.ko --from-memory --expect errno:ENOEXEC
witness-vmtool bpf-load --expect ok
witness-vmtool bpf-load --invalid --expect errno:EINVAL
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
bpf=$(expect_record events.json bpf_prog_load '"verdict":0')
echo "bpf: $bpf"
echo "$bpf" | grep -q '"prog_name":"witness_test"' || fail "loaded program not named: $bpf"
refused_bpf=$(expect_record events.json bpf_prog_load '"verdict":-22')
echo "refused bpf: $refused_bpf"
echo "$refused_bpf" | grep -q '"insn_cnt":1' || fail "refused program's size not recorded: $refused_bpf"
refused=$(expect_record events.json module_load '"verdict":-8,"name":"garbage.ko"')
echo "refused module (finit_module): $refused"
expect_record events.json module_load '"verdict":-8,"name":""' > /dev/null
expect_record events.json module_load '"verdict":0,"name":"witness_testmod"' > /dev/null
expect_record events.json ptrace_attach "\"target_tgid\":$sleeper," | grep -q '"verdict":0' || fail "allowed ptrace not recorded"
denied=$(records events.json ptrace_attach "\"verdict\":-1,\"mode\":[0-9]*,\"target_tgid\":$sleeper," | head -1)
[ -n "$denied" ] || fail "Landlock ptrace denial not recorded: $(records events.json ptrace_attach)"
expect_record events.json key_access '"description":"witness-test-key"' | grep -q '"verdict":0' || fail "add_key not recorded"
expect_record events.json key_access '"description":"witness-missing-key"' | grep -q '"verdict":-126' || fail "request_key miss not recorded"
