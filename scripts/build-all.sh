#!/usr/bin/env bash
# Provisions the machine and builds everything the VM needs for one kernel:
# the kernel (a stock image, or our debug or test build), witness.ko and the test
# module built for it in its chroot, the static collector and the initramfs,
# into $WITNESS_BUILD/NAME.
#
#   scripts/build-all.sh NAME     (a name from scripts/kernel/stock.list, debug or test)
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

[ $# -eq 1 ] || die "usage: $0 NAME (one of: $(stock_kernel_names | tr '\n' ' ')debug test)"
name="$1"
out="$WITNESS_BUILD/$name"
"$WITNESS_ROOT/scripts/provision.sh"
if [ "$name" = debug ] || [ "$name" = test ]; then
    "$WITNESS_ROOT/scripts/build-kernel.sh" "$name"
else
    "$WITNESS_ROOT/scripts/stock-kernel.sh" "$name"
fi
"$WITNESS_ROOT/scripts/build-module.sh" "$name"
collector="$("$WITNESS_ROOT/scripts/build-collector.sh")"
"$WITNESS_ROOT/scripts/build-initramfs.sh" "$out/witness.ko" "$collector" "$out/initramfs.cpio.gz"
