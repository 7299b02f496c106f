#!/usr/bin/env bash
# Installs what the witness build, demo and tests need on the host (Debian 12
# or later): QEMU, busybox, mmdebstrap for the distribution chroots in which
# kernel modules are built, Prometheus for the metrics tests, Chromium for
# the incident report's rendering test, and build
# tools for the collector. Idempotent: installs only what is missing, so a
# second run costs a few dpkg queries. Kernel toolchains are not installed
# here: each kernel's comes from its own suite, in a chroot
# (scripts/chroot.sh, scripts/stock-kernel.sh).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PACKAGES=(
    # distribution chroots and the images taken from them
    mmdebstrap debian-archive-keyring util-linux xz-utils zstd
    # the collector (C parts of its dependencies) and the initramfs
    build-essential cpio file kmod python3
    # VM harness
    qemu-system-x86 busybox-static
    # metrics checks
    prometheus
    # the incident report's rendering test (headless)
    chromium
    # Debian packages (the man page; cargo-deb is installed below) and the
    # Debian host image's file systems
    help2man dpkg-dev e2fsprogs
    # the container runtime API (CRI) bindings are generated at build time
    protobuf-compiler
    # the Kubernetes manifests' test (kubernetes-validate and yamllint come
    # from PyPI into a venv; certificates from openssl; scrapes with curl)
    python3-venv openssl curl
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
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) for the collector"
if ! cargo deb --version >/dev/null 2>&1; then
    step "installing cargo-deb (cargo install --locked)"
    cargo install --locked cargo-deb
fi
[ "$(id -u)" = 0 ] || die "the chroots need root (mmdebstrap, chroot, mount namespaces)"
