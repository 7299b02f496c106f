#!/usr/bin/env bash
# Packs the test VM's initramfs: busybox, witness.ko (and overlay.ko for a
# stock kernel), the static collector,
# the guest init, the VM scenarios and the demo.
#
#   scripts/build-initramfs.sh MODULE COLLECTOR OUT
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

[ $# -eq 3 ] || die "usage: $0 MODULE COLLECTOR OUT"
module="$1" collector="$2" out="$3"
[ -f "$module" ] || die "no module at $module"
[ -x "$collector" ] || die "no collector at $collector"
[ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked' \
    || die "/bin/busybox must be the static busybox (package busybox-static)"

step "packing the initramfs"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
mkdir -p "$stage"/{bin,dev,etc,proc,sys,tmp,opt,witness,usr/bin,tests/vm}
cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$WITNESS_ROOT/scripts/guest/init" "$stage/init"
install -m 0755 "$WITNESS_ROOT/scripts/guest/demo.sh" "$stage/demo.sh"
install -m 0755 "$WITNESS_ROOT/scripts/guest/bench.sh" "$stage/bench.sh"
install -m 0755 "$WITNESS_ROOT/scripts/guest/icount.sh" "$stage/icount.sh"
install -m 0755 "$WITNESS_ROOT/scripts/guest/soak.sh" "$stage/soak.sh"
install -m 0644 "$module" "$stage/witness/witness.ko"
for testmod in witness_testmod witness_direct_holder; do
    if [ -f "$(dirname "$module")/$testmod.ko" ]; then
        install -m 0644 "$(dirname "$module")/$testmod.ko" "$stage/witness/"
    fi
done
# A stock kernel's overlayfs module (the debug kernel has it built in).
overlay="$(dirname "$module")/overlay.ko"
[ -f "$overlay" ] && install -m 0644 "$overlay" "$stage/witness/overlay.ko"
install -m 0755 "$collector" "$stage/usr/bin/witness"
vmtool="$(dirname "$collector")/witness-vmtool"
[ -x "$vmtool" ] && install -m 0755 "$vmtool" "$stage/usr/bin/witness-vmtool"
cp -r "$WITNESS_ROOT/tests/vm/lib.sh" "$WITNESS_ROOT/tests/vm/scenarios" "$stage/tests/vm/"
cp -r "$WITNESS_ROOT/examples" "$stage/examples"
cat > "$stage/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
wtest:x:1234:1234:witness test user:/tmp:/bin/sh
wdb:x:1235:1235:demo database:/tmp:/bin/sh
wbatch:x:2000:2000:demo batch job:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$stage/etc/group" <<'GROUP'
root:x:0:
wtest:x:1234:
wdb:x:1235:
wbatch:x:2000:
nogroup:x:65534:
GROUP
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 > "$out"
note "wrote $out ($(du -h "$out" | cut -f1))"
