"""Issue 24 on the GPU: a profile compares whole calls, so a fused candidate of a two-kernel reference
reads as faster in the profile exactly as in the smoke test. Through the command line the client calls
(`smoke --json`, `profile --baseline reference --json`), with Nsight Compute on the host."""

import json
import os

import pytest
from conftest import FIXTURES, REPO, gpu, harness_cli

from gpu_harness.info import ncu_path

PROBLEM = FIXTURES / "kernelbench" / "axpb_2kernels.py"
FUSED = FIXTURES / "kernelbench" / "axpb_2kernels_triton.py"
AGREEMENT = 0.10  # the profile's ratio within 10 % of the smoke test's


def harness(*args: str, timeout_s: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = harness_cli(*args, "--json", env=env, timeout=timeout_s)
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout)


@gpu
def test_a_fused_candidate_of_a_two_kernel_reference_profiles_as_fast_as_it_times(tmp_path):
    if ncu_path() is None:
        pytest.skip("Nsight Compute (ncu) is not on this host")
    smoke = harness("smoke", str(PROBLEM), str(FUSED), timeout_s=300)
    assert smoke["passed"], smoke
    timed = smoke["score"]["speedup"]
    doc = harness(
        "profile",
        str(PROBLEM),
        str(FUSED),
        "--baseline",
        "reference",
        "--sections",
        "SpeedOfLight",
        "--out",
        str(tmp_path),
        timeout_s=400,
    )
    assert not doc["error"], doc["error"]
    ref, cand = doc["baseline"], doc["candidate"]
    assert ref["kernel_count"] == 2 and cand["kernel_count"] == 1, (ref["kernels"], cand["kernels"])
    assert not ref["cut_by_launch_limit"] and not cand["cut_by_launch_limit"]
    profiled = ref["total_us"] / cand["total_us"]
    assert profiled > 1.0 and timed > 1.0, (profiled, timed)
    assert abs(profiled / timed - 1) <= AGREEMENT, f"profile {profiled:.2f}x vs smoke test {timed:.2f}x"
