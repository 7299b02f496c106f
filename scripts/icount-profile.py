#!/usr/bin/env python3
"""Instructions per operation by kernel function, from a boot of `make bench`
with WITNESS_BENCH_PROFILE=1 (the plugin's profile=FILE).

  python3 scripts/icount-profile.py CONSOLE PROFILE OUT.md [OP]

For OP (default open), a table of the functions whose instructions per
operation differ most from the unloaded state, one column per state: where
witness's cost goes. Functions are named from the WITNESS-KSYM lines the
guest prints (its /proc/kallsyms, read after the module loaded).
"""
import bisect
import collections
import sys

STATES = ["unloaded", "off", "recorded", "draining"]


def symbols(console):
    syms = []
    for line in open(console, errors="replace"):
        if line.startswith("WITNESS-KSYM "):
            parts = line.split()
            if len(parts) >= 3:
                syms.append((int(parts[1], 16), " ".join(parts[2:])))
    if not syms:
        sys.exit(f"{console}: no WITNESS-KSYM lines (boot with witness.profile=1)")
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def main(console, profile, out, op="open"):
    loops = []
    for line in open(console, errors="replace"):
        if line.startswith("WITNESS-BENCH icount "):
            f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            loops += [(f["state"], f["op"], int(f["iterations"]))] * int(f["rounds"])
    addrs, names = symbols(console)

    def name(addr):
        if addr < 0xffff800000000000:
            return "[user space]"
        i = bisect.bisect_right(addrs, addr) - 1
        return names[i] if i >= 0 else hex(addr)

    # Per state: function -> instructions per op, summed over the op's rounds.
    per = {s: collections.Counter() for s in STATES}
    rounds = collections.Counter()
    current = None
    for line in open(profile):
        if line.startswith("WITNESS-PROFILE "):
            seq = int(line.split("seq=")[1])
            current = loops[seq] if seq < len(loops) and loops[seq][1] == op else None
            if current:
                rounds[current[0]] += 1
            continue
        if current:
            addr, n = line.split()
            per[current[0]][name(int(addr, 16))] += int(n) / current[2]
    for s in STATES:
        for fn in per[s]:
            per[s][fn] /= max(rounds[s], 1)
    fns = set().union(*per.values())
    delta = lambda fn: max(abs(per[s][fn] - per["unloaded"][fn]) for s in STATES)
    top = sorted(fns, key=delta, reverse=True)[:40]
    rows = [f"Instructions per {op} by function (boot 1), the 40 that change most:", "",
            "| function | " + " | ".join(STATES) + " |", "|---|" + "---:|" * len(STATES)]
    rows += [f"| `{fn}` | " + " | ".join(f"{per[s][fn]:,.0f}" for s in STATES) + " |" for fn in top]
    rows.append("| total | " + " | ".join(f"{sum(per[s].values()):,.0f}" for s in STATES) + " |")
    open(out, "w").write("\n".join(rows) + "\n")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
