#!/usr/bin/env bash
# Second device call of the fifth session: the honest candidates the gpu tests failed (rowsum torch and
# Triton, matmul Triton) through the CLI with their flags, then the gpu tests the first call did not reach.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
export PATH="/usr/local/cuda/bin:$PATH" PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 GPU_HARNESS_CACHE=/tmp/ghc MAX_JOBS=16
L="$OUT"
R=tests/harness/fixtures/gpumode/rowsum_py
for c in submission_torch submission_triton; do
  timeout 90 python3 -m gpu_harness smoke $R $R/$c.py --mode both --json > "$L/rowsum_$c.json" 2> "$L/rowsum_$c.err"; echo "rowsum $c exit $?"
done
timeout 90 python3 -m gpu_harness smoke kernels/matmul kernels/matmul/examples/submission_triton.py --mode both --json > "$L/matmul_triton.json" 2> "$L/matmul_triton.err"; echo "matmul exit $?"
# the one-call fixed cost, measured before the candidate loads (judge_null_ms), beside the one-call rounds
# of an honest Triton vectoradd and of the four-stream overlap cheat: how tight a bound it would allow
for c in kernels/vectoradd/examples/submission_triton.py tests/harness/candidates/gpu/concurrent_batches.py; do
  timeout 90 python3 -m gpu_harness smoke kernels/vectoradd "$c" --mode both --json > "$L/null_$(basename "$c" .py).json" 2>/dev/null; echo "null-cost $c exit $?"
done
for f in "$L"/*.json; do python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1], d["status"], d.get("flags"), d.get("error"), [(c["name"], c.get("reason"), (c.get("message") or "")[:200]) for c in d.get("cases", []) if not c.get("passed")], [(t.get("case"), (t.get("candidate") or {}).get("median_ms"), (t.get("candidate") or {}).get("judge_ms"), (t.get("candidate") or {}).get("judge_single_ms"), (t.get("candidate") or {}).get("judge_null_ms"), t.get("judge_calls")) for t in d.get("timing", [])], d.get("notes"))' "$f"; done
[ -n "${NO_REST:-}" ] && exit 0
timeout "$((${BUDGET:-400} - SECONDS))" python3 -m pytest tests/harness -m gpu --confcutdir=tests/harness -p no:cacheprovider -q -rfs --tb=short -k "jail or test_judge or profile_gpu or time_plan or out_of_memory or persisting" > "$L/gpu_tests_rest.log" 2>&1; echo "rest exit $?"
tail -n 40 "$L/gpu_tests_rest.log"
