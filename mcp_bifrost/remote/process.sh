#!/usr/bin/env bash
# The target's half of mcp_bifrost/ops/process_group.py and ops/jobs.py: run a command as one process
# group with its output teed into a job folder, kill a group, claim a run as a job, watch a job's
# timeout, read job folders.
#
#   process.sh OPERATION ARG...     (each operation below says its arguments)
#
# A job folder J holds command, cwd, pgid_start, pgid, started_at, stdout, stderr, then finished_at
# and exit_code (written in that order), plus markers: claim (the run outlives its call), cancelled,
# timed_out. Exit codes of our own failures are the EXIT_* below, mapped to error classes by
# mcp_bifrost.errors.REMOTE_EXIT_CODES; `run` otherwise exits with the command's own status.
#
# Shared hosts: job folders are private (umask 077). Environment values never travel as arguments
# (other users read every process's command line): they come on stdin as one line, base64 of
# NUL-separated NAME=VALUE pairs. A job is known by its process group AND its leader's start time
# (pgid_start), so a reused pid is never taken for it; every process it starts carries
# BIFROST_JOB=<job id> in its environment, and each kill sweeps those too (setsid leaves the group,
# not the environment), as does the end of the command itself.
# Needs: bash 4.4+, GNU coreutils, grep, procps (ps), awk, setsid, base64.
set -u
umask 077
readonly EXIT_USAGE=64 EXIT_NO_JOB=65 EXIT_NO_DIR=66 EXIT_CANNOT_CREATE=67 EXIT_ALREADY_DONE=68
readonly POLL_S=1
# A foreground run whose client is gone (its channel closed, or silent this long) is killed.
readonly SILENCE_S=30

readonly MARK=BIFROST_JOB

# alive PGID: true while the group has a member that is not a zombie (`kill -0` counts zombies,
# and a container's init may never reap them).
alive() { ps -e -o pgid=,stat= | awk -v p="$1" '$1 == p && $2 !~ /^Z/ {n++} END {exit n == 0}'; }

# start_ticks PID: when PID started (field 22 of /proc/PID/stat, clock ticks since boot); fails if gone.
start_ticks() {
  local line f
  { IFS= read -r line </proc/"$1"/stat; } 2>/dev/null || return 1
  read -ra f <<<"${line##*) }" # fields from the third on: the name in parentheses may hold spaces
  echo "${f[19]}"
}

# ours PGID J: true if PGID is still the group J recorded. A pid is not reused while its group has
# members, so a leader that is gone leaves the group ours; one alive with another start time is a stranger.
ours() {
  local want have
  [ -n "$1" ] || return 1
  want=$(cat "$2/pgid_start" 2>/dev/null) || return 0
  have=$(start_ticks "$1") || return 0
  [ "$have" = "$want" ]
}

# group J: the job's process group if it is still ours, else nothing.
group() {
  local p
  p=$(cat "$1/pgid" 2>/dev/null)
  if ours "$p" "$1"; then echo "$p"; fi
}

# marked TOKEN: pids of live processes whose environment holds BIFROST_JOB=TOKEN (only our own
# user's environments are readable, and zombies have none).
marked() {
  [ -n "$1" ] || return 0
  grep -lzxF -- "$MARK=$1" /proc/[0-9]*/environ 2>/dev/null | awk -F/ '{print $3}'
}

# any_marked TOKEN: true if a process carries the token (one grep, which stops at the first).
any_marked() { grep -qszxF -- "$MARK=$1" /proc/[0-9]*/environ; }

# exec_window: true if a live process we may read, started after this script, shows an empty
# environment: it is in the middle of an execve (the kernel fills in the new environment last).
# Kernel threads and zombies show none too, but have no executable; a process older than this
# script that runs without any environment for good is not counted.
exec_window() {
  local f pid t since=""
  while IFS= read -r f; do
    [ -e "${f%environ}exe" ] || continue
    pid=${f%/environ}
    t=$(start_ticks "${pid##*/}") || continue
    [ "$t" -lt "${since:=$(start_ticks $$)}" ] || return 0
  done < <(grep -Lz . /proc/[0-9]*/environ 2>/dev/null)
  return 1
}

# members PGID TOKEN: pids of the group's live members and of the marked processes, once each.
members() {
  { [ -z "$1" ] || ps -e -o pid=,pgid=,stat= | awk -v p="$1" '$2 == p && $3 !~ /^Z/ {print $1}'; marked "$2"; } | sort -u
}

