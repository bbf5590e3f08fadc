#!/usr/bin/env bash
# A load_inline candidate through two fresh processes: the first compiles (nvcc), the second must load
# from its compile-cache store. Logs in the folder $1. Called by the device_call_*.sh scripts.
set -uo pipefail
L="$1"
for round in cold warm; do
  start=$SECONDS
  timeout 150 python3 -m gpu_harness smoke kernels/softmax kernels/softmax/examples/submission_cuda_inline.py --mode test --json \
    > "$L/cuda_inline_$round.json" 2> "$L/cuda_inline_$round.err"
  echo "cuda_inline $round: exit $? in $((SECONDS - start)) s"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ", d["status"], d.get("stage_s"), (d.get("error") or {}).get("message", "")[:300])' "$L/cuda_inline_$round.json"
done
