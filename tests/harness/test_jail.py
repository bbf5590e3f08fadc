"""What a candidate starts dies with its evaluation, and a confined candidate writes only its scratch
folder and opens no network socket: through the worker (`serve`) and the one-shot `smoke`.

Each stray helper is detached the way a daemon is (double fork + setsid): it leaves the evaluation's
process group, so only a subreaper finds it. Processes are found by their pid (printed by the
candidate) or by a marker in their environment (a worker started by the test), read from /proc.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import CANDIDATES, FIXTURES, KERNELS, REPO, gpu, harness_cli, smoke

from gpu_harness import confine
from tests.support.procs import alive

JAIL = CANDIDATES / "jail"
VECTORADD = KERNELS / "vectoradd"
HONEST = VECTORADD / "examples" / "submission_torch.py"
SMALL_VECTORADD = FIXTURES / "vectoradd_l2"  # inputs small enough to pin in L2
NORMAL_S = 15.0  # an honest vectoradd test run takes 1-3 s; the old wait was the timeout
MARK = "GPU_HARNESS_JAIL_MARK"


def stray_pids(report) -> list[int]:
    pids = [int(p) for p in re.findall(r"stray pid (\d+)", report.stdout_tail)]
    assert pids, f"the candidate did not say its stray's pid: {report.stdout_tail!r} {report.error}"
    return pids


def marked(token: str) -> list[int]:
    """Live processes whose environment carries MARK=token."""
    needle = f"{MARK}={token}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if needle in Path(f"/proc/{entry.name}/environ").read_bytes().split(b"\0") and alive(
                    int(entry.name)
                ):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_until(predicate, seconds: float, what: str):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def harness_env(token: str, **extra: str) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **{MARK: token},
        **extra,
    )


# -- processes die with the evaluation -------------------------------------------------------------
@pytest.mark.parametrize("candidate", ["stray_sleeper.py", "stray_spinner.py"])
def test_a_detached_stray_neither_delays_the_verdict_nor_outlives_it(candidate):
    started = time.monotonic()
    report = smoke(VECTORADD, JAIL / candidate, mode="test", timeout_s=30)
    took = time.monotonic() - started
    assert report.passed and report.error is None, (report.error, report.flags)
    assert took < NORMAL_S, f"the verdict waited {took:.1f} s for a stray holding the result pipe"
    for pid in stray_pids(report):
        assert not alive(pid), f"the stray {pid} outlived its evaluation"
    assert report.isolation["strays_killed"] >= 1 and report.isolation["survivors"] == 0, report.isolation


def test_an_evaluation_killed_at_its_timeout_leaves_no_stray():
    report = smoke(VECTORADD, JAIL / "stray_then_hang.py", mode="test", timeout_s=4)
    assert report.error is not None and report.error.kind == "timeout", report.error
    for pid in stray_pids(report):
        assert not alive(pid), f"the stray {pid} outlived the killed evaluation"
    assert report.isolation["survivors"] == 0 and report.isolation["strays_killed"] >= 1, report.isolation


def kill_all(proc: subprocess.Popen, token: str) -> None:
    """SIGKILL every process marked with `token` (the evaluation's), then `proc` itself."""
    for pid in marked(token):
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()


@contextlib.contextmanager
def one_shot_smoke(candidate: Path, token: str):
    """`python -m gpu_harness smoke` of `candidate` (which hangs) running in the background; kills what
    is left of it after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpu_harness", "smoke", str(VECTORADD), str(candidate)]
        + ["--mode", "test", "--json", "--timeout", "60"],
        cwd=REPO,
        env=harness_env(token),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        kill_all(proc, token)


@contextlib.contextmanager
def worker_evaluating(candidate: Path, token: str):
    """A `gpu_harness serve` worker evaluating `candidate` (which hangs): yields once the worker, its
    evaluation child, the candidate's process and any stray are all running; kills what is left after."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "gpu_harness", "serve"],
        cwd=REPO,
        env=harness_env(token),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        json.loads(worker.stdout.readline())
        worker.stdin.write(
            json.dumps(
                {
                    "id": 1,
                    "op": "smoke",
                    "problem": str(VECTORADD),
                    "mode": "test",
                    "candidate": str(candidate),
                    "timeout_s": 60,
                }
            )
            + "\n"
        )
        worker.stdin.flush()
        yield worker
    finally:
        kill_all(worker, token)


def terminated_leaves_nothing(proc: subprocess.Popen, token: str, what: str) -> None:
    """Once the stray is up, TERM `proc`: within 5 s no process of the evaluation is left. The stray is
    the one process of another session that does not lead it (the middle of the double fork leads it
    and exits at once); counting processes is not enough: `proc`, the judge and the candidate's
    process are three before the stray exists, and a TERM then proved nothing about strays."""

    def stray_up() -> bool:
        mine = session_of(proc.pid)
        return any(session_of(p) not in (mine, p, None) for p in marked(token))

    wait_until(stray_up, 30, "the stray started")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    wait_until(lambda: not marked(token), 5, f"no process of the {what} left: {marked(token)}")


def test_a_cancelled_worker_takes_its_evaluation_and_strays_with_it():
    """job_cancel sends TERM to the worker's group; the evaluation child has a group of its own and the
    stray a session of its own, so only the worker can take them down."""
    token = uuid.uuid4().hex
    with worker_evaluating(JAIL / "stray_then_hang.py", token) as worker:
        terminated_leaves_nothing(worker, token, "cancelled worker")


def stat_fields(pid: int) -> list[bytes] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def session_of(pid: int) -> int | None:
    fields = stat_fields(pid)
    return None if fields is None else int(fields[3])


def children_of(pid: int, token: str) -> list[int]:
    return [p for p in marked(token) if (fields := stat_fields(p)) is not None and int(fields[1]) == pid]


def test_a_worker_killed_outright_takes_its_evaluation_child_along():
    """SIGKILL leaves the worker no time to sweep: the evaluation child dies with it (PDEATHSIG). Its
    detached strays are beyond reach then (nothing re-parents them to a living subreaper): job_cancel
    sends TERM first for that reason."""
    token = uuid.uuid4().hex
    with worker_evaluating(JAIL / "stray_then_hang.py", token) as worker:
        session = session_of(worker.pid)
        wait_until(lambda: len(marked(token)) >= 3, 30, "the stray started")
        worker.kill()
        worker.wait(timeout=10)
        wait_until(
            lambda: not [p for p in marked(token) if session_of(p) == session],
            5,
            "the evaluation child died with its worker",
        )


def test_a_judge_killed_outright_takes_the_candidates_process_along():
    """The candidate's process is the judge's child: a judge killed with no time to sweep (the OOM
    killer, a SIGKILL) must not leave the candidate running on the GPU (PDEATHSIG in candidate_process.spawn)."""
    token = uuid.uuid4().hex
    with worker_evaluating(CANDIDATES / "faults" / "infinite_loop.py", token) as worker:
        judges: list[int] = []
        candidates: list[int] = []

        def found() -> bool:
            judges[:] = children_of(worker.pid, token)
            candidates[:] = [c for j in judges for c in children_of(j, token)]
            return bool(candidates)

        wait_until(found, 30, "the candidate's process started")
        os.kill(judges[0], signal.SIGKILL)
        wait_until(
            lambda: not any(alive(c) for c in candidates),
            5,
            f"the candidate's process {candidates} died with its judge",
        )


def test_a_one_shot_smoke_killed_outright_leaves_no_process():
    """No worker sweeps after a one-shot smoke: killed with no time to clean up, its judge and the
    candidate's process (the judge's child, busy in a loop) must still die (PDEATHSIG on each)."""
    token = uuid.uuid4().hex
    with one_shot_smoke(CANDIDATES / "faults" / "infinite_loop.py", token) as proc:

        def spinning() -> bool:  # 0.3 s of CPU in its loop (utime): one still starting ends on its own
            return any(
                int(stat_fields(c)[11]) > 30
                for j in children_of(proc.pid, token)
                for c in children_of(j, token)
                if stat_fields(c)
            )

        wait_until(spinning, 30, "the candidate's process spun in its loop")
        proc.kill()
        proc.wait(timeout=10)
        wait_until(lambda: not marked(token), 5, f"no process of the killed smoke left: {marked(token)}")


def test_the_one_shot_smoke_is_not_delayed_by_a_stray_and_leaves_none():
    token = uuid.uuid4().hex
    started = time.monotonic()
    args = ("smoke", VECTORADD, JAIL / "stray_sleeper.py", "--mode", "test", "--json", "--timeout", "30")
    done = harness_cli(*args, env=harness_env(token), timeout=120)
    took = time.monotonic() - started
    try:
        report = json.loads(done.stdout)
        assert done.returncode == 0 and report["passed"], (report["error"], done.stderr[-2000:])
        assert took < NORMAL_S + 5, f"the one-shot smoke took {took:.1f} s"
        assert not marked(token), "a process of the evaluation outlived the one-shot smoke"
    finally:
        for pid in marked(token):
            os.kill(pid, signal.SIGKILL)


def test_a_cancelled_one_shot_smoke_leaves_no_process():
    token = uuid.uuid4().hex
    with one_shot_smoke(JAIL / "stray_then_hang.py", token) as proc:
        terminated_leaves_nothing(proc, token, "cancelled smoke")


# -- confinement -----------------------------------------------------------------------------------
def test_a_confined_candidate_names_its_own_threads_as_cudas_start_up_does():
    """cuInit writes /proc/<pid>/task/<tid>/comm; under Landlock without that folder writable CUDA fails
    with error 304 (seen on an H100 host). The candidate's process may write its own task folder, and
    the report's isolation is what that process says confined it (its first message)."""
    report = smoke(VECTORADD, JAIL / "names_its_threads.py", mode="test", timeout_s=60)
    assert report.passed and report.error is None, (report.error, report.stdout_tail)
    assert "thread named: cuda-like" in report.stdout_tail, report.stdout_tail
    if confine.landlock_abi() == 0:
        pytest.skip("this kernel has no Landlock: nothing refuses the writes")
    assert "/proc/self/task" in report.isolation["writable"], report.isolation
    assert "proc write: refused" in report.stdout_tail, report.stdout_tail


def test_a_candidate_cannot_write_outside_its_scratch_folder(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    candidate = workspace / "writes_outside.py"
    candidate.write_text((JAIL / "writes_outside.py").read_text())
    probes = [
        workspace / "JAIL_WRITE_PROBE",
        REPO / "gpu_harness" / "JAIL_WRITE_PROBE",
        Path("/tmp/JAIL_WRITE_PROBE"),
    ]
    for probe in probes:
        probe.unlink(missing_ok=True)
    try:
        report = smoke(VECTORADD, candidate, mode="test", timeout_s=60)
        assert report.error is None, report.error
        if confine.landlock_abi() == 0:
            assert report.isolation["landlock_abi"] == 0, report.isolation
            assert any("Landlock" in why for why in report.isolation["why"]), report.isolation
            pytest.skip("this kernel has no Landlock: the report says so (checked), writes cannot be refused")
        assert report.isolation["landlock_abi"] >= 1, report.isolation
        written = [str(p) for p in probes if p.exists()]
        assert not written, f"a confined candidate wrote {written}; it said: {report.stdout_tail}"
        assert "scratch ok" in report.stdout_tail, report.stdout_tail
        assert report.passed, report.cases
    finally:
        for probe in probes:
            probe.unlink(missing_ok=True)


def test_a_candidate_cannot_open_a_network_socket():
    report = smoke(VECTORADD, JAIL / "opens_socket.py", mode="test", timeout_s=60)
    assert report.passed, report.error
    assert report.isolation["network_blocked"] is True, report.isolation
    assert "opened" not in report.stdout_tail, report.stdout_tail
    assert report.stdout_tail.count("refused") == 2, report.stdout_tail


def test_the_report_says_when_confinement_was_not_in_force():
    """A host without Landlock or seccomp (here: turned off by the host's variable) still evaluates,
    and report.isolation says what was missing and why."""
    env = harness_env("off", GPU_HARNESS_CONFINE="0")
    done = harness_cli("smoke", VECTORADD, HONEST, "--mode", "test", "--json", env=env, timeout=120)
    report = json.loads(done.stdout)
    assert report["passed"], report["error"]
    isolation = report["isolation"]
    assert isolation["landlock_abi"] == 0 and isolation["network_blocked"] is False, isolation
    assert isolation["subreaper"] is True
    assert any("GPU_HARNESS_CONFINE" in why for why in isolation["why"]), isolation


def test_an_honest_report_says_what_confined_it():
    report = smoke(VECTORADD, HONEST, mode="test", timeout_s=60)
    assert report.passed
    isolation = report.isolation
    assert isolation["subreaper"] is True and isolation["survivors"] == 0 and isolation["strays_killed"] == 0
    if confine.landlock_abi():
        assert isolation["landlock_abi"] == confine.landlock_abi() and isolation["writable"], isolation


# -- persisting L2 ---------------------------------------------------------------------------------
@gpu
def test_a_persisting_l2_carve_out_does_not_make_a_candidate_faster():
    """The candidate sets aside L2 for persisting lines and a stream access-policy window over its
    inputs; the harness resets both before every sample, so it times like the plain kernel."""
    plain = smoke(SMALL_VECTORADD, HONEST, mode="benchmark", timeout_s=120)
    pinned = smoke(SMALL_VECTORADD, JAIL / "persisting_l2.py", mode="benchmark", timeout_s=120)
    assert plain.passed and pinned.passed, (plain.error, pinned.error, pinned.flags)
    assert "window set" in pinned.stdout_tail, pinned.stdout_tail
    for a, b in zip(plain.timing, pinned.timing):
        assert b.candidate.median_ms >= 0.9 * a.candidate.median_ms, (a.case, a.candidate, b.candidate)


@gpu
def test_a_stray_does_not_hold_up_a_profile_and_dies_with_it(tmp_path):
    """ncu and the profile wait for their output pipes' end: a stray holding them would hold the profile
    until its timeout. The profiled process is a subreaper and sweeps its descendants before it exits."""
    from gpu_harness.info import ncu_path

    if ncu_path() is None:
        pytest.skip("Nsight Compute (ncu) is not on this host")
    token = uuid.uuid4().hex
    started = time.monotonic()
    options = ("--sections", "SpeedOfLight", "--out", tmp_path, "--timeout", "300", "--json")
    done = harness_cli(
        "profile", VECTORADD, JAIL / "stray_sleeper.py", *options, env=harness_env(token), timeout=400
    )
    took = time.monotonic() - started
    doc = json.loads(done.stdout)
    assert not doc["error"], doc["error"]
    assert took < 150, f"the profile took {took:.0f} s (a stray held its pipes?)"
    assert not marked(token), "a stray of the profiled candidate outlived the profile"
