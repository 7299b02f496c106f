#!/usr/bin/env bash
# Installs the module's source for DKMS: Kbuild, kmod/, the shared ABI, and
# packaging/dkms/ (dkms.conf, dkms-build.sh) with scripts/kbuild-rust.sh,
# as DEST/usr/src/witness-VERSION. The witness-dkms package ships exactly
# this tree.
#
#   scripts/dkms-source.sh [DEST]        (default /; prints the directory)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-/}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)"
[ -n "$version" ] || { echo "error: no version in $root/Cargo.toml" >&2; exit 1; }
dir="$dest/usr/src/witness-$version"
rm -rf "$dir"
mkdir -p "$dir/shared-abi"
cp -r "$root/Kbuild" "$root/kmod" "$dir/"
cp -r "$root/shared-abi/src" "$dir/shared-abi/"
rm -f "$dir"/kmod/*.o "$dir"/kmod/*.ko "$dir"/kmod/*.mod "$dir"/kmod/*.mod.c "$dir"/kmod/.*.cmd
sed "s/@VERSION@/$version/" "$root/packaging/dkms/dkms.conf" > "$dir/dkms.conf"
install -m 0755 "$root/packaging/dkms/dkms-build.sh" "$root/scripts/kbuild-rust.sh" "$dir/"
printf '%s\n' "$dir"
