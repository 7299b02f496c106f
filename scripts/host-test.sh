#!/usr/bin/env bash
# The package, service and DKMS tests on a real Debian host: boots the
# Debian host image (scripts/host-image.sh: Debian 13, systemd as PID 1,
# containerd, the trixie-backports kernel as shipped) twice under QEMU with
# the packages (scripts/build-packages.sh), tests/host/run.sh, witness-vmtool
# (to start a pod over CRI) and a busybox image (tests/host/oci-image.sh) on
# a second disk. Phase 1 installs and exercises the packages and the service; phase
# 2, after the reboot, checks what came up at boot, then removes and purges.
#
#   scripts/host-test.sh
#
# Prints the guest's "ok"/"not ok" lines, fails on any "not ok", a phase that
# did not finish, or an Oops, BUG, WARNING or KASAN report in the kernel log,
# and ends with "host (debian 13): PASS (N checks)" or "...: FAIL: why".
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

out="$WITNESS_BUILD/host-test"
rm -rf "$out"
mkdir -p "$out/disk"
fail() { echo "host (debian 13): FAIL: $*"; exit 1; }

image="$("$WITNESS_ROOT/scripts/host-image.sh")" || fail "no Debian host image"
# host-image.sh prints the image's folder and nothing else on stdout.
[ -f "$image/root.img" ] || fail "host-image.sh printed '$image', which holds no root.img"
mapfile -t debs < <("$WITNESS_ROOT/scripts/build-packages.sh") || fail "the packages did not build"
[ "${#debs[@]}" -eq 2 ] || fail "build-packages.sh gave ${#debs[@]} packages"
collector="$("$WITNESS_ROOT/scripts/build-collector.sh")" || fail "the collector did not build"
cp "${debs[@]}" "$WITNESS_ROOT/tests/host/run.sh" "$WITNESS_ROOT/tests/host/spire-entries.json" \
    "$(dirname "$collector")/witness-vmtool" "$out/disk/"
"$WITNESS_ROOT/tests/host/oci-image.sh" "$out/disk/busybox-oci.tar" witness.test/busybox:1 || fail "no test image"
mke2fs -q -t ext4 -d "$out/disk" "$out/test.img" 128M || fail "mke2fs of the test disk failed"
step "host test: copying the root image (sparse)"
cp --sparse=always "$image/root.img" "$out/root.img"

boot() {
    local phase="$1"
    step "host test: boot $phase (Debian 13, systemd, $(sed -n 's/^RELEASE=//p' "$image/image.env"))"
    local start=$SECONDS
    timeout 1800 qemu-system-x86_64 -accel "${WITNESS_ACCEL:-tcg,thread=single}" -cpu max -smp 2 -m 2G \
        -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 witness.test panic=-1 systemd.show_status=0" \
        -drive "file=$out/root.img,format=raw,if=virtio" \
        -drive "file=$out/test.img,format=raw,if=virtio,readonly=on" \
        -serial "file:$out/console$phase.log" -serial "file:$out/results$phase.log" \
        -display none -monitor none -no-reboot -net none
    local rc=$?
    note "boot $phase: qemu exited $rc after $((SECONDS - start)) s"
    sed 's/^/    guest: /' "$out/results$phase.log" | tr -d '\r'
}
boot 1
boot 2
results="$(cat "$out/results1.log" "$out/results2.log" | tr -d '\r')"
checks="$(grep -c '^ok ' <<< "$results" || true)"
bad="$(grep '^not ok ' <<< "$results" | head -3 | tr '\n' ';' || true)"
[ -z "$bad" ] || fail "$bad"
for p in 1 2; do grep -q "^phase $p: done" <<< "$results" || fail "phase $p did not finish (see $out/console$p.log)"; done
oops="$(grep -E 'Oops|BUG:|WARNING:|KASAN' "$out"/console*.log | head -3 || true)"
[ -z "$oops" ] || fail "kernel log: $oops"
score="$(sed -n 's/^note systemd-analyze security: .*exposure level for witness.service: //p' <<< "$results")"
echo "host (debian 13): PASS ($checks checks; systemd exposure $score)"
