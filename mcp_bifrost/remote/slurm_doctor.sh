#!/bin/sh
# The login node's half of `doctor` on a Slurm target (ops/slurm/doctor.py).
#
# Usage: slurm_doctor.sh partitions
#   One line per partition and node state: NAME|AVAILABLE|NODES|STATE|GRES (a default partition's
#   name ends in "*"). Exit: sinfo's status.
# Usage: slurm_doctor.sh mark FILE TOKEN
#   Writes TOKEN into FILE in the workdir, for a job on a compute node to read back (is the workdir
#   shared with the compute nodes?). Exit: 0, or the shell's status when it cannot write.
# Usage: slurm_doctor.sh unmark FILE
#   Removes FILE. Exit: 0.
EXIT_USAGE=64

case ${1-} in
partitions)
	exec sinfo -h -o '%P|%a|%D|%T|%G'
	;;
mark)
	[ $# -eq 3 ] || exit "$EXIT_USAGE"
	printf %s "$3" >"$2"
	;;
unmark)
	[ $# -eq 2 ] || exit "$EXIT_USAGE"
	rm -f -- "$2"
	;;
*) exit "$EXIT_USAGE" ;;
esac
