#!/usr/bin/env bash
# `make soak` (not in CI): scripts/guest/soak.sh in the VM on the first stock
# kernel for WITNESS_SOAK_MINUTES minutes (default 30; the module is
# reloaded every WITNESS_SOAK_SEGMENT seconds, default 240): storms of every hook
# family on every CPU while `witness run` is SIGKILLed and restarted, its
# configuration reloaded with SIGHUP and the module reloaded. Fails unless
# every segment's sequence gaps equal the kernel's drops, every evidence
# line is whole, collector RSS stayed under 256 MiB and the kernel log has
# no Oops, BUG, WARNING, KASAN report or lockup. WITNESS_KERNEL=debug soaks
# the debug kernel. Figures: the WITNESS-SOAK lines, also in
# $WITNESS_BUILD/NAME/soak.log.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
kernel_name="${WITNESS_KERNEL:-$(stock_kernel_names | head -1)}"
minutes="${WITNESS_SOAK_MINUTES:-30}"
segment="${WITNESS_SOAK_SEGMENT:-240}"
extra="${WITNESS_SOAK_ARGS:-}"
[[ "$minutes" =~ ^[1-9][0-9]*$ ]] || die "WITNESS_SOAK_MINUTES=$minutes is not a number of minutes"
[[ "$segment" =~ ^[1-9][0-9]*$ ]] || die "WITNESS_SOAK_SEGMENT=$segment is not a number of seconds"

"$WITNESS_ROOT/scripts/build-all.sh" "$kernel_name"
out="$WITNESS_BUILD/$kernel_name"
log="$out/soak.log"
step "soak: $minutes minutes on $kernel_name (console log: $log)"
WITNESS_VM_TIMEOUT=$(( minutes * 60 + 1200 )) "$WITNESS_ROOT/scripts/vm-run.sh" \
    "$out/bzImage" "$out/initramfs.cpio.gz" "$log" "witness.mode=soak witness.minutes=$minutes witness.segment=$segment $extra" \
    | grep --line-buffered -E '^WITNESS-SOAK' || true

grep -q '^WITNESS-VM-DONE' "$log" || die "the soak VM did not finish; see $log"
trouble="$(grep -E 'Oops|CFI failure|\bBUG\b|WARNING|KASAN|general protection|Kernel panic|soft lockup|hard LOCKUP|blocked for more than' "$log" || true)"
[ -z "$trouble" ] || die "the kernel complained during the soak:
$trouble"
grep -q '^WITNESS-SOAK-RESULT PASS' "$log" || die "the soak failed: $(grep '^WITNESS-SOAK FAIL' "$log" | head -5)"
note "soak passed: $(grep '^WITNESS-SOAK summary' "$log")"
