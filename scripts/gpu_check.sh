#!/usr/bin/env bash
# The one command for a GPU machine: install the CUDA builds, then measure the GPU paths (scripts/gpu_check.py).
#   bash scripts/gpu_check.sh [OUT_DIR] [--quick]
# Writes OUT_DIR/<step>.json and OUT_DIR/summary.json (default gpu_check/). On a machine without CUDA it runs
# the steps that need none and says, for every other step, that it needs CUDA. INSTALL=0 uses the packages
# already installed (an offline machine: what is missing is reported per step, never installed).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check}
shift || true
PYTHON=${PYTHON:-python3}
if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
has_cuda() { "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; }
if [ "${INSTALL:-1}" = 1 ] && command -v nvidia-smi >/dev/null 2>&1 && ! has_cuda; then
  echo "gpu_check: installing the CUDA builds (TORCH_SPEC=torch VLLM_SPEC=vllm)"
  TORCH_SPEC=torch VLLM_SPEC=vllm bash scripts/setup.sh || echo "gpu_check: install failed (offline?); going on with what is installed"
  [ -x .venv/bin/python ] && PYTHON=.venv/bin/python
fi
has_cuda || echo "gpu_check: no CUDA device here; the steps that need one are recorded as skipped"
exec timeout "${GPU_CHECK_SECONDS:-480}" "$PYTHON" scripts/gpu_check.py --out "$OUT" "$@"
