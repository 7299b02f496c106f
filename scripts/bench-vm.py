#!/usr/bin/env python3
"""Turns the WITNESS-BENCH lines of the bench VM's console log
(scripts/guest/bench.sh) into figure lines for scripts/bench.sh:
{"group", "name", "value", "unit", "target", "met"} per line, on stdout.

  python3 scripts/bench-vm.py target/witness/plain/bench.log
"""
import json
import sys


def fields(line):
    kind, *rest = line.split()
    return kind, dict(kv.split("=", 1) for kv in rest if "=" in kv)


def figure(group, name, value, unit, target=None, met=None):
    print(json.dumps({"group": group, "name": name, "value": value, "unit": unit, "target": target, "met": met}))


def main(path):
    overhead, hooks, storms, accounting = {}, [], [], None
    for raw in open(path, errors="replace"):
        if not raw.startswith("WITNESS-BENCH "):
            continue
        kind, f = fields(raw[len("WITNESS-BENCH "):].strip())
        if kind == "overhead":
            overhead[(f["state"], f["op"])] = float(f["ns"])
        elif kind == "hook":
            hooks.append(f)
        elif kind == "storm":
            storms.append(f)
        elif kind == "accounting":
            accounting = f
    if not overhead:
        sys.exit(f"{path}: no WITNESS-BENCH overhead lines")

    for op in ["getpid", "open", "connect", "fork-exec"]:
        base = overhead.get(("unloaded", op))
        if base is None:
            continue
        figure("overhead", f"{op} ns, module unloaded", base, "ns")
        for state, label in [("recording-off", "loaded, every kind off"),
                             ("recording-kernel", "all hooks recording, rings drained after"),
                             ("recording-on", "all hooks on + witness run")]:
            v = overhead.get((state, op))
            if v is None:
                continue
            ratio = round(v / base, 3)
            figure("overhead", f"{op} ns, {label}", v, "ns")
            if op == "open" and state == "recording-on":
                figure("overhead", f"{op} ratio, {label}", ratio, "x unloaded", "<= 1.2", ratio <= 1.2)
            else:
                figure("overhead", f"{op} ratio, {label}", ratio, "x unloaded")
    for h in hooks:
        figure("overhead", f"hook {h['name']}: mean cost in the module", float(h["avg_ns"]), "ns/hit")

    clean = [s for s in storms if int(s["dropped"]) == 0]
    if clean:
        best = max(clean, key=lambda s: int(s["achieved"]))
        figure("loss", "highest open rate without drops", float(best["achieved"]), "opens/s")
        if best["rate"] != "max":
            # Only a step that really ran at about twice the rate counts.
            twice = [s for s in storms if s["rate"] == str(2 * int(best["rate"]))
                     and int(s["achieved"]) >= 1.8 * int(best["achieved"])]
            for s in twice:
                d, p = int(s["dropped"]), int(s["produced"])
                figure("loss", f"drop fraction at twice that rate ({s['achieved']}/s achieved)",
                       round(d / max(d + p, 1), 4), "fraction")
    for s in storms:
        if s["rate"] == "max":
            d, p = int(s["dropped"]), int(s["produced"])
            figure("loss", "open storm at full speed", float(s["achieved"]), "opens/s")
            figure("loss", "drop fraction at full speed", round(d / max(d + p, 1), 4), "fraction")
            if "collector_ticks" in s:
                # 4 s of storm and drain; clock ticks are 1/100 s.
                busy = int(s["collector_ticks"]) / 100 / 4
                figure("loss", "witness run CPU during it (one vCPU = 1)", round(busy, 3), "CPUs")
                if busy > 0:
                    figure("loss", "records witness run drains per CPU-second (in the VM)", round(p / (busy * 4)),
                           "records/s")
    if accounting:
        gaps = accounting["gaps"]
        dropped = int(accounting["dropped"])
        ok = gaps != "missing" and int(gaps) == dropped
        figure("loss", "kernel drops", float(dropped), "records")
        figure("loss", "collector sequence gaps", float(gaps) if gaps != "missing" else None, "records",
               "== kernel drops", ok)


if __name__ == "__main__":
    main(sys.argv[1])
