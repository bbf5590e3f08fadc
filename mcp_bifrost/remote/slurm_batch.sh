#!/bin/bash
# The batch script of a detached job on a Slurm target (sbatch runs it on a compute node).
#
# Usage (by sbatch): slurm_batch.sh JOB_DIR COMMAND
#   JOB_DIR  <workdir>/jobs/<id>/ on the shared filesystem; sbatch sends stdout/stderr there
#   COMMAND  the shell command, run with bash in the job's cwd
# Its environment is in JOB_DIR/env (one line: base64 of NUL-ended NAME=VALUE pairs; values never
# travel as arguments, which every user of a node can read), exported here and the file removed.
# The job writes its own started_at, node, finished_at and exit_code (in that order) into JOB_DIR:
# Slurm's accounting may be off, and squeue forgets a job minutes after it ends.
# Exit: the command's own status (128+N when it died of signal N).

umask 077
jdir=$1
command=$2
date +%s.%N >"$jdir/started_at"
hostname >"$jdir/node"
envline=""
[ ! -s "$jdir/env" ] || IFS= read -r envline <"$jdir/env"
rm -f -- "$jdir/env"
# The environment is the command's alone (a PATH without coreutils must not break this script), and
# bash is found by absolute path: the command's PATH may lack it.
(
	if [ -n "$envline" ]; then
		mapfile -d '' -t pairs < <(printf %s "$envline" | base64 -d)
		# shellcheck disable=SC2163  # NAME=VALUE pairs; the client checked the names
		[ ${#pairs[@]} -eq 0 ] || export "${pairs[@]}"
	fi
	exec "$BASH" --norc -c "$command"
) &
child=$!
# A cancel or time limit TERMs the whole job; pass it on, then keep waiting for the real status.
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
	wait "$child"
	rc=$?
	kill -0 "$child" 2>/dev/null || break
done
date +%s.%N >"$jdir/finished_at"
echo "$rc" >"$jdir/exit_code.tmp" && mv "$jdir/exit_code.tmp" "$jdir/exit_code"
exit "$rc"
