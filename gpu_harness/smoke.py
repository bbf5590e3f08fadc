"""One evaluation, in-process: load -> check every case -> time every benchmark case -> report.

This runs inside the isolated child (worker.py forks it); nothing here protects itself from a crash.
Order matters for honesty: the candidate runs before the reference output of a case exists, the
reference runs on pristine inputs, and every harness-held result is scrubbed before release.
"""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any, Callable

import torch

from gpu_harness import check, guard
from gpu_harness.check import clone_tree, poison, same_bits, scrub, tensor_leaves
from gpu_harness.guard import PATCH_WATCH, cuda_synchronize, perf_counter_ns
from gpu_harness.outcome import (
    STAGE_CHECK, STAGE_LOAD, STAGE_RUN, STAGE_SETUP, STAGE_TIME, BadRequest, CandidateFailure, CaseResult,
    HarnessError,
    Report, StageError,
)
from gpu_harness.problem import Case, Problem, classify_exception, combine_seed, load_problem
from gpu_harness.timing import TimingInputs, set_version, time_case

MODES = ("test", "benchmark", "both")
# Seed offsets for draws the candidate never sees as a case: buffer learning, replay probe, rechecks.
LEARN_SEED_OFFSET = 7919
PROBE_SEED_OFFSET = 104729
RECHECK_SECRET_OFFSET = 1


def evaluate(problem_path: str, candidate_path: str, mode: str = "both",
             on_stage: Callable[[str], None] | None = None, overrides: dict[str, Any] | None = None) -> Report:
    report = Report(problem=str(problem_path), candidate=str(candidate_path), mode=mode)
    started = perf_counter_ns()
    evaluation = None
    try:
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {MODES}, not {mode!r}")
        problem = load_problem(problem_path)
        if problem.device.type == "cpu":
            os.environ.setdefault("TRITON_INTERPRET", "1")      # Triton candidates run interpreted on CPU
        report.problem_format = problem.format
        report.device = device_info(problem.device)
        evaluation = Evaluation(problem, report, mode, on_stage or (lambda stage: None), overrides or {})
        try:
            evaluation.run(Path(candidate_path))
        finally:
            evaluation.close_stage()
    except HarnessError as exc:
        report.error = StageError(exc.stage, exc.kind, str(exc))
    except CandidateFailure as exc:
        report.error = StageError(exc.stage, exc.kind, exc.message)
    finally:
        report.wall_s = (perf_counter_ns() - started) / 1e9
    return report.finish()


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"type": device.type, "torch": torch.__version__}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, sm_count=props.multi_processor_count,
                    l2_bytes=int(getattr(props, "L2_cache_size", 0)), memory_bytes=props.total_memory)
    else:
        info.update(name="cpu", triton_interpret=os.environ.get("TRITON_INTERPRET") == "1")
    return info


