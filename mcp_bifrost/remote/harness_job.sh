#!/bin/sh
# Keep the record of an evaluation that outlived its tool call, in the layout of ops/jobs.py, so
# that job_status / job_logs / job_cancel work on it (and after a server restart).
# Usage: harness_job.sh JOB_DIR start PGID COMMAND CWD
#        harness_job.sh JOB_DIR finish EXIT_CODE      (stdin: the report as JSON)
#        harness_job.sh - hold                         the live process of a job whose work runs in the
#                                                      server (a fan-out): its group is the job's pgid, so
#                                                      job_cancel kills it, and the server cancels the work.
#                                                      It lives until its stdin closes: the server done, or
#                                                      gone (killed, link lost), so the job ends as lost
readonly EXIT_USAGE=64 EXIT_NO_JOB=65 EXIT_CANNOT_CREATE=67
job=$1
step=$2
case "$step" in
  start)
    mkdir -p "$job" || exit "$EXIT_CANNOT_CREATE"
    printf '%s\n' "$3" > "$job/pgid"
    date +%s.%N > "$job/started_at"
    printf %s "$4" > "$job/command"
    printf %s "$5" > "$job/cwd"
    : > "$job/stdout"
    : > "$job/stderr"
    mkdir -p "$job/claim"
    ;;
  finish)
    [ -d "$job" ] || exit "$EXIT_NO_JOB"
    # job_cancel killed it: leave the record as "killed", not finished
    [ -e "$job/cancelled" ] && exit 0
    cat > "$job/report.json.tmp" && mv "$job/report.json.tmp" "$job/report.json"
    cp "$job/report.json" "$job/stdout"
    date +%s.%N > "$job/finished_at"
    printf '%s\n' "$3" > "$job/exit_code"
    ;;
  hold)
    exec cat >/dev/null
    ;;
  *)
    echo "harness_job.sh: unknown step $step" >&2
    exit "$EXIT_USAGE"
    ;;
esac
