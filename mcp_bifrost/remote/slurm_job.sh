#!/bin/bash
# Detached jobs of a Slurm target, on its login node: submit one with sbatch, read Slurm's state of
# one, cancel one. The job folder is <workdir>/jobs/<id>/ on the filesystem the compute nodes share.
#
# Usage: slurm_job.sh submit JOB_DIR CWD COMMAND [SBATCH_OPTION...]
#   stdin: the environment line (values never travel as arguments, which every user of the node can
#   read), then the batch script (slurm_batch.sh). Makes JOB_DIR with command, cwd, env, batch.sh and
#   empty stdout/stderr (umask 077: the folder, its env file and Slurm's logs are ours alone), then
#   runs `sbatch SBATCH_OPTION... JOB_DIR/batch.sh JOB_DIR COMMAND`; with --parsable its job id goes
#   to JOB_DIR/slurm_job_id. Exit: 0, or the failing step's own status (sbatch's message on stderr)
#   with JOB_DIR removed.
# Usage: slurm_job.sh state JOB_DIR
#   Prints "SLURM_ID|STATE|REASON|NODE" from squeue, else sacct (empty fields once both forgot it).
#   Exit: EXIT_NO_JOB no such job folder; EXIT_SLURM_NOT_BATCH the folder holds no Slurm job id (a
#   claimed srun: a login-node process group, read and killed like any job).
# Usage: slurm_job.sh cancel SLURM_ID
#   scancel, waiting or running. Exit: scancel's status.
readonly EXIT_USAGE=64 EXIT_NO_JOB=65 EXIT_SLURM_NOT_BATCH=112

submit() {
	local jdir=$1 cwd=$2 command=$3 envline rc
	shift 3
	umask 077
	mkdir -p "$jdir" &&
		printf %s "$command" >"$jdir/command" &&
		printf %s "$cwd" >"$jdir/cwd" &&
		IFS= read -r envline &&
		printf '%s\n' "$envline" >"$jdir/env" &&
		cat >"$jdir/batch.sh" &&
		: >"$jdir/stdout" && : >"$jdir/stderr" &&
		sbatch "$@" "$jdir/batch.sh" "$jdir" "$command" >"$jdir/slurm_job_id.tmp" &&
		mv "$jdir/slurm_job_id.tmp" "$jdir/slurm_job_id" && return 0
	rc=$?
	rm -rf -- "$jdir"
	exit "$rc"
}

state() {
	local jdir=$1 id st
	[ -d "$jdir" ] || exit "$EXIT_NO_JOB"
	id=$(cat "$jdir/slurm_job_id" 2>/dev/null)
	[ -n "$id" ] || exit "$EXIT_SLURM_NOT_BATCH"
	id=${id%%;*} # --parsable may add ";cluster"
	st=$(squeue -h -j "$id" -t all -o '%T|%r|%N' 2>/dev/null)
	[ -n "$st" ] || st=$(sacct -n -X -P -j "$id" -o State,Reason,NodeList 2>/dev/null | head -n 1)
	printf '%s|%s\n' "$id" "$st"
}

case ${1-} in
submit)
	[ $# -ge 4 ] || exit "$EXIT_USAGE"
	shift
	submit "$@"
	;;
state)
	[ $# -eq 2 ] || exit "$EXIT_USAGE"
	state "$2"
	;;
cancel)
	[ $# -eq 2 ] || exit "$EXIT_USAGE"
	exec scancel "$2"
	;;
*) exit "$EXIT_USAGE" ;;
esac
