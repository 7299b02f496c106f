#!/usr/bin/env bash
# Builds (or reuses) the Debian host the package tests boot: a Debian 13
# root filesystem made by mmdebstrap, with systemd as PID 1, provisioned by
# packaging/host/provision.sh (the script Lima and users run: backports
# kernel, headers, linux-source, dkms, the kernel's toolchain) and with the
# headers' rust/ already regenerated (DKMS would do it on first install, in
# minutes under emulation). Nothing of witness is in it: the tests install
# the packages.
#
#   scripts/host-image.sh            prints the image's directory, holding
#                                    root.img (ext4), vmlinuz, initrd.img,
#                                    image.env (RELEASE, PKGVER)
#
# Cached in $WITNESS_CACHE/host/ by a digest of the scripts that make it and
# the kernel package it installs (the archive keeps only current versions:
# a new kernel makes a new image).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The test hook: with witness.test on the kernel command line, the second
# disk's run.sh runs once the system is up, its output on the second serial
# port. Users' hosts never have that option. containerd (with runc) is
# what a Kubernetes node runs; the pod test starts it.
PACKAGES=systemd-sysv,udev,dbus,kmod,procps,iproute2,curl,ca-certificates,man-db,less,jq,e2fsprogs,initramfs-tools,zstd,containerd

name="$(stock_kernel_names | head -1)"
step "Debian host image: resolving the trixie-backports kernel"
root="$("$WITNESS_ROOT/scripts/chroot.sh" trixie)"
depends="$(in_chroot "$root" apt-cache -o APT::Default-Release=trixie-backports depends linux-image-amd64)"
release="$(sed -n 's/^ *Depends: linux-image-\([0-9].*\)$/\1/p' <<< "$depends" | sed -n 1p)"
policy="$(in_chroot "$root" apt-cache -o APT::Default-Release=trixie-backports policy "linux-image-$release")"
pkgver="$(sed -n 's/^ *Candidate: //p' <<< "$policy")"
[ -n "$release" ] && [ -n "$pkgver" ] || die "cannot resolve the trixie-backports kernel"
key="$(cat "$0" "$WITNESS_ROOT/packaging/host/provision.sh" "$WITNESS_ROOT/packaging/host/kernel-toolchain.sh" \
    "$WITNESS_ROOT/scripts/kbuild-rust.sh" <(echo "$PACKAGES $release $pkgver") | sha256sum | cut -c1-16)"
dir="$WITNESS_CACHE/host/trixie-$key"
mkdir -p "$WITNESS_CACHE/host"
exec 9> "$WITNESS_CACHE/host/.lock"
flock 9
if [ -f "$dir/.ready" ]; then
    note "Debian host image: $dir (cached; kernel $release $pkgver)"
    printf '%s\n' "$dir"
    exit 0
fi
rm -rf "$WITNESS_CACHE"/host/trixie-*
tree="$dir/tree"
mkdir -p "$dir"
step "Debian host image: mmdebstrap trixie + provision.sh (kernel $release $pkgver; once per kernel)"
start=$SECONDS
hook="$WITNESS_ROOT/tests/host/witness-guest-test.service"
mmdebstrap --variant=apt --include="$PACKAGES" \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook="mkdir -p \"\$1/tmp/provision\"" \
    --customize-hook="copy-in $WITNESS_ROOT/packaging/host/provision.sh $WITNESS_ROOT/packaging/host/kernel-toolchain.sh $WITNESS_ROOT/scripts/kbuild-rust.sh /tmp/provision" \
    --customize-hook="chroot \"\$1\" env WITNESS_KERNEL_VERSION=$pkgver bash /tmp/provision/provision.sh" \
    --customize-hook="chroot \"\$1\" bash /tmp/provision/kbuild-rust.sh /usr/src/linux-headers-$release /var/lib/witness/kbuild/$release" \
    --customize-hook="copy-in $hook /etc/systemd/system" \
    --customize-hook="chroot \"\$1\" systemctl enable witness-guest-test.service" \
    --customize-hook="rm -rf \"\$1/tmp/provision\"" \
    --customize-hook="echo witness-host > \"\$1/etc/hostname\"" \
    --customize-hook="echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > \"\$1/etc/fstab\"" \
    trixie "$tree" "deb http://deb.debian.org/debian trixie main" >&2 \
    || die "building the Debian host image failed"
note "built in $((SECONDS - start)) s"
cp "$tree/boot/vmlinuz-$release" "$dir/vmlinuz"
cp "$tree/boot/initrd.img-$release" "$dir/initrd.img"
size_mb=$(( $(du -sm "$tree" | cut -f1) + 3072 ))
step "Debian host image: root.img (ext4, ${size_mb} MiB, sparse)"
mke2fs -q -t ext4 -L witness-host -d "$tree" "$dir/root.img" "${size_mb}M" >&2 || die "mke2fs -d failed"
rm -rf "$tree"
printf 'RELEASE=%s\nPKGVER=%s\n' "$release" "$pkgver" > "$dir/image.env"
touch "$dir/.ready"
note "Debian host image: $dir"
printf '%s\n' "$dir"
