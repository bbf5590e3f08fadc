#!/usr/bin/env bash
# The whole GPU part of issue 4, in one device call: environment, A/A, fidelity vs ncu, latency,
# then the gpu_harness test suite with its gpu-marked tests. Logs land in $OUT.
# Usage (on the GPU host, repo root): OUT=/some/dir bash bench/harness/gpu_suite.sh [parts...]
# Parts: info aa fidelity latency tests (default: all). Never changes clocks (ncu --clock-control none).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-.bench}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-/tmp/torch_extensions}" MAX_JOBS="${MAX_JOBS:-16}"
export GPU_HARNESS_CACHE="${GPU_HARNESS_CACHE:-/tmp/gpu_harness_cache}"
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(info aa fidelity latency tests)
for part in "${parts[@]}"; do
  start=$(date +%s)
  case "$part" in
    info)     { date -u; nvidia-smi; python3 -m gpu_harness info --json; } > "$OUT/info.log" 2>&1 ;;
    aa)       timeout 150 python3 bench/harness/aa.py > "$OUT/aa.log" 2>&1 ;;
    fidelity) timeout 180 python3 bench/harness/fidelity.py > "$OUT/fidelity.log" 2>&1 ;;
    latency)  timeout 150 python3 bench/harness/latency.py > "$OUT/latency.log" 2>&1 ;;
    tests)    timeout "${TESTS_TIMEOUT:-300}" python3 -m pytest tests/harness --confcutdir=tests/harness -q -rs -p no:cacheprovider --durations=15 \
                > "$OUT/pytest.log" 2>&1 ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
  echo "part $part: exit $? in $(( $(date +%s) - start )) s"
done
