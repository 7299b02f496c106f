# `witness identity explain` attributes a live process to the inventory entry
# whose selectors all match (most selectors wins), or says it is unattested.
. /tests/vm/lib.sh

install_known_binary
mkdir -p /sys/fs/cgroup/payments
digest=$(sha256sum "$KNOWN_BINARY" | cut -d' ' -f1)
cat > inventory.toml <<TOML
[[workload]]
spiffe_id = "spiffe://example.org/any-1234"
owner = "platform"
selectors = ["unix:uid:1234"]

[[workload]]
spiffe_id = "spiffe://example.org/payments/api"
owner = "team-payments"
selectors = ["unix:uid:1234", "cgroup:path:/payments", "unix:sha256:$digest"]
TOML

sh -c "echo \$\$ > /sys/fs/cgroup/payments/cgroup.procs && exec su -s /bin/sh wtest -c 'exec $KNOWN_BINARY sleep 30'" &
worker=$!
wait_for 10 sh -c "grep -q payments /proc/$worker/cgroup && [ \"\$(readlink /proc/$worker/exe)\" = $KNOWN_BINARY ]"
witness identity explain "$worker" --inventory inventory.toml | tee explain.txt
grep -q "=> spiffe://example.org/payments/api (owner team-payments)" explain.txt || fail "wrong attribution"
grep -q "sha256 $digest" explain.txt || fail "digest not shown"
witness identity explain "$$" --inventory inventory.toml | tee self.txt
grep -q "=> unattested" self.txt || fail "root shell should be unattested"
kill "$worker"

printf '[[workload]]\nspiffe_id = "spiffe://Bad/x"\nowner = "o"\nselectors = ["unix:uid:1"]\n' > bad.toml
set +e
witness identity explain "$$" --inventory bad.toml 2> bad.err
set -e
grep -q "bad.toml:2: " bad.err || fail "inventory error does not name file:line: $(cat bad.err)"
