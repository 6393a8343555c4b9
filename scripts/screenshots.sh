#!/usr/bin/env bash
# The page's screenshots in docs/img (docs/serve.md, the README), from the release build:
# `textgan serve models docs` in headless Chromium (training models/wordnet-3min first, 3
# minutes, if it is not there). Needs Debian's chromium and
# `npm ci --prefix tests/browser`. Prints the time to the first page and to 100 samples.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
export TEXTGAN_BIN="${CARGO_TARGET_DIR:-target}/release/textgan"
# A run of the default command with every curve recorded, beside the shipped model.
[ -f models/wordnet-3min/state.json ] ||
  "$TEXTGAN_BIN" train corpora/wordnet.txt --out models/wordnet-3min --minutes 3 --no-tui --quiet
node tests/browser/screenshots.mjs docs/img
