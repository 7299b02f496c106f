#!/usr/bin/env bash
# Re-creates tests/data/judge_e2e.cap, the capture the host replay tests
# use, from a run of the judge_e2e VM scenario on the real module: the
# scenario prints the capture base64 between WITNESS-CAPTURE lines on the
# console. Run after changing the record ABI or the scenario.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
kernel_name="${WITNESS_KERNEL:-$(stock_kernel_names | head -1)}"

"$WITNESS_ROOT/scripts/build-all.sh" "$kernel_name"
"$WITNESS_ROOT/scripts/vm-test.sh" judge_e2e
log="$WITNESS_BUILD/$kernel_name/vm-test.log"
dest="$WITNESS_ROOT/tests/data/judge_e2e.cap"
mkdir -p "$(dirname "$dest")"
sed -n 's/\r$//; s/^WITNESS-CAPTURE \(.*\)$/\1/p' "$log" | base64 -d > "$dest.tmp" \
    || die "no capture in $log"
[ -s "$dest.tmp" ] || die "empty capture in $log"
mv "$dest.tmp" "$dest"
note "wrote $dest ($(stat -c %s "$dest") bytes)"
