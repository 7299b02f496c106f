#!/usr/bin/env bash
# Builds witness.ko (and the VM suite's test modules: the do-nothing
# witness_testmod.ko, and witness_direct_holder.ko).
#
#   scripts/build-module.sh NAME     for a kernel of the VM suite (a stock
#                                    kernel of scripts/kernel/stock.list, or
#                                    debug or test): built in that kernel's chroot by
#                                    its own toolchain, into $WITNESS_BUILD/NAME
#   KDIR=DIR scripts/build-module.sh for any other Rust-enabled kernel tree,
#                                    with $WITNESS_RUSTC and $WITNESS_BINDGEN,
#                                    into kmod/witness.ko
#
# The module must be compiled by the rustc that built the kernel: for a
# distribution kernel, scripts/kbuild-rust.sh checks that and prepares its
# headers.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if [ $# -eq 0 ]; then
    [ -n "${KDIR:-}" ] || die "usage: $0 NAME, or KDIR=/path/to/kernel/build $0"
    [ -f "$KDIR/Makefile" ] || die "KDIR=$KDIR is not a kernel build tree (install the kernel's headers)"
    # Checks the toolchain against the kernel's and, for headers without
    # rust/ (Debian, Fedora), prepares a build tree that has it.
    kdir="$(RUSTC="$WITNESS_RUSTC" BINDGEN="$WITNESS_BINDGEN" bash "$WITNESS_ROOT/scripts/kbuild-rust.sh" "$KDIR")"
    step "building witness.ko against $kdir"
    # shellcheck disable=SC2046 # LLVM=1 or nothing
    make -C "$kdir" M="$WITNESS_ROOT" $(kbuild_llvm_args "$kdir") RUSTC="$WITNESS_RUSTC" \
        BINDGEN="$WITNESS_BINDGEN" -j"$(nproc)" modules >&2
    [ -f "$WITNESS_ROOT/kmod/witness.ko" ] || die "module build produced no kmod/witness.ko"
    note "built $WITNESS_ROOT/kmod/witness.ko"
    exit 0
fi

name="$1"
out="$WITNESS_BUILD/$name"
[ -f "$out/kernel.env" ] || die "$out/kernel.env missing: prepare the kernel first (scripts/build-all.sh $name)"
# shellcheck disable=SC1091
source "$out/kernel.env"
step "building witness.ko for $name ($STOCK_RELEASE) in $STOCK_CHROOT"
# A private copy of the module's sources per kernel, so that builds for
# different kernels never share objects.
llvm="$(kbuild_llvm_args "$STOCK_CHROOT$STOCK_KDIR")"
in_chroot "$STOCK_CHROOT" /bin/sh -ec '
    kdir="$1" llvm="$2" dest=/build/witness
    mkdir -p "$dest/shared-abi" "$dest/tests/vm"
    rsync -a --delete /witness-src/Kbuild /witness-src/kmod "$dest/"
    rsync -a --delete /witness-src/shared-abi/src "$dest/shared-abi/"
    rsync -a --delete /witness-src/tests/vm/testmod "$dest/tests/vm/"
    make -C "$kdir" M="$dest" $llvm -j"$(nproc)" modules
    make -C "$kdir" M="$dest/tests/vm/testmod" $llvm modules >/dev/null
' build "$STOCK_KDIR" "$llvm" >&2 || die "building witness.ko for $name failed (see above)"
cp "$STOCK_CHROOT/build/witness/kmod/witness.ko" "$out/witness.ko"
cp "$STOCK_CHROOT"/build/witness/tests/vm/testmod/{witness_testmod,witness_direct_holder}.ko "$out/"
note "built $out/witness.ko: $(modinfo -F vermagic "$out/witness.ko")"
