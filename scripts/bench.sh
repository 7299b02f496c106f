#!/usr/bin/env bash
# `make bench`: every benchmark, one table.
#
#   1. ring      shared-abi ring, 1 producer + 1 consumer thread (cargo bench)
#   2. pipeline  `witness replay` of a generated 2 M-record capture on one core
#   3. overhead  syscall loops in the VM: unloaded / recording off / on
#   4. loss      open storm in the VM at rising rates, witness run draining
#   5. icount    the same loops' guest instructions per operation, counted by
#                the QEMU plugin scripts/icount/witness-icount.c, 3 boots per
#                kernel (WITNESS_BENCH_BOOTS), on the kernels named by
#                WITNESS_BENCH_KERNELS (default: the first stock kernel and
#                the test kernel); WITNESS_BENCH_INSMOD=A=1,B=2 passes
#                parameters to the module; WITNESS_BENCH_NO_BUILD=1 boots
#                what $WITNESS_BUILD/KERNEL holds as it is (to compare builds);
#                WITNESS_BENCH_PROFILE=1 adds where open(2)'s instructions go,
#                by kernel function (scripts/icount-profile.py); on stock
#                trixie kernels the same boots also measure an eBPF peer,
#                bpftrace capturing each open (scripts/build-peer.sh packs
#                it; WITNESS_BENCH_NO_PEER=1 leaves it out)
#
# Figures go to target/bench/results.jsonl (one JSON object per figure) and
# target/bench/results.md (the table, also printed). WITNESS_BENCH_QUICK=1
# makes 1 and 2 short (a smoke run); WITNESS_BENCH_ONLY=ring,pipeline,vm,icount
# picks parts. Provisions and builds like `make test`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
kernel_name="${WITNESS_KERNEL:-$(stock_kernel_names | head -1)}"

only="${WITNESS_BENCH_ONLY:-ring,pipeline,vm,icount}"
want() { [[ ",$only," == *",$1,"* ]]; }
dir="$WITNESS_ROOT/target/bench"
mkdir -p "$dir"
out="$dir/results.jsonl"
: > "$out"
export WITNESS_BENCH_OUT="$out"

icount_kernels="${WITNESS_BENCH_KERNELS:-$kernel_name test}"
"$WITNESS_ROOT/scripts/provision.sh"
if want vm; then
    "$WITNESS_ROOT/scripts/build-all.sh" "$kernel_name"
fi
if want icount && [ -z "${WITNESS_BENCH_NO_BUILD:-}" ]; then
    for k in $icount_kernels; do
        [ "$k" = "$kernel_name" ] && want vm && continue
        "$WITNESS_ROOT/scripts/build-all.sh" "$k"
    done
fi

if want ring; then
    step "1. ring protocol (cargo bench -p witness-abi --bench ring)"
    cargo bench --manifest-path "$WITNESS_ROOT/Cargo.toml" --locked -p witness-abi --bench ring
fi

if want pipeline; then
    step "2. collector pipeline (cargo bench -p witness --bench pipeline)"
    cargo bench --manifest-path "$WITNESS_ROOT/Cargo.toml" --locked -p witness --bench pipeline
fi

if want vm; then
    step "3 and 4. in-kernel overhead and loss-free rate (VM, $(nproc) host CPUs)"
    vm_log="$WITNESS_BUILD/$kernel_name/bench.log"
    # Multi-threaded TCG: each vCPU gets its own host thread, so a collector
    # draining on one vCPU does not take time from a loop timed on the
    # other (single-threaded TCG interleaves them on one thread). The tests
    # stay single-threaded (see vm-run.sh: live kprobe patching under load
    # and unload storms); the bench loads the module twice, and any kernel
    # complaint below fails it.
    WITNESS_ACCEL="${WITNESS_ACCEL:-tcg,thread=multi}" WITNESS_VM_TIMEOUT="${WITNESS_VM_TIMEOUT:-1800}" \
        "$WITNESS_ROOT/scripts/vm-run.sh" \
        "$WITNESS_BUILD/$kernel_name/bzImage" "$WITNESS_BUILD/$kernel_name/initramfs.cpio.gz" "$vm_log" \
        "witness.mode=bench quiet" | grep -E '^(== |WITNESS-BENCH|FAIL|\[)' || true
    grep -q '^WITNESS-VM-DONE' "$vm_log" || die "the bench VM did not finish; see $vm_log"
    ! grep -qE '^(WITNESS-BENCH failed|FAIL)' "$vm_log" || die "the VM benchmark failed; see $vm_log"
    ! grep -qE 'Oops|\bBUG\b|WARNING|KASAN|general protection|Kernel panic|soft lockup' "$vm_log" \
        || die "the kernel complained during the VM benchmark; see $vm_log"
    python3 "$WITNESS_ROOT/scripts/bench-vm.py" "$vm_log" >> "$out"
fi

