#!/bin/bash
# Run one command on a compute node through srun: the short calls (exec, smoke test, profile) of a
# Slurm target. Runs on the login node; srun streams the command's output back as it comes.
#
# Usage: slurm_run.sh NAME MARKER [SRUN_OPTION...] -- COMMAND
#   NAME    the Slurm job name; unique per call, so scancel can find the job while it still waits
#   MARKER  a new file name on the shared filesystem (in an existing folder) that the command
#           touches first: if srun ends and it is missing, the command never ran (launch failed)
# Exit: the command's own status; EXIT_SLURM_LAUNCH_FAILED srun could not start the command;
# EXIT_SLURM_CANNOT_RUN no node can run it now (pending for a reason that waiting will not fix). Both
# print a line starting "bifrost-slurm:". TERM/INT/HUP (timeout, cancel) scancel the job, so a waiting
# or running step never outlives us, and end the script as TERM would (128 + 15).
readonly EXIT_SLURM_LAUNCH_FAILED=110 EXIT_SLURM_CANNOT_RUN=111 TERMINATED=143

name=$1
marker=$2
shift 2
opts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	opts+=("$1")
	shift
done
shift
command=$1
me=${USER:-$(id -un)}

# Pending reasons that will not clear by waiting (all nodes down, partition down, bad request).
# squeue words some as sentences (22.05: ReqNodeNotAvail reads "Nodes required for job are DOWN, ...").
hopeless() {
	case $1 in
	ReqNodeNotAvail* | "Nodes required for job are DOWN"* | NodeDown | PartitionDown | PartitionInactive | PartitionNodeLimit | \
		PartitionTimeLimit | BadConstraints | InvalidAccount | InvalidQOS | DependencyNeverSatisfied)
		return 0
		;;
	esac
	return 1
}

# shellcheck disable=SC2317  # reached through the trap
cancel() {
	scancel --name="$name" --user="$me" 2>/dev/null
	kill -TERM "$srun_pid" 2>/dev/null
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
	wait "$srun_pid" 2>/dev/null
	rm -f "$marker"
	exit "$TERMINATED"
}
trap cancel TERM INT HUP

# shellcheck disable=SC2016  # $1/$2 expand in the task's shell, not here
srun --job-name="$name" "${opts[@]}" bash --norc --noprofile -c ': > "$1" && eval "$2"' bifrost "$marker" "$command" &
srun_pid=$!

# No node of the partition can take work: each is down, drained, failed or not responding ("*").
# A powered-down cloud node (idle~) or one still busy counts as able: waiting for it is worth it.
unserved() {
	states=$(sinfo -h -p "$1" -o %T 2>/dev/null) || return 1
	[ -n "$states" ] && ! printf '%s\n' "$states" | grep -Eq '^(idle|mixed|allocated|completing|planned|reserved)[~#%!^-]?$'
}

# Watch the queue once a second while the command has not started; give up on a hopeless wait
# (a reason that waiting will not fix, or three checks in a row with no node able to serve).
(
	unserved_checks=0
	while [ ! -e "$marker" ]; do
		sleep 1 >/dev/null 2>&1 # holds no pipe of ours once we are killed
		pending=$(squeue -h --name="$name" --user="$me" --states=PD -o '%P|%r' 2>/dev/null)
		[ -n "$pending" ] || continue
		partition=${pending%%|*}
		reason=${pending#*|}
		if unserved "$partition"; then
			unserved_checks=$((unserved_checks + 1))
		else
			unserved_checks=0
		fi
		if hopeless "$reason" || [ "$unserved_checks" -ge 3 ]; then
			[ "$unserved_checks" -ge 3 ] && reason="no node of partition $partition is up and responding ($reason)"
			echo "bifrost-slurm: job $name cannot start: $reason" >&2
			scancel --name="$name" --user="$me" 2>/dev/null
			exit "$EXIT_SLURM_CANNOT_RUN"
		fi
	done
	exit 0
) &
watch_pid=$!

wait "$srun_pid"
rc=$?
kill "$watch_pid" 2>/dev/null
wait "$watch_pid"
watch_rc=$?
if [ -e "$marker" ]; then
	rm -f "$marker"
	exit "$rc"
fi
if [ "$watch_rc" = "$EXIT_SLURM_CANNOT_RUN" ]; then
	exit "$EXIT_SLURM_CANNOT_RUN"
fi
echo "bifrost-slurm: srun could not start the command (srun exit $rc); see srun's messages above" >&2
exit "$EXIT_SLURM_LAUNCH_FAILED"
