#!/usr/bin/env bash
# Packs the eBPF peer of `make bench` part 5 (icount): bpftrace, as a
# distribution ships it, for the guest's busybox initramfs, as a second cpio
# archive that scripts/bench.sh appends to the kernel's initramfs.cpio.gz
# for the icount boots only (Linux unpacks concatenated gzip'd newc
# archives in order, a later file replacing an earlier one).
#
#   scripts/build-peer.sh SUITE OUT     (SUITE: the chroot's, e.g. trixie)
#
# OUT holds
#   /opt/bpftrace/bin/bpftrace   the suite's bpftrace
#   /opt/bpftrace/lib/*          its whole shared-library closure (ldd in the
#                                chroot) and the suite's dynamic loader
#   /usr/bin/bpftrace            a wrapper running it through that loader,
#                                so that nothing of the guest's (it has no
#                                libc) or the host's is used
#   /peer/*.bt                   the peer's scripts (scripts/guest/peer)
#   /icount.sh                   scripts/guest/icount.sh as it is now, so
#                                that the peer states run even on an
#                                initramfs built before them
#                                (WITNESS_BENCH_NO_BUILD=1)
# bpftrace is installed in the chroot once (only if missing); the packed
# closure is cached in $WITNESS_CACHE/peer by suite and bpftrace version.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

[ $# -eq 2 ] || die "usage: $0 SUITE OUT"
suite="$1" out="$2"
root="$("$WITNESS_ROOT/scripts/chroot.sh" "$suite")"

# Not in chroot.sh's base packages: bpftrace pulls LLVM and clang (about
# 300 MB) that only this benchmark needs. Installed under the chroot's lock
# (chroot.sh's), and apt waits for dpkg's own lock rather than failing, so
# that a concurrent build in the same chroot never overlaps it.
status="$(in_chroot "$root" dpkg-query -W -f='${Status}' bpftrace 2>/dev/null || true)"
if [ "$status" != "install ok installed" ]; then
    step "installing bpftrace in the $suite chroot (once)"
    (
        flock 8
        in_chroot "$root" apt-get install -y -q -o DPkg::Lock::Timeout=1200 bpftrace >&2
    ) 8> "$root.lock" || die "installing bpftrace in the $suite chroot failed"
fi
version="$(in_chroot "$root" dpkg-query -W -f='${Version}' bpftrace)"
mkdir -p "$WITNESS_CACHE/peer"
closure="$WITNESS_CACHE/peer/bpftrace-$suite-$version.cpio.gz"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
if [ ! -f "$closure" ]; then
    step "packing bpftrace $version of $suite and its libraries"
    # Resolved inside the chroot: its symbolic links are absolute (the
    # loader's /lib64 link among them), so on the host they would name the
    # host's files. Each line: the name the loader looks for, the file.
    libs="$(in_chroot "$root" sh -ec '
        ldd /usr/bin/bpftrace | while read -r name arrow file rest; do
            case "$name $arrow" in
                linux-vdso.so.*) ;;
                "/"*) echo "$(basename "$name") $(readlink -f "$name")" ;;
                *" =>") [ -n "$file" ] && case "$file" in /*) echo "$name $(readlink -f "$file")" ;; *) echo "$name NOT-FOUND" ;; esac ;;
            esac
        done')" || die "ldd /usr/bin/bpftrace failed in the $suite chroot"
    ! grep -q NOT-FOUND <<< "$libs" || die "bpftrace's libraries are incomplete in the $suite chroot: $(grep NOT-FOUND <<< "$libs")"
    grep -q '^ld-linux-x86-64.so.2 ' <<< "$libs" || die "no dynamic loader in ldd's output for bpftrace"
    mkdir -p "$stage/opt/bpftrace/bin" "$stage/opt/bpftrace/lib" "$stage/usr/bin"
    install -m 0755 "$root/usr/bin/bpftrace" "$stage/opt/bpftrace/bin/bpftrace"
    while read -r name file; do
        install -m 0755 "$root$file" "$stage/opt/bpftrace/lib/$name"
    done <<< "$libs"
    cat > "$stage/usr/bin/bpftrace" <<'WRAPPER'
#!/bin/sh
# bpftrace of the peer overlay (scripts/build-peer.sh): its own loader and libraries.
exec /opt/bpftrace/lib/ld-linux-x86-64.so.2 --library-path /opt/bpftrace/lib /opt/bpftrace/bin/bpftrace "$@"
WRAPPER
    chmod 0755 "$stage/usr/bin/bpftrace"
    # The closure is complete if it runs with nothing else: on the host,
    # through its own loader (--version touches no BPF).
    ran="$("$stage/opt/bpftrace/lib/ld-linux-x86-64.so.2" --library-path "$stage/opt/bpftrace/lib" \
        "$stage/opt/bpftrace/bin/bpftrace" --version)" || die "the packed bpftrace does not run"
    note "$ran, $(wc -l <<< "$libs") libraries, $(du -sh "$stage/opt" | cut -f1) unpacked"
    (cd "$stage" && find opt usr -print0 | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 > "$closure.tmp"
    mv "$closure.tmp" "$closure"
    rm -rf "$stage/opt" "$stage/usr"
fi

# The scripts: small, packed every time from the working tree.
mkdir -p "$stage/peer"
install -m 0644 "$WITNESS_ROOT"/scripts/guest/peer/*.bt "$stage/peer/"
install -m 0755 "$WITNESS_ROOT/scripts/guest/icount.sh" "$stage/icount.sh"
{
    cat "$closure"
    (cd "$stage" && find peer icount.sh -print0 | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1
} > "$out.tmp"
mv "$out.tmp" "$out"
note "wrote $out ($(du -h "$out" | cut -f1); bpftrace $version of $suite)"
