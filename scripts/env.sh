# Shared settings for the witness scripts. Source it; do not run it.
#
# WITNESS_CACHE   where kernel builds and other large artefacts live
#                 (outside the repository; default ~/.cache/witness)
# KDIR            a kernel build tree to build the module against; when unset
#                 the scripts use the cached test kernel
# WITNESS_RUSTC   the rustc that built that kernel (default /usr/bin/rustc)

set -euo pipefail

WITNESS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WITNESS_CACHE="${WITNESS_CACHE:-${HOME:-/root}/.cache/witness}"
WITNESS_RUSTC="${WITNESS_RUSTC:-/usr/bin/rustc}"
WITNESS_BINDGEN="${WITNESS_BINDGEN:-${CARGO_HOME:-${HOME:-/root}/.cargo}/bin/bindgen}"
WITNESS_BUILD="${WITNESS_BUILD:-$WITNESS_ROOT/target/witness}"
# Pinned so that every machine builds the kernel with the same bindgen.
WITNESS_BINDGEN_VERSION="0.73.0"
KERNEL_PACKAGE="linux-source-6.12"
KERNEL_TARBALL="/usr/src/linux-source-6.12.tar.xz"

# The collector and host tools use the normal cargo toolchain; make sure it is
# reachable even from a shell that did not source ~/.cargo/env.
if [ -d "${CARGO_HOME:-${HOME:-/root}/.cargo}/bin" ]; then
    PATH="${CARGO_HOME:-${HOME:-/root}/.cargo}/bin:$PATH"
fi
export PATH WITNESS_ROOT WITNESS_CACHE WITNESS_RUSTC WITNESS_BINDGEN WITNESS_BUILD

step() { printf '\n==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# kernel_key FLAVOUR: the cache key of a test kernel build. It changes when the
# kernel source package, the config fragments, the compilers or bindgen change.
kernel_key() {
    local flavour="$1" ver frag_hash tool_hash
    ver="$(dpkg-query -W -f='${Version}' "$KERNEL_PACKAGE" 2>/dev/null | tr -c 'A-Za-z0-9.\n-' '_')" \
        || die "$KERNEL_PACKAGE is not installed (run scripts/provision.sh)"
    frag_hash="$(cat "$WITNESS_ROOT/scripts/kernel/witness.config" \
        "$WITNESS_ROOT/scripts/kernel/$flavour.config" 2>/dev/null | sha256sum | cut -c1-12)"
    tool_hash="$({ "$WITNESS_RUSTC" --version; "$WITNESS_BINDGEN" --version; gcc --version | head -1
        [ "$(kernel_cc "$flavour")" = clang ] && clang --version | head -1; } | sha256sum | cut -c1-8)"
    printf '%s-%s-%s-%s' "$ver" "$flavour" "$frag_hash" "$tool_hash"
}

# kernel_cc FLAVOUR: the C compiler of that flavour. The debug flavour needs
# clang: Linux 6.12 allows Rust together with KASAN only on clang builds.
kernel_cc() { if [ "$1" = debug ]; then echo clang; else echo gcc; fi; }

# kbuild_llvm_args KDIR: `LLVM=1` when that tree was built with clang (the
# module must then be built with clang too).
kbuild_llvm_args() {
    if grep -q '^CONFIG_CC_IS_CLANG=y' "$1/.config" 2>/dev/null; then echo "LLVM=1"; fi
}

# kernel_dir FLAVOUR: where that build lives.
kernel_dir() { printf '%s/kernel/%s' "$WITNESS_CACHE" "$(kernel_key "$1")"; }