if want icount; then
    step "5. instructions per operation (VM with the counting plugin; kernels: $icount_kernels)"
    plugin="$dir/witness-icount.so"
    rm -f "$dir"/icount-*
    gcc -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -o "$plugin" \
        "$WITNESS_ROOT/scripts/icount/witness-icount.c" || die "building the QEMU plugin failed"
    boots="${WITNESS_BENCH_BOOTS:-3}"
    for k in $icount_kernels; do
        pairs=()
        # The eBPF peer (scripts/guest/icount.sh, states bpftrace-*): its
        # overlay appended to the kernel's initramfs, for these boots only.
        # bpftrace must come from the kernel's own distribution, so only
        # stock kernels whose chroot is trixie (trixie-backports' kernels
        # run on trixie) get it; sid's would need sid's bpftrace, not packed
        # yet. Unpacked, bpftrace and its LLVM take about 200 MB of the VM's
        # 1 GiB (the guest says how much is left once bpftrace runs).
        initrd="$WITNESS_BUILD/$k/initramfs.cpio.gz"
        kchroot="$(stock_kernel_line "$k" 2>/dev/null | cut -d' ' -f2 || true)"
        if [ -n "${WITNESS_BENCH_NO_PEER:-}" ]; then
            note "$k: no eBPF peer (WITNESS_BENCH_NO_PEER)"
        elif [ "$kchroot" = trixie ]; then
            "$WITNESS_ROOT/scripts/build-peer.sh" trixie "$WITNESS_BUILD/$k/peer.cpio.gz"
            initrd="$WITNESS_BUILD/$k/icount-initramfs.cpio.gz"
            cat "$WITNESS_BUILD/$k/initramfs.cpio.gz" "$WITNESS_BUILD/$k/peer.cpio.gz" > "$initrd"
        else
            note "$k: no eBPF peer (bpftrace is packed for stock trixie kernels only)"
        fi
        for b in $(seq 1 "$boots"); do
            log="$WITNESS_BUILD/$k/icount-$b.log" counts="$dir/icount-$k-$b.txt"
            note "$k: boot $b of $boots (counts: $counts)"
            # Multi-threaded TCG, as for 3: the collector on vCPU 1 must not
            # run in the loop's host thread. Counts are per vCPU either way.
            args="out=$counts"
            # WITNESS_BENCH_PROFILE=1: where the first boot's instructions go.
            profile=
            if [ -n "${WITNESS_BENCH_PROFILE:-}" ] && [ "$b" = 1 ]; then
                args="$args,profile=$dir/icount-$k-profile.txt" profile=witness.profile=1
            fi
            WITNESS_QEMU_ARGS="-plugin $plugin,$args" \
                WITNESS_ACCEL="${WITNESS_ACCEL:-tcg,thread=multi}" WITNESS_VM_TIMEOUT="${WITNESS_VM_TIMEOUT:-1800}" \
                "$WITNESS_ROOT/scripts/vm-run.sh" \
                "$WITNESS_BUILD/$k/bzImage" "$initrd" "$log" \
                "witness.mode=icount quiet nokaslr $profile ${WITNESS_BENCH_INSMOD:+witness.insmod=$WITNESS_BENCH_INSMOD}" \
                | grep -E '^(== |FAIL)' || true
            grep -q '^WITNESS-VM-DONE' "$log" || die "the icount VM did not finish; see $log"
            ! grep -qE 'Oops|\bBUG\b|WARNING|KASAN|general protection|Kernel panic|soft lockup' "$log" \
                || die "the kernel complained during the icount run; see $log"
            pairs+=("$log" "$counts")
        done
        python3 "$WITNESS_ROOT/scripts/bench-icount.py" "$k" "$dir/icount-$k.md" "${pairs[@]}" >> "$out"
        if [ -n "${WITNESS_BENCH_PROFILE:-}" ]; then
            python3 "$WITNESS_ROOT/scripts/icount-profile.py" "$WITNESS_BUILD/$k/icount-1.log" \
                "$dir/icount-$k-profile.txt" "$dir/icount-$k-profile.md" open
            note "open(2) by function: $dir/icount-$k-profile.md"
        fi
    done
fi

python3 - "$out" "$dir/results.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def fmt(v, unit):
    if v is None: return "-"
    if unit in ("records/s", "events/s", "opens/s") and v >= 1e5: return f"{v/1e6:.2f} M"
    if isinstance(v, float) and v != int(v): return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{int(v):,}"
lines = ["| group | figure | value | unit | target | met |", "|---|---|---:|---|---|---|"]
for r in rows:
    met = {True: "yes", False: "**no**", None: ""}[r.get("met")]
    lines.append(f"| {r['group']} | {r['name']} | {fmt(r['value'], r['unit'])} | {r['unit']} | {r.get('target') or ''} | {met} |")
table = "\n".join(lines) + "\n"
import glob
for md in sorted(glob.glob(sys.argv[2].rsplit("/", 1)[0] + "/icount-*.md")):
    table += "\n" + open(md).read()
open(sys.argv[2], "w").write(table)
print("\n" + table)
PY
note "figures: $out; table: $dir/results.md"
