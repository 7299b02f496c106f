#!/usr/bin/env bash
# Provisions the machine and builds everything the VM needs: the test kernel
# (cached), witness.ko, the static collector and the initramfs, into
# $WITNESS_BUILD/<flavour> (target/witness/plain by default).
#
#   scripts/build-all.sh [plain|debug]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

flavour="${1:-plain}"
out="$WITNESS_BUILD/$flavour"
"$WITNESS_ROOT/scripts/provision.sh"
kdir="$("$WITNESS_ROOT/scripts/build-kernel.sh" "$flavour")"
KDIR="$kdir" "$WITNESS_ROOT/scripts/build-module.sh"
# shellcheck disable=SC2046 # LLVM=1 or nothing
make -C "$kdir" M="$WITNESS_ROOT/tests/vm/testmod" $(kbuild_llvm_args "$kdir") RUSTC="$WITNESS_RUSTC" \
    modules >/dev/null || die "building the VM test module failed"
collector="$("$WITNESS_ROOT/scripts/build-collector.sh")"
mkdir -p "$out"
cp "$kdir/arch/x86/boot/bzImage" "$out/bzImage"
cp "$WITNESS_ROOT/kmod/witness.ko" "$out/witness.ko"
cp "$WITNESS_ROOT/tests/vm/testmod/witness_testmod.ko" "$out/witness_testmod.ko"
"$WITNESS_ROOT/scripts/build-initramfs.sh" "$out/witness.ko" "$collector" "$out/initramfs.cpio.gz"
