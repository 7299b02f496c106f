#!/usr/bin/env bash
# Builds Debian's linux-source-6.12 with CONFIG_RUST for the witness VM tests.
#
#   scripts/build-kernel.sh [plain|debug]
#
# The build lives in $WITNESS_CACHE/kernel/<key> (see kernel_key in env.sh) and
# is reused whenever the key matches, so only the first run pays for it
# (about 7 minutes on 2 cores for the plain flavour). Prints the build
# directory (the KDIR for the module) on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

flavour="${1:-plain}"
case "$flavour" in plain|debug) ;; *) die "unknown kernel flavour '$flavour' (plain or debug)";; esac
[ -f "$KERNEL_TARBALL" ] || die "$KERNEL_TARBALL missing: run scripts/provision.sh"

kdir="$(kernel_dir "$flavour")"
mkdir -p "$WITNESS_CACHE/kernel"
# One build per key at a time: a second caller waits for the first.
exec 9> "$kdir.lock"
if ! flock -n 9; then
    note "another build of this kernel is running; waiting for it"
    flock 9
fi
if [ -f "$kdir/.witness-built" ]; then
    note "kernel ($flavour): cached in $kdir"
    printf '%s\n' "$kdir"
    exit 0
fi

step "building the $flavour test kernel into $kdir (cached afterwards)"
work="$kdir.partial"
rm -rf "$work"
mkdir -p "$work"
note "extracting $KERNEL_TARBALL"
tar -xJf "$KERNEL_TARBALL" -C "$work" --strip-components=1

llvm=()
[ "$(kernel_cc "$flavour")" = clang ] && llvm=(LLVM=1)
kmake() {
    make -C "$work" -j"$(nproc)" "${llvm[@]}" \
        RUSTC="$WITNESS_RUSTC" HOSTRUSTC="$WITNESS_RUSTC" BINDGEN="$WITNESS_BINDGEN" "$@"
}

note "checking the Rust toolchain (make rustavailable)"
kmake rustavailable >&2 || die "the kernel rejects $WITNESS_RUSTC or $WITNESS_BINDGEN (see above)"

note "configuring: tinyconfig + scripts/kernel/witness.config + $flavour.config"
kmake tinyconfig >/dev/null
fragments=("$WITNESS_ROOT/scripts/kernel/witness.config" "$WITNESS_ROOT/scripts/kernel/$flavour.config")
(cd "$work" && ./scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >/dev/null)
kmake olddefconfig >/dev/null

# Kconfig drops options whose dependencies are unmet without a word: check.
dropped=()
while read -r line; do
    case "$line" in CONFIG_*=y) grep -qx "$line" "$work/.config" || dropped+=("$line");; esac
done < <(cat "${fragments[@]}")
[ "${#dropped[@]}" -eq 0 ] || die "Kconfig dropped: ${dropped[*]} (unmet dependencies; see $work/.config)"
grep -q '^CONFIG_MODVERSIONS=y' "$work/.config" && die "CONFIG_MODVERSIONS must stay off"

note "compiling (progress every 500 lines of make output)"
start=$SECONDS
kmake 2>&1 | awk '{ n++; if (n % 500 == 0) printf "    ... %d lines, last: %s\n", n, $0 > "/dev/stderr"; print > "'"$work"'/build.log" }
    END { }' || true
[ -f "$work/arch/x86/boot/bzImage" ] && [ -f "$work/Module.symvers" ] \
    || { tail -40 "$work/build.log" >&2; die "kernel build failed (log: $work/build.log)"; }
note "kernel built in $((SECONDS - start)) s"

touch "$work/.witness-built"
rm -rf "$kdir"
mv "$work" "$kdir"
printf '%s\n' "$kdir"
