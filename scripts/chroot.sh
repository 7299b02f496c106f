#!/usr/bin/env bash
# Creates (or reuses) a Debian chroot of one suite: the build environment a
# user of that distribution has. Stock kernels are built with their suite's
# own rustc, bindgen and gcc, so witness.ko is built for them in here.
#
#   scripts/chroot.sh SUITE        (trixie, sid, ...; prints the chroot's path)
#
# The chroot lives in $WITNESS_CACHE/chroot/SUITE and is made by mmdebstrap
# with the suite and, for a stable release, its backports (where the newer
# kernels are). Packages named by a kernel's config are added later by
# scripts/stock-kernel.sh. Re-running only refreshes the package lists when
# they are older than a day.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

[ $# -eq 1 ] || die "usage: $0 SUITE"
suite="$1"
root="$WITNESS_CACHE/chroot/$suite"

# What every build needs, whatever the kernel: make and its helpers, the
# libraries the kernel's host tools link, python3 for resolve_btfids, dkms.
BASE_PACKAGES=make,bc,bison,flex,libelf-dev,libssl-dev,python3-minimal,kmod,cpio,xz-utils,zstd,dwarves,rsync,ca-certificates,dkms,openssl,mokutil

mkdir -p "$WITNESS_CACHE/chroot"
exec 8> "$root.lock"
flock 8

if [ ! -f "$root/.witness-ready" ]; then
    step "creating the $suite chroot in $root (mmdebstrap; once)"
    rm -rf "$root"
    sources=("deb http://deb.debian.org/debian $suite main")
    case "$suite" in
        sid|unstable) ;;
        *) sources+=("deb http://deb.debian.org/debian $suite-backports main") ;;
    esac
    start=$SECONDS
    # No recommends: dkms's would pull the suite's default kernel. Mirrors
    # (and snapshots) may serve a Release file past its Valid-Until date,
    # as sid's often is; its signature is still checked.
    mmdebstrap --variant=apt --include="$BASE_PACKAGES" \
        --aptopt='APT::Install-Recommends "false"' \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
        "$suite" "$root" "${sources[@]}" >&2 \
        || die "mmdebstrap of $suite failed (is deb.debian.org reachable?)"
    touch "$root/.witness-ready"
    note "$suite chroot created in $((SECONDS - start)) s"
fi
# mmdebstrap leaves no package lists behind; keep them at most a day old.
if [ -z "$(find "$root/.witness-apt-updated" -mmin -1440 2>/dev/null)" ]; then
    note "$suite chroot: refreshing package lists"
    in_chroot "$root" apt-get update -q >&2 || die "apt-get update in the $suite chroot failed"
    touch "$root/.witness-apt-updated"
fi
note "$suite chroot: $root"
printf '%s\n' "$root"
