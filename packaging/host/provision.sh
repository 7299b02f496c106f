#!/usr/bin/env bash
# Prepares a Debian 13 (trixie) host for witness; the tests' Debian host
# image is built by running this script in it (scripts/host-image.sh), and
# the Lima template runs it too.
#
#   packaging/host/provision.sh [PACKAGE.deb ...]
#
# 1. adds trixie-backports and installs its kernel and headers
#    (linux-image-amd64, linux-headers-amd64: Debian's kernel with
#    CONFIG_RUST; the metapackages bring kernel upgrades, which DKMS then
#    builds the module for);
# 2. installs dkms, the kernel's linux-source (DKMS regenerates the rust/
#    the headers package lacks from it) and exactly the rustc, rust-src,
#    bindgen and gcc the kernel names (kernel-toolchain.sh);
# 3. installs the given packages (witness_*.deb, witness-dkms_*.deb).
# Reboot into the backports kernel afterwards if it is not the running one.
# Idempotent. WITNESS_KERNEL_VERSION=PKGVER pins the kernel's package version.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
# shellcheck disable=SC1091
. /etc/os-release
[ "${VERSION_CODENAME:-}" = trixie ] || echo "warning: this is ${PRETTY_NAME:-not Debian 13}; the script is made for Debian 13 (trixie)" >&2
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q --no-install-recommends "$@"; }

if ! grep -rqs '^[^#]*trixie-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    step "adding trixie-backports"
    echo "deb http://deb.debian.org/debian trixie-backports main" > /etc/apt/sources.list.d/trixie-backports.list
fi
step "apt-get update"
apt-get update -q

depends="$(apt-cache -o APT::Default-Release=trixie-backports depends linux-image-amd64)"
release="$(sed -n 's/^ *Depends: linux-image-\([0-9].*\)$/\1/p' <<< "$depends" | sed -n 1p)"
[ -n "$release" ] || die "cannot resolve linux-image-amd64 in trixie-backports"
policy="$(apt-cache -o APT::Default-Release=trixie-backports policy "linux-image-$release")"
pkgver="${WITNESS_KERNEL_VERSION:-$(sed -n 's/^ *Candidate: //p' <<< "$policy")}"
series="$(cut -d. -f1,2 <<< "$release")"
step "installing the trixie-backports kernel $release ($pkgver), its headers and source, dkms"
apt_install -t trixie-backports linux-image-amd64 linux-headers-amd64 \
    "linux-image-$release=$pkgver" "linux-headers-$release=$pkgver" "linux-source-$series=$pkgver" \
    dkms make bc bison flex libelf-dev libssl-dev python3 xz-utils zstd dwarves rsync kmod

mapfile -t toolchain < <(bash "$here/kernel-toolchain.sh" "/usr/src/linux-headers-$release/.config" || echo FAILED)
[ "${toolchain[-1]:-}" != FAILED ] || die "cannot resolve the toolchain of $release"
step "installing the toolchain $release was built with: ${toolchain[*]}"
apt_install --allow-downgrades "${toolchain[@]}"

if [ $# -gt 0 ]; then
    debs=()
    for deb in "$@"; do
        [ -f "$deb" ] || die "$deb: no such package file"
        debs+=("$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")")
    done
    step "installing ${debs[*]##*/}"
    apt_install "${debs[@]}"
fi
if [ "$(uname -r)" != "$release" ] && [ -d /run/systemd/system ]; then
    echo "reboot into $release to use witness (running $(uname -r))" >&2
fi
