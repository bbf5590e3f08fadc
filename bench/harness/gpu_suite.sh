#!/usr/bin/env bash
# The whole GPU part of issues 4 and 8, in one device call (<= 9 minutes): environment, the field's
# real problems (GPU MODE pmpp_v2, KernelBench level 1), warm latency, A/A, fidelity vs ncu, then the
# gpu_harness test suite with its gpu-marked tests. Logs land in $OUT.
# Usage (on the GPU host, repo root):
#   OUT=/some/dir GPU_MODE_REPO=/path/reference-kernels KERNELBENCH_REPO=/path/KernelBench \
#     bash bench/harness/gpu_suite.sh [parts...]
# Parts: info real latency aa fidelity tests conventions judge (default: all but judge; `real` needs the
# two repos; `judge`: every cheat and honest kernel through the judge, bench/harness/judge_suite.py).
# `tests` runs the gpu-marked tests; `conventions` the CPU tests of issue 8 (output buffers, checker
# authority, threads, budgets) again on the GPU.
# Never changes clocks (ncu --clock-control none).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
OUT="${OUT:-.bench}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-/tmp/torch_extensions}" MAX_JOBS="${MAX_JOBS:-16}"
export GPU_HARNESS_CACHE="${GPU_HARNESS_CACHE:-/tmp/gpu_harness_cache}"
read -ra test_paths <<< "${TESTS_PATHS:-tests/harness}"  # the gpu-marked tests of these paths
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(info real latency aa fidelity tests conventions)
for part in "${parts[@]}"; do
  start=$(date +%s)
  case "$part" in
    info)     { date -u; nvidia-smi; python3 -m gpu_harness info --json; } > "$OUT/info.log" 2>&1 ;;
    real)     if [ -n "${GPU_MODE_REPO:-}" ] && [ -n "${KERNELBENCH_REPO:-}" ]; then
                # shellcheck disable=SC2086  # REAL_ARGS is a list of options
                timeout "${REAL_TIMEOUT:-270}" python3 bench/harness/real_problems.py "$GPU_MODE_REPO" "$KERNELBENCH_REPO" ${REAL_ARGS:---budget 240} \
                  > "$OUT/real_problems.log" 2>&1
              else
                echo "real: set GPU_MODE_REPO and KERNELBENCH_REPO" > "$OUT/real_problems.log"
              fi ;;
    aa)       timeout 45 python3 bench/harness/aa.py > "$OUT/aa.log" 2>&1 ;;
    judge)    timeout "${JUDGE_TIMEOUT:-420}" python3 bench/harness/judge_suite.py > "$OUT/judge_suite.log" 2>&1 ;;
    fidelity) timeout 45 python3 bench/harness/fidelity.py > "$OUT/fidelity.log" 2>&1 ;;
    latency)  timeout "${LATENCY_TIMEOUT:-110}" python3 bench/harness/latency.py > "$OUT/latency.log" 2>&1 ;;
    tests)    timeout "${TESTS_TIMEOUT:-240}" python3 -m pytest "${test_paths[@]}" -m gpu --confcutdir=tests/harness -q -rs -p no:cacheprovider --durations=15 \
                > "$OUT/pytest.log" 2>&1 ;;
    conventions) timeout 50 python3 -m pytest tests/harness/test_conventions.py tests/harness/test_budgets.py \
                --confcutdir=tests/harness -q -rs -p no:cacheprovider > "$OUT/conventions.log" 2>&1 ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
  echo "part $part: exit $? in $(( $(date +%s) - start )) s"
done
