#!/usr/bin/env python3
"""Seconds per generator iteration of `textgan train` at several widths (median after warm-up).

Each configuration trains a fresh throw-away run on the given corpus for a few iterations with
JSON logs, and the median of the per-iteration times after the first two is reported.
Run on a quiet machine: other load changes the figures.

    python3 scripts/speed.py [--bin target/release/textgan] [--corpus corpora/wordnet.txt]
"""
import argparse
import json
import statistics
import subprocess
import tempfile

CONFIGS = [  # (label, extra flags, iterations)
    ("cpu preset (dim 32, 5 critic)", ["--preset", "cpu"], 22),
    ("dim 64, 5 critic", ["--dim", "64"], 12),
    ("dim 128, 10 critic", ["--dim", "128", "--critic-iters", "10"], 7),
    ("paper preset (dim 512, 10 critic)", ["--preset", "paper"], 5),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/textgan")
    ap.add_argument("--corpus", default="corpora/wordnet.txt")
    ap.add_argument("--only", help="substring of the configurations to run")
    a = ap.parse_args()
    print("| configuration | s / generator iteration (median) | iterations timed |")
    print("|---|---|---|")
    for label, flags, iters in CONFIGS:
        if a.only and a.only not in label:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [a.bin, "train", a.corpus, "--out", f"{tmp}/run", "--iters", str(iters),
                   "--log-format", "json", "--log-every", "1", "--sample-every", "100000",
                   "--save-every", "100000"] + flags
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        secs = [e["secs"] for e in map(json.loads, out.splitlines()) if e["event"] == "step"]
        timed = secs[2:]
        print(f"| {label} | {statistics.median(timed):.3f} | {len(timed)} |", flush=True)


if __name__ == "__main__":
    main()
