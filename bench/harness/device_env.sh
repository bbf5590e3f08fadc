# shellcheck shell=bash
# Sourced by the device_call_*.sh scripts: the repository root, CUDA's tools on PATH, the harness's cache
# in /tmp (a fresh machine each time), logs in $OUT/logs ($L), the call's budget in seconds ($BUDGET).
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
export PATH="/usr/local/cuda/bin:$PATH" PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 GPU_HARNESS_CACHE=/tmp/ghc MAX_JOBS=16
L="$OUT/logs"
mkdir -p "$L"
BUDGET=${BUDGET:-540}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,memory.used --format=csv
