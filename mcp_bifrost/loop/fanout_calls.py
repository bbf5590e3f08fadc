"""The fan-out call: several candidates smoke-tested at once, one per free GPU (loop/fanout.py
places them), ranked; past the call budget the whole fan-out continues as one job.
"""

from __future__ import annotations

import asyncio
import time

from mcp_bifrost.errors import BifrostError, CommandError
from mcp_bifrost.loop import evaluation, fanout, smoke
from mcp_bifrost.loop.harness import smoke_time
from mcp_bifrost.loop.loop_base import LoopBase
from mcp_bifrost.models import (
    FanoutSmokeReport,
    SmokeReport,
)
from mcp_bifrost.ops.jobs import JobRef
from mcp_bifrost.ops.kinds import kind_of
from mcp_bifrost.requests import FanoutRequest, PushRequest
from mcp_bifrost.targets.base import Target


class FanoutCalls(LoopBase):
    """KernelLoop's run_smoke_tests."""

    async def run_smoke_tests(self, request: FanoutRequest) -> FanoutSmokeReport:
        """Smoke-test several candidates at once, one per free GPU of the target (loop/fanout.py), ranked.

        Each evaluation holds its GPU's lock and runs in that GPU's own warm worker; each report goes
        to history. With `use_budget` (MCP), a fan-out still running at the call budget continues as a
        job whose status carries the whole report; without (CLI), the call waits for every candidate."""
        started = time.monotonic()
        self.shell.timeout(request.timeout_s, self.config.harness.smoke_timeout_s)  # refused before it starts
        t = self.shell.target(request.target)
        caller = [request.progress]  # dropped when the call returns early: nobody reads its progress any more

        async def tell(done: int, total: int, line: str) -> None:
            if caller[0] is not None:
                await caller[0](done, total, line)

        work = asyncio.ensure_future(self._fan_out(request, t, tell, started))
        if not request.use_budget:
            return await work
        await asyncio.wait({work}, timeout=self.config.limits.call_budget_s)
        if work.done():
            return work.result()
        caller[0] = None
        prob = self.workspace_path(request.problem, "problem", must_exist=False)[0]
        ws = (await self.shell.remote_workspace(t)).twin

        def failed(exc: BaseException) -> str:
            return smoke.fanout_error(exc, prob=prob, target=t.name, started=started).model_dump_json()

        try:
            job_id = await evaluation.detach(
                t,
                work,
                f"run_smoke_test {prob} candidates={len(request.candidates)}",
                ws,
                on_report=lambda m: (0 if not (m.failed or m.not_run) else 1, m.model_dump_json()),
                on_error=failed,
                grace_s=self.config.limits.kill_grace_s,
            )
        except BaseException:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise
        return smoke.fanout_running(
            str(JobRef(t.name, job_id)),
            self.config.limits.call_budget_s,
            len(request.candidates),
            prob=prob,
            target=t.name,
            started=started,
        )

    async def _fan_out(
        self,
        request: FanoutRequest,
        t: Target,
        progress: fanout.FanoutProgress | None,
        started: float,
    ) -> FanoutSmokeReport:
        if not request.candidates:
            raise CommandError("candidates is empty: give one or more candidate paths")
        push = request.push
        prob, _ = self.workspace_path(request.problem, "problem", must_exist=push)
        cands = [self.workspace_path(c, "candidate", must_exist=push) for c in request.candidates]
        if push:
            await self.shell.push(PushRequest(target=t.name))
        ws = (await self.shell.remote_workspace(t)).twin
        self.shell.timeout(request.timeout_s, self.config.harness.smoke_timeout_s)
        limit = smoke_time(request.timeout_s, self.config.harness.smoke_timeout_s)
        kind = kind_of(t)
        slurm = kind.scheduler_gives_gpu  # one job per candidate; the scheduler picks each GPU
        gpus = self.config.target(t.name)[
            1
        ].gpus  # one slot per GPU; a single one keeps the target's own worker
        slots = fanout.slots_for(
            t, gpus if len(gpus) > 1 else [], len(cands), idle_gpus=await kind.idle_gpus(t)
        )
        await self.harness(t).folder()  # install once, before the workers look
        call = smoke.SmokeCall(t.name, prob, request.mode, limit, self.shell.words, ws)
        done = 0

        async def evaluate(index: str, slot: fanout.Slot) -> SmokeReport:
            cand, local = cands[int(index)]
            h = self.harness(t, slot.gpu)
            gpu = None if slurm else self.harnesses.gpu(t) if slot.gpu is None else slot.gpu
            work = call.work(h, cand, sha=smoke.sha256(local), started=time.monotonic(), gpu=gpu)

            async def tick(elapsed: float, line: str) -> None:
                if progress is not None:
                    await progress(done, len(cands), f"{done}/{len(cands)} done; {cand}: {line}")

            try:  # on Slurm (gpu None) the scheduler keeps one job per GPU: no lock of ours
                result = await evaluation.evaluate(
                    h,
                    gpu,
                    f"smoke {prob} {cand}",
                    self._limits(limit.wait_s, False),
                    work,
                    job_command="",
                    job_cwd=ws,
                    progress=tick,
                    on_done=self._remember,
                    on_job_report=str,
                    on_job_error=str,
                )
            except BifrostError as exc:
                report = call.error(cand, exc)
                report.device["gpu_index"] = gpu
                await self._remember(report)
                return report
            assert not isinstance(result, evaluation.Started)  # no job_command: a slot never becomes a job
            return result

        async def finished(k: int, total: int, line: str) -> None:
            nonlocal done
            done = k
            if progress is not None:
                await progress(k, total, line)

        outcomes = await fanout.fan_out(
            [str(i) for i in range(len(cands))], evaluate, slots, score=smoke.smoke_score, progress=finished
        )
        return smoke.fanout_report(t.name, prob, len(slots), outcomes, round(time.monotonic() - started, 3))
