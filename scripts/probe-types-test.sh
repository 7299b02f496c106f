#!/usr/bin/env bash
# Proves that probe prototype drift is a build error (kmod/probes.c): builds
# witness.ko for kernel NAME twice from altered copies of the sources, as if
# the kernel had changed under it, and expects each build to fail naming
# what changed:
#   - a hooked function's prototype (security_file_open gains an argument),
#   - a tracepoint's arguments (sched_process_exit without group_dead, as
#     before Linux 6.16).
#
#   scripts/probe-types-test.sh NAME
#
# Prints "probe types (NAME): PASS" or "... FAIL: why"; exits non-zero on
# failure. Expects the artefacts of scripts/build-all.sh NAME.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

name="${1:?usage: $0 NAME}"
out="$WITNESS_BUILD/$name"
[ -f "$out/kernel.env" ] || die "$out/kernel.env missing: scripts/build-all.sh $name first"
# shellcheck disable=SC1091
source "$out/kernel.env"
llvm="$(kbuild_llvm_args "$STOCK_CHROOT$STOCK_KDIR")"

# drifted CASE SED-SCRIPT FILES...: builds a copy with SED-SCRIPT applied to
# FILES (under kmod/) and prints the build's output; fails if it built.
drifted() {
    in_chroot "$STOCK_CHROOT" /bin/sh -ec '
        kdir="$1" llvm="$2" case="$3" script="$4"; shift 4
        dest="/build/witness-drift-$case"
        mkdir -p "$dest/shared-abi"
        rsync -a --delete /witness-src/Kbuild /witness-src/kmod "$dest/"
        rsync -a --delete /witness-src/shared-abi/src "$dest/shared-abi/"
        for f in "$@"; do
            sed -i "$script" "$dest/kmod/$f"
            cmp -s "/witness-src/kmod/$f" "$dest/kmod/$f" && { echo "the $case alteration did not apply to $f"; exit 3; }
        done
        if make -C "$kdir" M="$dest" $llvm -j"$(nproc)" modules 2>&1; then exit 4; fi
        exit 0
    ' drift "$STOCK_KDIR" "$llvm" "$@"
}

verdict=PASS
check() {
    local case="$1" expect="$2" log="$out/probe-types-$1.log"
    shift 2
    step "probe types on $name: $case drift must fail the build"
    local status=0
    drifted "$case" "$@" > "$log" 2>&1 || status=$?
    if [ "$status" -eq 4 ]; then
        verdict="FAIL: the module built with $case drift"
    elif [ "$status" -ne 0 ]; then
        verdict="FAIL: $case: $(tail -1 "$log")"
    elif ! grep -q -- "$expect" "$log" || ! grep -q 'error' "$log" || ! grep -q 'probes\.c' "$log"; then
        verdict="FAIL: $case: the build failed without naming it ('$expect' not in $log)"
    else
        note "refused: $(grep -m1 'error' "$log" | sed 's/^[[:space:]]*//' | cut -c1-160)"
    fi
}

check function "security_file_open no longer has the prototype" \
    's/^HOOKED(security_file_open, int(struct file \*));/HOOKED(security_file_open, int(struct file *, int));/' probes.c
check tracepoint "TRACEPOINT_TYPED(sched_process_exit" \
    '/witness_tp_sched_process_exit(/ s/, bool group_dead)/)/; s/witness_rs_sched_process_exit(data, p, group_dead)/witness_rs_sched_process_exit(data, p, false)/' \
    probes.c probes.h
echo "probe types ($name): $verdict"
[ "$verdict" = PASS ]
