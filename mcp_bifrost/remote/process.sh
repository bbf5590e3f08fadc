#!/usr/bin/env bash
# The target's half of mcp_bifrost/ops/process.py and ops/jobs.py: run a command as one process
# group with its output teed into a job folder, kill a group, claim a run as a job, watch a job's
# timeout, read job folders.
#
#   process.sh OPERATION ARG...     (each operation below says its arguments)
#
# A job folder J holds command, cwd, pgid, started_at, stdout, stderr, then finished_at and
# exit_code (written in that order), plus markers: claim (the run outlives its call), cancelled,
# timed_out. Exit codes of our own failures are the EXIT_* below, mapped to error classes by
# mcp_bifrost.errors.REMOTE_EXIT_CODES; `run` otherwise exits with the command's own status.
# Needs: bash, GNU coreutils, procps (ps), awk, setsid.
set -u
readonly EXIT_USAGE=64 EXIT_NO_JOB=65 EXIT_NO_DIR=66 EXIT_CANNOT_CREATE=67 EXIT_ALREADY_DONE=68
readonly POLL_S=1
# A foreground run whose client is gone (its channel closed, or silent this long) is killed.
readonly SILENCE_S=30

# alive PGID: true while the group has a member that is not a zombie (`kill -0` counts zombies,
# and a container's init may never reap them).
alive() { ps -e -o pgid=,stat= | awk -v p="$1" '$1 == p && $2 !~ /^Z/ {n++} END {exit n == 0}'; }

