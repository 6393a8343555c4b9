#!/usr/bin/env bash
# Compile the CUDA build without a GPU: `cargo check --features cuda` with nvcc from PyPI's
# CUDA 13 wheels. candle-kernels' build script compiles its kernels with nvcc even for `check`;
# linking would need the GPU driver's library, so a check (every kernel, the library and the
# program compiled for CUDA) is the bar on a machine without one. The tests and benches hold
# no CUDA-only code (`make lint` checks them), so they are not checked a second time here.
#
#   scripts/check-cuda.sh        (make check-cuda; CI runs it)
#
# The toolkit lives in a virtual environment (CUDA_VENV, default target/cuda-venv: about
# 370 MB, kept between runs like the rest of target/). CUDA_COMPUTE_CAP (default 90, Hopper)
# is the architecture the kernels are compiled for; nothing here needs the GPU itself.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${CUDA_VENV:-target/cuda-venv}
toolkit="cuda-toolkit[nvcc,cccl]==13.4.3"
find_nvcc() { ls "$venv"/lib/python3*/site-packages/nvidia/cu13/bin/nvcc 2>/dev/null | head -1 || true; }
nvcc=$(find_nvcc)
if [ -z "$nvcc" ]; then
  echo "check-cuda: installing $toolkit into $venv" >&2
  # A venv, not `pip --target`: the latter skips packages whose nvidia/ folder already exists.
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$toolkit"
  nvcc=$(find_nvcc)
  [ -n "$nvcc" ] || { echo "check-cuda: $toolkit installed no nvcc under $venv" >&2; exit 1; }
fi
CUDA_HOME=$(cd "$(dirname "$nvcc")/.." && pwd)
export CUDA_HOME PATH="$CUDA_HOME/bin:$PATH"
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
echo "check-cuda: $("$nvcc" --version | tail -1), compute capability $CUDA_COMPUTE_CAP" >&2
start=$SECONDS
cargo check --features cuda --lib --bins
echo "check-cuda: cargo check --features cuda --lib --bins passed in $((SECONDS - start)) s" >&2
