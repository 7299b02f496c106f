#!/bin/sh
# The soak (`make soak`), inside the VM: for witness.minutes=N minutes
# (default 30; witness.segment=S seconds per module load, default 240), a storm on every CPU of every hook family, while
# `witness run` is killed with SIGKILL and restarted, its configuration is
# reloaded with SIGHUP, and the module is reloaded, at intervals.
#
# The run is cut into segments, one per module load. At the end of each,
# the storms pause, a marker is opened on each CPU and awaited in the
# evidence log (so everything before it was delivered), and per CPU:
#   - every sequence number from the moment the kinds were set up to the
#     marker is a record in the evidence log or one of the kernel's drops:
#     gaps = dropped_full + dropped_nested,
#   - every evidence line is a whole JSON object.
# Collector RSS is sampled every 5 s. Prints WITNESS-SOAK lines (figures)
# and WITNESS-SOAK-RESULT PASS|FAIL; the host checks the kernel log.
. /tests/vm/lib.sh
. /examples/workloads.sh

minutes=30 SEGMENT_S=240 KILL_EVERY_S=70 HUP_EVERY_S=45
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        witness.minutes=*) minutes="${arg#witness.minutes=}" ;;
        witness.segment=*) SEGMENT_S="${arg#witness.segment=}" ;;
        witness.kill=*) KILL_EVERY_S="${arg#witness.kill=}" ;;
        witness.hup=*) HUP_EVERY_S="${arg#witness.hup=}" ;;
    esac
done
SOAK=/tmp/soak
mkdir -p "$SOAK/run" "$SOAK/files"
cd "$SOAK" || exit 1
result=PASS
soak_fail() {
    echo "WITNESS-SOAK FAIL: $*"
    result=FAIL
}
now() { cut -d. -f1 /proc/uptime; }
progress() { echo "WITNESS-SOAK progress at $(now) s: $*"; }
deadline=$(( $(now) + minutes * 60 ))

setup_workloads
mkdir -p conf
cp -r /examples/policy conf/policy
cp /examples/inventory.toml conf/inventory.toml
printf 'inventory = "inventory.toml"\npolicy = ["policy"]\n' > conf/witness.toml
head -c 4096 /dev/urandom > "$SOAK/garbage.ko"

# ---- storms: every hook family on every CPU, paced so that a segment's
# evidence fits in the guest's memory; they outlive collectors and modules.
storms=""
spawn() {
    "$@" > /dev/null 2>&1 &
    storms="$storms $!"
}
witness-vmtool listen 127.0.0.1:8099 --accept 1000000000 > /dev/null 2>&1 &
listener=$!
sleep 600000 &
ptrace_target=$!
for cpu in $(seq 0 $(( $(nproc) - 1 ))); do
    # file_open (kretprobe security_file_open)
    spawn taskset -c "$cpu" witness-vmtool storm --threads 1 --seconds 1000000 --rate 40 --path /etc/passwd
    # create, rename, unlink; fork, exec, exit, bprm_check
    spawn taskset -c "$cpu" sh -c "while :; do touch $SOAK/files/a.$cpu; mv $SOAK/files/a.$cpu $SOAK/files/b.$cpu; rm $SOAK/files/b.$cpu; /bin/true; usleep 100000; done"
    # credentials, a capability denial, namespaces
    spawn taskset -c "$cpu" sh -c "while :; do su -s /bin/sh wtest -c 'hostname x' 2>/dev/null; unshare -u true; usleep 400000; done"
    # connect, bind, listen, accept; UDP to a closed port (packet drops)
    spawn taskset -c "$cpu" sh -c "while :; do witness-vmtool connect 127.0.0.1:8099; witness-vmtool udp-send 127.0.0.1:9 --count 3; usleep 300000; done"
    # BPF loads (one the verifier refuses), refused module loads, keys, ptrace
    spawn taskset -c "$cpu" sh -c "while :; do witness-vmtool bpf-load; witness-vmtool bpf-load --invalid; witness-vmtool module-load $SOAK/garbage.ko; witness-vmtool add-key user soak-$cpu v; witness-vmtool ptrace-attach $ptrace_target; usleep 600000; done"
done
# module_load: a real module, loaded and removed (one loop: one name).
spawn sh -c "while :; do insmod /witness/witness_testmod.ko; rmmod witness_testmod; sleep 2; done"

