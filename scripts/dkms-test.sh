#!/usr/bin/env bash
# The DKMS path, as a user of a stock kernel takes it: in the kernel's
# chroot, install the module source (scripts/dkms-source.sh), `dkms install`
# for that kernel with no prepared build tree (dkms-build.sh regenerates
# rust/ from linux-source, and DKMS signs with its MOK key), check that a
# wrong toolchain is refused, then boot the stock kernel with the module
# DKMS installed and run VM scenarios on it.
#
#   scripts/dkms-test.sh [NAME]     (default: the first stock kernel)
#
# Expects scripts/build-all.sh NAME to have run (make test does). Prints
# "dkms (NAME): PASS" or "dkms (NAME): FAIL: why" last; exits non-zero on
# failure. WITNESS_DKMS_SCENARIOS picks the scenarios (default exec_event,
# judge_e2e).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

name="${1:-$(stock_kernel_names | head -1)}"
scenarios="${WITNESS_DKMS_SCENARIOS:-exec_event,judge_e2e}"
# shellcheck disable=SC1091
source "$WITNESS_BUILD/$name/kernel.env"
root="$STOCK_CHROOT" release="$STOCK_RELEASE"
out="$WITNESS_BUILD/$name-dkms"
mkdir -p "$out"
fail() { echo "dkms ($name): FAIL: $*"; exit 1; }

step "dkms: installing the module source into the $name chroot"
src="$(bash "$WITNESS_ROOT/scripts/dkms-source.sh" "$root")"
version="${src##*/witness-}"
step "dkms: dkms install witness/$version -k $release"
# From scratch, as on a user's host: no prepared build tree, so that DKMS's
# build regenerates rust/ from linux-source itself (into the same place).
rm -rf "${root:?}/var/lib/witness/kbuild/$release"
start=$SECONDS
in_chroot "$root" /bin/sh -ec '
    v="$1" k="$2"
    dkms remove "witness/$v" --all >/dev/null 2>&1 || true
    dkms add "witness/$v"
    dkms install "witness/$v" -k "$k"
    dkms status witness
' dkms "$version" "$release" >&2 || fail "dkms install failed (log: $root/var/lib/dkms/witness/$version/build/make.log)"
note "dkms install took $((SECONDS - start)) s"

# A toolchain that does not match the kernel's is refused, naming what to
# install (here: any rustc but the kernel's).
want="$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="rustc \([0-9.]*\).*/\1/p' "$root$STOCK_KDIR/.config")"
refusal="$(in_chroot "$root" env RUSTC=/usr/bin/true bash "/usr/src/witness-$version/kbuild-rust.sh" \
    "/usr/src/linux-headers-$release" /tmp/witness-kbuild-refused 2>&1 >/dev/null || true)"
printf '%s\n' "$refusal" | grep -q "apt install rustc=$want" \
    || fail "a wrong rustc was not refused with what to install: $refusal"
note "a wrong rustc is refused: $(printf '%s\n' "$refusal" | head -1 | cut -c1-160)"

installed="$(find "$root/lib/modules/$release/updates/dkms" -name 'witness.ko*' | head -1)"
[ -n "$installed" ] || fail "dkms installed no witness.ko under /lib/modules/$release/updates/dkms"
# busybox insmod takes an uncompressed module; DKMS compresses it as the kernel does.
case "$installed" in
    *.ko.xz) xz -dc "$installed" > "$out/witness.ko" ;;
    *.ko.zst) zstd -qdc "$installed" > "$out/witness.ko" ;;
    *.ko.gz) gzip -dc "$installed" > "$out/witness.ko" ;;
    *) cp "$installed" "$out/witness.ko" ;;
esac
[ "$(modinfo -F vermagic "$out/witness.ko" | cut -d' ' -f1)" = "$release" ] \
    || fail "the DKMS module's vermagic is '$(modinfo -F vermagic "$out/witness.ko")', not $release"
signer="$(modinfo -F signer "$out/witness.ko")"
if grep -q '^CONFIG_MODULE_SIG=y' "$root$STOCK_KDIR/.config"; then
    [ -n "$signer" ] || fail "the kernel supports module signatures but DKMS did not sign witness.ko"
    note "signed by: $signer ($(modinfo -F sig_hashalgo "$out/witness.ko"))"
fi

cp "$WITNESS_BUILD/$name/bzImage" "$WITNESS_BUILD/$name/witness_testmod.ko" "$out/"
cp "$WITNESS_BUILD/$name/kernel.env" "$out/"
collector="$("$WITNESS_ROOT/scripts/build-collector.sh")"
"$WITNESS_ROOT/scripts/build-initramfs.sh" "$out/witness.ko" "$collector" "$out/initramfs.cpio.gz"
WITNESS_KERNEL="$name-dkms" "$WITNESS_ROOT/scripts/vm-test.sh" "$scenarios" || fail "VM scenarios $scenarios failed on the DKMS-built module"
echo "dkms ($name): PASS (signer: ${signer:-none})"
