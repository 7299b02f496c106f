#!/usr/bin/env bash
# Prints, one PACKAGE=VERSION per line, the toolchain a Debian kernel was
# built with as this system's archive has it: rustc, rust-src, bindgen and
# gcc-N of exactly the versions the kernel's config names
# (CONFIG_RUSTC_VERSION_TEXT, CONFIG_BINDGEN_VERSION_TEXT,
# CONFIG_CC_VERSION_TEXT). A Rust module must be built by these. Exits 1,
# naming the package, when the archive no longer has one.
#
#   kernel-toolchain.sh /usr/src/linux-headers-RELEASE/.config
set -euo pipefail
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 KERNEL-CONFIG" >&2; exit 2; }
config="$1"
cfg() { sed -n "s/^$1=\"\\(.*\\)\"\$/\\1/p" "$config"; }
rust_ver="$(cfg CONFIG_RUSTC_VERSION_TEXT | sed -n 's/^rustc \([0-9.]*\).*/\1/p')"
bindgen_ver="$(cfg CONFIG_BINDGEN_VERSION_TEXT | sed -n 's/^bindgen \([0-9.]*\).*/\1/p')"
cc_text="$(cfg CONFIG_CC_VERSION_TEXT)"
gcc_pkg="$(echo "$cc_text" | sed -n 's/^[a-z0-9_]*-linux-gnu-\(gcc-[0-9]*\) .*/\1/p')"
gcc_ver="$(echo "$cc_text" | sed -n 's/.*(Debian \([^)]*\)).*/\1/p')"
if [ -z "$rust_ver" ] || [ -z "$bindgen_ver" ] || [ -z "$gcc_pkg" ] || [ -z "$gcc_ver" ]; then
    echo "error: $config: cannot read the toolchain ('$(cfg CONFIG_RUSTC_VERSION_TEXT)', '$(cfg CONFIG_BINDGEN_VERSION_TEXT)', '$cc_text')" >&2
    exit 1
fi
for spec in "rustc $rust_ver" "rust-src $rust_ver" "bindgen $bindgen_ver" "$gcc_pkg $gcc_ver"; do
    read -r pkg up <<< "$spec"
    # (Captured whole before parsing: a reader that stops early would fail
    # the writer under pipefail.)
    versions="$(apt-cache madison "$pkg")"
    v="$(awk -v v="$up" '!found && (index($3, v "+") == 1 || index($3, v "-") == 1 || $3 == v) { print $3; found = 1 }' <<< "$versions")"
    if [ -z "$v" ]; then
        echo "error: the kernel was built with $pkg $up, which this archive no longer has (apt-cache madison $pkg)" >&2
        exit 1
    fi
    echo "$pkg=$v"
done
