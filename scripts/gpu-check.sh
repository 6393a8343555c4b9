#!/usr/bin/env bash
# Does textgan work on this machine's NVIDIA GPU? About ten minutes; prints one table.
#
#   scripts/gpu-check.sh [PEER_SCRIPT [PYTHON]]
#
# Run from the project's root on a machine with a CUDA GPU, its driver, and the CUDA toolkit
# (nvcc on the PATH, or CUDA_HOME set; CUDA_COMPUTE_CAP is read from nvidia-smi when unset).
# PEER_SCRIPT is a PyTorch implementation of the same model for the speed rows (it accepts
# --corpus --dim --critic-iters --res-blocks --warmup --iters --device cuda and --bf16, and ends
# its output with a JSON line holding median_iter_s); PYTHON an interpreter with torch (default
# python3). Without PEER_SCRIPT those rows are skipped.
#
# What it checks, in order (it stops at the first failure, with that step's output):
#   1. the build with `--features cuda`;
#   2. the autograd path's gradients against finite differences, and the hand-written CPU
#      step against autograd, with the autograd networks on the GPU (TEXTGAN_TEST_DEVICE=cuda);
#   3. two minutes of `--preset paper` training on the GPU: JSD-4 must fall;
#   4. the step's speed at the paper's width (`bench --dim 512`), beside the peer's f32 and bf16.
set -euo pipefail
peer=${1:-}
[ -z "$peer" ] || peer=$(realpath "$peer")
cd "$(dirname "$0")/.."
python=${2:-python3}
corpus=corpora/wordnet.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=()
row() { rows+=("| $1 | $2 | $3 |"); echo "== $1: $3" >&2; }
fail() { echo "gpu-check: $1 failed (output above)" >&2; exit 1; }

if [ -z "${CUDA_COMPUTE_CAP:-}" ] && command -v nvidia-smi >/dev/null 2>&1; then
  CUDA_COMPUTE_CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
  export CUDA_COMPUTE_CAP
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
echo "GPU: ${gpu:-unknown (no nvidia-smi)}; compute capability ${CUDA_COMPUTE_CAP:-unknown}" >&2

# 1. Build.
start=$SECONDS
cargo build --release --features cuda || fail "the CUDA build"
cargo test --release --features cuda --no-run || fail "building the tests with CUDA"
row build "cargo build --release --features cuda" "ok ($((SECONDS - start)) s)"
bin=$(cargo build --release --features cuda --message-format=json-render-diagnostics 2>/dev/null \
  | "$python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "textgan":
        print(m["executable"])' | tail -1 || true)
[ -x "$bin" ] || fail "finding the built binary"

# 2. Gradients and equality with the networks on the GPU.
start=$SECONDS
TEXTGAN_TEST_DEVICE=cuda cargo test --release --features cuda \
  --test gradients --test penalties --test hand_written || fail "the gradient and equality tests on CUDA"
row "tests on CUDA" "gradients, penalties, hand_written (TEXTGAN_TEST_DEVICE=cuda)" "pass ($((SECONDS - start)) s)"

# 3. Two minutes of the paper's settings on the GPU.
run=$work/run
"$bin" train "$corpus" --device cuda --preset paper --minutes 2 --eval-every 25 \
  --out "$run" --no-tui --format json >"$work/train.jsonl" || fail "training on CUDA"
jsd=$("$python" - "$run/metrics.jsonl" <<'EOF'
import json, sys
js = [json.loads(l)["js"][3] for l in open(sys.argv[1]) if l.strip()]
print(f"{js[0]:.3f} {js[-1]:.3f} {len(js)}")
EOF
) || fail "reading the run's metrics.jsonl"
read -r first last evals
[ "$evals" -ge 2 ] || fail "evaluating at least twice in 2 minutes (got $evals)" <<<"$jsd"
iters=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["iteration"])' "$run/state.json")
"$python" -c "import sys; sys.exit(0 if $last < $first else 1)" \
  || fail "JSD-4 falling during training (it went $first -> $last)"
row "train, --preset paper, 2 min" "$iters iterations, $evals evaluations" "JSD-4 $first -> $last"

# 4. Speed at the paper's width, beside the peer (the paper's step: no average, no read-out).
shape=(--dim 512 --res-blocks 5 --critic-iters 10 --ema 0 --autoregressive 0)
secs=$("$bin" bench --device cuda --corpus "$corpus" "${shape[@]}" --warmup 2 --iters 7 --format json \
  | "$python" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["generator_iteration_s"])') \
  || fail "bench on CUDA"
row "textgan bench, width 512, f32" "s per generator iteration (10 critic steps)" "$secs"
if [ -n "$peer" ]; then
  for bf16 in "" --bf16; do
    peer_secs=$("$python" "$peer" --corpus "$corpus" "${shape[@]}" --device cuda --warmup 2 --iters 9 $bf16 \
      | "$python" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["median_iter_s"])') \
      || fail "the PyTorch peer on CUDA${bf16:+ ($bf16)}"
    label=f32; [ -z "$bf16" ] || label="bf16 autocast"
    row "PyTorch peer, width 512, $label" "s per generator iteration (its --iters counts the warm-up)" "$peer_secs"
  done
fi

echo
echo "textgan on ${gpu:-this GPU}"
echo
echo "| check | what | result |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
