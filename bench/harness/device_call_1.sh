#!/usr/bin/env bash
# One device call (under 9 minutes) for the third session of 2026-12-07: the compile-cache store on
# the GPU (a load_inline candidate twice: the second must not rebuild), the judge suite's cheat and
# honest rows (the four-stream cheat and the one-call bound among them; every row's single_ms), then
# back-to-back latency with phases. Logs in $OUT/logs.
set -uo pipefail
# shellcheck source=bench/harness/device_env.sh
source "$(dirname "$0")/device_env.sh"
bash bench/harness/cuda_inline_twice.sh "$L"
find /tmp/ghc/candidates -maxdepth 2 | head -n 20
OUT="$L" timeout "${JUDGE_TIMEOUT:-320}" python3 bench/harness/judge_suite.py --only "(GPU)" "/ 4" "/ 10" memo honest slowed --timeout 120 > "$L/judge_suite.log" 2>&1
grep -E "^(ok|BAD)|rows as expected" "$L/judge_suite.log"
python3 - "$L/judge_suite.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["rows"]:
    for t in r["timing"]:
        print(f"{r['attack'][:44]:44} {t['case'][:18]:18} claim {t['claimed_ms']} judge {t['judge_ms']} single {t['single_ms']}")
PY
OUT="$L" LATENCY_SPARES=2 timeout "${LATENCY_TIMEOUT:-100}" python3 bench/harness/latency.py > "$L/latency.log" 2>&1
tail -n 8 "$L/latency.log"
