#!/usr/bin/env bash
# DKMS's build step for witness.ko (dkms.conf: MAKE[0]).
#
#   dkms-build.sh RELEASE HEADERS    build kmod/witness.ko for that kernel
#   dkms-build.sh --clean
#
# The toolchain must be exactly the one that built the kernel; RUSTC and
# BINDGEN choose other binaries than rustc and bindgen in PATH.
# kbuild-rust.sh says what to install when it does not match, and prepares
# the kernel's build tree for Rust modules when its headers lack rust/.
set -euo pipefail
cd "$(dirname "$0")"

if [ "${1:-}" = --clean ]; then
    rm -f kmod/*.o kmod/*.ko kmod/*.mod kmod/*.mod.c kmod/.*.cmd kmod/*.d kmod/modules.order \
        Module.symvers modules.order .*.cmd .module-common.o
    exit 0
fi
[ $# -eq 2 ] || { echo "usage: $0 RELEASE HEADERS | --clean" >&2; exit 2; }
release="$1" headers="$2"
kdir="$(bash ./kbuild-rust.sh "$headers" "/var/lib/witness/kbuild/$release")"
llvm=""
grep -q '^CONFIG_CC_IS_CLANG=y' "$kdir/.config" && llvm="LLVM=1"
exec make -C "$kdir" M="$PWD" $llvm RUSTC="${RUSTC:-rustc}" BINDGEN="${BINDGEN:-bindgen}" \
    -j"$(nproc)" modules
