# Shared settings for the witness scripts. Source it; do not run it.
#
# WITNESS_CACHE   where chroots, kernel images and builds live (outside the
#                 repository; default ~/.cache/witness)
# WITNESS_BUILD   per-kernel artefacts for the VM (default target/witness)
# KDIR            a kernel build tree to build the module against (your own
#                 kernel; `make module`)
# WITNESS_RUSTC, WITNESS_BINDGEN
#                 the rustc and bindgen that built that kernel (default: the
#                 ones in /usr/bin, as a distribution installs them)

set -euo pipefail

WITNESS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WITNESS_CACHE="${WITNESS_CACHE:-${HOME:-/root}/.cache/witness}"
WITNESS_RUSTC="${WITNESS_RUSTC:-/usr/bin/rustc}"
WITNESS_BINDGEN="${WITNESS_BINDGEN:-/usr/bin/bindgen}"
WITNESS_BUILD="${WITNESS_BUILD:-$WITNESS_ROOT/target/witness}"

# The collector and host tools use the normal cargo toolchain; make sure it is
# reachable even from a shell that did not source ~/.cargo/env.
if [ -d "${CARGO_HOME:-${HOME:-/root}/.cargo}/bin" ]; then
    PATH="${CARGO_HOME:-${HOME:-/root}/.cargo}/bin:$PATH"
fi
export PATH WITNESS_ROOT WITNESS_CACHE WITNESS_RUSTC WITNESS_BINDGEN WITNESS_BUILD

step() { printf '\n==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# free_gib DIR: GiB free on DIR's filesystem (DIR or its nearest parent that exists).
free_gib() {
    local d="$1"
    while [ ! -e "$d" ]; do d="$(dirname "$d")"; done
    df -Pk "$d" | awk 'NR == 2 { print int($4 / 1048576) }'
}

# need_disk GIB WHAT: stops, saying so, unless the repository's and the
# cache's filesystems have GIB free (WITNESS_MIN_FREE_GIB overrides GIB). A
# full disk midway fails in ways that name something else: a compiler's
# write error, a truncated console log, a guest that stalls on its console.
need_disk() {
    local gib="${WITNESS_MIN_FREE_GIB:-$1}" what="$2" dir free
    for dir in "$WITNESS_ROOT" "$WITNESS_CACHE"; do
        free="$(free_gib "$dir")"
        [ "$free" -ge "$gib" ] || die "$what needs about $gib GiB free on the filesystem of $dir; it has $free GiB (free some, or set WITNESS_MIN_FREE_GIB to go on anyway)"
    done
    note "disk: $(free_gib "$WITNESS_ROOT") GiB free for the build tree, $(free_gib "$WITNESS_CACHE") GiB for the cache (needs about $gib)"
}

# kbuild_llvm_args KDIR: `LLVM=1` when that tree was built with clang (the
# module must then be built with clang too).
kbuild_llvm_args() {
    if grep -q '^CONFIG_CC_IS_CLANG=y' "$1/.config" 2>/dev/null; then echo "LLVM=1"; fi
}

# The kernels `make test` runs the VM suite on: every stock kernel.
# WITNESS_KERNELS (comma-separated names, `debug` among them) picks others.
vm_kernels() {
    if [ -n "${WITNESS_KERNELS:-}" ]; then tr ',' '\n' <<< "$WITNESS_KERNELS"; else stock_kernel_names; fi
}

# in_chroot ROOT COMMAND...: runs COMMAND in the chroot ROOT with /proc, /dev
# and this repository (read-only, at /witness-src) mounted, in a private
# mount namespace, so nothing stays mounted when it returns.
in_chroot() {
    local root="$1"; shift
    unshare --mount --propagation private /bin/sh -ec '
        root="$1" src="$2"; shift 2
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mkdir -p "$root/witness-src"
        mount --bind "$src" "$root/witness-src"
        mount -o remount,bind,ro "$root/witness-src"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    ' in_chroot "$root" "$WITNESS_ROOT" "$@"
}

# The stock kernels (scripts/kernel/stock.list): their names, and one's
# "SUITE CHROOT-SUITE".
stock_kernel_names() { awk '!/^#/ && NF { print $1 }' "$WITNESS_ROOT/scripts/kernel/stock.list"; }
stock_kernel_line() { awk -v n="$1" '!/^#/ && $1 == n { print $2, $3; found = 1 } END { exit !found }' \
    "$WITNESS_ROOT/scripts/kernel/stock.list"; }
