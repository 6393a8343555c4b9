#!/usr/bin/env bash
# Time textgan and a PyTorch implementation of the same model on this machine, alternating
# the two programs, and print the medians as a Markdown table.
#
#   scripts/bench-vs-pytorch.sh PYTHON TORCH_SCRIPT [ROUNDS] [DIMS...]
#
# PYTHON is an interpreter with torch installed; TORCH_SCRIPT a PyTorch WGAN-GP language model
# that accepts --corpus --dim --critic-iters --threads --warmup --iters (and --bf16) and ends
# its output with a JSON line holding median_iter_s and peak_rss_mb. textgan is timed without
# the generator's weight average and read-out (`--ema 0 --autoregressive 0`), as the same step. Run on a quiet machine:
# another busy process can double a 2-thread timing.
#
# Environment: BF16=1 also times PyTorch's bf16 autocast; PRECISION=bf16 also times textgan's
# bf16 products (`--precision bf16`); RES_BLOCKS (default 5) and CRITIC_ITERS (default 10) set
# the shape, e.g. `RES_BLOCKS=3 CRITIC_ITERS=5 … 32` for the `cpu` preset's step; TEXTGAN the
# binary (default: `cargo build --release` and the binary cargo reports).
set -euo pipefail
python=${1:?usage: $0 PYTHON TORCH_SCRIPT [ROUNDS] [DIMS...]}
script=${2:?usage: $0 PYTHON TORCH_SCRIPT [ROUNDS] [DIMS...]}
rounds=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
dims=("$@")
[ ${#dims[@]} -gt 0 ] || dims=(128 512)
corpus=corpora/wordnet.txt
threads=$(nproc)
blocks=${RES_BLOCKS:-5}
critic=${CRITIC_ITERS:-10}
if [ -n "${TEXTGAN:-}" ]; then
  bin=$TEXTGAN
else
  # Where cargo put it (CARGO_TARGET_DIR and profiles respected).
  bin=$(cargo build --release --message-format=json-render-diagnostics 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "textgan":
        print(m["executable"])' | tail -1)
fi
log=$(mktemp)
for dim in "${dims[@]}"; do
  # Fewer iterations at the paper's width: one takes half a minute on two cores.
  if [ "$dim" -ge 512 ]; then warm=1; iters=3; else warm=2; iters=7; fi
  for round in $(seq "$rounds"); do
    echo "dim $dim round $round/$rounds" >&2
    shape=(--corpus "$corpus" --dim "$dim" --res-blocks "$blocks" --critic-iters "$critic")
    "$bin" bench "${shape[@]}" --ema 0 --autoregressive 0 --warmup "$warm" --iters "$iters" --json \
      | sed "s/^/textgan $dim /" >>"$log"
    if [ "${PRECISION:-f32}" = bf16 ]; then
      "$bin" bench "${shape[@]}" --ema 0 --autoregressive 0 --warmup "$warm" --iters "$iters" --json --precision bf16 \
        | sed "s/^/textgan-bf16 $dim /" >>"$log"
    fi
    "$python" "$script" "${shape[@]}" \
      --threads "$threads" --warmup "$warm" --iters "$((warm + iters))" | tail -1 | sed "s/^/pytorch $dim /" >>"$log"
    if [ "${BF16:-0}" = 1 ]; then
      "$python" "$script" "${shape[@]}" --threads "$threads" \
        --warmup "$warm" --iters "$((warm + iters))" --bf16 | tail -1 | sed "s/^/pytorch-bf16 $dim /" >>"$log"
    fi
  done
done
python3 - "$log" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, dim, js = line.split(" ", 2)
    r = json.loads(js)
    secs = r.get("generator_iteration_s", r.get("median_iter_s"))
    runs.setdefault((int(dim), who), []).append((secs, r.get("peak_rss_mb")))
print("| width | program | s / generator iteration (median of rounds) | rounds | peak RSS MB | textgan / this |")
print("|---|---|---|---|---|---|")
for (dim, who) in sorted(runs):
    secs = statistics.median(s for s, _ in runs[(dim, who)])
    rss = max((m for _, m in runs[(dim, who)] if m is not None), default=None)
    ours = statistics.median(s for s, _ in runs.get((dim, "textgan"), [(float("nan"), None)]))
    print(f"| {dim} | {who} | {secs:.3f} | {len(runs[(dim, who)])} | {rss:.0f} | {ours / secs:.2f} |")
PY
rm -f "$log"
