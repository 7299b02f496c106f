#!/usr/bin/env bash
# Builds the two Debian packages into $WITNESS_BUILD/deb:
#   witness_VERSION-1_amd64.deb   the collector (static binary), the systemd
#                                 unit, /etc/witness, the man page, docs and
#                                 examples: `cargo deb` from
#                                 collector/Cargo.toml's [package.metadata.deb]
#   witness-dkms_VERSION-1_all.deb  the module source for DKMS
#                                 (scripts/dkms-source.sh), built and loaded
#                                 on install, rebuilt for new kernels, and
#                                 loaded at boot (/etc/modules-load.d)
# Installs cargo-deb (cargo install) and help2man if missing. Prints the
# two paths.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$WITNESS_ROOT/Cargo.toml" | head -1)"
out="$WITNESS_BUILD/deb"
mkdir -p "$out" "$WITNESS_BUILD/man"
command -v help2man >/dev/null || { step "installing help2man"; apt-get install -y -q help2man >&2; }
if ! cargo deb --version >/dev/null 2>&1; then
    step "installing cargo-deb (cargo install --locked)"
    cargo install --locked cargo-deb >&2
fi

collector="$("$WITNESS_ROOT/scripts/build-collector.sh")"
step "witness $version: man page and package (cargo deb)"
help2man --no-info --section 8 --name "kernel telemetry for workload identity: the collector" \
    --version-string "$version" "$collector" | gzip -9n > "$WITNESS_BUILD/man/witness.8.gz"
rm -f "$out"/witness_*.deb
cargo deb --manifest-path "$WITNESS_ROOT/collector/Cargo.toml" --no-build --strip \
    --target x86_64-unknown-linux-gnu --deb-revision 1 --output "$out/witness_${version}-1_amd64.deb" >&2

step "witness-dkms $version: package (dpkg-deb)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
bash "$WITNESS_ROOT/scripts/dkms-source.sh" "$stage" >/dev/null
install -d "$stage/DEBIAN" "$stage/etc/modules-load.d" "$stage/usr/share/doc/witness-dkms"
printf '# Loads the witness module at boot (package witness-dkms).\nwitness\n' > "$stage/etc/modules-load.d/witness.conf"
echo /etc/modules-load.d/witness.conf > "$stage/DEBIAN/conffiles"
for script in postinst prerm; do
    sed "s/@VERSION@/$version/g" "$WITNESS_ROOT/packaging/deb/dkms/$script" > "$stage/DEBIAN/$script"
    chmod 0755 "$stage/DEBIAN/$script"
done
cat > "$stage/DEBIAN/control" <<CONTROL
Package: witness-dkms
Version: ${version}-1
Architecture: all
Section: kernel
Priority: optional
Maintainer: witness maintainers <witness@localhost>
Depends: dkms (>= 3), make, bc, bison, flex, libelf-dev, libssl-dev, python3, xz-utils, dwarves, rsync, bindgen, rustc, rust-src, linux-headers-amd64 | linux-headers
Recommends: witness
Installed-Size: $(du -sk "$stage/usr" | cut -f1)
Description: witness kernel module (DKMS source)
 The Rust-for-Linux module of witness: it hooks the points where Linux
 enforces access and writes fixed-layout records to per-CPU rings read
 through /dev/witness. DKMS builds it for every installed kernel with the
 toolchain that built the kernel (the build names any rustc, bindgen or gcc
 version that must be installed, and regenerates the headers' rust/ from
 the kernel's linux-source package when the headers lack it).
CONTROL
rm -f "$out"/witness-dkms_*.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/witness-dkms_${version}-1_all.deb" >&2
printf '%s\n' "$out/witness_${version}-1_amd64.deb" "$out/witness-dkms_${version}-1_all.deb"
