"""A candidate's process that cannot start CUDA says so by its exit status, and the judge reports a
fault of the host or the harness (status error), never a crash of the candidate: on an H100 a
harness fault in that warm-up was reported as "the candidate called exit?" and failed honest work."""

from __future__ import annotations

import socket

import pytest

from gpu_harness import candidate_host, warmup
from gpu_harness.outcome import EXIT_NO_CUDA, KIND_CRASHED, KIND_INTERNAL, StageError
from gpu_harness.remote import _death


def test_a_failed_cuda_start_ends_the_candidates_process_with_its_own_status(monkeypatch, capsys):
    def cannot_start(comparisons: bool = True) -> None:
        raise RuntimeError("invalid argument to getCurrentStream")

    monkeypatch.setattr(warmup, "initialise_cuda", cannot_start)
    judge_end, candidate_end = socket.socketpair()
    with judge_end:
        assert candidate_host.main(candidate_end.detach()) == EXIT_NO_CUDA
    assert "invalid argument to getCurrentStream" in capsys.readouterr().err  # the traceback stays


@pytest.mark.parametrize("stage", ["setup", "load"])
def test_the_judge_reports_that_status_as_a_fault_of_the_host_not_of_the_candidate(stage):
    failure = _death(EXIT_NO_CUDA << 8, stage)  # a wait status: exited with EXIT_NO_CUDA
    assert failure.kind == KIND_INTERNAL and "not of the candidate" in failure.message
    assert StageError(failure.stage, failure.kind, failure.message).is_harness_error
    assert _death(0, stage).kind == KIND_CRASHED  # exiting without an answer otherwise is the candidate's