# ---- the collector
daemon=
run_n=0
start_run() {
    run_n=$((run_n + 1))
    witness run --source mmap --config conf/witness.toml --evidence-all --evidence "$SOAK/run/evidence.jsonl" \
        --evidence-max-bytes 268435456 --listen 127.0.0.1:9753 > "$SOAK/run/run$run_n.out" 2> "$SOAK/run/run$run_n.err" &
    daemon=$!
    echo "$daemon" > "$SOAK/daemon.pid"
    # Signals go to it once it has its handlers, as a service manager's
    # reload would: before that, a SIGHUP would end the shell it forks from.
    tries=0
    until grep -q "loading the configuration" "$SOAK/run/run$run_n.err" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || { soak_fail "witness run $run_n did not start: $(tail -3 "$SOAK/run/run$run_n.err" | tr '\n' ' ')"; break; }
        usleep 100000
    done
}
# RSS of whichever collector runs, every 5 s, in KiB.
(while :; do
    pid=$(cat "$SOAK/daemon.pid" 2>/dev/null)
    [ -n "$pid" ] && sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null >> "$SOAK/rss.log"
    sleep 5
done) &
rss_monitor=$!

# ---- segments
seg=0 kills=0 hups=0 reloads=0 total_records=0 total_drops=0
while [ "$(now)" -lt "$deadline" ]; do
    seg=$((seg + 1))
    load_module ring_size_kib=256
    # Network-context records (tcp_state, packet_drops) name no task and so
    # never reach the evidence log, which is what is checked here; their
    # tracepoints still fire and count.
    witness config --kinds exec,fork,exit,bprm_check,file_open,file_create,file_unlink,file_rename,sock_connect,sock_bind,sock_listen,sock_accept,cred_change,cap_denied,ns_change,module_load,bpf_prog_load,ptrace_attach,key_access > /dev/null \
        || soak_fail "segment $seg: witness config failed"
    # Numbers taken before the kinds were set may be network-context
    # records: the check starts after them.
    witness status --format json > "base$seg.json"
    rm -f "$SOAK"/run/evidence.jsonl*
    start_run
    seg_end=$(( $(now) + SEGMENT_S ))
    [ "$seg_end" -le "$deadline" ] || seg_end=$deadline
    next_kill=$(( $(now) + KILL_EVERY_S )) next_hup=$(( $(now) + HUP_EVERY_S ))
    while [ "$(now)" -lt "$seg_end" ]; do
        sleep 5
        if [ "$(now)" -ge "$next_kill" ]; then
            progress "segment $seg: killing witness run $daemon"
            kill -9 "$daemon" 2>/dev/null
            wait "$daemon" 2>/dev/null
            kills=$((kills + 1))
            # Dead for a few seconds: the small rings may overflow meanwhile.
            sleep $((kills % 4))
            start_run
            next_kill=$(( $(now) + KILL_EVERY_S ))
        fi
        if [ "$(now)" -ge "$next_hup" ]; then
            kill -HUP "$daemon" 2>/dev/null && hups=$((hups + 1))
            next_hup=$(( $(now) + HUP_EVERY_S ))
        fi
    done

    # Pause the storms, wait for the collector to catch up, mark each CPU.
    progress "segment $seg: pausing the storms and draining"
    # shellcheck disable=SC2086 # a list of pids
    kill -STOP $storms 2>/dev/null
    sleep 3
    # The collector may be far behind (it was killed, the storms outran it):
    # let it empty the rings before the markers go in.
    i=0
    while witness status --format json | tr '{' '\n' | grep '"cpu":' | grep -qv '"unread":0,'; do
        i=$((i + 1))
        if ! kill -0 "$daemon" 2> /dev/null; then
            soak_fail "segment $seg: witness run $daemon is gone: $(tail -3 "$SOAK/run/run$run_n.err" | tr '\n' ' ')"
            break
        fi
        [ "$i" -lt 600 ] || { soak_fail "segment $seg: the rings were not drained within 10 minutes: $(tail -3 "$SOAK/run/run$run_n.err" | tr '\n' ' ')"; break; }
        sleep 1
    done
    DRAIN_DIR="$SOAK/files" drain_collector "$SOAK/run/evidence.jsonl"
    progress "segment $seg: drained; checking"
    witness status --format json > "status$seg.json"
    bad=$(cat "$SOAK"/run/evidence.jsonl* | grep -cv '^{.*}$' || true)
    [ "$bad" = 0 ] || soak_fail "segment $seg: $bad evidence lines are not whole JSON objects"
    for cpu in $(seq 0 $(( $(nproc) - 1 ))); do
        row=$(tr '{' '\n' < "status$seg.json" | grep "\"cpu\":$cpu,")
        base_row=$(tr '{' '\n' < "base$seg.json" | grep "\"cpu\":$cpu,")
        base_drops=$(( $(json_field dropped_full "$base_row") + $(json_field dropped_nested "$base_row") ))
        from=$(( $(json_field produced "$base_row") + base_drops ))
        drops=$(( $(json_field dropped_full "$row") + $(json_field dropped_nested "$row") - base_drops ))
        marker=$(grep "\"kind\":\"file_open\".*witness-drain-.*-$cpu-[0-9]*\"" "$SOAK"/run/evidence.jsonl* | tail -1)
        last=$(echo "$marker" | sed -n 's/.*"cpu":[0-9]*,"seq":\([0-9]*\),.*/\1/p')
        [ -n "$last" ] || { soak_fail "segment $seg cpu $cpu: no marker in the evidence log"; continue; }
        seen=$(cat "$SOAK"/run/evidence.jsonl* | sed -n "s/.*\"cpu\":$cpu,\"seq\":\([0-9]*\),.*/\1/p" \
            | awk -v from="$from" -v last="$last" '$1 >= from && $1 <= last' | sort -un | wc -l)
        gaps=$((last + 1 - from - seen))
        echo "WITNESS-SOAK segment=$seg cpu=$cpu seq=$from..$last delivered=$seen gaps=$gaps kernel_drops=$drops"
        [ "$gaps" = "$drops" ] || soak_fail "segment $seg cpu $cpu: $gaps sequence gaps but the kernel dropped $drops"
        total_records=$((total_records + seen))
        total_drops=$((total_drops + drops))
    done
    # What the collector itself counted, for when the figures disagree.
    wget -q -O - http://127.0.0.1:9753/metrics | grep -E '^witness_(sequence_gaps|ring_dropped|hook_dropped|evidence_(lines|errors)|module_unloads)' \
        | grep -v ' 0$' | sed "s/^/WITNESS-SOAK segment=$seg metric /"
    cat "$SOAK"/run/run*.err | grep -v 'reading /dev/witness\|configuration reloaded\|listening\|loading the configuration\|serving /metrics' \
        | sed 's/^[0-9T:.-]*Z *//' | sort | uniq -c | sort -rn | head -8 \
        | sed "s/^/WITNESS-SOAK segment=$seg collector said /"
    lines=$(cat "$SOAK"/run/evidence.jsonl* | wc -l)
    echo "WITNESS-SOAK segment=$seg lines=$lines runs=$run_n kills=$kills hups=$hups"
    reloaded=$(cat "$SOAK"/run/run*.err | grep -c "configuration reloaded" || true)
    progress "segment $seg: stopping witness run and unloading"
    kill -TERM "$daemon" 2>/dev/null
    wait "$daemon" 2>/dev/null
    unload_module 30
    reloads=$((reloads + 1))
    # shellcheck disable=SC2086
    kill -CONT $storms 2>/dev/null
done

kill "$rss_monitor" $storms "$listener" "$ptrace_target" 2>/dev/null
max_rss=$(sort -n "$SOAK/rss.log" | tail -1)
first_rss=$(sed -n '3p' "$SOAK/rss.log")
samples=$(wc -l < "$SOAK/rss.log")
echo "WITNESS-SOAK summary minutes=$minutes segments=$seg module_reloads=$reloads collector_kills=$kills sighups=$hups config_reloads_applied=${reloaded:-0} records=$total_records kernel_drops=$total_drops rss_samples=$samples rss_first_kib=${first_rss:-0} rss_max_kib=${max_rss:-0}"
# Bounded: one collector never grew past 256 MiB.
[ "${max_rss:-0}" -lt 262144 ] || soak_fail "collector RSS reached ${max_rss} KiB"
[ "$kills" -ge 1 ] && [ "$reloads" -ge 2 ] && [ "$hups" -ge 1 ] || soak_fail "too short to kill, reload and SIGHUP"
echo "WITNESS-SOAK-RESULT $result"
