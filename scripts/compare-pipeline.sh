#!/usr/bin/env bash
# Compares two collector builds head to head on the pipeline benchmark's
# capture: RUNS alternating runs of each (default 12) of
#   taskset -c 0 BIN replay --quiet CAP CAP --inventory INV --policy examples/policy --evidence ... --metrics ...
# and the median of the warm pass (the second file's records per second of
# CPU), so that machine noise hits both builds alike.
#
#   scripts/compare-pipeline.sh OLD_WITNESS NEW_WITNESS [RUNS]
#
# The capture is the one `cargo bench -p witness --bench pipeline` makes
# (target/bench/pipeline-*.cap); run that once first.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 OLD_WITNESS NEW_WITNESS [RUNS]" >&2; exit 2; }
old=$1 new=$2 runs=${3:-12}
cap=$(ls target/bench/pipeline-*r-*p-*i.cap 2>/dev/null | head -1)
[ -n "$cap" ] || { echo "no capture in target/bench: run cargo bench -p witness --bench pipeline first" >&2; exit 1; }
inv=${cap%.cap}.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
warm() {
    rm -f "$work"/evidence.jsonl*
    taskset -c 0 "$1" replay --quiet "$cap" "$cap" --inventory "$inv" --policy examples/policy \
        --evidence "$work/evidence.jsonl" --metrics "$work/metrics.txt" 2>&1 \
        | sed -n 's/^witness: replayed .*(\([0-9]*\) records\/s)$/\1/p' | tail -1
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : int((v[NR/2] + v[NR/2+1]) / 2)}'; }
: > "$work/old" && : > "$work/new"
for i in $(seq 1 "$runs"); do
    warm "$old" >> "$work/old"
    warm "$new" >> "$work/new"
    echo "run $i: old $(tail -1 "$work/old"), new $(tail -1 "$work/new") events/s" >&2
done
echo "warm events/s per core, median of $runs: old $(median < "$work/old"), new $(median < "$work/new")"
