#!/usr/bin/env bash
# The next session's first device call (under 9 minutes): whether the hand-back lookup fix (2026-12-08)
# clears the honest candidates flagged at 64 MB input sets (rowsum torch and Triton, the Triton matmul,
# with their per-case claims and judge's batches), then the gpu-marked tests this session never reached
# (the time plan's two), then latency, then every gpu-marked test with what time is left. Logs in $OUT/logs.
set -uo pipefail
# shellcheck source=bench/harness/device_env.sh
source "$(dirname "$0")/device_env.sh"
OUT="$L" NO_REST=1 bash bench/harness/device_call_3.sh
pytest_gpu=(python3 -m pytest tests/harness -m gpu --confcutdir=tests/harness -p no:cacheprovider -q -rfs --tb=short)
timeout 150 "${pytest_gpu[@]}" -k "time_plan" > "$L/time_plan.log" 2>&1
echo "time plan tests: exit $?"; tail -n 5 "$L/time_plan.log"
OUT="$L" LATENCY_SPARES=2 timeout 110 python3 bench/harness/latency.py > "$L/latency.log" 2>&1
echo "latency: exit $?"; tail -n 8 "$L/latency.log"
timeout "$((BUDGET - SECONDS))" "${pytest_gpu[@]}" -x -k "not time_plan" > "$L/gpu_tests.log" 2>&1
echo "gpu tests: exit $?"; tail -n 30 "$L/gpu_tests.log"
