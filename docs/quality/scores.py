#!/usr/bin/env python3
"""Print a sweep's results as the Markdown table of docs/quality/README.md: for every run,
at every mark, the iteration, the averaged generator's JSD-4 and valid words, and the raw
generator's on the same noise (the `raw` scores every --ema evaluation records).

    python3 docs/quality/scores.py SWEEP_DIR [SWEEP_DIR ...]

With `--per-iteration`, instead: every run's JSD-4 (the mean of the evaluations within 200
iterations either side, to smooth the evaluation noise) at iterations 1 000, 2 000, …: the
comparison per iteration, free of each run's speed.

    python3 docs/quality/scores.py --per-iteration SWEEP_DIR [SWEEP_DIR ...]
"""
import json
import sys
from pathlib import Path


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def per_iteration(dirs) -> int:
    runs = [json.loads(f.read_text()) for d in dirs for f in sorted(Path(d, "results").glob("*.json"))]
    last = max(r["iterations"] for r in runs)
    marks = list(range(1000, last + 1, 1000))
    print("| run | " + " | ".join(f"{m}" for m in marks) + " |")
    print("|---|" + "---|" * len(marks))
    for r in runs:
        cells = []
        for m in marks:
            near = [e["js"][3] for e in r["metrics"] if abs(e["iteration"] - m) <= 200]
            cells.append(f"{sum(near) / len(near):.3f}" if near and m <= r["iterations"] else "–")
        print(f"| {r['name']} (seed {r['seed']}) | " + " | ".join(cells) + " |")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--per-iteration"]:
        return per_iteration(sys.argv[2:])
    print("| run | minutes | iteration | JSD-4 | valid words | raw JSD-4 | raw valid words |")
    print("|---|---|---|---|---|---|---|")
    for d in sys.argv[1:]:
        for f in sorted(Path(d, "results").glob("*.json")):
            r = json.loads(f.read_text())
            for mark in r["marks"]:
                # The evaluation the mark was read from: the first at or after it.
                m = next(m for m in r["metrics"] if m["iteration"] == mark["iteration"])
                raw = m.get("raw") or {}
                print(
                    f"| {r['name']} (seed {r['seed']}) | {mark['minutes']:g} | {mark['iteration']} "
                    f"| {mark['js'][3]:.3f} | {pct(mark['valid_word_rate'])} "
                    f"| {raw['js'][3]:.3f} | {pct(raw.get('valid_word_rate'))} |"
                    if raw
                    else f"| {r['name']} (seed {r['seed']}) | {mark['minutes']:g} | {mark['iteration']} "
                    f"| {mark['js'][3]:.3f} | {pct(mark['valid_word_rate'])} | – | – |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
