#!/usr/bin/env bash
# One device call for the judge and time-plan issues: sanity smokes first (fail fast: if the candidate's
# confinement breaks CUDA, Triton or nvcc, nothing else is worth the device time), then the parts of
# gpu_suite.sh named on the command line. Logs are packed into $OUT/session.tgz (the device returns at
# most 8 files). Usage: OUT=/dir bash bench/harness/gpu_session.sh judge real latency ...
# The whole run owed to issues 18, 25 and 21 item 4 (one device call, under 10 minutes):
#   JUDGE_TIMEOUT=160 REAL_TIMEOUT=160 REAL_ARGS="--planned --budget 145" LATENCY_TIMEOUT=100 \
#     TESTS_PATHS=tests/harness/test_time_plan.py bash bench/harness/gpu_session.sh info judge real tests latency
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
OUT="${OUT:?set OUT}"
logs="$OUT/logs"
mkdir -p "$logs"
export PATH="/usr/local/cuda/bin:$PATH" PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR=/tmp/te MAX_JOBS=16 GPU_MODE_REPO="$PWD/.realprobs" KERNELBENCH_REPO="$PWD/.realprobs"
pack() { tar -czf "$OUT/session.tgz" -C "$logs" . ; }
trap pack EXIT
timeout 120 python3 bench/harness/confine_probe.py > "$logs/confine_probe.log" 2>&1
grep -E '^(none|as_shipped|without|with_all)' "$logs/confine_probe.log"
sanity_ok=1
for pair in vectoradd:submission_triton.py softmax:submission_cuda_inline.py; do
  problem="kernels/${pair%%:*}" candidate="kernels/${pair%%:*}/examples/${pair#*:}"
  start=$(date +%s)
  timeout 100 python3 -m gpu_harness smoke "$problem" "$candidate" --json > "$logs/sanity_${pair%%:*}.json" 2> "$logs/sanity_${pair%%:*}.err"
  rc=$?
  echo "sanity $pair: exit $rc in $(( $(date +%s) - start )) s"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ", d["status"], d.get("isolation"), [f["name"] for f in d.get("flags", [])], (d.get("error") or {}).get("message", "")[:300])' "$logs/sanity_${pair%%:*}.json" || sanity_ok=0
  [ $rc -eq 0 ] || sanity_ok=0
done
[ $sanity_ok -eq 1 ] || { echo "sanity failed: stopping"; tail -n 30 "$logs"/sanity_*.err; exit 1; }
OUT="$logs" bash bench/harness/gpu_suite.sh "$@"
