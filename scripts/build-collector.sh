#!/usr/bin/env bash
# Builds the collector (and the VM test tool, witness-vmtool) statically
# linked (glibc, crt-static) for the VM's initramfs, which has no shared
# libraries. Prints the collector's path; witness-vmtool sits beside it.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

target=x86_64-unknown-linux-gnu
step "building the collector (static, release)"
# With an explicit --target, RUSTFLAGS apply to the target only, not to build
# scripts and proc macros (which must stay dynamic).
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --manifest-path "$WITNESS_ROOT/Cargo.toml" --release --locked \
    --target "$target" -p witness -p witness-vmtool >&2
bin="$WITNESS_ROOT/target/$target/release/witness"
file "$bin" 2>/dev/null | grep -q 'statically linked\|static-pie' \
    || ldd "$bin" 2>&1 | grep -q 'not a dynamic\|statically linked' \
    || die "$bin is not statically linked"
printf '%s\n' "$bin"
