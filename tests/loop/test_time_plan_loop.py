"""Through MCP, a smoke test without timeout_s lets the harness size its deadline to the problem (its
time plan), and the tool result says what it chose; a caller's timeout_s is honoured as given."""

from __future__ import annotations

import pytest
from mcp import Client

from mcp_bifrost.config import load_config
from mcp_bifrost.loop.harness import smoke_time
from mcp_bifrost.server import build_server
from tests.loop.conftest import HONEST, budgeted
from tests.support.mcp_jobs import job_done

pytestmark = pytest.mark.anyio


def test_without_a_timeout_the_request_asks_for_a_planned_deadline_and_waits_for_it():
    planned = smoke_time(None, 300)
    assert planned.planned and planned.fields == {"max_deadline_s": 295} and "timeout_s" not in planned.fields
    assert planned.wait_s > 300 and planned.args == "--max-deadline 295"
    given = smoke_time(90, 300)
    assert not given.planned and given.fields == {"timeout_s": 90} and given.wait_s == 90


async def test_the_smoke_report_says_which_deadline_the_harness_chose_and_why(loop_config, workspace):
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        planned = (
            await client.call_tool(
                "run_smoke_test", {"problem": "vectoradd", "candidate": HONEST, "mode": "test"}
            )
        ).structured_content
        given = (
            await client.call_tool(
                "run_smoke_test",
                {"problem": "vectoradd", "candidate": HONEST, "mode": "test", "timeout_s": 60, "push": False},
            )
        ).structured_content
    assert planned["status"] == "passed", planned["summary"]
    assert planned["plan"]["auto"] is True and planned["plan"]["deadline_s"] >= 40
    assert planned["plan"]["reason"] and planned["plan"]["secret_repeats"] >= 1
    assert planned["plan"]["secret_cases_run"] >= 1
    assert given["plan"]["auto"] is False and given["plan"]["deadline_s"] == 55  # 60 s less the kill's grace


async def test_a_smoke_test_past_the_call_budget_runs_on_as_a_job_to_a_deadline_sized_to_the_problem(
    loop_config, workspace
):
    async with Client(build_server(budgeted(loop_config, 0.5), workspace)) as client:
        started = (
            await client.call_tool("run_smoke_test", {"problem": "vectoradd", "candidate": HONEST})
        ).structured_content
        assert started["status"] == "running", started["summary"]
        assert "sized to the problem" in started["summary"] and "`plan`" in started["summary"]
        status = await job_done(client, started["job_id"], 120)
    plan = status["report"]["plan"]
    assert status["state"] == "finished" and status["report"]["passed"], status["report"]["summary"]
    assert plan["auto"] is True and plan["deadline_s"] >= 40 and plan["reason"]
