"""What a Slurm target asks Slurm for, its config, and its scripts' exit codes (no cluster needed)."""

from __future__ import annotations

import pytest

from mcp_bifrost.config import Config
from mcp_bifrost.errors import RemoteExit, SlurmCannotRun, SlurmLaunchFailed
from mcp_bifrost.ops.slurm import jobs as slurm_jobs
from mcp_bifrost.ops.slurm import run as slurm_run
from mcp_bifrost.targets.factory import build_target
from mcp_bifrost.targets.slurm import SlurmOptions, SlurmTarget, time_limit_minutes


def test_time_limits_round_up_to_whole_minutes():
    assert [time_limit_minutes(s) for s in (0.5, 60, 61, 3600)] == ["1", "1", "2", "60"]


def test_srun_and_sbatch_get_the_targets_options_and_their_own_extras():
    opts = SlurmOptions(
        partition="gpu",
        gres="gpu:h100:1",
        account="proj",
        srun_options=("--qos=short",),
        sbatch_options=("--qos=long",),
    )
    assert opts.srun(90) == [
        "--partition=gpu",
        "--gres=gpu:h100:1",
        "--account=proj",
        "--time=2",
        "--qos=short",
    ]
    assert opts.sbatch(None) == ["--partition=gpu", "--gres=gpu:h100:1", "--account=proj", "--qos=long"]
    assert SlurmOptions(gres=None, time_limit="00:30:00").srun(90) == ["--time=00:30:00"]


def test_a_slurm_target_is_built_from_config_and_refuses_gpus():
    config = Config.model_validate({"targets": {"c": {"kind": "slurm", "host": "me@login:2222", "gres": ""}}})
    target = build_target("c", config.targets["c"])
    assert isinstance(target, SlurmTarget) and target.slurm.gres is None and target.port == 2222
    with pytest.raises(ValueError, match="Slurm picks the GPU"):
        Config.model_validate({"targets": {"c": {"kind": "slurm", "host": "login", "gpus": [0]}}})


def test_a_launch_error_needs_both_the_code_and_the_scripts_line():
    # A user's command may exit with these codes itself: that is its exit code, not our error.
    failed, cannot = RemoteExit.SLURM_LAUNCH_FAILED, RemoteExit.SLURM_CANNOT_RUN
    assert slurm_run.launch_error(failed, "my tool failed") is None
    assert isinstance(
        slurm_run.launch_error(failed, "bifrost-slurm: srun could not start"), SlurmLaunchFailed
    )
    assert isinstance(
        slurm_run.launch_error(cannot, "bifrost-slurm: job x cannot start: PartitionDown"), SlurmCannotRun
    )
    assert slurm_run.launch_error(1, "bifrost-slurm: x") is None


@pytest.mark.parametrize(
    ("slurm", "ours"),
    [
        ("PENDING", "pending"),
        ("RUNNING", "running"),
        ("COMPLETING", "running"),
        ("COMPLETED", "finished"),
        ("FAILED", "finished"),
        ("TIMEOUT", "killed"),
        ("CANCELLED", "killed"),
        ("OUT_OF_MEMORY", "killed"),
        ("NODE_FAIL", "lost"),
    ],
)
def test_slurm_states_map_into_the_job_model(slurm, ours):
    assert slurm_jobs.STATES[slurm] == ours


def test_idle_gpus_count_free_gpus_of_serving_nodes_once_each():
    from mcp_bifrost.ops.slurm.kind import gpu_count, parse_idle_gpus

    assert [
        gpu_count(g)
        for g in ("gpu:fake:2", "gpu:4", "gpu:h100:4(S:0-1),nic:1", "gpu:fake:1(IDX:0)", "(null)")
    ] == [2, 4, 4, 1, 0]
    sinfo = (
        "n1  idle    gpu:h100:4(S:0-1)  gpu:h100:0(IDX:N/A)\n"
        "n2  mixed   gpu:h100:4         gpu:h100:3(IDX:0-2)\n"
        "n2  mixed   gpu:h100:4         gpu:h100:3(IDX:0-2)\n"  # the same node in a second partition
        "n3  down*   gpu:h100:4         gpu:h100:0(IDX:N/A)\n"
        "n4  allocated gpu:h100:4       gpu:h100:4(IDX:0-3)\n"
    )
    assert parse_idle_gpus(sinfo) == 5


def test_slurm_fan_out_keeps_as_many_jobs_in_flight_as_gpus_are_idle():
    from mcp_bifrost.loop.fanout import slots_for

    target = SlurmTarget("c", "login", slurm=SlurmOptions(max_parallel=6))
    assert len(slots_for(target, [], 6, idle_gpus=2)) == 2
    assert len(slots_for(target, [], 6, idle_gpus=0)) == 6  # none idle: queue them all, keep the place
    assert len(slots_for(target, [], 6, idle_gpus=None)) == 6
    assert len(slots_for(target, [], 3, idle_gpus=8)) == 3
    assert all(slot.gpu is None for slot in slots_for(target, [], 6, idle_gpus=2))


def test_the_job_scripts_name_their_refusals_with_codes_from_the_table(tmp_path):
    """slurm_job.sh and slurm_doctor.sh say 'no such job', 'not a batch job' and 'wrong usage' with the
    table's codes (no Slurm needed: these answers come before any Slurm command)."""
    import subprocess

    from mcp_bifrost import remote

    def run(name: str, *args: str) -> int:
        return subprocess.run(remote.command(name, *args), shell=True, executable="/bin/bash").returncode

    claimed = tmp_path / "claimed"
    claimed.mkdir()
    assert run("slurm_job", "state", str(tmp_path / "gone")) == RemoteExit.NO_JOB
    assert run("slurm_job", "state", str(claimed)) == RemoteExit.SLURM_NOT_BATCH
    assert run("slurm_job", "submit", str(claimed)) == RemoteExit.USAGE
    assert run("slurm_job", "nonsense") == RemoteExit.USAGE
    assert (
        run("slurm_doctor", "mark", str(claimed / "token"), "abc") == 0
        and (claimed / "token").read_text() == "abc"
    )
    assert run("slurm_doctor", "unmark", str(claimed / "token")) == 0 and not (claimed / "token").exists()
    assert run("slurm_doctor", "mark") == RemoteExit.USAGE
