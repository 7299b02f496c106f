#!/usr/bin/env bash
# Runs the VM scenarios (tests/vm/scenarios/*.sh) in the test VM and checks
# the guest's kernel log.
#
#   scripts/vm-test.sh [NAME,...]        (default: every scenario)
#
# WITNESS_KERNEL=NAME picks the kernel (a stock kernel of
# scripts/kernel/stock.list, or debug: KASAN, lockdep, kmemleak); the default
# is the first stock kernel.
#
# A scenario fails when it reports FAIL, when it never reports (the guest
# hung or crashed), or when the kernel log shows an Oops, BUG, WARNING, KASAN
# report, general protection fault, panic or lockup. Prints one line per
# scenario and a final "vm: N passed, N failed"; exits non-zero on failure.
# Expects the artefacts of scripts/build-all.sh (run by `make test`).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

only="${1:-}"
kernel_name="${WITNESS_KERNEL:-$(stock_kernel_names | head -1)}"
out="$WITNESS_BUILD/$kernel_name"
kernel="$out/bzImage"
initrd="$out/initramfs.cpio.gz"
log="$out/vm-test.log"
[ -f "$kernel" ] && [ -f "$initrd" ] || die "build first: scripts/build-all.sh $kernel_name"

expected=()
for f in "$WITNESS_ROOT"/tests/vm/scenarios/*.sh; do
    name="$(basename "$f" .sh)"
    if [ -z "$only" ] || [[ ",$only," == *",$name,"* ]]; then expected+=("$name"); fi
done
[ "${#expected[@]}" -gt 0 ] || die "no scenario matches '$only'"

args="witness.mode=test"
[ -n "$only" ] && args="$args witness.only=$only"
vm_status=0
# The whole suite takes about 12 minutes on a stock kernel; the limit is
# for a hung guest, not a slow host. The debug kernel (KASAN, lockdep,
# kmemleak scans) runs the suite several times slower under TCG.
if [ "$kernel_name" = debug ]; then
    export WITNESS_VM_TIMEOUT="${WITNESS_VM_TIMEOUT:-2700}"
else
    export WITNESS_VM_TIMEOUT="${WITNESS_VM_TIMEOUT:-1800}"
fi
"$WITNESS_ROOT/scripts/vm-run.sh" "$kernel" "$initrd" "$log" "$args" >/dev/null || vm_status=$?

passed=0 failed=0
# Kernel trouble fails every scenario that was running when it was logged.
bad_kernel_re='Oops|CFI failure|\bBUG\b|WARNING|KASAN|general protection|Kernel panic|soft lockup|hard LOCKUP|blocked for more than|UBSAN|WITNESS-KMEMLEAK|possible recursive locking|circular locking|suspicious RCU usage'
current=""
declare -A result kernel_trouble
while IFS= read -r line; do
    case "$line" in
        WITNESS-TEST-BEGIN\ *) current="${line#WITNESS-TEST-BEGIN }" ;;
        WITNESS-TEST-RESULT\ *)
            rest="${line#WITNESS-TEST-RESULT }"
            result["${rest% *}"]="${rest##* }"
            current="" ;;
        *)
            if [[ "$line" =~ $bad_kernel_re ]]; then
                kernel_trouble["${current:-boot}"]+="$line"$'\n'
            fi ;;
    esac
done < "$log"

echo
guest="$(sed -n 's/^witness-vm: \(.*\)$/\1/p' "$log" | head -1)"
echo "vm kernel $kernel_name: ${guest:-did not boot}"
for name in "${expected[@]}"; do
    verdict="${result[$name]:-NO RESULT}"
    if [ -n "${kernel_trouble[$name]:-}${kernel_trouble[boot]:-}" ]; then
        verdict="FAIL (kernel log: $(printf '%s' "${kernel_trouble[$name]:-}${kernel_trouble[boot]:-}" | head -3 | tr '\n' ' '))"
    fi
    if [ "$verdict" = PASS ]; then
        passed=$((passed + 1))
        echo "vm test $name ... ok"
    else
        failed=$((failed + 1))
        echo "vm test $name ... FAILED: $verdict"
        # Show the scenario's own output to explain the failure.
        awk -v n="$name" '$0 == "WITNESS-TEST-BEGIN " n {p=1} p {print "    | " $0} /^WITNESS-TEST-RESULT / && p {p=0}' "$log" | tail -40
    fi
done
grep -q '^WITNESS-VM-DONE' "$log" || echo "vm: the guest did not finish (QEMU status $vm_status); see $log"
echo "vm ($kernel_name kernel): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
