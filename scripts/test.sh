#!/usr/bin/env bash
# Every test: provisioning and builds, host unit tests (cargo test), then the
# VM scenarios on each kernel: Debian's stock kernels as shipped
# (scripts/kernel/stock.list), or with WITNESS_KERNELS=debug (`make
# test-debug`) the KASAN/lockdep/kmemleak/kCFI build, and on each kernel the
# check that probe prototype drift fails the build
# (scripts/probe-types-test.sh). Ends with one line per kernel, the DKMS
# check (scripts/dkms-test.sh), the packages and service on a Debian host
# (scripts/host-test.sh: packages, service, containerd pods, SPIRE entries),
# the Kubernetes manifests (scripts/kubernetes-test.sh) and "N passed, N failed",
# and exits non-zero if anything failed.
# `make test` runs this; so does CI (.ci/run).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

mapfile -t kernels < <(vm_kernels)
# From a fresh machine a run writes about 20 GiB: chroots of the suites,
# kernel build trees, the collector's release and test builds, the host
# test's disk images. need_disk says so up front rather than midway.
need_disk 20 "make test"
disk_start="$(free_gib "$WITNESS_ROOT")"
timings=()
for k in "${kernels[@]}"; do
    start=$SECONDS
    "$WITNESS_ROOT/scripts/build-all.sh" "$k"
    timings+=("build $k: $((SECONDS - start)) s")
done

passed=0 failed=0 broken=() summary=()

step "host tests: cargo test --workspace"
start=$SECONDS
mkdir -p "$WITNESS_BUILD"
host_log="$WITNESS_BUILD/host-test.log"
set +e
cargo test --manifest-path "$WITNESS_ROOT/Cargo.toml" --workspace --locked 2>&1 | tee "$host_log"
host_status=${PIPESTATUS[0]}
set -e
read -r hp hf < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    END { print p + 0, f + 0 }' "$host_log")
passed=$((passed + hp)); failed=$((failed + hf))
summary+=("host: $hp passed, $hf failed")
if [ "$host_status" -ne 0 ] && [ "$hf" -eq 0 ]; then
    broken+=("cargo test exited $host_status without a failing test (build error?)")
    failed=$((failed + 1))
fi
timings+=("host tests: $((SECONDS - start)) s")

for k in "${kernels[@]}"; do
    step "VM tests on $k: tests/vm/scenarios/*.sh"
    start=$SECONDS
    vm_out="$WITNESS_BUILD/$k/vm-test.out"
    set +e
    WITNESS_KERNEL="$k" "$WITNESS_ROOT/scripts/vm-test.sh" 2>&1 | tee "$vm_out"
    vm_status=${PIPESTATUS[0]}
    set -e
    read -r vp vf < <(sed -n 's/^vm ([^ ]* kernel): \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$vm_out" | tail -1; echo "0 0")
    passed=$((passed + ${vp:-0})); failed=$((failed + ${vf:-0}))
    summary+=("$(sed -n 's/^vm kernel \(.*\)$/vm \1/p' "$vm_out" | head -1): ${vp:-0} passed, ${vf:-0} failed")
    if [ "$vm_status" -ne 0 ] && [ "${vf:-0}" -eq 0 ]; then
        broken+=("VM tests on $k exited $vm_status without a failing scenario")
        failed=$((failed + 1))
    fi
    timings+=("vm tests $k: $((SECONDS - start)) s")
done

# checked NAME PREFIX LOG CMD...: runs a check that ends by printing
# "PREFIX: PASS..." (or "PREFIX: FAIL: why"), and counts it as one test.
checked() {
    local name="$1" prefix="$2" log="$3" verdict start=$SECONDS
    shift 3
    set +e
    "$@" 2>&1 | tee "$log"
    set -e
    verdict="$(grep "^$prefix: " "$log" | tail -1)"
    summary+=("${verdict:-$prefix: FAIL: no verdict}")
    if [[ "$verdict" == "$prefix: PASS"* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    timings+=("$name: $((SECONDS - start)) s")
}

# Prototype drift must fail the build, on every kernel (kmod/probes.c).
for k in "${kernels[@]}"; do
    checked "probe types $k" "probe types ($k)" "$WITNESS_BUILD/$k/probe-types.out" \
        "$WITNESS_ROOT/scripts/probe-types-test.sh" "$k"
done

# DKMS on the first stock kernel (not on the debug build: no one installs it).
if [ "${kernels[0]}" = "$(stock_kernel_names | head -1)" ]; then
    step "DKMS on ${kernels[0]}"
    checked "dkms ${kernels[0]}" "dkms (${kernels[0]})" "$WITNESS_BUILD/dkms-test.out" \
        "$WITNESS_ROOT/scripts/dkms-test.sh" "${kernels[0]}"
fi

# The packages and the service on a Debian 13 host with systemd (stock
# kernels only, as DKMS).
if [ "${kernels[0]}" = "$(stock_kernel_names | head -1)" ]; then
    step "packages and systemd service on a Debian 13 host"
    checked "host debian 13" "host (debian 13)" "$WITNESS_BUILD/host-test.out" "$WITNESS_ROOT/scripts/host-test.sh"
fi

step "Kubernetes manifests"
checked "kubernetes" "kubernetes" "$WITNESS_BUILD/kubernetes-test.out" "$WITNESS_ROOT/scripts/kubernetes-test.sh"

echo
printf 'time: %s\n' "${timings[@]}"
echo "disk: $(free_gib "$WITNESS_ROOT") GiB free at the end, $disk_start GiB at the start"
printf '%s\n' "${summary[@]}"
for b in "${broken[@]}"; do echo "error: $b"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
