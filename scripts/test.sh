#!/usr/bin/env bash
# Every test: provisioning and builds, host unit tests (cargo test), then the
# VM scenarios. Ends with one line "N passed, N failed" and exits non-zero if
# anything failed. `make test` runs this; so does CI (.ci/run).
# `make test-debug` (WITNESS_FLAVOUR=debug) runs the VM scenarios on the
# KASAN/lockdep/kmemleak kernel.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

export WITNESS_FLAVOUR="${WITNESS_FLAVOUR:-plain}"
"$WITNESS_ROOT/scripts/build-all.sh" "$WITNESS_FLAVOUR"

passed=0 failed=0 broken=()

step "host tests: cargo test --workspace"
mkdir -p "$WITNESS_BUILD"
host_log="$WITNESS_BUILD/host-test.log"
set +e
cargo test --manifest-path "$WITNESS_ROOT/Cargo.toml" --workspace --locked 2>&1 | tee "$host_log"
host_status=${PIPESTATUS[0]}
set -e
read -r hp hf < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    END { print p + 0, f + 0 }' "$host_log")
passed=$((passed + hp)); failed=$((failed + hf))
if [ "$host_status" -ne 0 ] && [ "$hf" -eq 0 ]; then
    broken+=("cargo test exited $host_status without a failing test (build error?)")
    failed=$((failed + 1))
fi

step "VM tests: tests/vm/scenarios/*.sh"
vm_out="$WITNESS_BUILD/vm-test.out"
set +e
"$WITNESS_ROOT/scripts/vm-test.sh" 2>&1 | tee "$vm_out"
vm_status=${PIPESTATUS[0]}
set -e
read -r vp vf < <(sed -n 's/^vm ([a-z]* kernel): \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$vm_out" | tail -1; echo "0 0")
passed=$((passed + ${vp:-0})); failed=$((failed + ${vf:-0}))
if [ "$vm_status" -ne 0 ] && [ "${vf:-0}" -eq 0 ]; then
    broken+=("VM tests exited $vm_status without a failing scenario")
    failed=$((failed + 1))
fi

echo
for b in "${broken[@]}"; do echo "error: $b"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
