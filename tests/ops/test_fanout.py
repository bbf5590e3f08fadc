"""Fan-out of candidates over a target's slots: real Slurm with two fake GPUs, and a local target's GPUs."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mcp_bifrost.app import Bifrost
from mcp_bifrost.config import Config
from mcp_bifrost.models import FanoutResult
from tests.conftest import make_workdir
from tests.targets.test_slurm import cluster_config

pytestmark = pytest.mark.anyio

# A CPU candidate: note when it starts and ends (epoch seconds) and on which GPU, do some work,
# then print its score as the last line.
CANDIDATE = (
    'python3 -c "import os, time; s = time.time(); sum(i * i for i in range(200000)); time.sleep(0.6); '
    "print(os.environ.get('CUDA_VISIBLE_DEVICES'), s, time.time()); print({score})\""
)


def intervals(result: FanoutResult) -> list[tuple[str, float, float]]:
    spans = []
    for r in result.results:
        assert r.exec is not None, r
        gpu, start, end = r.exec.stdout.splitlines()[0].split()
        spans.append((gpu, float(start), float(end)))
    return spans


def overlapping(spans: list[tuple[str, float, float]]) -> list[tuple[tuple, tuple]]:
    return [(a, b) for a, b in itertools.combinations(spans, 2) if a[1] < b[2] and b[1] < a[2]]


def most_at_once(spans: list[tuple[str, float, float]]) -> int:
    return max(sum(1 for _, s, e in spans if s <= t < e) for _, t, _ in spans)


async def test_six_candidates_over_two_fake_gpus_on_slurm_give_six_results_and_a_ranking(
    slurm_cluster, tmp_path: Path, tmp_path_factory
):
    assert slurm_cluster.login is not None
    app = Bifrost(
        cluster_config(slurm_cluster, make_workdir(tmp_path_factory, slurm_cluster.login.user)), tmp_path
    )
    seen: list[str] = []

    async def progress(done: int, total: int, message: str) -> None:
        seen.append(message)

    try:
        commands = [CANDIDATE.format(score=score) for score in (3.5, 1.5, 6.0, 0.5, 2.5, 4.5)]
        result = await app.exec_candidates(commands, timeout_s=120, progress=progress)
    finally:
        await app.close()
    assert [r.index for r in result.results] == list(range(6))
    assert all(r.error is None and r.exec and r.exec.exit_code == 0 for r in result.results), result
    assert result.ranking == [3, 1, 4, 0, 5, 2]
    assert seen == [f"{k}/6 done" for k in range(1, 7)]
    spans = intervals(result)
    assert {gpu for gpu, _, _ in spans} == {"0", "1"}  # Slurm handed out both fake GPUs
    assert most_at_once(spans) == 2  # and never more than two jobs ran at once
    assert all(a[0] != b[0] for a, b in overlapping(spans)), spans  # never two on one GPU


async def test_local_target_with_gpus_runs_one_candidate_per_gpu(tmp_path: Path):
    config = Config.model_validate(
        {"targets": {"local": {"kind": "local", "workdir": str(tmp_path / "wd"), "gpus": [0, 1, 2]}}}
    )
    app = Bifrost(config, tmp_path)
    try:
        result = await app.exec_candidates([CANDIDATE.format(score=s) for s in range(6, 0, -1)], timeout_s=60)
    finally:
        await app.close()
    assert result.slots == 3 and result.ranking == [5, 4, 3, 2, 1, 0]
    spans = intervals(result)
    assert {gpu for gpu, _, _ in spans} == {"0", "1", "2"}
    assert most_at_once(spans) == 3
    assert all(a[0] != b[0] for a, b in overlapping(spans)), spans


async def test_a_failing_candidate_is_reported_and_not_ranked(tmp_path: Path):
    config = Config.model_validate(
        {"targets": {"local": {"kind": "local", "workdir": str(tmp_path / "wd"), "gpus": [0, 1]}}}
    )
    app = Bifrost(config, tmp_path)
    try:
        result = await app.exec_candidates(["echo 2", "echo broken >&2; exit 1", "echo no score", "echo 1"])
    finally:
        await app.close()
    assert result.ranking == [3, 0]
    assert result.results[1].exec is not None and result.results[1].exec.exit_code == 1
    assert [r.score for r in result.results] == [2.0, None, None, 1.0]
