#!/usr/bin/env bash
# Provisions the machine and builds everything the VM needs: the test kernel
# (cached), witness.ko, the static collector and the initramfs, into
# $WITNESS_BUILD (target/witness).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

"$WITNESS_ROOT/scripts/provision.sh"
kdir="$("$WITNESS_ROOT/scripts/build-kernel.sh" plain)"
KDIR="$kdir" "$WITNESS_ROOT/scripts/build-module.sh"
collector="$("$WITNESS_ROOT/scripts/build-collector.sh")"
mkdir -p "$WITNESS_BUILD"
cp "$kdir/arch/x86/boot/bzImage" "$WITNESS_BUILD/bzImage"
cp "$WITNESS_ROOT/kmod/witness.ko" "$WITNESS_BUILD/witness.ko"
"$WITNESS_ROOT/scripts/build-initramfs.sh" "$WITNESS_BUILD/witness.ko" "$collector" \
    "$WITNESS_BUILD/initramfs.cpio.gz"