# kill_group PGID GRACE_S: TERM the group, wait up to GRACE_S, KILL it; print how many survived.
kill_group() {
  local p=$1 steps i=0
  steps=$(awk -v g="$2" 'BEGIN {s = int(g / 0.05); print (s < 1 ? 1 : s)}')
  kill -TERM -- "-$p" 2>/dev/null
  while alive "$p" && [ "$i" -lt "$steps" ]; do sleep 0.05; i=$((i + 1)); done
  kill -KILL -- "-$p" 2>/dev/null
  i=0
  while alive "$p" && [ "$i" -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
  ps -e -o pgid=,stat= | awk -v p="$p" '$1 == p && $2 !~ /^Z/ {n++} END {print n + 0}'
}

# detached OPERATION ARG...: run one of our operations in a new session, cut off from this one.
detached() {
  (setsid bash -c "$BASH_EXECUTION_STRING" process.sh "$@" </dev/null >/dev/null 2>&1 &)
}

# run J CWD MODE COMMAND [NAME=VALUE...]: run COMMAND (bash, no rc files) in CWD with the extra
# environment; this shell's process group is the command's. MODE fg: the client reads our output
# and may write to our stdin: "kill GRACE_S" kills the group; end of input (or SILENCE_S without a
# line) means the client is gone and the group is killed, unless the run was claimed as a job. At
# the end the job folder is removed unless claimed. MODE bg: keep the folder, ignore stdin.
op_run() {
  [ $# -ge 4 ] || exit "$EXIT_USAGE"
  local J=$1 cwd=$2 mode=$3 command=$4 rc=255 listener="" stat
  shift 4
  # Builtins wherever they do: each fork costs milliseconds, and this runs for every exec.
  mkdir -p "$J" || exit "$EXIT_CANNOT_CREATE"
  read -ra stat </proc/$$/stat # field 5: our process group (we run as `exec bash`, so it is $$)
  echo "${stat[4]}" >"$J/pgid"
  now >"$J/started_at"
  printf %s "$command" >"$J/command"
  printf %s "$cwd" >"$J/cwd"
  : >"$J/stdout"
  : >"$J/stderr"
  if [ "$mode" = fg ]; then
    exec 4<&0 # a background job's stdin would be /dev/null; the listener needs the client's
    listen "$J" <&4 >/dev/null 2>&1 &
    listener=$!
    exec 4<&-
  fi
  # stdout -> fd 3 -> tee stdout; stderr -> tee stderr -> our stderr. tee -p survives a closed channel.
  { { (
    if ! cd -- "$cwd" 2>/dev/null; then
      echo "bifrost: the folder $cwd does not exist on this target" >&2
      exit "$EXIT_NO_DIR"
    fi
    # shellcheck disable=SC2163  # NAME=VALUE pairs; the client checked the names
    [ $# -eq 0 ] || export "$@"
    exec bash --norc --noprofile -c "$command"
  ) </dev/null; echo $? >"$J/rc.tmp"; } 2>&1 1>&3 3>&- | tee -p "$J/stderr" >&2 3>&-; } 3>&1 | tee -p "$J/stdout"
  [ -z "$listener" ] || kill "$listener" 2>/dev/null
  read -r rc <"$J/rc.tmp"
  # Unclaimed foreground run: nobody will ask for its folder. (`set -C` makes the claim an atomic create.)
  if [ "$mode" = fg ] && create "$J/claim"; then
    rm -rf -- "$J"
    exit "$rc"
  fi
  now >"$J/finished_at"
  echo "$rc" >"$J/exit_code.tmp" && mv -f -- "$J/exit_code.tmp" "$J/exit_code"
  rm -f -- "$J/rc.tmp"
  exit "$rc"
}

# create FILE: make FILE if it does not exist yet, atomically (O_EXCL), without a fork.
create() {
  local -
  set -C
  : >"$1"
} 2>/dev/null

# now: seconds since the epoch with a fraction (bash 5's clock, else date's).
now() { if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi; }

# listen J: the foreground watchdog, reading the client's lines on fd 0.
listen() {
  local J=$1 line
  while IFS= read -r -t "$SILENCE_S" line; do
    case "$line" in
      kill\ *) detached kill "$(cat "$J/pgid")" "${line#kill }" "$J"; return ;;
    esac
  done
  # the client is gone: unless it claimed the run as a job, nobody will ever read it
  if create "$J/claim"; then
    : >"$J/cancelled"
    detached kill "$(cat "$J/pgid")" 2 "$J"
  fi
}

# kill PGID GRACE_S [J]: kill the group (see kill_group), print the survivors, then remove J if given.
op_kill() {
  [ $# -ge 2 ] || exit "$EXIT_USAGE"
  kill_group "$1" "$2"
  [ -z "${3:-}" ] || rm -rf -- "$3"
}

# claim J REMAINING_S GRACE_S: turn a running foreground command into a job whose timeout watchdog
# kills it after REMAINING_S. The atomic mkdir races with the run's own ending: one of them wins.
op_claim() {
  [ $# -eq 3 ] || exit "$EXIT_USAGE"
  create "$1/claim" || exit "$EXIT_ALREADY_DONE"
  detached watch "$1" "$2" "$3"
}

# watch J TIMEOUT_S GRACE_S: kill the job's group once it has run TIMEOUT_S; exit as soon as it ends.
op_watch() {
  local J=$1 p polls n=0
  p=$(cat "$J/pgid")
  polls=$(awk -v t="$2" -v s="$POLL_S" 'BEGIN {n = int(t / s); print (n < 1 ? 1 : n)}')
  while [ "$n" -lt "$polls" ]; do
    if [ -e "$J/exit_code" ] || [ -e "$J/cancelled" ] || ! alive "$p"; then exit 0; fi
    sleep "$POLL_S"
    n=$((n + 1))
  done
  : >"$J/timed_out"
  kill_group "$p" "$3" >/dev/null
}

# start J TIMEOUT_S GRACE_S CWD COMMAND [NAME=VALUE...]: start a detached job (own session: it
# survives the call and the connection) and its timeout watchdog; returns once its pgid is known.
op_start() {
  [ $# -ge 5 ] || exit "$EXIT_USAGE"
  local J=$1 timeout=$2 grace=$3 i=0
  shift 3
  mkdir -p "$J" && : >"$J/claim" || exit "$EXIT_CANNOT_CREATE"
  detached run "$J" "$1" bg "${@:2}"
  while [ ! -s "$J/pgid" ] && [ "$i" -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
  detached watch "$J" "$timeout" "$grace"
}

# status J: NUL-separated name/value pairs: alive, then each file (a value ending in \1 means the
# file is absent), then sizes. Liveness first: a job seen dead and then without exit_code was lost.
op_status() {
  local J=$1 p name
  [ -d "$J" ] || exit "$EXIT_NO_JOB"
  p=$(cat "$J/pgid" 2>/dev/null)
  if [ -n "$p" ] && alive "$p"; then printf 'alive\0001\0'; else printf 'alive\0000\0'; fi
  for name in command cwd pgid started_at finished_at exit_code cancelled timed_out; do
    printf '%s\0' "$name"
    if [ -e "$J/$name" ]; then cat "$J/$name"; printf '\0'; else printf '\1\0'; fi
  done
  printf 'sizes\0%s %s\0' "$(wc -c <"$J/stdout" 2>/dev/null || echo 0)" "$(wc -c <"$J/stderr" 2>/dev/null || echo 0)"
}

# logs J LINES CAP_BYTES: the last LINES lines of stdout (on stdout) and stderr (on stderr).
op_logs() {
  [ -d "$1" ] || exit "$EXIT_NO_JOB"
  tail -n "$2" "$1/stdout" 2>/dev/null | tail -c "$3"
  tail -n "$2" "$1/stderr" 2>/dev/null | tail -c "$3" >&2
}

# list ROOT LIMIT: the newest LIMIT job ids under ROOT, one a line.
op_list() {
  [ -d "$1" ] || exit 0
  find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -r | head -n "$2"
}

# cancel J GRACE_S: mark the job cancelled and kill its group; print the survivors (0 if not running).
op_cancel() {
  local J=$1 p
  [ -d "$J" ] || exit "$EXIT_NO_JOB"
  p=$(cat "$J/pgid" 2>/dev/null)
  if [ -n "$p" ] && [ ! -e "$J/exit_code" ] && alive "$p"; then
    : >"$J/cancelled"
    kill_group "$p" "$2"
  else
    echo 0
  fi
}

op=${1:-}
[ $# -eq 0 ] || shift
case "$op" in
  run | kill | claim | watch | start | status | logs | list | cancel) "op_$op" "$@" ;;
  *) exit "$EXIT_USAGE" ;;
esac
