"""The judge's handle on the candidate's process (candidate_host.py).

`spawn` forks that process from the judge before either initialises CUDA. `RemoteCandidate` stages
inputs in shared arenas, asks for calls, and rebuilds the outputs as views of the arenas, which
the judge clones at once: what it judges is what was there when the answer arrived. Every answer
is checked for shape (channel.py); what the candidate's process claims about itself is only ever
allowed to count against it: its flags are added, its error kinds never become harness errors,
and its own timings are checked against the judge's clock (timing.py, batch_call.py).
"""

from __future__ import annotations

import math
import os
import re
import signal
import socket
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import torch

from gpu_harness import guard, memory
from gpu_harness.arena import ArenaPool, TensorRef
from gpu_harness.channel import (
    ChannelClosed,
    ChannelTimeout,
    JudgeEnd,
    ProtocolViolation,
)
from gpu_harness.check import clone_tree, map_leaves, poison
from gpu_harness.guard import cuda_synchronize
from gpu_harness.hand_back import rebuild
from gpu_harness.outcome import (
    EXIT_NO_CUDA,
    HARNESS_KINDS,
    KIND_CRASHED,
    KIND_EXCEPTION,
    KIND_INTERNAL,
    KIND_OUT_OF_MEMORY,
    KIND_TIMEOUT,
    STAGE_RUN,
    STAGES,
    CandidateFailure,
)

FLAG_REPORT_FORGED = "report_forged"
# Flags the candidate's process may raise against itself; notes it may add.
FLAG_NAME = re.compile(r"^[a-z_]{1,40}$")
CANDIDATE_NOTES = frozenset({guard.NOTE_THREADS_LEFT_RUNNING})
DETAIL_LIMIT = 600
RET_SLACK_BYTES = 1 << 20
# The judge gives up on a call this long before the worker's hard kill, so that it still writes the report.
KILL_MARGIN_S = 1.0


