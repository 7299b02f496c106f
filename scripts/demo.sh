#!/usr/bin/env bash
# `make demo`: provision, build (chroot and kernel cached), boot Debian's
# stock kernel (the first of scripts/kernel/stock.list) in the VM, load witness.ko,
# run `witness run` with examples/ while a declared and a misbehaving
# workload act, and show the verdict per identity, the evidence and /metrics.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

kernel_name="${WITNESS_KERNEL:-$(stock_kernel_names | head -1)}"
"$WITNESS_ROOT/scripts/build-all.sh" "$kernel_name"
out="$WITNESS_BUILD/$kernel_name"
log="$out/demo.log"
"$WITNESS_ROOT/scripts/vm-run.sh" "$out/bzImage" "$out/initramfs.cpio.gz" "$log" \
    "witness.mode=demo quiet" >/dev/null
# Show the guest's own output, without the kernel's boot chatter.
sed -n '/^== loading witness.ko/,/^WITNESS-VM-DONE/p' "$log" | grep -v '^WITNESS-VM-DONE'
grep -q '^WITNESS-VM-DONE' "$log" || die "the demo VM did not finish; see $log"
