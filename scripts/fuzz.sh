#!/usr/bin/env bash
# `make fuzz`: runs each fuzz target (fuzz/fuzz_targets: the record decoder,
# the capture reader, the inventory parser, the policy loader) for a bounded
# time with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz.sh [TARGET,...]       (default: all four)
#
# WITNESS_FUZZ_SECONDS per target (default 120); WITNESS_FUZZ_RSS_MB, the
# memory limit that counts as unbounded allocation (default 1024). The
# corpora grow in target/fuzz/corpus/<target>, seeded from the real capture
# and examples/. A fault stops the run: its input is copied to
# fuzz/regressions/<target>/, where `cargo test` (tests/hostile_regressions)
# replays it from then on; commit it with the fix.
#
# cargo-fuzz drives libFuzzer through unstable rustc flags (sanitizer
# coverage, -Zsanitizer); the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, so no nightly toolchain is needed.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

CARGO_FUZZ_VERSION="0.13.2"
targets="${1:-decode,capture,inventory,policy}"
seconds="${WITNESS_FUZZ_SECONDS:-120}"
rss_mb="${WITNESS_FUZZ_RSS_MB:-1024}"
work="$WITNESS_ROOT/target/fuzz"

"$WITNESS_ROOT/scripts/provision.sh"
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    step "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi
export RUSTC_BOOTSTRAP=1

seed() {
    local t="$1" dir="$work/corpus/$1"
    mkdir -p "$dir"
    case "$t" in
        capture) cp "$WITNESS_ROOT/tests/data/judge_e2e.cap" "$dir/judge_e2e.cap" ;;
        decode)
            # The records of the real capture: all of them, and each alone.
            python3 - "$WITNESS_ROOT/tests/data/judge_e2e.cap" "$dir" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()[168:]
open(f"{sys.argv[2]}/all", "wb").write(data)
at, n = 0, 0
while at + 8 <= len(data):
    length = struct.unpack_from("<I", data, at)[0]
    if length == 0 or at + length > len(data):
        break
    open(f"{sys.argv[2]}/record-{n:04}", "wb").write(data[at:at + length])
    at += length
    n += 1
PY
            ;;
        inventory) cp "$WITNESS_ROOT/examples/inventory.toml" "$dir/" ;;
        policy) cp "$WITNESS_ROOT"/examples/policy/*.cedar "$dir/" ;;
        *) die "unknown fuzz target '$t' (known: decode, capture, inventory, policy)" ;;
    esac
}

step "building the fuzz targets (libFuzzer, AddressSanitizer)"
(cd "$WITNESS_ROOT/fuzz" && cargo fuzz build -O)

declare -A runs rate corpus
status=0
for t in ${targets//,/ }; do
    seed "$t"
    mkdir -p "$work/artifacts/$t"
    step "fuzzing $t for ${seconds}s"
    log="$work/$t.log"
    set +e
    (cd "$WITNESS_ROOT/fuzz" && cargo fuzz run -O "$t" "$work/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" \
        -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1) > "$log" 2>&1
    rc=$?
    set -e
    tail -3 "$log" | sed 's/^/    /' >&2
    runs[$t]="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -1)"
    rate[$t]="$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\)/\1/p' "$log" | tail -1)"
    corpus[$t]="$(find "$work/corpus/$t" -type f | wc -l)"
    if [ "$rc" -ne 0 ]; then
        status=1
        for a in "$work/artifacts/$t"/*; do
            [ -f "$a" ] || continue
            mkdir -p "$WITNESS_ROOT/fuzz/regressions/$t"
            cp "$a" "$WITNESS_ROOT/fuzz/regressions/$t/"
            note "fault input saved as fuzz/regressions/$t/$(basename "$a") (cargo test now replays it); log: $log"
        done
    fi
done

echo
printf '%-10s %14s %12s %8s\n' target executions exec/s corpus
for t in ${targets//,/ }; do
    printf '%-10s %14s %12s %8s\n' "$t" "${runs[$t]:-?}" "${rate[$t]:-?}" "${corpus[$t]:-?}"
done
[ "$status" -eq 0 ] || die "a fuzz target found a fault; see above"
echo "fuzz: no faults in ${seconds}s per target"
