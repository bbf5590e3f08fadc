#!/usr/bin/env bash
# One device call (under 9 minutes) for the fifth session of 2026-12-07: the out-of-memory fault test
# alone with its traceback (it failed on the H100 in the fourth session), back-to-back latency after
# the compile-cache merge fix, a load_inline candidate cold then warm through its store, then the rest
# of the gpu-marked tests with what time is left. Logs in $OUT/logs.
set -uo pipefail
# shellcheck source=bench/harness/device_env.sh
source "$(dirname "$0")/device_env.sh"
pytest_gpu=(python3 -m pytest tests/harness -m gpu --confcutdir=tests/harness -p no:cacheprovider)
start=$SECONDS
timeout 120 "${pytest_gpu[@]}" -q -rfs --tb=long -k "out_of_memory" > "$L/oom_test.log" 2>&1
echo "oom test: exit $? in $((SECONDS - start)) s"
tail -n 5 "$L/oom_test.log"
OUT="$L" LATENCY_SPARES=2 timeout "${LATENCY_TIMEOUT:-110}" python3 bench/harness/latency.py > "$L/latency.log" 2>&1
echo "latency: exit $?"
tail -n 8 "$L/latency.log"
bash bench/harness/cuda_inline_twice.sh "$L"
left=$((BUDGET - SECONDS))
echo "gpu tests with ${left} s"
timeout "$left" "${pytest_gpu[@]}" -q -rfs --tb=short -k "not out_of_memory" --durations=10 > "$L/gpu_tests.log" 2>&1
echo "gpu tests: exit $?"
tail -n 30 "$L/gpu_tests.log"
