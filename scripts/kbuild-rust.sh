#!/usr/bin/env bash
# Makes a distribution kernel's headers able to build a Rust module.
#
#   kbuild-rust.sh HEADERS [OUT]
#
# HEADERS is the kernel's build tree (/lib/modules/RELEASE/build). Prints the
# directory to build modules against (KDIR) on stdout; progress goes to
# stderr.
#
# A Rust module needs the kernel's `rust/` build products (the `kernel` and
# `macros` crates, their metadata and libmacros.so) and the exact rustc,
# bindgen and C compiler that built the kernel, named in its config
# (CONFIG_RUSTC_VERSION_TEXT, CONFIG_BINDGEN_VERSION_TEXT,
# CONFIG_CC_VERSION_TEXT). This script
#   1. checks that toolchain against $RUSTC, $BINDGEN and the config's C
#      compiler, and stops with what to install when it does not match;
#   2. prints HEADERS when it already has rust/ (Ubuntu's linux-lib-rust,
#      Arch's linux-headers);
#   3. otherwise regenerates rust/ into OUT (default
#      /var/lib/witness/kbuild/RELEASE): a copy of the headers (Debian's
#      -common tree merged under the arch tree), then `make prepare` from the
#      kernel source of the same version (/usr/src/linux-source-X.Y.tar.xz,
#      or $KERNEL_SOURCE, a tarball or a directory) with the distribution's
#      own .config and release strings. Every file the headers shipped must
#      come out unchanged; a file that changed means a toolchain or source
#      mismatch and stops the build. The result is cached in OUT, keyed by
#      the headers' config and the toolchain.
#
# Environment: RUSTC, BINDGEN (default rustc, bindgen in PATH), KERNEL_SOURCE.
set -euo pipefail

step() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 HEADERS [OUT]"
headers="$(cd "$1" 2>/dev/null && pwd -P)" || die "$1: no such kernel build tree"
config="$headers/.config"
[ -f "$config" ] || die "$headers has no .config: not a kernel build tree (install the kernel's headers package)"
release="$(cat "$headers/include/config/kernel.release" 2>/dev/null)" \
    || die "$headers has no include/config/kernel.release: not a prepared kernel build tree"
out="${2:-/var/lib/witness/kbuild/$release}"
rustc="${RUSTC:-rustc}"
bindgen="${BINDGEN:-bindgen}"

config_value() { sed -n "s/^$1=\"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\}\$/\\1/p" "$config"; }
[ "$(config_value CONFIG_RUST)" = y ] \
    || die "kernel $release was built without CONFIG_RUST=y: it cannot load Rust modules such as witness"

# --- 1. the toolchain the kernel names -------------------------------------
want_rustc="$(config_value CONFIG_RUSTC_VERSION_TEXT)"
want_bindgen="$(config_value CONFIG_BINDGEN_VERSION_TEXT)"
want_cc="$(config_value CONFIG_CC_VERSION_TEXT)"
if [ "$(config_value CONFIG_CC_IS_CLANG)" = y ]; then cc=clang; else cc="${want_cc%% *}"; fi
# Debian's compilers print "x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0".
have() { "$@" 2>/dev/null | head -1 || true; }
mismatch=()
check_tool() {
    local what="$1" want="$2" got="$3" hint="$4"
    [ "$want" = "$got" ] && return 0
    mismatch+=("$what: kernel $release was built with '$want', found '${got:-nothing}'. $hint")
}
ver_of() { echo "$1" | sed -n 's/^[a-z]* \([0-9][0-9.]*\).*/\1/p'; }
check_tool rustc "$want_rustc" "$(have "$rustc" --version)" \
    "Install rustc $(ver_of "$want_rustc") (Debian/Ubuntu: apt install rustc=$(ver_of "$want_rustc")\\* rust-src=$(ver_of "$want_rustc")\\*) or set RUSTC=/path/to/it."
