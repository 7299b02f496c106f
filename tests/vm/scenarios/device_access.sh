# /dev/witness is mode 0600, owned by root; an unprivileged collector gets a
# clear permission error, not records.
. /tests/vm/lib.sh

load_module
assert_eq "device mode" "crw-------" "$(stat -c %A /dev/witness)"
assert_eq "device owner" "0:0" "$(stat -c %u:%g /dev/witness)"

set +e
su -s /bin/sh wtest -c 'witness events --count 1' > unprivileged.out 2> unprivileged.err
code=$?
set -e
assert_eq "exit code as uid 1234" 1 "$code"
grep -q "permission denied: the device is mode 0600, owned by root" unprivileged.err \
    || fail "unexpected message: $(cat unprivileged.err)"
[ ! -s unprivileged.out ] || fail "an unprivileged collector printed records"
