#!/usr/bin/env bash
# Gets one distribution kernel (scripts/kernel/stock.list) ready for the VM
# suite: the image as shipped, and a build tree for witness.ko made with the
# kernel's own toolchain in a chroot of its suite.
#
#   scripts/stock-kernel.sh NAME
#
# 1. resolves the kernel its suite ships now (what linux-image-amd64 depends
#    on); the archive keeps only current versions, so a change since the last
#    run is reported, and everything below is keyed by the version;
# 2. installs, in the chroot, that kernel's headers, the linux-source of the
#    same package version, and exactly the rustc, rust-src, bindgen and gcc
#    its config names (pinned: a suite can carry newer ones);
# 3. regenerates rust/ for the headers (scripts/kbuild-rust.sh, in the
#    chroot);
# 4. downloads the image package and takes its vmlinuz, unmodified, and
#    overlay.ko (decompressed), which the VM suite loads to test overlayfs.
#
# Writes $WITNESS_BUILD/NAME/{bzImage,overlay.ko,kernel.env}; kernel.env
# names the chroot, the release and the KDIR inside the chroot.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

[ $# -eq 1 ] || die "usage: $0 NAME (one of: $(stock_kernel_names | tr '\n' ' '))"
name="$1"
read -r suite chroot_suite < <(stock_kernel_line "$name") || die "no stock kernel '$name' in scripts/kernel/stock.list"
root="$("$WITNESS_ROOT/scripts/chroot.sh" "$chroot_suite")"
out="$WITNESS_BUILD/$name"
mkdir -p "$out" "$WITNESS_CACHE/stock"

step "$name: resolving the kernel $suite ships"
# (Outputs are captured whole before they are parsed: a pipe into a reader
# that stops early would fail the writer under pipefail.)
depends="$(in_chroot "$root" apt-cache -o APT::Default-Release="$suite" depends linux-image-amd64)"
release="$(sed -n 's/^ *Depends: linux-image-\([0-9].*\)$/\1/p' <<< "$depends" | sed -n 1p)"
[ -n "$release" ] || die "cannot resolve linux-image-amd64 in $suite"
policy="$(in_chroot "$root" apt-cache -o APT::Default-Release="$suite" policy "linux-image-$release")"
pkgver="$(sed -n 's/^ *Candidate: //p' <<< "$policy")"
seen="$WITNESS_CACHE/stock/$name.version"
if [ -f "$seen" ] && [ "$(cat "$seen")" != "$release $pkgver" ]; then
    note "the archive moved: $name was $(cat "$seen"), is now $release $pkgver"
fi
echo "$release $pkgver" > "$seen"
note "$name: linux-image-$release $pkgver"

series="$(echo "$release" | cut -d. -f1,2)"
headers="/usr/src/linux-headers-$release"
if [ ! -f "$root$headers/.config" ] || [ ! -f "$root/usr/src/linux-source-$series.tar.xz" ] \
    || [ "$(in_chroot "$root" dpkg-query -W -f='${Version}' "linux-source-$series" 2>/dev/null)" != "$pkgver" ]; then
    step "$name: installing linux-headers-$release and linux-source-$series $pkgver in the $chroot_suite chroot"
    in_chroot "$root" apt-get install -y -q "linux-headers-$release=$pkgver" "linux-source-$series=$pkgver" >&2 \
        || die "installing the headers and source of $release failed"
fi

# The toolchain the kernel names, pinned to those versions (the same script
# a user's host runs: packaging/host/kernel-toolchain.sh).
toolchain="$(in_chroot "$root" bash /witness-src/packaging/host/kernel-toolchain.sh "$headers/.config")" \
    || die "$release: no toolchain for it in the $chroot_suite archive"
wanted=()
for spec in $toolchain; do
    [ "$(in_chroot "$root" dpkg-query -W -f='${Version}' "${spec%%=*}" 2>/dev/null)" = "${spec#*=}" ] || wanted+=("$spec")
done
if [ "${#wanted[@]}" -gt 0 ]; then
    step "$name: installing the kernel's toolchain: ${wanted[*]}"
    in_chroot "$root" apt-get install -y -q --allow-downgrades "${wanted[@]}" >&2 || die "installing ${wanted[*]} failed"
fi

kdir="/var/lib/witness/kbuild/$release"
in_chroot "$root" /witness-src/scripts/kbuild-rust.sh "$headers" "$kdir" >/dev/null

image="$WITNESS_CACHE/stock/linux-image-${release}_$pkgver.vmlinuz"
overlay="$WITNESS_CACHE/stock/linux-image-${release}_$pkgver.overlay.ko"
if [ ! -f "$image" ] || [ ! -f "$overlay" ]; then
    # The kernel and its modules are in the image package itself, or
    # (Debian from 7.3) in the linux-binary and linux-modules packages it
    # depends on.
    pkgs=("linux-image-$release=$pkgver")
    control="$(in_chroot "$root" apt-cache show "linux-image-$release=$pkgver")"
    for part in binary modules; do
        if grep -q "^Depends:.*linux-$part-$release" <<< "$control"; then
            pkgs+=("linux-$part-$release=$pkgver")
        fi
    done
    step "$name: downloading ${pkgs[*]}"
    tmp="$(mktemp -d)"
    in_chroot "$root" sh -c 'rm -rf /tmp/image && mkdir /tmp/image && cd /tmp/image && apt-get download -q -o APT::Sandbox::User=root "$@"' \
        download "${pkgs[@]}" >&2 || die "downloading ${pkgs[*]} failed"
    for deb in "$root"/tmp/image/*.deb; do dpkg-deb -x "$deb" "$tmp"; done
    vmlinuz="$(find "$tmp" -path "*/boot/vmlinuz-$release" -o -path "*/modules/$release/vmlinuz" | head -1)"
    [ -n "$vmlinuz" ] || die "no vmlinuz for $release in ${pkgs[*]}"
    ko="$(find "$tmp" -path "*/modules/$release/kernel/fs/overlayfs/overlay.ko*" | head -1)"
    case "$ko" in
        *.ko) cp "$ko" "$overlay.tmp" ;;
        *.ko.xz) xz -dc "$ko" > "$overlay.tmp" ;;
        *.ko.zst) zstd -qdc "$ko" > "$overlay.tmp" ;;
        *) die "no overlay.ko for $release in ${pkgs[*]}" ;;
    esac
    mv "$overlay.tmp" "$overlay"
    mv "$vmlinuz" "$image"
    rm -rf "$tmp" "$root/tmp/image"
fi
cp "$image" "$out/bzImage"
cp "$overlay" "$out/overlay.ko"
cat > "$out/kernel.env" <<ENV
STOCK_NAME=$name
STOCK_RELEASE=$release
STOCK_PACKAGE_VERSION=$pkgver
STOCK_CHROOT=$root
STOCK_KDIR=$kdir
ENV
note "$name ready: $release ($pkgver), KDIR $kdir in $root"