class Evaluation:
    def __init__(self, problem: Problem, report: Report, mode: str, on_stage: Callable[[str], None],
                 overrides: dict[str, Any]):
        self.problem = problem
        self.report = report
        self.mode = mode
        self.on_stage = on_stage
        self.overrides = overrides
        self.secret = int.from_bytes(os.urandom(4), "little") >> 2    # never shown to the candidate
        self.settings = problem.settings
        self.rtol, self.atol = self.settings.rtol, self.settings.atol
        self.candidate = None
        self.plan = check.BufferPlan()
        self.threads = guard.live_threads()
        self.on_gpu = problem.device.type == "cuda"
        self._stage: str | None = None
        self._stage_started = 0

    # -- the procedure ------------------------------------------------------------------------
    def run(self, candidate_path: Path) -> None:
        self.stage(STAGE_SETUP)
        first = (self.problem.tests or self.problem.benchmarks)[0]
        self.plan = check.learn_buffers(self.problem.generate(self._offset(first.params, LEARN_SEED_OFFSET)),
                                        self.problem.reference)
        self.threads = guard.live_threads()

        self.stage(STAGE_LOAD)
        PATCH_WATCH.rebind()          # after the harness's own lazy imports, before the candidate's
        self.candidate = self.problem.load_candidate(candidate_path)
        self.guard_patches("import")
        self.threads = guard.live_threads()

        for index, case in enumerate(self.cases()):
            result = self.check_case(case, probe=index == 0)
            self.report.cases.append(result)
        if self.mode in ("benchmark", "both"):
            if all(c.passed for c in self.report.cases) and not self.report.flags:
                for case in self.problem.benchmarks:
                    self.time_benchmark(case)
                self.score()
            else:
                self.report.add_note(guard.NOTE_TIMING_SKIPPED, "not timed: a case failed or a flag was raised "
                                     "during the checks; fix those first")
        if not self.on_gpu and self.report.timing:
            self.report.add_note(guard.NOTE_HOST_CLOCK, "no CUDA device: times are host-clock times of CPU "
                                 "execution (Triton through TRITON_INTERPRET=1), not GPU kernel times")

    def cases(self) -> list[Case]:
        cases: list[Case] = []
        if self.mode in ("test", "both"):
            cases += self.problem.tests
            for repeat in range(self.settings.secret_repeats):
                for case in self.problem.tests:
                    if "seed" in case.params:
                        params = dict(case.params, seed=combine_seed(int(case.params["seed"]),
                                                                     self.secret + repeat))
                        cases.append(Case(f"secret{repeat}.{case.name}", "secret", params))
        if self.mode in ("benchmark", "both"):
            cases += self.problem.benchmarks
        return cases

    def stage(self, name: str) -> None:
        """Enter a stage: tell the parent (so a crash is attributed) and account the time spent."""
        now = perf_counter_ns()
        if self._stage is not None:
            spent = self.report.stage_s
            spent[self._stage] = spent.get(self._stage, 0.0) + (now - self._stage_started) / 1e9
        self._stage, self._stage_started = name, now
        self.on_stage(name)

    def close_stage(self) -> None:
        if self._stage is not None:
            self.stage(self._stage)

    # -- correctness --------------------------------------------------------------------------
    def check_case(self, case: Case, probe: bool = False) -> CaseResult:
        started = perf_counter_ns()
        self.stage(STAGE_SETUP)
        data = self.problem.generate(case.params)          # pristine: only the reference sees it
        snapshot = clone_tree(data)
        cand_data = self._candidate_copy(data)
        result = CaseResult(case.name, case.kind, case.public_params(), passed=False)

        self.stage(STAGE_RUN)
        out = self.call_candidate(cand_data)
        if not self.guard_output(out, cand_data, snapshot, [*tensor_leaves(data), *tensor_leaves(snapshot)], result):
            return self._finish_case(result, started)
        first = clone_tree(out)

        out2 = self.call_candidate(self._candidate_copy(data))             # same inputs, fresh memory
        self.stage(STAGE_CHECK)
        if type(out2) is torch.Tensor or isinstance(out2, (tuple, list, dict)):
            if not check.outputs_within_tolerance(out2, first, self.rtol, self.atol):
                self.report.add_flag(guard.FLAG_NONDETERMINISTIC,
                                     f"case {case.name}: two runs on the same inputs differ beyond tolerance "
                                     "(uninitialised reads or races)")
                result.bitwise_repeatable = False
            else:
                result.bitwise_repeatable = check.outputs_same_bits(out2, first)
                if not result.bitwise_repeatable:
                    self.report.add_note(guard.NOTE_BITWISE_DIFFERENCES,
                                         "two runs on the same inputs differ in low bits, within tolerance "
                                         "(atomics or reordered sums are legitimate)")
        del out2

        # Only now, with the candidate's calls done, does the reference output exist.
        verdict = self.verdict(data, first)
        result.passed, result.reason, result.message = verdict.passed, verdict.reason, verdict.message
        for attr in ("max_abs_err", "max_rel_err", "mismatches", "numel", "first_mismatches", "rtol", "atol"):
            setattr(result, attr, getattr(verdict, attr))
        if probe and result.passed:
            self.replay_probe(case, cand_data)
            self.kernel_ownership(data)
        scrub(first)
        scrub(snapshot)
        return self._finish_case(result, started)

    def _finish_case(self, result: CaseResult, started: int) -> CaseResult:
        result.seconds = (perf_counter_ns() - started) / 1e9
        return result

    def _candidate_copy(self, data: Any) -> Any:
        copy = clone_tree(data)
        for i, leaf in enumerate(tensor_leaves(copy)):
            if i in self.plan.poisonable:
                poison(leaf)
        return copy

    def call_candidate(self, data: Any) -> Any:
        try:
            out = self.candidate.call(data)
            self.synchronize()
        except Exception as exc:
            raise classify_exception(exc, STAGE_RUN) from exc
        self.guard_patches("call")
        new = guard.new_threads(self.threads)
        if new:
            self.report.add_flag(guard.FLAG_THREAD_SPAWNED,
                                 f"the candidate left threads running after it returned: {', '.join(new)}")
        return out

    def synchronize(self) -> None:
        if self.on_gpu:
            cuda_synchronize()

    def guard_output(self, out: Any, cand_data: Any, snapshot: Any, harness_held: list[torch.Tensor],
                     result: CaseResult) -> bool:
        """Flags on the output's type, aliasing and input mutation; False when it cannot be compared."""
        problems = guard.output_type_problems(out)
        for name, detail in problems:
            self.report.add_flag(name, detail)
        if any(name == guard.FLAG_LAZY_OUTPUT for name, _ in problems):
            result.reason, result.message = check.REASON_NOT_A_TENSOR, problems[0][1]
            return False
        for name, detail in guard.alias_problems(out, tensor_leaves(cand_data), self.plan.writable, harness_held):
            self.report.add_flag(name, detail)
        for i, (now, before) in enumerate(zip(tensor_leaves(cand_data), tensor_leaves(snapshot))):
            if i not in self.plan.writable and not same_bits(now, before):
                self.report.add_flag(guard.FLAG_INPUT_MUTATED,
                                     f"case {result.name}: input #{i} {tuple(now.shape)} was changed by the call; "
                                     "the reference writes only inputs " + (str(sorted(self.plan.writable)) or "none"))
        return True

    def verdict(self, data: Any, output: Any) -> check.Comparison:
        """Compare with the reference computed now, on pristine inputs; the problem's own check decides
        when it has one."""
        expected = self.problem.reference(clone_tree(data))
        comparison = check.compare(output, expected, self.rtol, self.atol)
        scrub(expected)
        del expected
        own = self.problem.own_check(data, output)
        if own is not None:
            good, message = own
            if good:
                comparison.passed, comparison.reason = True, ""
            elif comparison.passed or not comparison.reason:
                comparison.passed, comparison.reason = False, check.REASON_PROBLEM_CHECK
            if not good:
                comparison.passed = False
                comparison.message = (message or comparison.message)[:2000]
        return comparison

    def replay_probe(self, case: Case, cand_data: Any) -> None:
        """Refill the buffers of the first call in place (same pointers, ids, version counters) with a
        new draw; a candidate that replays a cached answer returns the old one."""
        fresh = self.problem.generate(self._offset(case.params, PROBE_SEED_OFFSET))
        for i, (dst, src) in enumerate(zip(tensor_leaves(cand_data), tensor_leaves(fresh))):
            version = dst._version
            if i in self.plan.poisonable:
                poison(dst)
            else:
                dst.copy_(src)
            set_version(dst, version)
        out = self.call_candidate(cand_data)
        self.stage(STAGE_CHECK)
        verdict = self.verdict(fresh, clone_tree(out))
        if not verdict.passed:
            self.report.add_flag(guard.FLAG_RESULT_REPLAY,
                                 f"case {case.name}: after its input buffers were refilled in place with new "
                                 f"values (same pointers, ids and version counters) the output was wrong "
                                 f"({verdict.message[:200]}): a cache keyed on pointer, id or version")
        scrub(fresh)

    def kernel_ownership(self, data: Any) -> None:
        try:
            cand_ops = guard.op_names(lambda: (self.candidate.call(self._candidate_copy(data)), self.synchronize()))
            ref_ops = guard.op_names(lambda: (self.problem.reference(clone_tree(data)), self.synchronize()))
        except Exception:            # the profiler is a diagnostic; its failure is not the candidate's
            return
        detail = guard.fallback_detail(cand_ops, ref_ops)
        refs = [f for f in self.problem.reference_callables() if f is not None]
        borrowed = [name for name, value in vars(self.candidate.module).items()
                    if any(value is f for f in refs)]
        if borrowed:
            detail = (detail + "; " if detail else "") + f"it imports the reference's {', '.join(borrowed)}"
        if detail:
            self.report.add_note(guard.NOTE_NO_OWN_KERNEL, detail)

    def guard_patches(self, when: str) -> None:
        changed = PATCH_WATCH.changed()
        for flag, name in changed:
            self.report.add_flag(flag, f"{name} was replaced by the candidate (at {when}); the harness uses "
                                       "its own references, bound before the candidate was imported")
        if changed:
            PATCH_WATCH.restore()

    # -- timing -------------------------------------------------------------------------------
    def time_benchmark(self, case: Case) -> None:
        self.stage(STAGE_TIME)
        base_seed = int(case.params.get("seed", 0))

        def generate(seed: int) -> Any:
            return self.problem.generate(dict(case.params, seed=seed) if "seed" in case.params else case.params)

        def verify(pristine: Any, out: Any) -> bool:
            return self.verdict(pristine, out).passed

        def candidate(data: Any) -> Any:
            return self.candidate.call(data)

        job = TimingInputs(reference=self.problem.reference, candidate=candidate, generate=generate,
                           verify=verify, seed=combine_seed(base_seed, self.secret + 17),
                           writable=self.plan.writable, poisonable=self.plan.poisonable,
                           overrides={**self.settings.timing, **self.overrides})
        threads = guard.live_threads()
        try:
            outcome = time_case(case.name, case.public_params(), job, self.problem.device)
        except CandidateFailure:
            raise
        except Exception as exc:
            raise classify_exception(exc, STAGE_TIME) from exc
        self.guard_patches("timing")
        new = guard.new_threads(threads)
        if new:
            self.report.add_flag(guard.FLAG_THREAD_SPAWNED, f"threads left running during timing: {', '.join(new)}")
        result = outcome.result
        self.report.timing.append(result)
        if outcome.failed_verifications:
            self.report.add_flag(guard.FLAG_RESULT_REPLAY,
                                 f"case {case.name}: {outcome.failed_verifications} of {result.verified_samples} "
                                 "verified timed calls returned wrong outputs after in-place refills: stale "
                                 "answers (a cache keyed on pointer, id or version, or work skipped when timed)")
        ref, cand = result.reference, result.candidate
        if self.on_gpu and ref.host_median_ms is not None and cand.host_median_ms is not None:
            detail = guard.events_miss_work(cand.median_ms, cand.host_median_ms, cand.host_call_median_ms or 0.0,
                                            ref.median_ms, ref.host_median_ms, ref.host_call_median_ms or 0.0)
            if detail:
                self.report.add_flag(guard.FLAG_SIDE_STREAM, f"case {case.name}: {detail}")
        if self.settings.roofline:
            result.floor_ms = self.floor_ms(outcome.rotation.working[0])
            # Conservative reading: even the candidate's slow samples (p90) beat the floor.
            detail = guard.below_roofline(cand.p90_ms, result.floor_ms, self.problem.device.type)
            if detail:
                self.report.add_flag(guard.FLAG_BELOW_ROOFLINE, f"case {case.name}: {detail}")
        # Conservative reading: the reference's fast samples (p10) against the candidate's slow ones
        # (p90), so that a noisy host clock cannot raise this flag on an honest candidate.
        detail = guard.speedup_insane(ref.p10_ms / cand.p90_ms if cand.p90_ms > 0 else math.inf,
                                      self.settings.speedup_sanity_limit)
        if detail:
            self.report.add_flag(guard.FLAG_SPEEDUP_SANITY, f"case {case.name}: {detail}")
        if cand.median_ms < guard.TIMING_RESOLUTION_MS and self.on_gpu:
            self.report.add_note(guard.NOTE_BELOW_TIMING_RESOLUTION,
                                 f"case {case.name}: median {cand.median_ms * 1e3:.1f} us is near launch latency; "
                                 "the ratio is below timing resolution")
        del outcome

        # Correctness re-checked after the timing loop, on fresh inputs.
        recheck = Case(f"recheck.{case.name}", "recheck",
                       dict(case.params, seed=combine_seed(base_seed, self.secret + RECHECK_SECRET_OFFSET))
                       if "seed" in case.params else dict(case.params))
        self.report.cases.append(self.check_case(recheck))

    def floor_ms(self, data: Any) -> float:
        copy = clone_tree(data)
        inputs = tensor_leaves(copy)
        out = self.problem.reference(copy)          # outputs written into input buffers count once
        outs = [o for o in tensor_leaves(out) if not any(check.shares_memory(o, i) for i in inputs)]
        moved = sum(t.numel() * t.element_size() for t in inputs + outs)
        flops = self.problem.flop_count(data)
        dtype = inputs[0].dtype if inputs else torch.float32
        scrub(out)
        scrub(copy)
        bandwidth, rate = guard.measured_peaks(self.problem.device, dtype)
        return guard.roofline_floor_ms(moved, flops, bandwidth, rate)

    def score(self) -> None:
        timed = self.report.timing
        if not timed:
            return
        cand = [t.candidate.median_ms for t in timed]
        ref = [t.reference.median_ms for t in timed]
        ranking = self.problem.ranking_by
        combine = {"last": lambda xs: xs[-1], "mean": statistics.fmean,
                   "geom": lambda xs: math.exp(statistics.fmean(math.log(max(x, 1e-12)) for x in xs))}[ranking]
        self.report.score = {"ranking_by": ranking, "candidate_ms": combine(cand), "reference_ms": combine(ref),
                             "speedup": combine(ref) / combine(cand) if combine(cand) > 0 else None}

    def _offset(self, params: dict[str, Any], offset: int) -> dict[str, Any]:
        return dict(params, seed=int(params["seed"]) + offset) if "seed" in params else dict(params)
