#!/usr/bin/env bash
# Writes an OCI image archive (for `ctr images import`) of one static
# busybox, tagged REF, whose entrypoint sleeps (so it also serves as the
# pod sandbox, "pause", image). Nothing is pulled: the host test has no
# network and no registry.
#
#   tests/host/oci-image.sh OUT.tar REF [BUSYBOX]
set -euo pipefail
out="$1" ref="$2" busybox="${3:-/bin/busybox}"
grep -q 'not a dynamic' <<< "$(ldd "$busybox" 2>&1)" \
    || { echo "oci-image.sh: $busybox is not a static busybox (Debian package busybox-static)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$work/layout/blobs/sha256"
install -m 0755 "$busybox" "$work/rootfs/bin/busybox"
for applet in sh true sleep cat ls; do ln -s busybox "$work/rootfs/bin/$applet"; done
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/layer.tar" .
blob() { # FILE -> its digest; the file goes into the layout
    local d; d="$(sha256sum "$1" | cut -d' ' -f1)"
    cp "$1" "$work/layout/blobs/sha256/$d"
    echo "$d"
}
size() { stat -c %s "$1"; }
layer="$(blob "$work/layer.tar")"
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Entrypoint":["/bin/sleep","2147483647"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$layer" > "$work/config.json"
config="$(blob "$work/config.json")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$config" "$(size "$work/config.json")" "$layer" "$(size "$work/layer.tar")" > "$work/manifest.json"
manifest="$(blob "$work/manifest.json")"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$(size "$work/manifest.json")" "$ref" "${ref##*:}" > "$work/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/layout" -cf "$out" .
