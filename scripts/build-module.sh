#!/usr/bin/env bash
# Builds kmod/witness.ko against a Rust-enabled kernel tree.
#
#   KDIR=/path/to/kernel/build scripts/build-module.sh
#
# Without KDIR it uses the cached test kernel (building it if needed). The
# module must be compiled by the rustc that built the kernel: set
# WITNESS_RUSTC if that is not /usr/bin/rustc.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if [ -z "${KDIR:-}" ]; then
    KDIR="$("$WITNESS_ROOT/scripts/build-kernel.sh" plain)"
fi
[ -f "$KDIR/Makefile" ] || die "KDIR=$KDIR is not a kernel build tree"
grep -q '^CONFIG_RUST=y' "$KDIR/.config" 2>/dev/null \
    || die "the kernel in $KDIR was built without CONFIG_RUST=y; witness needs a Rust-enabled kernel"

step "building witness.ko against $KDIR"
# shellcheck disable=SC2046 # LLVM=1 or nothing
make -C "$KDIR" M="$WITNESS_ROOT" $(kbuild_llvm_args "$KDIR") RUSTC="$WITNESS_RUSTC" BINDGEN="$WITNESS_BINDGEN" \
    -j"$(nproc)" modules >&2
[ -f "$WITNESS_ROOT/kmod/witness.ko" ] || die "module build produced no kmod/witness.ko"
note "built $WITNESS_ROOT/kmod/witness.ko"
