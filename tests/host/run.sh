#!/usr/bin/env bash
# The package tests, run inside the Debian host VM (scripts/host-test.sh
# boots it twice; the test disk, read-only at /mnt/test, holds this script
# and the two packages). Prints "ok NAME", "not ok NAME: why", "note ...",
# and last "phase N: done".
#
# Phase 1: install both packages with apt; the module is built by DKMS and
#   loaded, the service is started and notifies readiness; systemd-analyze
#   verify and security; /metrics; evidence; a reload; SIGKILL of the
#   service during an exec storm: restarted, and the evidence chain verifies
#   with no partial line and no record lost; a pod in the node's containerd
#   (started as a kubelet would, over CRI) attributed by its namespace and
#   label.
# Phase 2 (after a reboot): the module was loaded at boot, the service
#   started; `apt remove` leaves nothing running, `apt purge` nothing behind.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
T=/mnt/test
state=/var/lib/witness-host-test
mkdir -p "$state"
ok() { echo "ok $1"; }
notok() { echo "not ok $1: $2"; }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else notok "$name" "$* failed"; fi; }
note() { echo "note $*"; }
# wait_for SECONDS CMD...: until CMD succeeds, for at most SECONDS.
wait_for() { local end=$((SECONDS + $1)); shift; while ! "$@" 2>/dev/null; do [ "$SECONDS" -lt "$end" ] || return 1; sleep 0.1; done; }
active() { [ "$(systemctl is-active witness)" = active ]; }
metrics() { curl -sf --max-time 5 http://127.0.0.1:9750/metrics; }

note "kernel $(uname -r), systemd $(systemctl --version | head -1 | cut -d' ' -f2)"
if [ ! -f "$state/phase1" ]; then
    echo "phase 1"
    start=$SECONDS
    if apt-get install -y -q "$T"/witness-dkms_*.deb "$T"/witness_*.deb > "$state/apt-install.log" 2>&1; then
        ok "apt install witness-dkms witness ($((SECONDS - start)) s)"
    else
        notok "apt install" "$(tail -20 "$state/apt-install.log" | tr '\n' '|')"
    fi
    check "dkms built witness for $(uname -r)" sh -c "dkms status witness | grep -q 'installed'"
    check "postinst loaded the module" test -d /sys/module/witness
    check "the service is active (READY=1 reached)" wait_for 60 active
    [ "$(systemctl show -P Type witness)" = notify ] && ok "Type=notify" || notok "Type=notify" "$(systemctl show -P Type witness)"
    check "STATUS= names the device" sh -c "systemctl show -P StatusText witness | grep -q 'reading /dev/witness'"
    verify="$(systemd-analyze verify witness.service 2>&1)"
    [ -z "$verify" ] && ok "systemd-analyze verify witness.service" || notok "systemd-analyze verify" "$(tr '\n' '|' <<< "$verify")"
    security="$(systemd-analyze security witness.service 2>&1 | tail -1)"
    note "systemd-analyze security: $security"
    check "exposure is OK or better" grep -Eq 'exposure level for witness.service: [0-9.]+ (OK|SAFE)' <<< "$security"
    check "/metrics answers" sh -c 'curl -sf --max-time 5 http://127.0.0.1:9750/metrics | grep -q "^witness_"'
    check "the journal has the daemon's log" sh -c "journalctl -u witness -b --no-pager | grep -q 'reading /dev/witness'"
    check "evidence is written" wait_for 30 test -s /var/log/witness/evidence.jsonl
    check "the checkpoint key is the state directory's, 0600" sh -c '[ "$(stat -c %a /var/lib/witness/evidence.key)" = 600 ]'

    # Every event as evidence, with the example policies, then a reload.
    cp /usr/share/doc/witness/examples/inventory.toml /etc/witness/inventory.toml
    cp -r /usr/share/doc/witness/examples/policy /etc/witness/
    sed -i 's/^# policy = \["policy"\]/policy = ["policy"]/; s/^evidence_all = false/evidence_all = true/' /etc/witness/witness.toml
    systemctl restart witness
    check "restarted with evidence_all and the example policies" wait_for 60 active
    systemctl reload witness
    check "systemctl reload (SIGHUP) reloads" wait_for 30 sh -c "journalctl -u witness -b --no-pager | grep -q 'configuration reloaded'"

    # SIGKILL in the middle of an exec storm.
    pid_before="$(systemctl show -P MainPID witness)"
    (for i in $(seq 1 3000); do /bin/true; done) &
    storm=$!
    sleep 3
    systemctl kill -s KILL witness
    check "restarted after SIGKILL" wait_for 60 sh -c '[ "$(systemctl show -P NRestarts witness)" -ge 1 ] && [ "$(systemctl is-active witness)" = active ]'
    pid_after="$(systemctl show -P MainPID witness)"
    [ "$pid_after" != "$pid_before" ] && ok "a new main process ($pid_before -> $pid_after)" || notok "a new main process" "still $pid_after"
    wait "$storm"
    sleep 2
    systemctl stop witness
    check "stopped cleanly" sh -c '[ "$(systemctl show -P Result witness)" = success ]'
    verify_out="$(witness evidence verify /var/log/witness/evidence.jsonl* 2>&1)"; rc=$?
    [ "$rc" -eq 0 ] && ok "evidence verify across the SIGKILL: $(tail -1 <<< "$verify_out")" || notok "evidence verify" "rc=$rc $(tr '\n' '|' <<< "$verify_out")"
    check "no cut line was repaired" sh -c "! journalctl -u witness -b --no-pager | grep -qi 'cut line\|repair'"
    complete="$(witness evidence completeness /var/log/witness/evidence.jsonl* 2>&1)"; rc=$?
    note "completeness: $(tr '\n' '|' <<< "$complete" | cut -c1-600)"
    [ "$rc" -eq 0 ] && ok "completeness over the SIGKILL window" || notok "completeness" "rc=$rc"
    note "evidence lines by kind: $(cat /var/log/witness/evidence.jsonl* | jq -r 'select(.record == "event") | .kind' | sort | uniq -c | tr -s ' \n' ' ')"
    execs="$(cat /var/log/witness/evidence.jsonl* | jq -r 'select(.record == "event" and .kind == "exec") | .path' | grep -c '/bin/true\|/usr/bin/true')"
    [ "$execs" -ge 3000 ] && ok "the storm's 3000 execs of true are in the evidence ($execs)" || notok "the storm's execs" "$execs of 3000 exec lines of true"
    systemctl start witness
    check "started again" wait_for 60 active

    # A pod in the node's containerd, started over CRI as a kubelet would
    # (systemd cgroup driver, node network): the runtime names its pod,
    # namespace and labels, and the inventory selects it by them.
    mkdir -p /etc/containerd
    cat > /etc/containerd/config.toml <<'CONFIG'
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "witness.test/busybox:1"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
CONFIG
    systemctl restart containerd
    check "containerd is active" wait_for 60 test -S /run/containerd/containerd.sock
    ctr -n k8s.io images import "$T/busybox-oci.tar" > "$state/ctr-import.log" 2>&1 \
        && ok "an image built by the test is imported" || notok "ctr images import" "$(tail -3 "$state/ctr-import.log" | tr '\n' '|')"
    # The workload comes from SPIRE's registration entries.
    witness inventory import-spire "$T/spire-entries.json" --owner team-payments > "$state/spire.toml" 2> "$state/spire.log" \
        && cat "$state/spire.toml" >> /etc/witness/inventory.toml \
        && ok "SPIRE entries imported: $(tail -1 "$state/spire.log")" || notok "import-spire" "$(tr '\n' '|' < "$state/spire.log")"
    check "the imported entry selects by k8s:ns, k8s:sa and k8s:pod-label" \
        grep -q 'selectors = \["k8s:ns:payments", "k8s:sa:api", "k8s:pod-label:app:api"\]' "$state/spire.toml"
    sed -i 's|^# cri_endpoint = |cri_endpoint = |' /etc/witness/witness.toml
    systemctl restart witness
    check "restarted with cri_endpoint" wait_for 60 active
    uid=6b1c7e2a-5d4f-4c3b-9a8e-0f1e2d3c4b5a
    # The service-account token a kubelet projects into the pod (only its
    # claims are read).
    b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
    claims='{"iss":"https://kubernetes.default.svc","sub":"system:serviceaccount:payments:api","kubernetes.io":{"namespace":"payments","pod":{"name":"api-7d9f","uid":"'"$uid"'"},"serviceaccount":{"name":"api","uid":"5e0c"}}}'
    token_dir="/var/lib/kubelet/pods/$uid/volumes/kubernetes.io~projected/kube-api-access-q8x2v"
    mkdir -p "$token_dir"
    printf '%s.%s.c2ln' "$(printf '{"alg":"RS256"}' | b64url)" "$(printf '%s' "$claims" | b64url)" > "$token_dir/token"
    started="$("$T/witness-vmtool" pod --image witness.test/busybox:1 --name api-7d9f --namespace payments --uid "$uid" \
        --label app=api --label tier=web --cgroup-parent "kubepods-besteffort-pod${uid//-/_}.slice" --container api \
        -- /bin/sh -c 'while true; do /bin/true; /bin/sleep 1; done' 2>&1)"
    cid="$(grep -o 'container [0-9a-f]\{64\}' <<< "$started" | cut -d' ' -f2)"
    [ -n "$cid" ] && ok "a pod started over CRI (container ${cid:0:12})" || { notok "witness-vmtool pod" "$started"; cid=none; }
    pod_lines() { grep -h "\"$cid\"" /var/log/witness/evidence.jsonl* | jq -c "select(.record == \"event\" and .container.id == \"$cid\")"; }
    attributed() { pod_lines | jq -e 'select(.k8s.pod.name == "api-7d9f" and .identity.spiffe_id == "spiffe://node.witness.test/payments/api")' > /dev/null; }
    check "its processes are the workload its namespace, service account and label select" wait_for 120 attributed
    line="$(pod_lines | jq -c 'select(.k8s.pod.name != null)' | tail -1)"
    note "evidence of the pod: $(jq -c '{kind, path, identity, k8s, container}' <<< "$line")"
    check "evidence names namespace, pod uid and container" jq -e \
        ".k8s.namespace.name == \"payments\" and .k8s.pod.uid == \"$uid\" and .k8s.container.name == \"api\"" <<< "$line"
    unplaced="$(pod_lines | jq -c "select(.k8s.pod.uid != \"$uid\")" | wc -l)"
    [ "$unplaced" = 0 ] && ok "every line of the container has its pod uid (from the cgroup before the runtime answers)" \
        || notok "lines without the pod uid" "$unplaced"
    check "/metrics counts the resolved pods" sh -c 'curl -sf --max-time 5 http://127.0.0.1:9750/metrics | grep -Eq "^witness_pods_resolved_total [1-9]"'
    pid="$(ctr -n k8s.io tasks ls | awk -v c="$cid" '$1 == c {print $2}')"
    [ -n "$pid" ] || pid=0
    explain="$(witness identity explain "$pid" --inventory /etc/witness/inventory.toml --cri-endpoint unix:///run/containerd/containerd.sock 2>&1)"
    grep -q 'payments/api-7d9f' <<< "$explain" && grep -q 'service account api ' <<< "$explain" \
        && grep -q 'entry spiffe://node.witness.test/payments/api (line [0-9]*, owner team-payments): matches' <<< "$explain" \
        && ok "witness identity explain names the pod and the workload" || notok "identity explain" "$(tr '\n' '|' <<< "$explain")"
    touch "$state/phase1"
    echo "phase 1: done"
else
    echo "phase 2"
    check "the module was loaded at boot" test -d /sys/module/witness
    check "the service started at boot" wait_for 120 active
    restarts="$(systemctl show -P NRestarts witness)"
    # On failure, why systemd restarted it (a watchdog timeout, an exit code).
    [ "$restarts" = 0 ] && ok "no restarts" || notok "no restarts" "$restarts: $(journalctl -b -u witness -o cat --no-pager \
        | grep -iE 'watchdog|fail|error|exit|signal' | tail -6 | tr '\n' '|')"
    check "/metrics answers" sh -c 'curl -sf --max-time 5 http://127.0.0.1:9750/metrics | grep -q "^witness_"'
    apt-get remove -y -q witness witness-dkms > "$state/apt-remove.log" 2>&1 && ok "apt remove" || notok "apt remove" "$(tail -5 "$state/apt-remove.log" | tr '\n' '|')"
    check "no witness process after remove" sh -c '! pgrep -x witness'
    check "the module is unloaded after remove" test ! -d /sys/module/witness
    check "the unit file is gone after remove" test ! -e /usr/lib/systemd/system/witness.service
    check "the unit is not running after remove" sh -c '[ "$(systemctl is-active witness)" != active ]'
    check "remove keeps the settings" test -f /etc/witness/witness.toml
    apt-get purge -y -q witness witness-dkms > "$state/apt-purge.log" 2>&1 && ok "apt purge" || notok "apt purge" "$(tail -5 "$state/apt-purge.log" | tr '\n' '|')"
    left=""
    for p in /etc/witness /var/lib/witness /var/log/witness /usr/src/witness-* /var/lib/dkms/witness \
        /etc/modules-load.d/witness.conf /usr/bin/witness /usr/lib/systemd/system/witness.service \
        /etc/systemd/system/multi-user.target.wants/witness.service; do
        [ -e "$p" ] && left="$left $p"
    done
    ko="$(find /lib/modules -name 'witness.ko*' 2>/dev/null)"
    [ -z "$left$ko" ] && ok "purge leaves nothing behind" || notok "purge leaves nothing behind" "$left $ko"
    check "dpkg knows no witness package" sh -c '! dpkg -l "witness*" 2>/dev/null | grep -q "^[a-z][a-z] "'
    echo "phase 2: done"
fi
