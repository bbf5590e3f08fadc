#!/usr/bin/env bash
# Every GPU measurement of the project in two device calls (each under 10 minutes), logs under $OUT.
#   bash bench/gpu_all.sh harness   # gpu_harness: real problems, warm latency, A/A, ncu fidelity, gpu tests
#   bash bench/gpu_all.sh loop      # kernels/ table, the MCP loop (bench_loop), fan-out on this host's GPUs
# The real problems need GPU_MODE_REPO and KERNELBENCH_REPO (checkouts of gpu-mode/reference-kernels and
# ScalingIntelligence/KernelBench). The loop part needs the client's wheels installed on PYTHONPATH.
# Logs are packed into $OUT/<part>.tgz, since the device returns at most 8 files.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
OUT="${OUT:-.bench}"
part="${1:?usage: gpu_all.sh harness|loop}"
logs="$OUT/$part"
mkdir -p "$logs"
export PYTHONUNBUFFERED=1
case "$part" in
  harness)
    OUT="$logs" bash bench/harness/gpu_suite.sh info real latency aa fidelity tests ;;
  loop)
    start=$(date +%s)
    OUT="$logs" timeout 300 python3 bench/kernels/run_table.py > "$logs/kernels_table.log" 2>&1
    echo "kernels table: exit $? in $(( $(date +%s) - start )) s"; start=$(date +%s)
    OUT="$logs" timeout 200 python3 bench/bench_loop.py > "$logs/bench_loop.log" 2>&1
    echo "bench_loop: exit $? in $(( $(date +%s) - start )) s"; start=$(date +%s)
    if [ -f bench/bench_fanout.py ]; then
      OUT="$logs" timeout 90 python3 bench/bench_fanout.py > "$logs/bench_fanout.log" 2>&1
      echo "bench_fanout: exit $? in $(( $(date +%s) - start )) s"
    fi ;;
  *) echo "unknown part $part"; exit 2 ;;
esac
tar -czf "$OUT/$part.tgz" -C "$logs" .