class RemoteCandidate:
    def __init__(
        self,
        pid: int,
        sock: socket.socket,
        device: torch.device,
        seconds_left: Callable[[], float],
        on_flag: Callable[[str, str], None],
        on_note: Callable[[str, str], None],
    ):
        self.pid = pid
        self.end = JudgeEnd(sock)
        self.device = device
        self.seconds_left = seconds_left
        self.on_flag, self.on_note = on_flag, on_note
        self.pool = ArenaPool(device, self._share)
        self.sets: dict[int, tuple[Any, int]] = {}  # id(tree) -> (tree, set id)
        self.next_set = 0
        self.reset_pending = True
        self.status: int | None = None
        self.stage = STAGE_RUN

    # -- the channel --------------------------------------------------------------------------
    def _share(self, msg: dict[str, Any], fd: int | None) -> None:
        self.request({"op": "arena", **msg}, fd=fd)

    def request(
        self, msg: dict[str, Any], fd: int | None = None, timeout_s: float | None = None
    ) -> dict[str, Any]:
        stage = msg.get("stage", self.stage)
        wait = self.seconds_left() - KILL_MARGIN_S if timeout_s is None else timeout_s
        try:
            answer = self.end.request(msg, max(wait, 0.01), fd)
        except ChannelTimeout:
            self.kill()
            raise CandidateFailure(
                stage,
                KIND_TIMEOUT,
                f"no answer from the candidate's process within "
                f"{max(wait, 0):.1f} s at stage {stage}: a call never returned (an infinite "
                "loop or a hang?); it was killed",
            ) from None
        except ChannelClosed:
            raise self._died(stage) from None
        except ProtocolViolation as exc:
            self.kill()
            self.on_flag(
                FLAG_REPORT_FORGED,
                f"the candidate's process wrote on the harness's channel ({exc}); "
                "nothing it writes is a verdict, and it was stopped",
            )
            raise CandidateFailure(
                stage, KIND_EXCEPTION, f"the candidate's process broke the harness's protocol: {exc}"
            ) from None
        error = answer.get("error")
        if isinstance(error, dict):
            kind = str(error.get("kind", KIND_EXCEPTION))
            kind = KIND_EXCEPTION if kind in HARNESS_KINDS or kind == KIND_TIMEOUT else kind
            where = str(error.get("stage", stage))
            raise CandidateFailure(
                where if where in STAGES and where != "setup" else stage,
                kind,
                str(error.get("message", ""))[:4000],
            )
        return answer

    def _died(self, stage: str) -> CandidateFailure:
        return _death(self.reap(), stage)

    def reap(self, block: bool = True) -> int | None:
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
                if pid:
                    self.status = status
            except ChildProcessError:
                pass
        return self.status

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.reap()

    def close(self) -> None:
        if self.status is None:
            try:
                self.end.request({"op": "exit"}, 0.01)
            except Exception:  # noqa: BLE001  it exits or is killed either way
                pass
            self.kill()
        self.end.close()

    # -- loading ------------------------------------------------------------------------------
    def load(self, problem: str, candidate: str, caches: str | None = None) -> None:
        """Import the candidate in its process, its compile caches sent to `caches` first (its own
        folder; None: where its process was confined to put them)."""
        msg: dict[str, Any] = {"op": "load", "problem": problem, "candidate": candidate, "stage": "load"}
        if caches is not None:
            msg["caches"] = caches
        answer = self.request(msg)
        self.flags_from(answer)

    def flags_from(self, answer: dict[str, Any]) -> None:
        for item in answer.get("flags") or []:
            if isinstance(item, list) and len(item) == 2 and FLAG_NAME.match(str(item[0])):
                self.on_flag(str(item[0]), str(item[1])[:DETAIL_LIMIT])
        for item in answer.get("notes") or []:
            if isinstance(item, list) and len(item) == 2 and item[0] in CANDIDATE_NOTES:
                self.on_note(str(item[0]), str(item[1])[:DETAIL_LIMIT])

    # -- inputs -------------------------------------------------------------------------------
    def new_case(self) -> None:
        """What the last case staged is free again (the arenas stay: they only ever held what the
        candidate saw)."""
        self.pool.reset()
        self.sets.clear()
        self.reset_pending = True

    def stage_data(self, data: Any, poisonable: set[int]) -> Any:
        """Copy `data` into shared memory (output buffers poisoned); the candidate's process binds the
        same memory. Returns the judge's views of it."""
        index = [0]

        def place(t: torch.Tensor) -> _Placed:
            i = index[0]
            index[0] += 1
            if t.device.type != self.device.type:
                return _Placed(t.clone(), t.clone())  # travels by value
            view, region = self.pool.tensor(t)
            if i in poisonable:
                poison(view)
            else:
                view.copy_(t)
            return _Placed(
                view,
                TensorRef(region.arena, region.offset, str(t.dtype), tuple(view.shape), tuple(view.stride())),
            )

        placed = map_leaves(data, place)
        views, refs = _pick(placed, "view"), _pick(placed, "ref")
        self.sync()
        set_id = self.next_set
        self.next_set += 1
        self.request({"op": "bind", "set": set_id, "tree": refs, "reset": self.reset_pending})
        self.reset_pending = False
        self.sets[id(views)] = (views, set_id)
        return views

    def set_of(self, views: Any) -> int:
        return self.sets[id(views)][1]

    def sync(self) -> None:
        if self.device.type == "cuda":
            cuda_synchronize()

    # -- calls --------------------------------------------------------------------------------
    def call(self, views: Any) -> Any:
        """One checked call on staged inputs; the outputs as views of shared memory."""
        ret = self.ret_region(views)
        self.sync()  # the judge's own writes to the inputs (a refill in place) land before the candidate reads
        answer = self.request({"op": "call", "set": self.set_of(views), "ret": ret})
        self.flags_from(answer)
        answer = self.complete(answer)
        return self.rebuild(answer["out"])

    def ret_region(self, views: Any) -> tuple[int, int, int]:
        need = memory.tree_bytes(views) + RET_SLACK_BYTES
        region = self.pool.alloc(need)
        return (region.arena, region.offset, region.nbytes)

    def complete(self, answer: dict[str, Any], op: str = "copy_out", **extra: Any) -> dict[str, Any]:
        """An output too big for its return region: a larger one, and the copy again."""
        if "need" in answer:
            answer = self.request({"op": op, "ret": self.region(int(answer["need"])), **extra})
        if "out" not in answer and "outs" not in answer:
            raise CandidateFailure(
                self.stage, KIND_EXCEPTION, "the candidate's process handed back no output"
            )
        return answer

    def rebuild(self, doc: Any) -> Any:
        """The output tree, every tensor a view of an arena (bounds checked here, by the judge)."""
        return rebuild(doc, self.pool.view, self.device.type, self.on_flag)

    def ownership(self, views: Any) -> dict[str, Any]:
        self.sync()
        return self.request({"op": "ownership", "set": self.set_of(views)})

    # -- timing (timing.py) ---------------------------------------------------------------------
    def sample(self, views: Any, cover_cycles: int) -> tuple[float, float, Any, bool]:
        """One timed call in the candidate's process: (its event ms, its host ms, the judge's clone of
        the output, whether it says the output moved after the call). Its times are claims. Every
        sample's output comes back: which ones the judge checks is drawn after the call, so nothing in
        the request tells the candidate which calls it could skip."""
        mark = self.pool.mark()
        self.sync()
        answer = self.request(
            {
                "op": "sample",
                "set": self.set_of(views),
                "cover": int(cover_cycles),
                "ret": self.ret_region(views),
            }
        )
        answer = {**answer, **self.complete(answer)}
        out = clone_tree(self.rebuild(answer["out"]))
        self.sync()
        self.pool.rewind(mark)
        return _ms(answer.get("event_ms")), _ms(answer.get("host_ms")), out, bool(answer.get("changed"))

    def host_sample(self, views: Any, null: bool = False) -> tuple[float, float]:
        self.sync()
        answer = self.request({"op": "host_sample", "set": self.set_of(views), "null": null})
        return _ms(answer.get("call_ms")), _ms(answer.get("host_ms"))

    def region(self, nbytes: int) -> tuple[int, int, int]:
        if nbytes <= 0 or nbytes > (1 << 40):
            raise CandidateFailure(
                self.stage, KIND_EXCEPTION, f"an output of {nbytes} bytes cannot be handed back"
            )
        region = self.pool.alloc(nbytes)
        return (region.arena, region.offset, region.nbytes)


def _death(status: int | None, stage: str) -> CandidateFailure:
    """Why the candidate's process gave no answer, from how it ended."""
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        kind = KIND_OUT_OF_MEMORY if sig == signal.SIGKILL else KIND_CRASHED
        return CandidateFailure(stage, kind, f"the candidate's process died at stage {stage} with {name}")
    code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else status
    if code == EXIT_NO_CUDA:
        return CandidateFailure(
            stage,
            KIND_INTERNAL,
            "the candidate's process could not start CUDA, before any candidate code ran in it: a "
            "fault of this host or of the harness, not of the candidate (its traceback is in stderr_tail)",
        )
    return CandidateFailure(
        stage,
        KIND_CRASHED,
        f"the candidate's process exited with status {code} at stage "
        f"{stage} without an answer (the candidate called exit?)",
    )


class _Placed:
    def __init__(self, view: torch.Tensor, ref: Any):
        self.view, self.ref = view, ref


def _ms(value: Any) -> float:
    """A time the candidate's process claims: a number, or nothing (counted as zero: a claim of no
    time at all is what the judge's clock then overrules)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _pick(tree: Any, what: str) -> Any:
    return map_leaves(tree, attrgetter(what), _Placed)
