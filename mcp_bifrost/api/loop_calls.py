"""GPU's calls of the kernel loop: smoke tests (one or many), Nsight Compute profiles, history, problems.

ARCHITECTURE.md has the data path of a smoke test below these calls.
"""

from __future__ import annotations

from mcp_bifrost.api.audited import AuditedClient, own_arguments
from mcp_bifrost.loop import evaluation, fanout
from mcp_bifrost.models import (
    FanoutSmokeReport,
    HistoryReport,
    ProblemsReport,
    ProfileReport,
    SmokeReport,
)
from mcp_bifrost.requests import FanoutRequest, Mode, ProfileRequest, SmokeRequest


class KernelLoopCalls(AuditedClient):
    """The kernel loop's half of GPU (the shell's half is in client.py)."""

    # -- the kernel loop --------------------------------------------------------------------------
    async def run_smoke_test(
        self,
        problem: str,
        candidate: str,
        *,
        target: str | None = None,
        mode: Mode = "both",
        push: bool = True,
        timeout_s: float | None = None,
        use_budget: bool = False,
        progress: evaluation.Progress | None = None,
    ) -> SmokeReport:
        """Check and time a candidate (a workspace path) against a problem's reference on a target.

        Read `report.summary` first; `passed`, `speedup`, `cases`, `error` and `flags` say the rest.
        Every report is kept in the history database."""
        request = SmokeRequest(**own_arguments(locals()))
        return await self._request("run_smoke_test", request, self._app.loop.run_smoke_test(request))

    async def run_smoke_tests(
        self,
        problem: str,
        candidates: list[str],
        *,
        target: str | None = None,
        mode: Mode = "both",
        push: bool = True,
        timeout_s: float | None = None,
        use_budget: bool = False,
        progress: fanout.FanoutProgress | None = None,
    ) -> FanoutSmokeReport:
        """Smoke-test many candidates at once, one per free GPU of the target (Slurm: one job each), ranked.

        progress(done, total, line) as each one finishes."""
        request = FanoutRequest(**own_arguments(locals()))
        return await self._request("run_smoke_test", request, self._app.loop.run_smoke_tests(request))

    async def profile_ncu(
        self,
        problem: str,
        candidate: str,
        *,
        target: str | None = None,
        sections: list[str] | None = None,
        kernel_regex: str | None = None,
        launch_count: int | None = None,
        baseline: str | None = None,
        push: bool = True,
        timeout_s: float | None = None,
        use_budget: bool = False,
        progress: evaluation.Progress | None = None,
    ) -> ProfileReport:
        """Nsight Compute on one call of the candidate (and of `baseline`, e.g. "reference"), per kernel:
        what bounds it, its stalls and ncu's advice. Use it when the speedup stops growing."""
        request = ProfileRequest(**own_arguments(locals()))
        return await self._request("profile_ncu", request, self._app.loop.profile_ncu(request))

    async def history(self, problem: str, *, limit: int = 20) -> HistoryReport:
        """Past smoke tests and profiles of a problem, newest first, and the best passing candidate."""
        return await self._call(
            "history",
            None,
            {"problem": problem, "limit": limit},
            self._app.loop.history_report(problem, limit),
        )

    async def history_plot(self, problem: str) -> bytes:
        """A PNG of the problem's progress: speedup per attempt and the best so far."""
        return await self._call(
            "history", None, {"problem": problem, "plot": True}, self._app.loop.history_plot(problem)
        )

    async def problems(self) -> ProblemsReport:
        """The kernel problems in the workspace, with their sizes and example candidates."""
        return await self._call("problems", None, {}, self._app.loop.problems())

    @property
    def last_report(self) -> SmokeReport | ProfileReport | None:
        """The last smoke test or profile this client produced."""
        return self._app.last_report
