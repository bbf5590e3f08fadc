"""The candidate's process: it imports the candidate, calls it on inputs the judge placed in shared
memory, and hands back where its outputs are. Nothing here is trusted.

Once the candidate is imported, every line of this module, of gpu_harness and of torch in this
process is the candidate's to change. So this process never holds a reference output, a pristine
input, the secret seed or the report; what it says about itself (flags, its own event times) can
only count against it, or is checked by the judge (remote.py) on data and clocks it cannot reach.
The judge forks it before either process initialises CUDA, so each has its own context.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import torch

from gpu_harness import compile_cache, confine, guard
from gpu_harness.arena import DTYPES, Arena, TensorRef, open_shared
from gpu_harness.channel import CandidateEnd
from gpu_harness.check import map_leaves
from gpu_harness.clocks import ColdCache
from gpu_harness.guard import PATCH_WATCH, cuda_synchronize
from gpu_harness.hand_back import changed_since_copy, hand_back
from gpu_harness.outcome import EXIT_NO_CUDA, STAGE_RUN, CandidateFailure
from gpu_harness.problem import classify_exception
from gpu_harness.problem_loader import load_problem

EXIT_OK = 0


class Host:
    def __init__(self, end: CandidateEnd):
        self.end = end
        self.arenas: dict[int, Arena] = {}
        self.sets: dict[int, Any] = {}
        self.candidate = None
        self.module = None
        self.pending: Any = None  # an output that did not fit its return region yet
        self.threads = guard.live_threads()
        self.cold: ColdCache | None = None
        self.on_gpu = False
        self.null_sink: torch.Tensor | None = None

    # -- the loop -----------------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            msg = self.end.receive()
            if msg is None or msg.get("op") == "exit":
                return
            seq = msg.get("seq", 0)
            try:
                doc = getattr(self, "op_" + str(msg.get("op")))(msg)
            except CandidateFailure as exc:
                doc = {"error": {"stage": exc.stage, "kind": exc.kind, "message": exc.message}}
            except Exception as exc:  # noqa: BLE001  any failure here is the candidate's
                failure = classify_exception(exc, msg.get("stage", STAGE_RUN))
                doc = {"error": {"stage": failure.stage, "kind": failure.kind, "message": failure.message}}
            self.end.answer(seq, doc)

    # -- set-up -------------------------------------------------------------------------------
    def op_arena(self, msg: dict[str, Any]) -> dict[str, Any]:
        arena = open_shared(msg, self.end.take_fd())
        self.arenas[arena.ident] = arena
        return {"ok": True}

    def op_load(self, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("caches"):  # its own folder, moved to the candidate's store path (compile_cache.py)
            for name, value in confine.candidate_cache_environment(str(msg["caches"])).items():
                os.makedirs(value, mode=0o700, exist_ok=True)
                os.environ[name] = value
        problem = load_problem(msg["problem"])
        self.on_gpu = problem.device.type == "cuda"
        if not self.on_gpu:
            os.environ.setdefault("TRITON_INTERPRET", "1")
            torch.set_num_threads(1)  # as the judge does on the CPU (evaluate.CPU_THREADS)
        self.reference_callables = []
        PATCH_WATCH.rebind()
        self.threads = guard.live_threads()
        candidate = problem.load_candidate(Path(msg["candidate"]))
        self.candidate, self.module = candidate.call, candidate.module
        self.reference_callables = [f for f in problem.reference_callables() if f is not None]
        flags = self._patches("import")
        self.threads = guard.live_threads()
        return {"flags": flags}

    def op_bind(self, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("reset"):
            self.sets.clear()
            self.pending = None
        self.sets[int(msg["set"])] = _build(msg["tree"], self.arenas)
        return {"ok": True}

    # -- calls --------------------------------------------------------------------------------
    def op_call(self, msg: dict[str, Any]) -> dict[str, Any]:
        data = self.sets[int(msg["set"])]
        try:
            out = self.candidate(data)
            self._sync()
        except Exception as exc:
            raise classify_exception(exc, STAGE_RUN) from exc
        flags = self._patches("call")
        notes: list[list[str]] = []
        new = guard.new_threads(self.threads)
        if new:
            names = ", ".join(t.name for t in new)
            if guard.changed_after_return(out, new, self.on_gpu):
                flags.append(
                    [
                        guard.FLAG_SIDE_STREAM,
                        f"the output changed after the call returned, while threads it "
                        f"started were running ({names}): work deferred past the return",
                    ]
                )
            else:
                notes.append(
                    [
                        guard.NOTE_THREADS_LEFT_RUNNING,
                        f"threads left running after the call ({names}) did "
                        "not touch its output (compile workers, progress monitors)",
                    ]
                )
                self.threads |= set(new)
        flags += [list(p) for p in guard.output_type_problems(out)]
        return {**self._hand_back(out, msg.get("ret")), "flags": flags, "notes": notes}

    def op_copy_out(self, msg: dict[str, Any]) -> dict[str, Any]:
        return self._hand_back(self.pending, msg.get("ret"))

    def op_ownership(self, msg: dict[str, Any]) -> dict[str, Any]:
        values = vars(self.module).values()
        if any(
            hasattr(v, "_torchdynamo_orig_callable") or type(v).__name__ == "OptimizedModule" for v in values
        ):
            return {"ops": None, "borrowed": []}
        data = self.sets[int(msg["set"])]
        try:
            ops = sorted(guard.op_names(lambda: (self.candidate(data), self._sync())))
        except Exception:  # the dispatch mode is a diagnostic
            ops = None
        borrowed = [
            name
            for name, value in vars(self.module).items()
            if any(value is f for f in self.reference_callables)
        ]
        return {"ops": ops, "borrowed": borrowed}

    def op_sample(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One timed call (timing.timed_call, the judge's own procedure for the reference)."""
        from gpu_harness.timing import timed_call

        data = self.sets[int(msg["set"])]
        cold = self._cold()
        try:
            event_ms, host_ms, out = timed_call(self.candidate, data, cold, int(msg.get("cover", 0)))
        except Exception as exc:
            raise classify_exception(exc, "time") from exc
        doc: dict[str, Any] = {"event_ms": event_ms, "host_ms": host_ms}
        doc.update(self._hand_back(out, msg["ret"]))
        self._sync()
        doc["changed"] = changed_since_copy(out, doc, self.arenas)
        return doc

    def op_host_sample(self, msg: dict[str, Any]) -> dict[str, Any]:
        from gpu_harness.host_clock import host_call

        cold = self._cold()
        fn = (lambda data: cold.sink.zero_()) if msg.get("null") else self.candidate
        try:
            call_ms, host_ms, _ = host_call(fn, self.sets[int(msg["set"])], cold)
        except Exception as exc:
            raise classify_exception(exc, "time") from exc
        return {"call_ms": call_ms, "host_ms": host_ms}

    def op_batch(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Calls back to back on the sets the judge ordered; the last output of each set comes back.
        The judge times this request with its own clock."""
        order = [int(s) for s in msg["order"]]
        last: dict[int, Any] = {}
        try:
            self._sync()
            for set_id in order:
                last[set_id] = self.candidate(self.sets[set_id])
            self._sync()
        except Exception as exc:
            raise classify_exception(exc, "time") from exc
        outs = {}
        for set_id, region in msg["ret"].items():  # one synchronisation for all the copies, below
            doc = hand_back(last.get(int(set_id)), region, self.arenas, _no_sync)
            if "need" in doc:
                return doc
            outs[str(set_id)] = doc["out"]
        self._sync()
        self.pending = None
        return {"outs": outs}

    def op_null_batch(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A one-call batch of the harness's own: the same synchronisations around one tiny kernel on a
        tensor of its own, one output described. The judge asks for it before the candidate is imported,
        while nothing in this process is the candidate's: what a one-call round costs beyond the call."""
        gpu = torch.cuda.is_available()
        if self.null_sink is None:
            self.null_sink = torch.zeros(1, device="cuda" if gpu else "cpu")
        if gpu:
            cuda_synchronize()
        out = self.null_sink.add(1)
        if gpu:
            cuda_synchronize()
        hand_back(out, None, self.arenas, _no_sync)
        if gpu:
            cuda_synchronize()
        return {"outs": {}}

    # -- helpers ------------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.on_gpu:
            cuda_synchronize()

    def _cold(self) -> ColdCache:
        if self.cold is None:
            self.cold = ColdCache(torch.device("cuda") if self.on_gpu else torch.device("cpu"))
        return self.cold

    def _patches(self, when: str) -> list[list[str]]:
        changed = PATCH_WATCH.changed()
        if changed:
            PATCH_WATCH.restore()
        return [[flag, f"{name} was replaced by the candidate (at {when})"] for flag, name in changed]

    def _hand_back(self, out: Any, ret: Any) -> dict[str, Any]:
        doc = hand_back(out, ret, self.arenas, self._sync)
        self.pending = out if "need" in doc else None  # kept only for the copy_out that follows
        return doc


def _no_sync() -> None:
    pass


def _build(tree: Any, arenas: dict[int, Arena]) -> Any:
    """The candidate's inputs: its views of the places the judge named in the shared arenas."""

    def view(ref: TensorRef) -> torch.Tensor:
        return arenas[ref.arena].view(ref.offset, DTYPES[ref.dtype], ref.shape, ref.stride)

    return map_leaves(tree, view, TensorRef)


def main(fd: int) -> int:
    """The candidate's process after the fork: its own CUDA context, then requests until `exit`."""
    from gpu_harness.warmup import initialise_cuda

    end = CandidateEnd(fd)
    code = EXIT_OK
    try:
        try:
            initialise_cuda(comparisons=False)
        except BaseException:  # noqa: BLE001  no candidate code has run: the judge says whose fault
            code = EXIT_NO_CUDA
            raise
        finally:
            live = os.environ.pop(compile_cache.LIVE_ENV, None)
            if live:  # warm, or never: the worker may move its caches' folder now
                compile_cache.mark_ready(live)
        Host(end).serve()
    except BaseException:  # noqa: BLE001  its channel closes: the judge reports it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code