check_tool bindgen "$want_bindgen" "$(have "$bindgen" --version)" \
    "Install bindgen $(ver_of "$want_bindgen") (Debian: apt install bindgen=$(ver_of "$want_bindgen")\\*; or cargo install --locked bindgen-cli@$(ver_of "$want_bindgen")) or set BINDGEN=."
check_tool "C compiler" "$want_cc" "$(have "$cc" --version)" \
    "Install the compiler the kernel names (Debian: its gcc-N package, version in parentheses)."
if [ "${#mismatch[@]}" -gt 0 ]; then
    printf 'error: %s\n' "${mismatch[@]}" >&2
    exit 1
fi
sysroot="$("$rustc" --print sysroot)"
[ -d "$sysroot/lib/rustlib/src/rust/library/core" ] \
    || die "rustc $(ver_of "$want_rustc") has no library source in $sysroot/lib/rustlib/src (Debian: apt install rust-src=$(ver_of "$want_rustc")\\*)"
note "toolchain matches kernel $release: $want_rustc, $want_bindgen, $want_cc"

# --- 2. headers that already carry rust/ -----------------------------------
has_rust() { [ -f "$1/rust/libmacros.so" ] && ls "$1"/rust/libkernel.rmeta >/dev/null 2>&1; }
if has_rust "$headers"; then
    note "$headers ships rust/: building against it"
    printf '%s\n' "$headers"
    exit 0
fi

# --- 3. regenerate rust/ ----------------------------------------------------
key="$(cat "$config" "$headers/Module.symvers" | sha256sum | cut -c1-16)-$(printf '%s\n' "$want_rustc" "$want_bindgen" "$want_cc" | sha256sum | cut -c1-8)"
if [ -f "$out/.witness-kbuild" ] && [ "$(cat "$out/.witness-kbuild")" = "$key" ] && has_rust "$out"; then
    note "rust/ for $release: cached in $out"
    printf '%s\n' "$out"
    exit 0
fi

