#!/usr/bin/env bash
# Sixth session, second device call: honest work across KernelBench level 1 at full size (each problem's
# own Model as the candidate, from problem START), then the real-problem set (GPU MODE pmpp_v2 correct and
# wrong solutions, KernelBench ReLU/Softmax, torch.compile candidates) with what time is left.
# Needs .realprobs carried. Logs in $OUT/logs.
set -uo pipefail
# shellcheck source=bench/harness/device_env.sh
source "$(dirname "$0")/device_env.sh"
SWEEP_S=${SWEEP_S:-300}
(cd bench/harness && OUT="$L" timeout "$((SWEEP_S + 60))" python3 kernelbench_sweep.py "$PWD/../../.realprobs" \
  --start "${START:-1}" --budget "$SWEEP_S" > "$L/sweep.log" 2> "$L/sweep.err")
echo "sweep: exit $?"; tail -n 60 "$L/sweep.err"; tail -n 1 "$L/sweep.log"
left=$((BUDGET - SECONDS - 20))
[ "$left" -gt 60 ] || exit 0
export TORCH_EXTENSIONS_DIR=/tmp/te
(cd bench/harness && OUT="$L" timeout "$left" python3 real_problems.py "$PWD/../../.realprobs" "$PWD/../../.realprobs" \
  --planned --budget "$((left - 40))" > "$L/real.log" 2> "$L/real.err")
echo "real: exit $?"; tail -n 40 "$L/real.err"; tail -n 1 "$L/real.log"
