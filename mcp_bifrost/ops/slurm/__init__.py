"""Slurm targets: srun for short calls, sbatch/squeue/scancel for jobs, the doctor, and their kind."""
