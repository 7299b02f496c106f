#!/usr/bin/env bash
# `make bench`: every benchmark, one table.
#
#   1. ring      shared-abi ring, 1 producer + 1 consumer thread (cargo bench)
#   2. pipeline  `witness replay` of a generated 2 M-record capture on one core
#   3. overhead  syscall loops in the VM: unloaded / recording off / on
#   4. loss      open storm in the VM at rising rates, witness run draining
#
# Figures go to target/bench/results.jsonl (one JSON object per figure) and
# target/bench/results.md (the table, also printed). WITNESS_BENCH_QUICK=1
# makes 1 and 2 short (a smoke run); WITNESS_BENCH_ONLY=ring,pipeline,vm
# picks parts. Provisions and builds like `make test`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
kernel_name="${WITNESS_KERNEL:-$(stock_kernel_names | head -1)}"

only="${WITNESS_BENCH_ONLY:-ring,pipeline,vm}"
want() { [[ ",$only," == *",$1,"* ]]; }
dir="$WITNESS_ROOT/target/bench"
mkdir -p "$dir"
out="$dir/results.jsonl"
: > "$out"
export WITNESS_BENCH_OUT="$out"

if want vm; then
    "$WITNESS_ROOT/scripts/build-all.sh" "$kernel_name"
else
    "$WITNESS_ROOT/scripts/provision.sh"
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
open(sys.argv[2], "w").write(table)
print("\n" + table)
PY
note "figures: $out; table: $dir/results.md"
