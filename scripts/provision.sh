#!/usr/bin/env bash
# Installs everything the witness build, demo and tests need on Debian 12:
# Debian packages (kernel source, the kernel's rustc, clang, QEMU, busybox,
# Prometheus) and the pinned bindgen-cli. Idempotent: installs only what is
# missing, so a second run costs a few dpkg queries.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PACKAGES=(
    # kernel build
    linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev
    cpio xz-utils kmod python3 file
    # Rust for the kernel: rustc-web is the rustc the kernel and module are
    # built with (/usr/bin/rustc); rust-web-src is its core library source.
    rustc-web rust-web-src libclang-dev clang
    # the debug kernel flavour is built with LLVM (KASAN + Rust needs clang)
    llvm lld
    # VM harness
    qemu-system-x86 busybox-static
    # metrics checks
    prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing Debian packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "installing packages needs root (or install them yourself: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    # The prometheus package starts a server on :9090; the tests run their own.
    if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl stop prometheus || true
    fi
else
    note "Debian packages: all present"
fi

if ! "$WITNESS_BINDGEN" --version 2>/dev/null | grep -q " $WITNESS_BINDGEN_VERSION\$"; then
    step "installing bindgen-cli $WITNESS_BINDGEN_VERSION (cargo install --locked)"
    command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) first"
    cargo install --locked "bindgen-cli@$WITNESS_BINDGEN_VERSION"
else
    note "bindgen-cli $WITNESS_BINDGEN_VERSION: present"
fi

[ -x "$WITNESS_RUSTC" ] || die "$WITNESS_RUSTC missing after install (package rustc-web)"
note "kernel rustc: $("$WITNESS_RUSTC" --version)"