# job_alive J: the job's group, or any process carrying its token, still runs.
job_alive() {
  local p
  p=$(group "$1")
  { [ -n "$p" ] && alive "$p"; } || [ -n "$(marked "${1##*/}")" ]
}

# signal_all SIG PGID TOKEN: the group (if any) and every marked process.
signal_all() {
  local pids
  [ -z "$2" ] || kill -"$1" -- "-$2" 2>/dev/null
  pids=$(marked "$3")
  # shellcheck disable=SC2086  # one pid a word
  [ -z "$pids" ] || kill -"$1" $pids 2>/dev/null
}

# kill_group PGID GRACE_S [TOKEN]: TERM the group and the token's processes, wait up to GRACE_S, KILL
# them; print how many survived.
kill_group() {
  local p=$1 tok=${3:-} steps i=0
  steps=$(awk -v g="$2" 'BEGIN {s = int(g / 0.05); print (s < 1 ? 1 : s)}')
  signal_all TERM "$p" "$tok"
  while [ -n "$(members "$p" "$tok")" ] && [ "$i" -lt "$steps" ]; do sleep 0.05; i=$((i + 1)); done
  signal_all KILL "$p" "$tok"
  i=0
  while [ -n "$(members "$p" "$tok")" ] && [ "$i" -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
  members "$p" "$tok" | wc -l
}

# sweep TOKEN: the command has ended; what it left running (in the background, or setsid'd) goes too.
# A child caught exec'ing shows no token for that moment: missed, it would live on holding the
# command's output open (seen under load: a finished command reported as timed out). So while a
# process younger than this run shows no environment, look again (for up to ~0.1 s); and once none
# does, look once more, for one that finished its exec between the two looks.
sweep() {
  local tries=0
  until any_marked "$1"; do
    if [ "$tries" -ge 20 ] || ! exec_window; then
      any_marked "$1" || return 0
      break
    fi
    sleep 0.005
    tries=$((tries + 1))
  done
  kill_group "" 1 "$1" >/dev/null
}

# detached OPERATION ARG...: run one of our operations in a new session, cut off from this one.
detached() {
  (setsid bash -c "$BASH_EXECUTION_STRING" process.sh "$@" </dev/null >/dev/null 2>&1 &)
}

# run J CWD MODE COMMAND: run COMMAND (bash, no rc files) in CWD with the extra environment; this
# shell's process group is the command's. MODE fg: the first line of stdin is the environment (see
# the top), then the client may write lines: "kill GRACE_S" kills the group; end of input (or
# SILENCE_S without a line) means the client is gone and the group is killed, unless the run was
# claimed as a job. At the end the job folder is removed unless claimed. MODE bg: the environment
# is in J/env (removed once read); stdin is ignored. Recording (the folder's files) may fail on a
# full disk: the command still runs and its exit status stays its own.
op_run() {
  [ $# -eq 4 ] || exit "$EXIT_USAGE"
  local J=$1 cwd=$2 mode=$3 command=$4 rc listener="" stat envline="" tok=${1##*/}
  # Builtins wherever they do: each fork costs milliseconds, and this runs for every exec.
  if [ "$mode" = fg ]; then
    IFS= read -r envline || exit "$EXIT_USAGE"
  elif [ -e "$J/env" ]; then
    IFS= read -r envline <"$J/env"
    rm -f -- "$J/env"
  fi
  if ! mkdir -p -- "$J" 2>/dev/null; then
    echo "bifrost: cannot create the job folder $J on this target (disk full? permissions?)" >&2
    exit "$EXIT_CANNOT_CREATE"
  fi
  {
    read -ra stat </proc/$$/stat # field 5: our process group (we run as `exec bash`, so it is $$)
    start_ticks $$ >"$J/pgid_start"
    echo "${stat[4]}" >"$J/pgid"
    now >"$J/started_at"
    printf %s "$command" >"$J/command"
    printf %s "$cwd" >"$J/cwd"
    : >"$J/stdout"
    : >"$J/stderr"
  } 2>/dev/null
  if [ "$mode" = fg ]; then
    exec 4<&0 # a background job's stdin would be /dev/null; the listener needs the client's
    listen "$J" $$ <&4 >/dev/null 2>&1 &
    listener=$!
    exec 4<&-
  fi
  # stdout -> fd 3 -> tee stdout; stderr -> tee stderr -> our stderr. tee -p survives a closed channel.
  # The statuses climb out through PIPESTATUS, never a file: a full disk must not change them.
  { { (
    if ! cd -- "$cwd" 2>/dev/null; then
      echo "bifrost: the folder $cwd does not exist on this target" >&2
      exit "$EXIT_NO_DIR"
    fi
    if [ -n "$envline" ]; then
      local -a pairs
      mapfile -d '' -t pairs < <(printf %s "$envline" | base64 -d)
      # shellcheck disable=SC2163  # NAME=VALUE pairs; the client checked the names
      [ ${#pairs[@]} -eq 0 ] || export "${pairs[@]}"
    fi
    export "$MARK=$tok"
    exec "$BASH" --norc --noprofile -c "$command" # by absolute path: the caller's PATH may lack bash
  ) </dev/null; rc=$?; sweep "$tok"; exit "$rc"; } 2>&1 1>&3 3>&- | tee -p "$J/stderr" >&2 3>&-
    exit "${PIPESTATUS[0]}"; } 3>&1 | tee -p "$J/stdout"
  rc=${PIPESTATUS[0]}
  [ -z "$listener" ] || kill "$listener" 2>/dev/null
  # Unclaimed foreground run: nobody will ask for its folder. (`set -C` makes the claim an atomic create.)
  if [ "$mode" = fg ] && create "$J/claim"; then
    rm -rf -- "$J"
    exit "$rc"
  fi
  {
    now >"$J/finished_at"
    echo "$rc" >"$J/exit_code.tmp" && mv -f -- "$J/exit_code.tmp" "$J/exit_code"
  } 2>/dev/null
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

# listen J PGID: the foreground watchdog, reading the client's lines on fd 0.
listen() {
  local J=$1 p=$2 line
  while IFS= read -r -t "$SILENCE_S" line; do
    case "$line" in
      kill\ *) detached kill "$p" "${line#kill }" "$J"; return ;;
    esac
  done
  # the client is gone: unless it claimed the run as a job, nobody will ever read it
  if create "$J/claim"; then
    : >"$J/cancelled"
    detached kill "$p" 2 "$J"
  fi
}

# kill PGID GRACE_S [J]: kill the group (unless J shows it is no longer ours) and every process
# carrying J's token (see kill_group), print the survivors, then remove J if given.
op_kill() {
  [ $# -ge 2 ] || exit "$EXIT_USAGE"
  local p=$1 J=${3:-} tok=""
  if [ -n "$J" ]; then
    tok=${J##*/}
    ours "$p" "$J" || p=""
  fi
  kill_group "$p" "$2" "$tok"
  [ -z "$J" ] || rm -rf -- "$J"
}

# claim J REMAINING_S GRACE_S: turn a running foreground command into a job whose timeout watchdog
# kills it after REMAINING_S. The atomic mkdir races with the run's own ending: one of them wins.
op_claim() {
  [ $# -eq 3 ] || exit "$EXIT_USAGE"
  create "$1/claim" || exit "$EXIT_ALREADY_DONE"
  detached watch "$1" "$2" "$3"
}

# watch J TIMEOUT_S GRACE_S: kill the job once it has run TIMEOUT_S; exit as soon as it ends.
op_watch() {
  local J=$1 polls n=0
  polls=$(awk -v t="$2" -v s="$POLL_S" 'BEGIN {n = int(t / s); print (n < 1 ? 1 : n)}')
  while [ "$n" -lt "$polls" ]; do
    if [ -e "$J/exit_code" ] || [ -e "$J/cancelled" ] || ! job_alive "$J"; then exit 0; fi
    sleep "$POLL_S"
    n=$((n + 1))
  done
  : >"$J/timed_out"
  kill_group "$(group "$J")" "$3" "${J##*/}" >/dev/null
}

# start J TIMEOUT_S GRACE_S CWD COMMAND: start a detached job (own session: it survives the call and
# the connection) and its timeout watchdog; its environment line comes on stdin. Returns once its
# pgid is known; a job that cannot record itself (disk full) is not started, and says so.
op_start() {
  [ $# -eq 5 ] || exit "$EXIT_USAGE"
  local J=$1 timeout=$2 grace=$3 i=0 envline=""
  shift 3
  IFS= read -r envline || true
  if ! { mkdir -p -- "$J" && printf '%s\n' "$envline" >"$J/env" && echo claimed >"$J/claim"; } 2>/dev/null; then
    rm -rf -- "$J"
    echo "bifrost: cannot record a job in $J (disk full?); nothing was started" >&2
    exit "$EXIT_CANNOT_CREATE"
  fi
  detached run "$J" "$1" bg "$2"
  while [ ! -s "$J/pgid" ] && [ "$i" -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
  if [ ! -s "$J/pgid" ]; then
    kill_group "" 0 "${J##*/}" >/dev/null
    rm -rf -- "$J"
    echo "bifrost: the job could not record its process group in $J (disk full?); it was stopped" >&2
    exit "$EXIT_CANNOT_CREATE"
  fi
  detached watch "$J" "$timeout" "$grace"
}

# status J: NUL-separated name/value pairs: alive, then each file (a value ending in \1 means the
# file is absent), then sizes. Liveness first: a job seen dead and then without exit_code was lost.
op_status() {
  local J=$1 name
  [ -d "$J" ] || exit "$EXIT_NO_JOB"
  if job_alive "$J"; then printf 'alive\0001\0'; else printf 'alive\0000\0'; fi
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

# cancel J GRACE_S: mark the job cancelled and kill it (its group, if still ours, and every process
# carrying its token); print the survivors (0 if not running).
op_cancel() {
  local J=$1
  [ -d "$J" ] || exit "$EXIT_NO_JOB"
  if [ ! -e "$J/exit_code" ] && job_alive "$J"; then
    : >"$J/cancelled"
    kill_group "$(group "$J")" "$2" "${J##*/}"
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