# The kernel source of the same version.
numeric="$(echo "$release" | sed -n 's/^\([0-9]*\.[0-9]*\)\(\.[0-9]*\)\{0,1\}.*/\1\2/p')"
series="$(echo "$numeric" | cut -d. -f1,2)"
source="${KERNEL_SOURCE:-/usr/src/linux-source-$series.tar.xz}"
# " Debian 7.3.4-1~bpo13+1" on an official Debian build.
pkg_id="$(sed -n 's/^#define LINUX_PACKAGE_ID " *\(.*\)"$/\1/p' "$headers/include/generated/package.h" 2>/dev/null || true)"
[ -e "$source" ] || die "kernel $release's headers lack rust/ and no kernel source was found at $source.
Install the source of exactly this kernel (Debian: apt install linux-source-$series=${pkg_id#* }),
or point KERNEL_SOURCE at a tarball or directory of it."

# Debian splits the headers into an arch tree whose Makefile includes a
# -common tree; merge them into one tree.
common="$headers"
inc="$(sed -n 's/^include \(\/.*\)\/Makefile$/\1/p' "$headers/Makefile" | head -1)"
[ -n "$inc" ] && [ -d "$inc" ] && common="$inc"

step "regenerating rust/ for kernel $release into $out"
start=$SECONDS
rm -rf "$out.partial"
mkdir -p "$out.partial"
# copy_tree FROM: copies a headers tree into the copy. Top-level symlinks
# (Debian's scripts/ and tools/ point into linux-kbuild-*) are copied as
# what they point to, so that nothing outside the copy is ever written.
copy_tree() {
    local entry
    for entry in "$1"/* "$1"/.[!.]*; do
        [ -e "$entry" ] || continue
        if [ -L "$entry" ]; then
            rm -rf "$out.partial/${entry##*/}"
            cp -aL "$entry" "$out.partial/"
        else
            cp -a "$entry" "$out.partial/"
        fi
    done
}
copy_tree "$common"
[ "$common" = "$headers" ] || copy_tree "$headers"
cp -a "$common/Makefile" "$out.partial/Makefile"
(cd "$out.partial" && find . -type f ! -name Makefile ! -name .gitignore -print0 | sort -z \
    | xargs -0 sha256sum) > "$out.partial.sums"

src="$source"
if [ -f "$source" ]; then
    note "extracting $source"
    src="$out.partial.src"
    rm -rf "$src"
    mkdir -p "$src"
    tar -xf "$source" -C "$src" --strip-components=1
fi
src_version="$(make -s -C "$src" kernelversion 2>/dev/null)" || die "$source is not a kernel source tree"
[ "$src_version" = "$numeric" ] || die "$source is Linux $src_version, kernel $release is $numeric: install the matching source"

# The release strings of the distribution's build, so that generated headers
# come out as they shipped.
compile_h="$out.partial/include/generated/compile.h"
vars=(KERNELRELEASE="$release" RUSTC="$rustc" BINDGEN="$bindgen")
if [ -n "$pkg_id" ]; then
    vars+=(DISTRIBUTION_OFFICIAL_BUILD=1 DISTRIBUTOR="${pkg_id%% *}" DISTRIBUTION_VERSION="${pkg_id#* }")
fi
if [ -f "$compile_h" ]; then
    vars+=(KBUILD_BUILD_USER="$(sed -n 's/^#define LINUX_COMPILE_BY[[:space:]]*"\(.*\)"/\1/p' "$compile_h")"
           KBUILD_BUILD_HOST="$(sed -n 's/^#define LINUX_COMPILE_HOST[[:space:]]*"\(.*\)"/\1/p' "$compile_h")")
fi
[ "$(config_value CONFIG_CC_IS_CLANG)" = y ] && vars+=(LLVM=1)
note "make prepare ($(nproc) jobs): ${vars[*]}"
make -C "$src" O="$out.partial" -j"$(nproc)" "${vars[@]}" prepare > "$out.partial.log" 2>&1 \
    || { tail -30 "$out.partial.log" >&2; die "make prepare failed (log: $out.partial.log)"; }
cp -a "$common/Makefile" "$out.partial/Makefile"
[ "$src" = "$source" ] || rm -rf "$src"

changed="$(cd "$out.partial" && sha256sum --quiet -c "$out.partial.sums" 2>/dev/null | sed 's/: FAILED.*//' || true)"
# Host programs (fixdep, modpost, objtool, ...) are rebuilt because the
# headers carry no build records for them: put the shipped ones back, so
# the distribution's own modpost checks the module. Anything else that
# changed is a mismatch.
mismatched=""
while IFS= read -r f; do
    [ -n "$f" ] || continue
    shipped="$headers/$f"
    [ -e "$shipped" ] || shipped="$common/$f"
    case "$f" in
        ./scripts/*|./tools/*)
            if [ "$(head -c 4 "$shipped" | od -An -c | tr -d ' ')" = '177ELF' ]; then
                cp -a --remove-destination "$(readlink -f "$shipped")" "$out.partial/$f"
                continue
            fi ;;
    esac
    mismatched+="$f"$'\n'
done <<< "$changed"
changed="${mismatched%$'\n'}"
if [ -n "$changed" ]; then
    printf '%s\n' "$changed" | head -20 >&2
    die "make prepare changed $(printf '%s\n' "$changed" | wc -l) file(s) the headers shipped (above): the source or toolchain does not match kernel $release"
fi
has_rust "$out.partial" || die "make prepare produced no rust/ (log: $out.partial.log)"
echo "$key" > "$out.partial/.witness-kbuild"
rm -rf "$out" "$out.partial.sums"
mv "$out.partial" "$out"
mv "$out.partial.log" "$out/.witness-kbuild.log"
note "rust/ regenerated in $((SECONDS - start)) s; every file the headers shipped is as shipped"
printf '%s\n' "$out"
