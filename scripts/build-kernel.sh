#!/usr/bin/env bash
# Builds one of the project's own kernels from the source of the first stock
# kernel (scripts/kernel/stock.list; the linux-source package of the same
# version), with tinyconfig + scripts/kernel/witness.config, compiled with
# clang in that kernel's chroot (Rust with KASAN needs a clang-built kernel):
#
#   scripts/build-kernel.sh [debug]   + debug.config (KASAN, lockdep,
#                                     DEBUG_ATOMIC_SLEEP, kmemleak, full
#                                     preemption): `make test-debug`
#   scripts/build-kernel.sh test      nothing more: the small test kernel
#                                     `make bench` counts instructions on
#
# The build is cached in the chroot under /build/kernel/<key>; the key
# changes with the source version, the fragments and the toolchain. Writes
# $WITNESS_BUILD/NAME/{bzImage,kernel.env} like scripts/stock-kernel.sh.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

name="${1:-debug}"
case "$name" in
    debug) fragments=("$WITNESS_ROOT/scripts/kernel/witness.config" "$WITNESS_ROOT/scripts/kernel/debug.config") ;;
    test) fragments=("$WITNESS_ROOT/scripts/kernel/witness.config") ;;
    *) die "usage: $0 [debug|test]" ;;
esac
base="$(stock_kernel_names | head -1)"
"$WITNESS_ROOT/scripts/stock-kernel.sh" "$base"
# shellcheck disable=SC1091
source "$WITNESS_BUILD/$base/kernel.env"
root="$STOCK_CHROOT"
series="$(echo "$STOCK_RELEASE" | cut -d. -f1,2)"
out="$WITNESS_BUILD/$name"
mkdir -p "$out"

missing=()
for p in clang lld llvm; do
    [ "$(in_chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "$name kernel: installing ${missing[*]} in the chroot"
    in_chroot "$root" apt-get install -y -q "${missing[@]}" >&2 || die "installing ${missing[*]} failed"
fi

tools="$(in_chroot "$root" sh -c 'rustc --version; bindgen --version; clang --version | head -1')"
key="$STOCK_PACKAGE_VERSION-$name-$(cat "${fragments[@]}" | sha256sum | cut -c1-12)-$(echo "$tools" | sha256sum | cut -c1-8)"
key="$(echo "$key" | tr -c 'A-Za-z0-9.\n-' '_')"
kdir="/build/kernel/$key"

if [ -f "$root$kdir/.witness-built" ]; then
    note "$name kernel: cached in $root$kdir"
else
    step "building the $name kernel ($STOCK_PACKAGE_VERSION source, clang) into $root$kdir (cached afterwards)"
    mkdir -p "$root/build/kernel"
    rm -rf "$root$kdir.partial"
    mkdir -p "$root$kdir.partial/fragments"
    cp "${fragments[@]}" "$root$kdir.partial/fragments/"
    start=$SECONDS
    in_chroot "$root" /bin/bash -ec '
        dir="$1" tarball="$2"
        cd "$dir"
        echo "    extracting $tarball" >&2
        tar -xf "$tarball" --strip-components=1
        kmake() { make -j"$(nproc)" LLVM=1 "$@"; }
        kmake rustavailable >&2
        kmake tinyconfig >/dev/null
        ./scripts/kconfig/merge_config.sh -m .config fragments/*.config >/dev/null
        kmake olddefconfig >/dev/null
        # Kconfig drops options whose dependencies are unmet without a word.
        dropped=$(cat fragments/*.config | grep "^CONFIG_.*=y$" | while read -r l; do grep -qx "$l" .config || echo "$l"; done)
        [ -z "$dropped" ] || { echo "error: Kconfig dropped: $dropped" >&2; exit 1; }
        echo "    compiling (progress every 1000 lines)" >&2
        kmake 2>&1 | awk "{ n++; if (n % 1000 == 0) printf \"    ... %d lines, last: %s\\n\", n, \$0 > \"/dev/stderr\"; print > \"build.log\" }"
        [ -f arch/x86/boot/bzImage ] && [ -f Module.symvers ] || { tail -40 build.log >&2; exit 1; }
    ' build "$kdir.partial" "/usr/src/linux-source-$series.tar.xz" \
        || die "the $name kernel build failed (log: $root$kdir.partial/build.log)"
    touch "$root$kdir.partial/.witness-built"
    rm -rf "${root:?}$kdir"
    mv "$root$kdir.partial" "$root$kdir"
    note "$name kernel built in $((SECONDS - start)) s"
fi
cp "$root$kdir/arch/x86/boot/bzImage" "$out/bzImage"
cat > "$out/kernel.env" <<ENV
STOCK_NAME=$name
STOCK_RELEASE=$(cat "$root$kdir/include/config/kernel.release")
STOCK_PACKAGE_VERSION=$STOCK_PACKAGE_VERSION
STOCK_CHROOT=$root
STOCK_KDIR=$kdir
ENV
