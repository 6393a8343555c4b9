#!/usr/bin/env bash
# Writes tests/data/run-0.1 with a given textgan binary: a tiny run checkpointed at iteration 8,
# what that binary's own `--resume` makes of it at iteration 12, and the shipped model's text
# for two seeds. tests/run_format.rs checks that the current build resumes and generates the
# same. Run it only to record a new run-directory format on purpose (the fixture in the tree
# was written by textgan 0.1.0 at commit e26f322):
#   scripts/make-run-fixture.sh path/to/old/textgan
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:?usage: scripts/make-run-fixture.sh TEXTGAN_BINARY}"
out=tests/data/run-0.1
rm -rf "$out" && mkdir -p "$out"
# 0.1.0 had no read-out, read samples from the noise as drawn and had width-5 convolutions; a
# binary whose cpu preset differs needs them set to write the same run (tests/run_format.rs
# trains with --autoregressive 0 --truncation 1 --kernel 5 for the same reason).
off=()
help=$("$bin" train --help)
if grep -q -- --autoregressive <<<"$help"; then off+=(--autoregressive 0); fi
if grep -q -- --truncation <<<"$help"; then off+=(--truncation 1); fi
if grep -q -- --kernel <<<"$help"; then off+=(--kernel 5); fi
# dim 4, batch 16, 2 critic steps: 32 lines an iteration, so the 270 training lines of the tiny
# corpus last 8.4 iterations and the resumed part starts a new epoch of the data order.
"$bin" train corpora/tiny.txt --out "$out/checkpoint" --dim 4 --batch 16 --critic-iters 2 \
    --iters 8 --eval-every 4 --ema 0.5 --precision f32 --seed 11 --no-tui ${off[@]+"${off[@]}"}
rm -f "$out/checkpoint/textgan.lock"
cp -r "$out/checkpoint" "$out/resumed"
"$bin" train corpora/tiny.txt --resume --out "$out/resumed" --iters 12 --no-tui
# Of the resumed run, only what the test compares.
(cd "$out/resumed" && rm -f textgan.lock optimizer.safetensors best_generator.safetensors \
    tokenizer.json config.json && find samples -type f ! -name 000012.txt -delete)
# The model shipped with that release (from its commit: models/wordnet-small has been
# retrained since), with the files `generate` reads.
mkdir -p "$out/shipped-model"
for f in best.json best_generator.safetensors config.json tokenizer.json; do
    git show "e26f322:models/wordnet-small/$f" >"$out/shipped-model/$f"
done
"$bin" generate --model "$out/shipped-model" -n 64 --seed 7 >"$out/generate-seed-7.txt"
"$bin" generate --model "$out/shipped-model" -n 64 --seed 3 --temperature 0.8 \
    >"$out/generate-seed-3-temperature-0.8.txt"
du -sh "$out"
