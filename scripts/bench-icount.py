#!/usr/bin/env python3
"""Pairs the instruction counts of the QEMU plugin witness-icount with the
loops the guest ran (scripts/guest/icount.sh), for `make bench`.

  python3 scripts/bench-icount.py KERNEL TABLE.md CONSOLE-1 COUNTS-1 [CONSOLE-2 COUNTS-2 ...]

Each boot's console log says, in order, which loop (state, op, iterations,
rounds) ran; its counts file has one WITNESS-ICOUNT line per round, in the
same order. Per boot, a loop's figure is the median over its rounds of
instructions per operation; over boots, the median of those, with the
spread (largest minus smallest, over the median). Prints figure lines (JSON)
for scripts/bench.sh on stdout and writes a Markdown table to TABLE.md.

The eBPF peer's states (bpftrace, module not loaded; scripts/guest/peer)
appear where a boot ran them: a log without them (another kernel, an older
log) simply has fewer rows. Its `WITNESS-BENCH peer` lines (attach time,
records written) go under the table.
"""
import json
import statistics
import sys

STATES = [
    ("unloaded", "module unloaded"),
    ("bpftrace-kprobe", "bpftrace kprobe/kretprobe (name only)"),
    ("bpftrace-fexit", "bpftrace fexit (full path)"),
    ("off", "loaded, every kind off"),
    ("recorded", "every kind recorded, drained after"),
    ("draining", "every kind recorded, `witness run` draining"),
]
OPS = [("getpid", "getpid"), ("open", "open+close"), ("connect", "connect"), ("fork-exec", "fork+exec+wait")]
# (op, state) -> (most, aim) of the ratio to unloaded, on stock kernels.
TARGETS = {("open", "draining"): (1.3, 1.1), ("open", "off"): (1.02, None)}


def fields(text):
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


def boot(console, counts, peer):
    loops = []
    for raw in open(console, errors="replace"):
        if raw.startswith("WITNESS-BENCH icount "):
            f = fields(raw)
            loops.append((f["state"], f["op"], int(f["iterations"]), int(f["rounds"])))
        if raw.startswith("WITNESS-BENCH peer state="):
            f = fields(raw)
            peer.setdefault(f["state"], []).append(f)
        if raw.startswith("WITNESS-BENCH failed") or raw.startswith("FAIL"):
            sys.exit(f"{console}: the guest failed: {raw.strip()}")
    marks = []
    for raw in open(counts):
        if raw.startswith("WITNESS-ICOUNT "):
            f = fields(raw)
            marks.append((int(f["vcpu"]), int(f["insns"]), int(f["kernel"])))
        elif raw.startswith("WITNESS-ICOUNT-END") and fields(raw).get("unpaired", "0") != "0":
            sys.exit(f"{counts}: {raw.strip()}: a stop marker without its start")
    want = sum(r for *_, r in loops)
    if not loops or want != len(marks):
        sys.exit(f"{console}, {counts}: {len(loops)} loops of {want} rounds in all, but {len(marks)} counts")
    out, i = {}, 0
    for state, op, n, rounds in loops:
        rs = marks[i:i + rounds]
        i += rounds
        if any(v != 0 for v, _, _ in rs):
            sys.exit(f"{counts}: a round of {op} ({state}) ran on another vCPU than 0")
        out[(state, op)] = (statistics.median(t / n for _, t, _ in rs), statistics.median(k / n for _, _, k in rs))
    return out


def main(kernel, table, pairs):
    peer = {}
    boots = [boot(pairs[j], pairs[j + 1], peer) for j in range(0, len(pairs), 2)]
    stock = kernel != "test"
    rows = ["| op | state | instructions/op | kernel part | ratio | spread over %d boots |" % len(boots),
            "|---|---|---:|---:|---:|---:|"]
    medians = {}
    for op, op_label in OPS:
        base = None
        for state, state_label in STATES:
            per = [b[(state, op)] for b in boots if (state, op) in b]
            if not per:
                continue
            total = statistics.median(p[0] for p in per)
            kern = statistics.median(p[1] for p in per)
            spread = (max(p[0] for p in per) - min(p[0] for p in per)) / total if total else 0.0
            medians[(state, op)] = total
            base = total if state == "unloaded" else base
            ratio = total / base if base else None
            rows.append(f"| {op_label} | {state_label} | {total:,.0f} | {kern:,.0f} | "
                        f"{'%.3fx' % ratio if ratio else '-'} | {spread * 100:.2f} % |")
            target, met = None, None
            if stock and (op, state) in TARGETS and ratio:
                most, aim = TARGETS[(op, state)]
                target = f"<= {most}x" + (f" (aim {aim}x)" if aim else "")
                met = ratio <= most
            print(json.dumps({"group": f"icount {kernel}", "name": f"{op_label}, {state_label}: insns/op",
                              "value": round(total), "unit": "insns", "target": None, "met": None}))
            if ratio and state != "unloaded":
                print(json.dumps({"group": f"icount {kernel}", "name": f"{op_label}, {state_label}: ratio",
                                  "value": round(ratio, 3), "unit": "x", "target": target, "met": met}))
    # Target: witness's capture of an open costs no more than the peer's
    # with the cheapest attach BPF has (fexit) for the same capture.
    if ("draining", "open") in medians and ("bpftrace-fexit", "open") in medians:
        vs = medians[("draining", "open")] / medians[("bpftrace-fexit", "open")]
        print(json.dumps({"group": f"icount {kernel}",
                          "name": "open+close, witness draining / bpftrace fexit (full path): ratio",
                          "value": round(vs, 3), "unit": "x", "target": "<= 1.0x", "met": vs <= 1.0}))
    notes = []
    for state, state_label in STATES:
        runs = peer.get(state, [])
        attach = [int(r["attached_ms"]) / 1000 for r in runs if "attached_ms" in r]
        recs = [int(r["records"]) for r in runs if "records" in r]
        lost = sum(int(r.get("lost", 0)) for r in runs)
        if attach or recs:
            notes.append(f"- {state_label}: attached in {min(attach, default=0):.0f} to {max(attach, default=0):.0f} s "
                         f"(guest clock), {min(recs, default=0):,} to {max(recs, default=0):,} records printed per boot, "
                         f"{lost} lost")
    with open(table, "w") as f:
        f.write(f"Guest instructions per operation on CPU 0, kernel `{kernel}` "
                f"(median of {len(boots)} boots, each the median of its rounds):\n\n" + "\n".join(rows) + "\n")
        if notes:
            f.write("\nThe eBPF peer (module not loaded; bpftrace on CPU 1 printing each record to a file):\n\n"
                    + "\n".join(notes) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 5 or len(sys.argv) % 2 == 0:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
