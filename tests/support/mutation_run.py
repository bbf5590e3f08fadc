"""Break the code on purpose, one mutation at a time, and see which test notices (tests/MUTATIONS.md).

Run: PYTHONPATH=$PWD python -m tests.support.mutation_run [NAME...]
Each mutation replaces one exact snippet in one file, runs the tests that should catch it (stopping
at the first failure), and restores the file. A mutation whose snippet is gone (the code moved) is
reported as such, never silently counted as caught.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


JUDGE = "tests/harness/test_judge.py"
JAIL = "tests/harness/test_jail.py"
MUTATIONS = [
    Mutation("push: type conflicts resolved by removal", "mcp_bifrost/ops/push/plan.py",
             "            if why:\n", "            if False:\n", ("tests/ops/test_push_plan.py",)),
    Mutation("push: an unreadable local side counts as gone", "mcp_bifrost/ops/push/plan.py",
             '        if state == "unknown":\n', '        if False:\n',
             ("tests/ops/test_push_plan.py", "tests/ops/test_push.py::test_unreadable_local_files_and_folders_are_reported_and_their_remote_copies_kept")),
    Mutation("push: the workspaces root accepted as a destination", "mcp_bifrost/ops/workspace.py",
             "or dest in {workdir, posixpath.join(workdir, WORKSPACES)}", "or dest in {workdir}",
             ("tests/ops/test_push.py::test_push_refuses_the_workspaces_root_and_the_workdir_itself",)),
    Mutation("push.sh: no lock on the destination", "mcp_bifrost/remote/push.sh",
             'flock -w "$lock_wait" 9 ||', 'true ||',
             ("tests/ops/test_push.py::test_two_pushes_to_one_folder_run_one_after_the_other_and_the_manifest_follows",
              "tests/ops/test_push.py::test_a_push_waits_for_the_lock_or_fails_clearly_after_the_wait")),
    Mutation("push.sh: deletes with rm -rf", "mcp_bifrost/remote/push.sh",
             "xargs -0 rm -f -- <", "xargs -0 rm -rf -- <", ("tests/ops/test_push.py", "tests/ops/test_push_plan.py")),
    Mutation("push: unreadable files not refused (os.access dropped)", "mcp_bifrost/ops/push/filelist.py",
             "if stat.S_ISREG(st.st_mode) and not os.access(full, os.R_OK):", "if False:",
             ("tests/ops/test_push.py::test_unreadable_local_files_and_folders_are_reported_and_their_remote_copies_kept",)),
    Mutation("models: non-UTF-8 names left as surrogates", "mcp_bifrost/models.py",
             "        return printable(value)\n", "        return value\n", ("tests/server/test_safety.py",)),
    Mutation("copy_files: any local folder accepted", "mcp_bifrost/app.py",
             "if not any(real == root or root in real.parents for root in roots):", "if False:",
             ("tests/server/test_safety.py",)),
    Mutation("copy_files.sh: a symlink out of the workdir followed", "mcp_bifrost/remote/copy_files.sh",
             '    "$wd" | "$wd"/*) ;;', '    *) ;;', ("tests/ops/test_copy_files.py",)),
    Mutation("http: 127.0.0.2 needs no token", "mcp_bifrost/http.py",
             "    return host not in TOKEN_FREE_HOSTS\n", '    return not host.startswith("127.") and host not in TOKEN_FREE_HOSTS\n',
             ("tests/server/test_http.py",)),
    Mutation("http: no Host check on loopback binds", "mcp_bifrost/http.py",
             "        enable_dns_rebinding_protection=True,\n", "        enable_dns_rebinding_protection=needs_token(host),\n",
             ("tests/server/test_http.py",)),
    Mutation("audit: no start entry", "mcp_bifrost/audit.py",
             '        self._write({"event": "start",', '        (lambda e: None)({"event": "start",',
             ("tests/server/test_audit.py",)),
    Mutation("audit: env values logged", "mcp_bifrost/audit.py",
             '        if key == "env" and isinstance(value, dict):', '        if False:', ("tests/server/test_audit.py",)),
    Mutation("audit: the default target not resolved", "mcp_bifrost/server.py",
             'return self.default_target if ("target" in properties', 'return None if ("target" in properties',
             ("tests/server/test_audit.py",)),
    Mutation("jobs: the timeout watchdog kills nothing", "mcp_bifrost/remote/process.sh",
             '  : >"$J/timed_out"\n  kill_group "$p" "$3" >/dev/null\n', '  : >"$J/timed_out"\n',
             ("tests/server/test_jobs.py",)),
    Mutation("jobs: killed jobs shown as lost", "mcp_bifrost/ops/jobs.py",
             'elif fields.get("cancelled") is not None or fields.get("timed_out") is not None:', "elif False:",
             ("tests/server/test_jobs.py",)),
    Mutation("exec: the configured output cap ignored", "mcp_bifrost/app.py",
             "cap_bytes=lim.output_cap_bytes,", "cap_bytes=16_000,",
             ("tests/server/test_jobs.py", "tests/cli/test_cli.py::test_the_configured_output_cap_reaches_exec_on_the_command_line")),
    Mutation("exec: a cancelled command is not killed", "mcp_bifrost/ops/execute.py",
             "            if not finished.done():\n                await _kill(fg, finished, limits.grace_s)\n",
             "            if not finished.done():\n                pass\n",
             ("tests/ops/test_execute.py::test_cancellation_kills_the_remote_command",)),
    Mutation("worker: Triton's source hash left to every child", "gpu_harness/worker.py",
             "    _precompute_triton_key()\n    _register", "    _register",
             ("tests/harness/test_faults.py::test_the_worker_parent_computes_tritons_source_hash_once_for_every_child",)),
    Mutation("worker: torch's Triton ops left to the child's CUDA init", "gpu_harness/worker.py",
             "    _register_torch_triton_ops()\n", "",
             ("tests/harness/test_faults.py::test_the_worker_parent_registers_torchs_triton_ops_without_initialising_cuda",)),
    Mutation("fan-out: no job past the call budget", "mcp_bifrost/loop_tools.py",
             "progress=fan_progress, use_budget=True))", "progress=fan_progress))",
             ("tests/loop/test_fanout_smoke.py::test_a_fan_out_past_the_call_budget_becomes_one_job_whose_status_carries_the_whole_report",)),
    Mutation("fan-out job: cancel leaves the candidates running", "mcp_bifrost/ops/evaluation.py",
             "            task.cancel()\n            await asyncio.gather(task, return_exceptions=True)\n            return\n",
             "            return\n",
             ("tests/loop/test_fanout_smoke.py::test_cancelling_a_fan_out_job_stops_every_candidate",)),
    Mutation("fan-out job: the holder outlives its server", "mcp_bifrost/remote/harness_job.sh",
             "    exec cat >/dev/null\n", "    exec sleep 30\n",
             ("tests/loop/test_fanout_smoke.py::test_a_fan_out_job_whose_server_is_killed_ends_as_lost_with_no_process_left",)),
    Mutation("profile: a launch limit asks ncu for exactly N (a cut cannot show)", "gpu_harness/profile.py",
             'cmd += ["--launch-count", str(launch_count + 1)]', 'cmd += ["--launch-count", str(launch_count)]',
             ("tests/loop/test_ncu_summary.py",)),
    Mutation("profile: a side never says the limit cut it", "gpu_harness/profile.py",
             "cut = launch_count is not None and len(kernels) > launch_count", "cut = False",
             ("tests/loop/test_ncu_summary.py", "tests/loop/test_profile_whole_call.py")),
    Mutation("ncu CSV: thousands separators kept", "gpu_harness/ncu_summary.py",
             't = text.strip().replace(",", "")', "t = text.strip()", ("tests/loop/test_ncu_summary.py",)),
    Mutation("profile report: the ratio of first kernels, not whole calls", "mcp_bifrost/ops/reports.py",
             "return round(base.total_duration_us / cand.total_duration_us, 3)",
             "return round(base.kernels[0].duration_us / cand.kernels[0].duration_us, 3)",
             ("tests/loop/test_profile_whole_call.py",)),
    Mutation("profile report: a ratio even when a limit cut a call", "mcp_bifrost/ops/reports.py",
             "    if base.cut_by_launch_limit or cand.cut_by_launch_limit:\n        return None\n", "",
             ("tests/loop/test_profile_whole_call.py",)),
    Mutation("profile report: kernels paired in launch order", "mcp_bifrost/ops/reports.py",
             "i = next((i for i in unused if base.kernels[i].name == c.name), None)", "i = next(iter(unused), None)",
             ("tests/loop/test_profile_whole_call.py",)),
    Mutation("profile vs smoke: opposite sides of 1.0 agree", "mcp_bifrost/ops/profile_check.py",
             "    return side(profile) * side(smoke) >= 0\n", "    return True\n",
             ("tests/loop/test_profile_whole_call.py",)),
    Mutation("profile vs smoke: a changed file compared with its old smoke test", "mcp_bifrost/ops/profile_check.py",
             "            return None  # the file changed", "            pass  # the file changed",
             ("tests/loop/test_profile_whole_call.py",)),
    Mutation("profile_ncu: no check against the last smoke test", "mcp_bifrost/app.py",
             "            await asyncio.to_thread(against_smoke, report, self.history)\n", "",
             ("tests/loop/test_profile_whole_call.py",)),
    # first hour (issue 17) and arguments at entry (issue 20)
    Mutation("args: unknown arguments accepted", "mcp_bifrost/server.py",
             "        if refused:\n            raise ToolError(refused)\n", "",
             ("tests/server/test_arguments.py",)),
    Mutation("args: control characters accepted", "mcp_bifrost/arguments.py",
             "    if bad:\n", "    if False:\n", ("tests/server/test_arguments.py",)),
    Mutation("args: no upper bound on timeouts", "mcp_bifrost/arguments.py",
             "    if value > MAX_TIMEOUT_S:\n", "    if False:\n", ("tests/server/test_arguments.py",)),
    Mutation("args: pydantic's text passed through", "mcp_bifrost/server.py",
             "                if isinstance(exc.__cause__, ValidationError):", "                if False:",
             ("tests/server/test_arguments.py",)),
    Mutation("local target: python3 by default", "mcp_bifrost/config.py",
             'default_factory=lambda: sys.executable or "python3"', 'default_factory=lambda: "python3"',
             ("tests/cli/test_local_target.py",)),
    Mutation("targets: torch missing not named", "mcp_bifrost/ops/health.py",
             "    if not health.torch:", "    if False:", ("tests/cli/test_local_target.py",)),
    Mutation("cli exec: output written at the end", "mcp_bifrost/cli.py",
             "    tee = None if json_out or background else _stream\n",
             "    tee = None\n    sys.stdout.write('')\n", ("tests/cli/test_cli_people.py",)),
    Mutation("cli exec: a timed-out command exits with its signal status", "mcp_bifrost/cli.py",
             '        return 125 if (result.note or "").startswith("never started") else 124',
             "        return result.exit_code or 0", ("tests/cli/test_cli_people.py",)),
    Mutation("cli exec: piped stdin dropped", "mcp_bifrost/cli.py",
             "    if piped:\n        command = with_stdin(command, piped)\n", "",
             ("tests/cli/test_cli_people.py",)),
    Mutation("trust: any recorded key taken for the presented one", "mcp_bifrost/trust.py",
             "        if any(k.export_public_key() == presented for k in keys):", "        if True:",
             ("tests/cli/test_trust.py",)),
    Mutation("fan-out: not_run counted as failed", "mcp_bifrost/app.py",
             'if not r.passed and r.status != "not_run"]', "if not r.passed]",
             ("tests/loop/test_cpu_wording.py",)),
    Mutation("reports: roofline fraction on a host clock", "mcp_bifrost/ops/reports.py",
             '    on_gpu = t.clock != "host"', "    on_gpu = True", ("tests/loop/test_cpu_wording.py",)),
    Mutation("jail: the worker is no subreaper", "gpu_harness/worker.py",
             "        confine.become_subreaper()      # the candidate's", "        pass  #",
             (JAIL + "::test_a_detached_stray_neither_delays_the_verdict_nor_outlives_it",)),
    Mutation("jail: no sweep after an evaluation", "gpu_harness/worker.py",
             "        sweep = confine.kill_descendants(exclude=self.elders)", "        sweep = confine.Sweep()",
             (JAIL + "::test_a_detached_stray_neither_delays_the_verdict_nor_outlives_it",)),
    Mutation("jail: the verdict waits for the result pipe to close", "gpu_harness/worker.py",
             "        elif exited.done():", "        elif False:",
             (JAIL + "::test_a_detached_stray_neither_delays_the_verdict_nor_outlives_it",)),
    Mutation("jail: TERM kills the worker but not its evaluation", "gpu_harness/worker.py",
             "    confine.kill_descendants_on_signals()", "    pass  #",
             (JAIL + "::test_a_cancelled_worker_takes_its_evaluation_and_strays_with_it",)),
    Mutation("jail: TERM kills the one-shot smoke but not its evaluation", "gpu_harness/__main__.py",
             "    kill_descendants_on_signals()", "    pass  #",
             (JAIL + "::test_a_cancelled_one_shot_smoke_leaves_no_process",)),
    Mutation("jail: the evaluation child outlives a killed worker", "gpu_harness/worker.py",
             "                confine.die_with_parent()", "                pass  #",
             (JAIL + "::test_a_worker_killed_outright_takes_its_evaluation_child_along",)),
    Mutation("jail: Landlock does not handle file writes", "gpu_harness/confine.py",
             "    fs = FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE\n", "    fs = FS_REMOVE_DIR\n",
             (JAIL + "::test_a_candidate_cannot_write_outside_its_scratch_folder", "tests/harness/test_confine.py")),
    Mutation("jail: no seccomp filter (network said blocked)", "gpu_harness/confine.py",
             "    failed = _seccomp()", '    failed = ""',
             (JAIL + "::test_a_candidate_cannot_open_a_network_socket", "tests/harness/test_confine.py")),
    Mutation("jail: seccomp lets ptrace through", "gpu_harness/confine.py",
             "    denied = (ptrace, vm_read, vm_write, uring)", "    denied = (vm_read, vm_write, uring)",
             ("tests/harness/test_confine.py",)),
    Mutation("jail: the report does not say what confined the candidate", "gpu_harness/worker.py",
             "        report.isolation = _isolation(frames, sweep)", "        pass",
             (JAIL + "::test_the_report_says_when_confinement_was_not_in_force",)),
    Mutation("jail (client): a fan-out's workers die on cancel but their evaluations do not", "gpu_harness/worker.py",
             "    confine.kill_descendants_on_signals()", "    pass  #",
             ("tests/loop/test_jail_loop.py::test_cancelling_a_fan_out_kills_the_strays_of_its_candidates",
              "tests/loop/test_jail_loop.py::test_cancelling_a_smoke_test_job_kills_its_candidates_strays")),
    Mutation("jail (client): the verdict waits for a stray holding the result pipe", "gpu_harness/worker.py",
             "        elif exited.done():", "        elif False:",
             ("tests/loop/test_jail_loop.py::test_a_stray_helper_dies_with_its_smoke_test_and_the_report_says_so",)),
    # GPU only (run on the device): the lead's command in tests/MUTATIONS.md
    # the judge (issue 18): verdicts and times the candidate cannot forge
    Mutation("judge: any bytes on the channel taken as an answer", "gpu_harness/channel.py",
             '        if not isinstance(answer, dict) or answer.get("seq") != self.seq:', "        if False:",
             (JUDGE + "::test_the_judge_refuses_anything_but_one_json_answer_in_sequence",
              JUDGE + "::test_a_forged_report_on_every_descriptor_is_flagged_and_changes_nothing")),
    Mutation("judge: the candidate's process inherits every descriptor", "gpu_harness/channel.py",
             "        if fd > 2 and fd not in keep:", "        if False:",
             (JUDGE + "::test_the_candidates_process_holds_no_pipe_and_one_socket",)),
    Mutation("judge: the candidate's process is not confined and keeps its capabilities", "gpu_harness/remote.py",
             "    confine.confine_candidate(scratch)\n    drop_capabilities()\n", "    pass\n",
             (JUDGE + "::test_the_candidates_process_cannot_reach_the_judge_or_the_worker",)),
    Mutation("judge: the candidate keeps its capabilities (no Landlock)", "gpu_harness/remote.py",
             "    confine.confine_candidate(scratch)\n    drop_capabilities()\n",
             "    confine.confine_candidate(scratch)\n",
             (JUDGE + "::test_without_landlock_the_one_shot_path_still_keeps_the_candidate_out",)),
    Mutation("judge: the candidate's process outlives a judge killed outright", "gpu_harness/remote.py",
             "            confine.die_with_parent()                # a judge killed", "            pass  #",
             (JAIL + "::test_a_worker_killed_outright_takes_its_evaluation_child_along",)),
    Mutation("judge: a claimed time below the judge's clock believed", "gpu_harness/timing_flags.py",
             "    if claimed_ms >= supported_ms(judge_ms, device):", "    if True:",
             (JUDGE + "::test_a_forged_clock_is_flagged_and_the_speedup_is_the_judges",)),
    Mutation("judge: the speed-up reported from the claim", "gpu_harness/benchmark.py",
             "    if supported > cand.median_ms:", "    if False:",
             (JUDGE + "::test_a_forged_clock_is_flagged_and_the_speedup_is_the_judges",)),
    Mutation("judge: a hang while timing a correct kernel reads failed", "gpu_harness/evaluate.py",
             "        report.error.kind = kind\n", "        pass\n",
             (JUDGE + "::test_a_correct_kernel_whose_timing_hangs_is_correct_but_not_timed_never_failed",)),
    Mutation("jail: persisting L2 not reset before each sample (GPU)", "gpu_harness/timing.py",
             "        reset_persisting_l2()           # lines a candidate pinned", "        pass  #",
             (JAIL + "::test_a_persisting_l2_carve_out_does_not_make_a_candidate_faster",)),
    Mutation("jail: the reset leaves the carve-out (GPU)", "gpu_harness/confine.py",
             "        if limit.value:\n", "        if False:\n",
             ("tests/harness/test_confine.py::test_reset_persisting_l2_undoes_a_carve_out_and_a_stream_window",)),
]


def run(m: Mutation) -> str:
    path = ROOT / m.path
    original = path.read_text()
    if original.count(m.old) != 1:
        return f"NOT APPLIED (snippet found {original.count(m.old)} times)"
    path.write_text(original.replace(m.old, m.new))
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "--tb=no", "-rf", "-p", "no:cacheprovider",
                               *m.tests], cwd=ROOT, capture_output=True, text=True, timeout=900)
    finally:
        path.write_text(original)
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    return f"caught by {failed[0]}" if failed else ("SURVIVED" if done.returncode == 0 else f"error rc={done.returncode}")


def main(names: list[str]) -> None:
    for m in MUTATIONS:
        if names and not any(n in m.name for n in names):
            continue
        line = m.path + ":" + str(1 + (ROOT / m.path).read_text().split(m.old)[0].count("\n"))
        print(f"| {m.name} | {line} | {run(m)} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
