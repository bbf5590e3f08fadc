"""The profile call: Nsight Compute on one NVTX-marked call of a candidate (and of a baseline),
through the harness's one-shot `profile` command, checked against the last smoke test.
"""

from __future__ import annotations

import asyncio
import posixpath
import secrets
import time

from mcp_bifrost.loop import evaluation, smoke
from mcp_bifrost.loop.harness import run_oneshot
from mcp_bifrost.loop.loop_base import LoopBase
from mcp_bifrost.loop.profile_check import against_smoke
from mcp_bifrost.loop.reports import parse_profile
from mcp_bifrost.models import ProfileReport
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.jobs import JobRef
from mcp_bifrost.ops.remote_command import quote
from mcp_bifrost.ops.workspace import workdir as remote_workdir
from mcp_bifrost.requests import ProfileRequest, PushRequest


class ProfileCalls(LoopBase):
    """KernelLoop's profile_ncu."""

    async def profile_ncu(self, request: ProfileRequest) -> ProfileReport:
        """Nsight Compute on one NVTX-marked call of the candidate (and of the baseline), summarised per kernel."""
        started = time.monotonic()
        timeout, t, prob, (cand, cand_local) = self._call(request, self.config.harness.profile_timeout_s)
        baseline, push = request.baseline, request.push
        base = None
        if baseline and baseline != "reference":
            base = self.workspace_path(baseline, "baseline", must_exist=push)[0]
        if push:
            await self.shell.push(PushRequest(target=request.target))
        ws = (await self.shell.remote_workspace(t)).twin
        out_dir = posixpath.join(
            await remote_workdir(t), "profiles", f"{jobs.new_job_id()}-{secrets.token_hex(2)}"
        )
        args = [
            f"profile {quote(posixpath.join(ws, prob))} {quote(posixpath.join(ws, cand))} --json",
            f"--out {quote(out_dir)}",
        ]
        if request.launch_count is not None:
            args.append(f"--launch-count {int(request.launch_count)}")
        if baseline:
            args.append(f"--baseline {quote('reference' if base is None else posixpath.join(ws, base))}")
        if request.sections:
            args.append(f"--sections {quote(','.join(request.sections))}")
        if request.kernel_regex:
            args.append(f"--kernel-regex {quote(request.kernel_regex)}")
        args.append(f"--timeout {timeout:g}")
        h = self.harness(t)  # on Slurm: one-shot inside srun, on a compute node

        async def work(state: evaluation.EvalState) -> ProfileReport:
            command = await h.oneshot_command(await h.folder(), " ".join(args), timeout + 30)
            doc, _ = await run_oneshot(
                t, command, timeout + 30, on_start=lambda pgid: setattr(state, "pgid", pgid)
            )
            report = parse_profile(doc, target=t.name, problem=prob, candidate=cand)
            report.candidate_sha256, report.gpu_wait_s = smoke.sha256(cand_local), state.gpu_wait_s
            await asyncio.to_thread(against_smoke, report, self.history)
            report.duration_s = round(time.monotonic() - started, 3)
            return report

        def failed(exc: BaseException) -> str:
            return smoke.profile_error_json(exc, prob=prob, cand=cand, target=t.name)

        result = await self._evaluate_call(
            h,
            t,
            ("profile", "profile_ncu", prob, cand),
            ws,
            self._limits(timeout, request.use_budget),
            work,
            request.progress,
            failed,
        )
        if isinstance(result, evaluation.Started):
            return smoke.profile_running(
                str(JobRef(t.name, result.job_id)), prob=prob, cand=cand, target=t.name, started=started
            )
        return result
