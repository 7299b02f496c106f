# The demo's workloads, for examples/inventory.toml and examples/policy.
# Sourced (busybox sh) by the VM demo and the judge_e2e scenario; needs the
# users wtest (1234, api), wdb (1235, db) and wbatch (2000, batch) and
# witness-vmtool, all in the test initramfs.
#
#   setup_workloads   the db's secret and a set-uid root tool
#   act               one round: the declared workload, then the misbehaving one

setup_workloads() {
    mkdir -p /srv/payments/secrets
    echo "-----BEGIN KEY-----" > /srv/payments/secrets/db.key
    chmod 0644 /srv/payments/secrets/db.key
    # A set-uid root copy of the tool: the batch job's "exploit".
    cp /usr/bin/witness-vmtool /tmp/suid-tool
    chmod 4755 /tmp/suid-tool
}

act() {
    # db (uid 1235) listens on 5432; api (uid 1234) connects to it: a
    # declared peer (by SPIFFE ID), so allowed.
    su -s /bin/sh wdb -c 'exec witness-vmtool listen 127.0.0.1:5432 --accept 2' &
    act_db=$!
    sleep 1
    su -s /bin/sh wtest -c 'exec witness-vmtool connect 127.0.0.1:5432' || return 1
    # batch (uid 2000) connects to the db (an undeclared peer), reads the
    # db's secret (someone else's), runs cat (not its declared binary), and
    # runs a set-uid root binary (a uid change to root).
    su -s /bin/sh wbatch -c 'exec witness-vmtool connect 127.0.0.1:5432' || return 1
    su -s /bin/sh wbatch -c 'cat /srv/payments/secrets/db.key > /dev/null' || return 1
    su -s /bin/sh wbatch -c 'exec /tmp/suid-tool connect 127.0.0.1:9' || true
    wait "$act_db" || true
}
