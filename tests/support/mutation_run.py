"""Break the code on purpose, one mutation at a time, and see which test notices (tests/MUTATIONS.md).

Run: PYTHONPATH=$PWD python -m tests.support.mutation_run [NAME...]
After moving code: ... mutation_run --refresh-table (the table's path:line column follows the snippets).
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
PLAN = "tests/harness/test_time_plan.py"
API = "tests/api/test_api.py"
MUTATIONS = [
    Mutation(
        "worker: a child's sweep kills the other ready children",
        "gpu_harness/ready_child.py",
        "        sweep = reaper.kill_descendants(exclude=[*self.elders, *spares])",
        "        sweep = reaper.kill_descendants(exclude=[*self.elders])",
        (
            "tests/harness/test_faults.py::test_a_worker_with_spares_keeps_them_ready_and_a_childs_sweep_never_kills_them",
        ),
    ),
    Mutation(
        "worker: a later ready child keeps an earlier one's job pipe open (shutdown waits for ever)",
        "gpu_harness/ready_child.py",
        "                for fd in _PARENT_ENDS:",
        "                for fd in ():",
        (
            "tests/harness/test_faults.py::test_a_worker_with_spares_keeps_them_ready_and_a_childs_sweep_never_kills_them",
        ),
    ),
    Mutation(
        "jail: the candidate's own /proc/<pid>/task not writable (CUDA's start-up fails with 304)",
        "gpu_harness/confine.py",
        'ALWAYS_WRITABLE = ("/dev", "/proc/self/task")',
        'ALWAYS_WRITABLE = ("/dev",)',
        (JAIL + "::test_a_confined_candidate_names_its_own_threads_as_cudas_start_up_does",),
    ),
    Mutation(
        "jail: the /proc/self/task rule's folder not pinned (a pruned entry comes back a stranger: 304 later)",
        "gpu_harness/confine.py",
        '                if path.startswith("/proc/"):',
        "                if False:",
        (
            "tests/harness/test_confine.py::test_a_confined_process_still_names_new_threads_after_the_kernel_prunes_procs_cache",
        ),
    ),
    Mutation(
        "jail: the CUDA MPS daemon's pipes not writable (CUDA cannot start where the host runs MPS)",
        "gpu_harness/confine.py",
        "    extra = (*ALWAYS_WRITABLE, *cuda_service_folders(), *writable)",
        "    extra = (*ALWAYS_WRITABLE, *writable)",
        ("tests/harness/test_confine.py::test_a_confined_process_can_reach_the_cuda_mps_daemons_pipes",),
    ),
    Mutation(
        "jail: an MPS folder another user planted (a link, or theirs) made writable",
        "gpu_harness/confine.py",
        "    return [mps] if stat.S_ISDIR(st.st_mode) and st.st_uid in (0, os.getuid()) else []",
        "    return [mps] if os.path.isdir(mps) else []",
        ("tests/harness/test_confine.py::test_an_mps_folder_planted_by_another_user_is_not_made_writable",),
    ),
    Mutation(
        "push: type conflicts resolved by removal",
        "mcp_bifrost/ops/push/plan.py",
        "            if why:\n",
        "            if False:\n",
        ("tests/ops/test_push_plan.py",),
    ),
    Mutation(
        "push: an unreadable local side counts as gone",
        "mcp_bifrost/ops/push/plan.py",
        '        if state == "unknown":\n',
        "        if False:\n",
        (
            "tests/ops/test_push_plan.py",
            "tests/ops/test_push.py::test_unreadable_local_files_and_folders_are_reported_and_their_remote_copies_kept",
        ),
    ),
    Mutation(
        "push: the workspaces root accepted as a destination",
        "mcp_bifrost/ops/workspace.py",
        "or dest in {workdir, posixpath.join(workdir, WORKSPACES)}",
        "or dest in {workdir}",
        ("tests/ops/test_push.py::test_push_refuses_the_workspaces_root_and_the_workdir_itself",),
    ),
    Mutation(
        "push.sh: no lock on the destination",
        "mcp_bifrost/remote/push.sh",
        'flock -w "$lock_wait" 9 ||',
        "true ||",
        (
            "tests/ops/test_push.py::test_two_pushes_to_one_folder_run_one_after_the_other_and_the_manifest_follows",
            "tests/ops/test_push.py::test_a_push_waits_for_the_lock_or_fails_clearly_after_the_wait",
        ),
    ),
    Mutation(
        "push delta: the rebuilt file's block hashes not checked",
        "mcp_bifrost/remote/push_helper.py",
        '                if got != head["hashes"]:\n',
        "                if False:\n",
        (
            "tests/ops/test_push.py::test_a_big_file_whose_target_copy_changed_during_the_push_is_refused_and_kept",
        ),
    ),
    Mutation(
        "push.sh: a failed delta rebuild ignored",
        "mcp_bifrost/remote/push.sh",
        '[ "$rc" = 0 ] || exit "$EXIT_PUSH_DELTA_MISMATCH"',
        "true",
        (
            "tests/ops/test_push.py::test_a_big_file_whose_target_copy_changed_during_the_push_is_refused_and_kept",
        ),
    ),
    Mutation(
        "push helper: only the first gzip member inflated",
        "mcp_bifrost/remote/push_helper.py",
        "chunk, inflate, fed = inflate.unused_data, zlib.decompressobj(31), False",
        'chunk, inflate, fed = b"", zlib.decompressobj(31), False',
        ("tests/ops/test_push.py::test_a_stream_inflated_by_python_on_the_target_makes_the_trees_equal",),
    ),
    Mutation(
        "push: the readable shortcut trusts every file",
        "mcp_bifrost/ops/push/filelist.py",
        "return (st.st_uid == _EUID and bool(st.st_mode & stat.S_IRUSR)) or os.access(full, os.R_OK)",
        "return True",
        (
            "tests/ops/test_push.py::test_unreadable_local_files_and_folders_are_reported_and_their_remote_copies_kept",
        ),
    ),
    Mutation(
        "push tree cache: a cache file believed without its sha256",
        "mcp_bifrost/ops/push/tree_cache.py",
        "    if hashlib.sha256(body).hexdigest().encode() != digest:\n",
        "    if False:\n",
        (
            "tests/ops/test_push_tree_cache.py::test_a_cache_file_that_is_corrupt_or_cut_short_is_not_believed",
        ),
    ),
    Mutation(
        "push.sh: the remembered tree taken without comparing tokens",
        "mcp_bifrost/remote/push.sh",
        'if [ "$tok" = "$known" ]; then',
        'if [ -n "$known" ]; then',
        ("tests/ops/test_push_tree_cache.py::test_a_file_changed_on_the_target_behind_our_back_is_repaired",),
    ),
    Mutation(
        "push tree cache: the token of an unsorted listing",
        "mcp_bifrost/ops/push/remote_tree.py",
        'lines = sorted(data.split(b"\\n")) if data else []',
        'lines = data.split(b"\\n") if data else []',
        (
            "tests/ops/test_push_tree_cache.py::test_after_a_push_the_target_finds_the_tree_the_client_remembers",
        ),
    ),
    Mutation(
        "push tree cache: the records push.sh prints after a push ignored",
        "mcp_bifrost/ops/push/tree_cache.py",
        "    entries.update(now)\n",
        "    now.clear()\n    now_records.clear()\n",
        (
            "tests/ops/test_push_tree_cache.py::test_after_a_push_the_target_finds_the_tree_the_client_remembers",
        ),
    ),
    Mutation(
        "push helper: block hashes that lied kept after the rebuild failed",
        "mcp_bifrost/remote/push_helper.py",
        "                    forget(state, os.fsencode(old_path))\n",
        "",
        ("tests/ops/test_push.py::test_the_target_remembers_block_hashes_and_drops_them_when_they_lie",),
    ),
    Mutation(
        "push helper: remembered block hashes used whatever the file's stamp",
        "mcp_bifrost/remote/push_helper.py",
        'if memo["stamp"] == _stamp(st) and memo["block"] == block:',
        'if memo["block"] == block:',
        (
            "tests/ops/test_push.py::test_a_big_file_whose_target_copy_changed_during_the_push_is_refused_and_kept",
            "tests/ops/test_push.py::test_the_target_remembers_block_hashes_and_drops_them_when_they_lie",
        ),
    ),
    Mutation(
        "push tar: mtimes in whole seconds (no pax mtime record)",
        "mcp_bifrost/ops/push/paxwrite.py",
        '    records = [_record(b"mtime", f"{sign}{seconds}.{fraction:09d}".encode())]\n',
        "    records = []\n",
        (
            "tests/ops/test_push_paxwrite.py",
            "tests/ops/test_push.py::test_push_with_no_change_sends_nothing",
        ),
    ),
    Mutation(
        "push tar: a file that shrank while read sent short",
        "mcp_bifrost/ops/push/paxwrite.py",
        '                raise OSError("unexpected end of data")\n',
        "                break\n",
        (
            "tests/ops/test_push_paxwrite.py",
            "tests/ops/test_push.py::test_reading_a_file_that_vanished_says_what_is_true",
        ),
    ),
    Mutation(
        "push.sh: zstd never offered",
        "mcp_bifrost/remote/push.sh",
        "if command -v zstd >/dev/null 2>&1; then printf 'C\\0zstd\\0'; fi\n",
        "",
        ("tests/ops/test_push.py::test_a_target_with_zstd_gets_a_zstd_stream_that_makes_the_trees_equal",),
    ),
    Mutation(
        "push.sh: zstd offered where it is missing",
        "mcp_bifrost/remote/push.sh",
        "if command -v zstd >/dev/null 2>&1; then printf 'C\\0zstd\\0'; fi\n",
        "printf 'C\\0zstd\\0'\n",
        ("tests/ops/test_push.py::test_a_target_without_zstd_gets_gzip",),
    ),
    Mutation(
        "push: the zstd frame never ended",
        "mcp_bifrost/ops/push/compression.py",
        "        self._writer.close()  # ends the frame; the sink stays open\n",
        "        self._writer.flush()\n",
        ("tests/ops/test_push.py::test_a_target_with_zstd_gets_a_zstd_stream_that_makes_the_trees_equal",),
    ),
    Mutation(
        "push.sh: a plain tar read as gzip",
        "mcp_bifrost/remote/push.sh",
        'if [ "$go" = "go raw" ]; then\n  tar -xpf - -C "$s" --no-same-owner\n',
        'if [ "$go" = "go raw" ]; then\n  tar -xzpf - -C "$s" --no-same-owner\n',
        ("tests/ops/test_push.py::test_a_stream_of_mostly_incompressible_data_goes_as_a_plain_tar",),
    ),
    Mutation(
        "push tree cache: remembered trees never forgotten",
        "mcp_bifrost/ops/push/tree_cache.py",
        "        _sweep(path.parent)\n",
        "",
        (
            "tests/ops/test_push_tree_cache.py::test_what_a_client_remembers_of_a_folder_not_pushed_to_for_a_month_is_forgotten",
        ),
    ),
    Mutation(
        "push.sh: block hashes never swept",
        "mcp_bifrost/remote/push.sh",
        'find "$state/blocks" -mindepth 1 -maxdepth 1 -mtime +30 -delete 2>/dev/null\n',
        "",
        ("tests/ops/test_push.py::test_the_target_remembers_block_hashes_and_drops_them_when_they_lie",),
    ),
    Mutation(
        "push plan: the fast path ignores a chmod",
        "mcp_bifrost/ops/push/plan.py",
        "            and entry.mode == there.mode & 0o777\n",
        "            and True\n",
        ("tests/ops/test_push.py::test_file_modes_travel_and_what_push_creates_is_private",),
    ),
    Mutation(
        # two layers, each enough alone: only files and links are listed for deletion, and rm -f
        # cannot remove a folder; the mutation takes both away
        "push.sh: deletes folders (every kind listed for deletion, rm -rf)",
        "mcp_bifrost/remote/push.sh",
        "(find . -mindepth 1 \\( -type f -o -type l \\) -printf '%P\\0' | sort -z) |\n    xargs -0 -r rm -f --",
        "(find . -mindepth 1 -printf '%P\\0' | sort -z) |\n    xargs -0 -r rm -rf --",
        ("tests/ops/test_push.py::test_a_file_that_became_a_folder_during_the_push_is_not_removed",),
    ),
    Mutation(
        "push: unreadable files not refused (os.access dropped)",
        "mcp_bifrost/ops/push/filelist.py",
        "if stat.S_ISREG(st.st_mode) and not _readable(full, st):",
        "if False:",
        (
            "tests/ops/test_push.py::test_unreadable_local_files_and_folders_are_reported_and_their_remote_copies_kept",
        ),
    ),
    Mutation(
        "models: non-UTF-8 names left as surrogates",
        "mcp_bifrost/models_shell.py",
        "        return printable(value)\n",
        "        return value\n",
        ("tests/server/test_safety.py",),
    ),
    Mutation(
        "copy_files: any local folder accepted",
        "mcp_bifrost/local_paths.py",
        "if not any(real == root or root in real.parents for root in roots):",
        "if False:",
        ("tests/server/test_safety.py",),
    ),
    Mutation(
        "copy_files.sh: a symlink out of the workdir followed",
        "mcp_bifrost/remote/copy_files.sh",
        '    "$wd"/*) ;;\n    *) printf',
        "    *) ;;\n    *) printf",
        ("tests/ops/test_copy_files.py",),
    ),
    Mutation(
        "http: a loopback bind needs no token",
        "mcp_bifrost/http.py",
        "    return BearerTokenMiddleware(app, token)\n",
        "    return app if host in LOOPBACK_NAMES else BearerTokenMiddleware(app, token)\n",
        ("tests/server/test_http.py",),
    ),
    Mutation(
        "http: a token file others can read accepted",
        "mcp_bifrost/http.py",
        " or st.st_mode & 0o077:",
        ":",
        ("tests/server/test_http.py",),
    ),
    Mutation(
        "http: no cap on sessions",
        "mcp_bifrost/http.py",
        "max_sessions=settings.max_sessions,",
        "max_sessions=None,",
        ("tests/server/test_http.py",),
    ),
    Mutation(
        "http: idle sessions never expire",
        "mcp_bifrost/http.py",
        "session_idle_timeout=settings.session_idle_s,",
        "session_idle_timeout=None,",
        ("tests/server/test_http.py",),
    ),
    Mutation(
        "http: no Host check on loopback binds",
        "mcp_bifrost/http.py",
        "        enable_dns_rebinding_protection=True,\n",
        "        enable_dns_rebinding_protection=host not in LOOPBACK_NAMES,\n",
        ("tests/server/test_http.py",),
    ),
    Mutation(
        "audit: no start entry",
        "mcp_bifrost/audit.py",
        '        self._write(\n            {"event": "start",',
        '        (lambda e: None)(\n            {"event": "start",',
        ("tests/server/test_audit.py",),
    ),
    Mutation(
        "audit: env values logged",
        "mcp_bifrost/audit.py",
        '        if key == "env" and isinstance(value, dict):',
        "        if False:",
        ("tests/server/test_audit.py",),
    ),
    Mutation(
        "audit: the default target not resolved",
        "mcp_bifrost/server.py",
        'return self.default_target if ("target" in properties',
        'return None if ("target" in properties',
        ("tests/server/test_audit.py",),
    ),
    Mutation(
        "jobs: the timeout watchdog kills nothing",
        "mcp_bifrost/remote/process.sh",
        '  : >"$J/timed_out"\n  kill_group "$(group "$J")" "$3" "${J##*/}" >/dev/null\n',
        '  : >"$J/timed_out"\n',
        ("tests/server/test_jobs.py",),
    ),
    Mutation(
        "jobs: killed jobs shown as lost",
        "mcp_bifrost/ops/jobs.py",
        'elif fields.get("cancelled") is not None or fields.get("timed_out") is not None:',
        "elif False:",
        ("tests/server/test_jobs.py",),
    ),
    Mutation(
        "exec: the configured output cap ignored",
        "mcp_bifrost/app.py",
        "cap_bytes=lim.output_cap_bytes,",
        "cap_bytes=16_000,",
        (
            "tests/server/test_jobs.py",
            "tests/cli/test_cli.py::test_the_configured_output_cap_reaches_exec_on_the_command_line",
        ),
    ),
    Mutation(
        "exec: a cancelled command is not killed",
        "mcp_bifrost/ops/execute.py",
        "            if not finished.done():\n                await _kill(fg, finished, limits.grace_s)\n",
        "            if not finished.done():\n                pass\n",
        ("tests/ops/test_execute.py::test_cancellation_kills_the_remote_command",),
    ),
    Mutation(
        "worker: Triton's source hash left to every child",
        "gpu_harness/warm.py",
        "    _precompute_triton_key()\n    _register",
        "    _register",
        (
            "tests/harness/test_faults.py::test_the_worker_parent_computes_tritons_source_hash_once_for_every_child",
        ),
    ),
    Mutation(
        "worker: torch's Triton ops left to the child's CUDA init",
        "gpu_harness/warm.py",
        "    _register_torch_triton_ops()\n",
        "",
        (
            "tests/harness/test_faults.py::test_the_worker_parent_registers_torchs_triton_ops_without_initialising_cuda",
        ),
    ),
    Mutation(
        "fan-out: no job past the call budget",
        "mcp_bifrost/loop/tools.py",
        "gpu.run_smoke_tests(**asked, progress=fan_progress, use_budget=True)",
        "gpu.run_smoke_tests(**asked, progress=fan_progress)",
        (
            "tests/loop/test_fanout_smoke.py::test_a_fan_out_past_the_call_budget_becomes_one_job_whose_status_carries_the_whole_report",
        ),
    ),
    Mutation(
        "fan-out job: cancel leaves the candidates running",
        "mcp_bifrost/loop/evaluation.py",
        "            task.cancel()\n"
        "            await asyncio.gather(task, return_exceptions=True)\n"
        "            return\n",
        "            return\n",
        ("tests/loop/test_fanout_smoke.py::test_cancelling_a_fan_out_job_stops_every_candidate",),
    ),
    Mutation(
        "fan-out job: the holder outlives its server",
        "mcp_bifrost/remote/harness_job.sh",
        "    exec cat >/dev/null\n",
        "    exec sleep 30\n",
        (
            "tests/loop/test_fanout_smoke.py::test_a_fan_out_job_whose_server_is_killed_ends_as_lost_with_no_process_left",
        ),
    ),
    Mutation(
        "profile: a launch limit asks ncu for exactly N (a cut cannot show)",
        "gpu_harness/profile.py",
        'cmd += ["--launch-count", str(launch_count + 1)]',
        'cmd += ["--launch-count", str(launch_count)]',
        ("tests/loop/test_ncu_summary.py",),
    ),
    Mutation(
        "profile: a side never says the limit cut it",
        "gpu_harness/profile.py",
        "cut = launch_count is not None and len(kernels) > launch_count",
        "cut = False",
        ("tests/loop/test_ncu_summary.py", "tests/loop/test_profile_whole_call.py"),
    ),
    Mutation(
        "ncu CSV: thousands separators kept",
        "gpu_harness/ncu_summary.py",
        't = text.strip().replace(",", "")',
        "t = text.strip()",
        ("tests/loop/test_ncu_summary.py",),
    ),
    Mutation(
        "profile report: the ratio of first kernels, not whole calls",
        "mcp_bifrost/loop/reports_profile.py",
        "return round(base.total_duration_us / cand.total_duration_us, 3)",
        "return round(base.kernels[0].duration_us / cand.kernels[0].duration_us, 3)",
        ("tests/loop/test_profile_whole_call.py",),
    ),
    Mutation(
        "profile report: a ratio even when a limit cut a call",
        "mcp_bifrost/loop/reports_profile.py",
        "    if base.cut_by_launch_limit or cand.cut_by_launch_limit:\n        return None\n",
        "",
        ("tests/loop/test_profile_whole_call.py",),
    ),
    Mutation(
        "profile report: kernels paired in launch order",
        "mcp_bifrost/loop/reports_profile.py",
        "i = next((i for i in unused if base.kernels[i].name == c.name), None)",
        "i = next(iter(unused), None)",
        ("tests/loop/test_profile_whole_call.py",),
    ),
    Mutation(
        "profile vs smoke: opposite sides of 1.0 agree",
        "mcp_bifrost/loop/profile_check.py",
        "    return side(profile) * side(smoke) >= 0\n",
        "    return True\n",
        ("tests/loop/test_profile_whole_call.py",),
    ),
    Mutation(
        "profile vs smoke: a changed file compared with its old smoke test",
        "mcp_bifrost/loop/profile_check.py",
        "            return None  # the file changed",
        "            pass  # the file changed",
        ("tests/loop/test_profile_whole_call.py",),
    ),
    Mutation(
        "profile_ncu: no check against the last smoke test",
        "mcp_bifrost/loop/profile_calls.py",
        "            await asyncio.to_thread(against_smoke, report, self.history)\n",
        "",
        ("tests/loop/test_profile_whole_call.py",),
    ),
    # first hour (issue 17) and arguments at entry (issue 20)
    Mutation(
        "args: unknown arguments accepted",
        "mcp_bifrost/server.py",
        "        if refused:\n            raise ToolError(refused)\n",
        "",
        ("tests/server/test_arguments.py",),
    ),
    Mutation(
        "args: control characters accepted",
        "mcp_bifrost/arguments.py",
        "    if bad:\n",
        "    if False:\n",
        ("tests/server/test_arguments.py",),
    ),
    Mutation(
        "args: no upper bound on timeouts",
        "mcp_bifrost/arguments.py",
        "    if value > MAX_TIMEOUT_S:\n",
        "    if False:\n",
        ("tests/server/test_arguments.py",),
    ),
    Mutation(
        "args: pydantic's text passed through",
        "mcp_bifrost/server.py",
        "                if isinstance(exc.__cause__, ValidationError):",
        "                if False:",
        ("tests/server/test_arguments.py",),
    ),
    Mutation(
        "local target: python3 by default",
        "mcp_bifrost/config.py",
        'default_factory=lambda: sys.executable or "python3"',
        'default_factory=lambda: "python3"',
        ("tests/cli/test_local_target.py",),
    ),
    Mutation(
        "targets: torch missing not named",
        "mcp_bifrost/ops/health.py",
        "    if not health.torch:",
        "    if False:",
        ("tests/cli/test_local_target.py",),
    ),
    Mutation(
        "cli exec: output written at the end",
        "mcp_bifrost/cli_shell.py",
        "    tee = None if json_out or background else _stream\n",
        "    tee = None\n    sys.stdout.write('')\n",
        ("tests/cli/test_cli_people.py",),
    ),
    Mutation(
        "cli exec: a timed-out command exits with its signal status",
        "mcp_bifrost/cli_shell.py",
        '        return 125 if (result.note or "").startswith("never started") else 124',
        "        return result.exit_code or 0",
        ("tests/cli/test_cli_people.py",),
    ),
    Mutation(
        "cli exec: piped stdin dropped",
        "mcp_bifrost/cli_shell.py",
        "    if piped:\n        command = with_stdin(command, piped)\n",
        "",
        ("tests/cli/test_cli_people.py",),
    ),
    Mutation(
        "trust: any recorded key taken for the presented one",
        "mcp_bifrost/trust.py",
        "        if any(k.export_public_key() == presented for k in keys):",
        "        if True:",
        ("tests/cli/test_trust.py",),
    ),
    Mutation(
        "fan-out: not_run counted as failed",
        "mcp_bifrost/loop/smoke.py",
        'if not r.passed and r.status != "not_run"]',
        "if not r.passed]",
        ("tests/loop/test_cpu_wording.py",),
    ),
    Mutation(
        "reports: roofline fraction on a host clock",
        "mcp_bifrost/loop/reports.py",
        '    on_gpu = t.clock != "host"',
        "    on_gpu = True",
        ("tests/loop/test_cpu_wording.py",),
    ),
    Mutation(
        "app: lock commands left to be reaped after the loop",
        "mcp_bifrost/loop/harnesses.py",
        "        await gpu_lock.finish_reaping()\n",
        "",
        ("tests/loop/test_worker_reaped.py",),
    ),
    Mutation(
        "evaluation: a GPU lock on a target without a GPU",
        "mcp_bifrost/loop/evaluation.py",
        "    if h.gpu_less:",
        "    if False:",
        ("tests/loop/test_kernel_loop.py::test_a_target_without_a_gpu_never_waits_for_a_gpu_lock",),
    ),
    Mutation(
        "dispatch: one bad frame ends the dispatcher",
        "mcp_bifrost/remote/dispatch.py",
        "                    handle_safely(kind, cid, payload, children, by_fd, send)",
        "                    handle(kind, cid, payload, children, by_fd, send)",
        ("tests/targets/test_dispatch.py",),
    ),
    Mutation(
        "dispatch: a request whose dispatcher died is resent",
        "mcp_bifrost/targets/dispatch.py",
        "            raise RequestLost(",
        "            raise ConnectionLost(",
        ("tests/targets/test_dispatch.py",),
    ),
    Mutation(
        "local target: a NUL is a bare error",
        "mcp_bifrost/targets/local.py",
        "        except ValueError as exc:",
        "        except KeyError as exc:",
        ("tests/targets/test_dispatch.py",),
    ),
    Mutation(
        "push: git runs inside a nested (fetched) repository",
        "mcp_bifrost/ops/push/filelist.py",
        "sub = select(Path(full), use_git=False)",
        "sub = select(Path(full))",
        ("tests/ops/test_filelist.py",),
    ),
    Mutation(
        "push: git reads core.fsmonitor from the workspace's config",
        "mcp_bifrost/ops/push/filelist.py",
        '["git", *SAFE_GIT, "ls-files"',
        '["git", "ls-files"',
        (
            "tests/ops/test_filelist.py::test_a_fetched_nested_repository_runs_nothing_it_names_in_its_git_config",
        ),
    ),
    Mutation(
        "copy_files: .git/ accepted as a destination",
        "mcp_bifrost/ops/copy_files.py",
        "    refuse_executable_config(local)\n",
        "\n",
        (
            "tests/ops/test_copy_files.py::test_copy_files_refuses_git_and_other_executable_config_folders_as_destination",
        ),
    ),
    Mutation(
        "copy_files: a fetched .git folder lands locally",
        "mcp_bifrost/ops/copy_local.py",
        "        if place is not None:\n",
        "        if False:\n",
        ("tests/ops/test_copy_files.py::test_a_fetched_git_config_never_runs_on_the_client",),
    ),
    Mutation(
        "twin: named by the folder's base name alone",
        "mcp_bifrost/ops/workspace.py",
        'return f"{readable(posixpath.basename(path))}-{digest}"',
        "return readable(posixpath.basename(path))",
        ("tests/ops/test_workspace.py",),
    ),
    Mutation(
        "history: best crosses projects, targets and GPUs",
        "mcp_bifrost/loop/history.py",
        "WHERE problem = ? AND project IS ? AND target = ? AND gpu IS ?",
        "WHERE problem = ? OR ? OR ? OR ?",
        ("tests/test_history.py",),
    ),
    Mutation(
        "gpu_lock.sh: a lock folder another user made is trusted",
        "mcp_bifrost/remote/gpu_lock.sh",
        'if [ -L "$mine" ] || [ ! -d "$mine" ] || [ ! -O "$mine" ] || [ "$(stat -c %a "$mine")" != 700 ]; then',
        "if false; then",
        ("tests/ops/test_gpu_lock.py",),
    ),
    Mutation(
        "gpu_lock.sh: the host-wide lock opened for writing",
        "mcp_bifrost/remote/gpu_lock.sh",
        'exec 8<"$sfile"',
        'exec 8>"$sfile"',
        ("tests/ops/test_gpu_lock.py",),
    ),
    Mutation(
        "gpu_lock.sh: no host-wide lock (users not kept apart)",
        "mcp_bifrost/remote/gpu_lock.sh",
        'if [ -n "$shared" ]; then',
        "if false; then",
        ("tests/ops/test_gpu_lock.py",),
    ),
    Mutation(
        "jail: the worker is no subreaper",
        "gpu_harness/ready_child.py",
        "        reaper.become_subreaper()  # the candidate's",
        "        pass  #",
        (JAIL + "::test_a_detached_stray_neither_delays_the_verdict_nor_outlives_it",),
    ),
    Mutation(
        "jail: no sweep after an evaluation",
        "gpu_harness/ready_child.py",
        "        sweep = reaper.kill_descendants(exclude=[*self.elders, *spares])",
        "        sweep = reaper.Sweep()",
        (JAIL + "::test_a_detached_stray_neither_delays_the_verdict_nor_outlives_it",),
    ),
    Mutation(
        "jail: the verdict waits for the result pipe to close",
        "gpu_harness/frames.py",
        "        elif exited.done():",
        "        elif False:",
        (
            "tests/harness/test_frames.py",
            JAIL + "::test_a_detached_stray_neither_delays_the_verdict_nor_outlives_it",
        ),
    ),
    Mutation(
        "jail: TERM kills the worker but not its evaluation",
        "gpu_harness/worker.py",
        "    reaper.kill_descendants_on_signals()",
        "    pass  #",
        (JAIL + "::test_a_cancelled_worker_takes_its_evaluation_and_strays_with_it",),
    ),
    Mutation(
        "jail: TERM kills the one-shot smoke but not its evaluation",
        "gpu_harness/__main__.py",
        "    kill_descendants_on_signals()",
        "    pass  #",
        (JAIL + "::test_a_cancelled_one_shot_smoke_leaves_no_process",),
    ),
    Mutation(
        "jail: the evaluation child outlives a killed worker",
        "gpu_harness/ready_child.py",
        "                reaper.die_with_parent()",
        "                pass  #",
        (JAIL + "::test_a_one_shot_smoke_killed_outright_leaves_no_process",),
    ),
    Mutation(
        "jail: Landlock does not handle file writes",
        "gpu_harness/confine.py",
        "    fs = FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE\n",
        "    fs = FS_REMOVE_DIR\n",
        (
            JAIL + "::test_a_candidate_cannot_write_outside_its_scratch_folder",
            "tests/harness/test_confine.py",
        ),
    ),
    Mutation(
        "jail: no seccomp filter (network said blocked)",
        "gpu_harness/confine.py",
        "    failed = _seccomp()",
        '    failed = ""',
        (JAIL + "::test_a_candidate_cannot_open_a_network_socket", "tests/harness/test_confine.py"),
    ),
    Mutation(
        "jail: seccomp lets ptrace through",
        "gpu_harness/confine.py",
        "    denied = (ptrace, vm_read, vm_write, uring)",
        "    denied = (vm_read, vm_write, uring)",
        ("tests/harness/test_confine.py",),
    ),
    Mutation(
        "jail: the report does not say what confined the candidate",
        "gpu_harness/ready_child.py",
        "        report.isolation = isolation_of(frames, sweep)",
        "        pass",
        (JAIL + "::test_the_report_says_when_confinement_was_not_in_force",),
    ),
    Mutation(
        "jail (client): a fan-out's workers die on cancel but their evaluations do not",
        "gpu_harness/worker.py",
        "    reaper.kill_descendants_on_signals()",
        "    pass  #",
        (
            "tests/loop/test_jail_loop.py::test_cancelling_a_fan_out_kills_the_strays_of_its_candidates",
            "tests/loop/test_jail_loop.py::test_cancelling_a_smoke_test_job_kills_its_candidates_strays",
        ),
    ),
    Mutation(
        "jail (client): the verdict waits for a stray holding the result pipe",
        "gpu_harness/frames.py",
        "        elif exited.done():",
        "        elif False:",
        (
            "tests/harness/test_frames.py",
            "tests/loop/test_jail_loop.py::test_a_stray_helper_dies_with_its_smoke_test_and_the_report_says_so",
        ),
    ),
    # GPU only (run on the device): the lead's command in tests/MUTATIONS.md
    # the judge (issue 18): verdicts and times the candidate cannot forge
    Mutation(
        "judge: any bytes on the channel taken as an answer",
        "gpu_harness/channel.py",
        '        if not isinstance(answer, dict) or answer.get("seq") != self.seq:',
        "        if False:",
        (
            JUDGE + "::test_the_judge_refuses_anything_but_one_json_answer_in_sequence",
            JUDGE + "::test_a_forged_report_on_every_descriptor_is_flagged_and_changes_nothing",
        ),
    ),
    Mutation(
        "judge: the candidate's process inherits every descriptor",
        "gpu_harness/channel.py",
        "        if fd > 2 and fd not in keep:",
        "        if False:",
        (JUDGE + "::test_the_candidates_process_holds_no_pipe_and_one_socket",),
    ),
    Mutation(
        "judge: the candidate's process is not confined and keeps its capabilities",
        "gpu_harness/candidate_process.py",
        "    isolation = confine.confine_candidate(scratch, caches=caches)\n",
        "    isolation = confine.Isolation()\n    return isolation\n",
        (JUDGE + "::test_the_candidates_process_cannot_reach_the_judge_or_the_worker",),
    ),
    Mutation(
        "judge: the candidate keeps its capabilities (no Landlock)",
        "gpu_harness/candidate_process.py",
        "        os.environ[compile_cache.LIVE_ENV] = str(caches)\n    drop_capabilities()\n",
        "        os.environ[compile_cache.LIVE_ENV] = str(caches)\n",
        (JUDGE + "::test_without_landlock_the_one_shot_path_still_keeps_the_candidate_out",),
    ),
    Mutation(
        "judge: the candidate's process outlives a judge killed outright",
        "gpu_harness/candidate_process.py",
        "            reaper.die_with_parent()  # a judge killed",
        "            pass  #",
        (JAIL + "::test_a_one_shot_smoke_killed_outright_leaves_no_process",),
    ),
    Mutation(
        "judge: a candidate may write the whole cache, the judge's compile caches in it",
        "gpu_harness/confine.py",
        "    folders = apply_environment(candidate_environment(scratch_dir, judge, caches))\n",
        "    folders = apply_environment(candidate_environment(scratch_dir, judge, caches))\n"
        "    folders.append(str(cache_root()))\n",
        (
            "tests/harness/test_confine.py::test_a_candidate_cannot_plant_an_entry_in_the_judges_compile_caches",
        ),
    ),
    Mutation(
        "judge: a handed-back output lives until a collection (KernelBench OOM)",
        "gpu_harness/hand_back.py",
        "        copies.clear()\n        describe = None  # noqa: F841",
        "        pass",
        (JUDGE + "::test_an_output_handed_back_is_freed_when_its_last_reference_goes_without_a_collection",),
    ),
    Mutation(
        "judge: a replay within the problem's tolerance passes (unchanged bits not looked at)",
        "gpu_harness/correctness.py",
        "    elif first_print and check.fingerprint(out) == first_print and _reference_moved(ev, data, fresh):",
        "    elif False:",
        (
            "tests/harness/test_cheats.py::test_a_replay_within_the_problems_tolerance_is_caught_by_its_unchanged_bits",
        ),
    ),
    Mutation(
        "judge: a claimed time below the judge's clock believed",
        "gpu_harness/timing_flags.py",
        "    if claimed_ms >= supported:",
        "    if True:",
        (JUDGE + "::test_a_forged_clock_is_flagged_and_the_speedup_is_the_judges",),
    ),
    Mutation(
        "judge: the bound not calibrated on the reference's cold/warm ratio",
        "gpu_harness/timing_flags.py",
        "    return max(plain, calibrated) if ratio > 1 else min(plain, calibrated)",
        "    return plain if ratio > 1 else min(plain, calibrated)",
        (
            JUDGE + "::test_the_judges_bound_is_calibrated_on_the_references_own_cold_over_warm_ratio",
            JUDGE + "::test_a_forged_clock_is_flagged_and_the_speedup_is_the_judges",
        ),
    ),
    Mutation(
        "judge: a problem bound by the host gets the plain bound (honest sort failed)",
        "gpu_harness/timing_flags.py",
        "    return max(plain, calibrated) if ratio > 1 else min(plain, calibrated)",
        "    return max(plain, calibrated) if ratio > 1 else plain",
        (
            JUDGE
            + "::test_where_the_problem_or_the_candidate_is_bound_by_the_host_honest_claims_are_not_refuted",
        ),
    ),
    Mutation(
        "judge: every claim excused as bound by the host",
        "gpu_harness/timing_flags.py",
        "host_call_ms * JUDGE_NOISE_FACTOR[device] < judge_ms:",
        "False:",
        (
            JUDGE
            + "::test_where_the_problem_or_the_candidate_is_bound_by_the_host_honest_claims_are_not_refuted",
        ),
    ),
    Mutation(
        "judge: the speed-up reported from the claim",
        "gpu_harness/benchmark.py",
        "    if supported > cand.median_ms:",
        "    if False:",
        (JUDGE + "::test_a_forged_clock_is_flagged_and_the_speedup_is_the_judges",),
    ),
    Mutation(
        "time plan: secret repeats may fall to none",
        "gpu_harness/plan.py",
        "    floor = MIN_SECRET_REPEATS\n",
        "    floor = 0\n",
        (PLAN + "::test_a_candidate_that_looks_slow_cannot_cut_the_secret_repeats_that_catch_it",),
    ),
    Mutation(
        "time plan: no deadline sized to the problem (the budget kept)",
        "gpu_harness/plan.py",
        "    deadline = min(max(budget_s, float(math.ceil(needed * SAFETY))), cap)",
        "    deadline = budget_s",
        (PLAN + "::test_forty_cases_of_a_slow_reference_get_a_verdict_where_a_fixed_deadline_gave_an_error",),
    ),
    Mutation(
        "time plan: the worker's kill clock ignores the judge's plan",
        "gpu_harness/frames.py",
        '                    deadline = _plan_kill(frame["plan"], plan_cap, first_deadline, deadline)',
        "                    pass",
        (PLAN + "::test_a_benchmark_slower_than_the_timeout_is_timed_or_correct_but_not_timed_never_failed",),
    ),
    Mutation(
        "time plan: a kill while the harness sets up (no candidate code yet) reads failed",
        "gpu_harness/child_report.py",
        '    elif timed_out and not any(f.get("stage") == STAGE_LOAD for f in frames):',
        "    elif False:",
        (
            PLAN
            + "::test_a_kill_before_the_candidate_was_loaded_is_the_harness_running_out_of_time_never_failed",
        ),
    ),
    Mutation(
        "time plan: a case that cannot end before the kill is started anyway",
        "gpu_harness/timekeeping.py",
        "    return seconds <= left + KILL_SHARE * max(0.0, ev.seconds_left() - left)",
        "    return True",
        (
            PLAN
            + "::test_a_case_that_cannot_end_before_the_kill_stops_at_the_deadline_instead_of_reading_as_a_hang",
        ),
    ),
    Mutation(
        "judge: a hang while timing a correct kernel reads failed",
        "gpu_harness/evaluate.py",
        "        report.error.kind = kind\n",
        "        pass\n",
        (JUDGE + "::test_a_correct_kernel_whose_timing_hangs_is_correct_but_not_timed_never_failed",),
    ),
    Mutation(
        "jail: persisting L2 not reset before each sample (GPU)",
        "gpu_harness/timing.py",
        "        reset_persisting_l2()  # lines a candidate pinned",
        "        pass  #",
        (JAIL + "::test_a_persisting_l2_carve_out_does_not_make_a_candidate_faster",),
    ),
    Mutation(
        "jail: the reset leaves the carve-out (GPU)",
        "gpu_harness/persisting_l2.py",
        "        if limit.value:\n",
        "        if False:\n",
        ("tests/harness/test_confine.py::test_reset_persisting_l2_undoes_a_carve_out_and_a_stream_window",),
    ),
    Mutation(
        "candidate host: a failed CUDA start exits as if the candidate had",
        "gpu_harness/candidate_host.py",
        "            code = EXIT_NO_CUDA\n",
        "            pass\n",
        ("tests/harness/test_cuda_start_fault.py",),
    ),
    Mutation(
        "judge: a candidate's process that could not start CUDA blamed on the candidate",
        "gpu_harness/remote.py",
        "    if code == EXIT_NO_CUDA:\n",
        "    if False:\n",
        ("tests/harness/test_cuda_start_fault.py",),
    ),
    Mutation(
        "process.sh: job folders with the caller's umask",
        "mcp_bifrost/remote/process.sh",
        "set -u\numask 077\n",
        "set -u\numask 022\n",
        ("tests/ops/test_process_safety.py",),
    ),
    Mutation(
        "process.sh: what a command left running outlives it",
        "mcp_bifrost/remote/process.sh",
        'rc=$?; sweep "$tok"; exit "$rc"; }',
        'rc=$?; exit "$rc"; }',
        ("tests/ops/test_process_safety.py",),
    ),
    Mutation(
        "process.sh: kills skip processes that left the group",
        "mcp_bifrost/remote/process.sh",
        '  pids=$(marked "$3")\n',
        '  pids=""\n',
        ("tests/ops/test_process_safety.py",),
    ),
    Mutation(
        "process.sh: a sweep believes a process caught exec'ing (no environment shown)",
        "mcp_bifrost/remote/process.sh",
        '    if [ "$tries" -ge 20 ] || ! exec_window; then\n      any_marked "$1" || return 0\n',
        "    if true; then\n      return 0\n",
        ("tests/ops/test_process_safety.py",),
    ),
    Mutation(
        "process.sh: a job known by its pgid alone",
        "mcp_bifrost/remote/process.sh",
        '  [ "$have" = "$want" ]\n',
        "  true\n",
        ("tests/ops/test_process_safety.py",),
    ),
    Mutation(
        "process.sh: bash looked up in the caller's PATH",
        "mcp_bifrost/remote/process.sh",
        'exec "$BASH" --norc --noprofile -c "$command"',
        'exec bash --norc --noprofile -c "$command"',
        ("tests/ops/test_process_safety.py",),
    ),
    Mutation(
        "process.sh: the exit status of the last tee",
        "mcp_bifrost/remote/process.sh",
        "  rc=${PIPESTATUS[0]}\n",
        "  rc=$?\n",
        ("tests/ops/test_process_safety.py",),
    ),
    Mutation(
        "dispatch: a vanished client's commands killed by group only",
        "mcp_bifrost/remote/dispatch.py",
        "    for child in live:\n",
        "    for child in []:\n",
        ("tests/ops/test_process_safety.py::test_every_process_of_a_command_dies_when_its_client_dies",),
    ),
    Mutation(
        "push.sh: folders made with the caller's umask",
        "mcp_bifrost/remote/push.sh",
        "umask 077 #",
        "umask 022 #",
        ("tests/ops/test_push.py::test_file_modes_travel_and_what_push_creates_is_private",),
    ),
    Mutation(
        "workspace.sh: jobs/ and workspaces/ left open",
        "mcp_bifrost/remote/workspace.sh",
        'chmod 700 -- "$wd/jobs" "$wd/workspaces" ||',
        "true ||",
        ("tests/ops/test_push.py::test_a_workdir_left_open_by_an_older_version_is_made_private",),
    ),
    Mutation(
        "push: files sent as 0644 whatever their mode",
        "mcp_bifrost/ops/push/stream.py",
        "mode = entry.mode if entry.mode is not None else",
        "mode =",
        ("tests/ops/test_push.py::test_file_modes_travel_and_what_push_creates_is_private",),
    ),
    Mutation(
        "push: a chmod alone is no change",
        "mcp_bifrost/ops/push/plan.py",
        "if entry.mode is not None and there.mode & 0o777 != entry.mode:",
        "if False:",
        ("tests/ops/test_push.py::test_file_modes_travel_and_what_push_creates_is_private",),
    ),
    Mutation(
        "push: any local folder read",
        "mcp_bifrost/app.py",
        "        if request.confined and local_dir:\n",
        "        if False:\n",
        ("tests/server/test_safety.py",),
    ),
    Mutation(
        "config: an empty or relative workdir accepted",
        "mcp_bifrost/config.py",
        "        return check_workdir(workdir)\n",
        "        return workdir\n",
        ("tests/test_config.py",),
    ),
    Mutation(
        "problems: aliases expanded without a bound",
        "mcp_bifrost/loop/problems.py",
        "        _expanded_size(node, {}, set())\n",
        "",
        ("tests/ops/test_problems.py",),
    ),
    Mutation(
        "problems: task.yml read whatever its size",
        "mcp_bifrost/loop/problems.py",
        "    if len(data) > MAX_TASK_BYTES:\n",
        "    if False:\n",
        ("tests/ops/test_problems.py",),
    ),
    Mutation(
        "problems: a malformed case list fails the whole list",
        "mcp_bifrost/loop/problems.py",
        "        if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):\n",
        "        if False:\n",
        ("tests/ops/test_problems.py",),
    ),
    Mutation(
        "push: hash names written before the listing is read",
        "mcp_bifrost/ops/push/stream.py",
        "        try:\n            listing = await self._read_until(",
        "        try:\n            await writing\n            listing = await self._read_until(",
        ("tests/ops/test_push.py::test_a_checksum_push_of_50000_files_never_deadlocks",),
    ),
    Mutation(
        "copy_files.sh: the workdir and jobs/ fetched through a link",
        "mcp_bifrost/remote/copy_files.sh",
        '    "$wd" | "$wd/workspaces" | "$wd/jobs" | "$wd/.push" | "$wd/.push/"*)',
        '    "$wd/never")',
        ("tests/ops/test_copy_files.py",),
    ),
    Mutation(
        "copy_files: the workdir and jobs/ fetched",
        "mcp_bifrost/ops/copy_files.py",
        "        if reserved_for_copy(wd, path):\n",
        "        if False:\n",
        ("tests/ops/test_copy_files.py",),
    ),
    Mutation(
        "copy_files.sh: hard links followed out of the workdir",
        "mcp_bifrost/remote/copy_files.sh",
        'if [ -n "$linked" ]; then',
        "if false; then",
        ("tests/ops/test_copy_files.py",),
    ),
    Mutation(
        "push.sh: deletes follow a folder swapped for a link",
        "mcp_bifrost/remote/push.sh",
        'comm -12z <(sort -z "$s/.bifrost/delete") '
        "<(find . -mindepth 1 \\( -type f -o -type l \\) -printf '%P\\0' | sort -z) |",
        'sort -z "$s/.bifrost/delete" |',
        ("tests/ops/test_push.py::test_a_folder_swapped_for_a_link_during_the_push_is_not_deleted_through",),
    ),
    Mutation(
        "push.sh: files placed through a folder swapped for a link",
        "mcp_bifrost/remote/push.sh",
        'if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -d "$dir" ]; }; then',
        "if false; then",
        ("tests/ops/test_push.py::test_a_folder_swapped_for_a_link_during_the_push_is_not_deleted_through",),
    ),
    Mutation(
        "copy_files: a failure midway leaves what was placed",
        "mcp_bifrost/ops/copy_local.py",
        "        for step in reversed(undo):\n",
        "        for step in []:\n",
        ("tests/ops/test_copy_files.py",),
    ),
    Mutation(
        "copy_files: staging of a killed server never swept",
        "mcp_bifrost/ops/copy_files.py",
        "    await asyncio.to_thread(sweep_stale_staging, local)\n",
        "",
        ("tests/ops/test_copy_files.py",),
    ),
    Mutation(
        "copy_files: a live copy's staging swept",
        "mcp_bifrost/ops/copy_local.py",
        "            continue  # a copy in progress\n",
        "            pass\n",
        ("tests/ops/test_copy_files.py",),
    ),
    Mutation(
        "local: a stdin closed with a broken pipe left unretrieved",
        "mcp_bifrost/targets/local.py",
        "            self._stdin_closed.add_done_callback(_retrieve)\n",
        "\n",
        ("tests/targets/test_local.py",),
    ),
    Mutation(
        "slurm_job.sh: a job folder without a Slurm id read as a batch job",
        "mcp_bifrost/remote/slurm_job.sh",
        '[ -n "$id" ] || exit "$EXIT_SLURM_NOT_BATCH"\n',
        '[ -n "$id" ] || true\n',
        ("tests/targets/test_slurm_options.py",),
    ),
    Mutation(
        "api: an exec stream left early leaves its command running",
        "mcp_bifrost/api/stream.py",
        "        if self._task is not None and not self._task.done():\n            self._task.cancel()\n",
        "        if False:\n            self._task.cancel()\n",
        (API + "::test_leaving_an_exec_stream_early_kills_the_remote_process_group",),
    ),
    Mutation(
        "api: lines held until the command ends",
        "mcp_bifrost/api/stream.py",
        '        *lines, rest = pending.split(b"\\n")\n',
        "        lines, rest = [], pending\n",
        (API + "::test_exec_stream_yields_lines_in_order_while_the_command_still_runs",),
    ),
    Mutation(
        "api: calls not audited",
        "mcp_bifrost/api/audited.py",
        '        call = self._audit.start(tool, target, entry) if self._audit else ""\n',
        '        call = ""\n        self._audit = None\n',
        (API,),
    ),
    Mutation(
        "api: arguments not checked where they enter",
        "mcp_bifrost/api/audited.py",
        "            check_arguments({k:",
        "            dict({k:",
        (API,),
    ),
    Mutation(
        "server: its API client audits each tool call again",
        "mcp_bifrost/server.py",
        "GPU(config, workspace, audit=False)",
        "GPU(config, workspace, audit=True)",
        ("tests/server/test_audit.py::test_every_tool_call_leaves_a_start_and_an_end_entry",),
    ),
    Mutation(
        "api: Ctrl-C in GPUSync leaves the remote command running",
        "mcp_bifrost/api/sync.py",
        "                future.cancel()\n                ended.wait(self.KILL_WAIT_S)\n",
        "                pass\n",
        (API + "::test_ctrl_c_in_a_sync_script_kills_the_remote_process_group",),
    ),
    Mutation(
        "timing: value sets reused (a cache keyed on the inputs' contents answers timed calls)",
        "gpu_harness/rotation.py",
        "            self._drawn = (sample, self.generate(self.seed + FRESH_SEED_OFFSET + sample))",
        "            self._drawn = (sample, self.generate(self.seed + FRESH_SEED_OFFSET + sample % 3))",
        (
            "tests/harness/test_cheats.py::test_an_answer_cache_keyed_on_the_inputs_contents_never_hits_a_timed_call",
        ),
    ),
    Mutation(
        "judge: a batch calls its sets many times (memoised by the candidate's process)",
        "gpu_harness/judge_clock.py",
        "        order = rng.sample(range(calls), calls)",
        "        order = [rng.randrange(calls) for _ in range(50 * calls)]",
        (JUDGE + "::test_a_forged_clock_is_flagged_and_the_speedup_is_the_judges[memoize_batches.py]",),
    ),
    Mutation(
        "gpumode: an out-of-memory in the problem's draw wrapped as a format error (honest work failed)",
        "gpu_harness/gpumode.py",
        "        except (NeedsGpu, ProblemFormatError, torch.OutOfMemoryError):",
        "        except (NeedsGpu, ProblemFormatError):",
        (
            "tests/harness/test_formats.py::test_an_out_of_memory_in_the_problems_own_draw_stays_an_out_of_memory",
        ),
    ),
    Mutation(
        "judge: a batch's fixed cost not allowed (one working set: honest work failed)",
        "gpu_harness/timing_flags.py",
        "    return max(judge_ms - BATCH_FIXED_MS[device] / calls, 0.0) if calls > 0 else judge_ms",
        "    return judge_ms",
        (
            JUDGE + "::test_a_batchs_fixed_cost_is_allowed_over_its_calls_and_no_further",
            "tests/harness/test_budgets.py::test_a_small_fake_of_free_memory_gives_one_set_refilled_in_place_end_to_end",
        ),
    ),
    Mutation(
        "judge: a candidate on more cores than the reference not flagged (CPU)",
        "gpu_harness/timing_flags.py",
        '    if device != "cpu" or cores is None or cores <= CPU_CORES_LIMIT:',
        "    if True:",
        (
            "tests/harness/test_cheats.py::test_a_candidate_timed_on_more_cores_than_the_reference_is_flagged_on_the_cpu",
        ),
    ),
    Mutation(
        "judge: calibrated on the reference however far slower the candidate (CPU interpreter failed)",
        "gpu_harness/timing_flags.py",
        "    if ratio > 1 and not (floor <= warm_ms and floor <= judge_ms <= CALIBRATION_SPAN * warm_ms):",
        "    if ratio > 1 and not (floor <= warm_ms and floor <= judge_ms):",
        (JUDGE + "::test_the_judges_bound_is_calibrated_on_the_references_own_cold_over_warm_ratio",),
    ),
    Mutation(
        "report: the judge's batches left out of a case's phase_s",
        "gpu_harness/timing.py",
        '    phases.mark("judge")\n',
        "",
        ("tests/harness/test_honest.py::test_benchmark_mode_times_every_benchmark_case_and_rechecks_it",),
    ),
    Mutation(
        "report: the judge's exit left out of teardown_s",
        "gpu_harness/ready_child.py",
        'report.teardown_s["judge_exit_and_sweep"] = ',
        "_ = ",
        ("tests/harness/test_honest.py::test_benchmark_mode_times_every_benchmark_case_and_rechecks_it",),
    ),
    Mutation(
        "judge: one-call batches not used (four-stream cheat's latency unchecked)",
        "gpu_harness/benchmark.py",
        "    if overlap and not excuse:",
        "    if False:",
        ("tests/harness/test_judge.py::test_the_report_holds_a_claim_to_what_one_call_alone_supports",),
    ),
    Mutation(
        "judge: a one-call batch's fixed cost not allowed (honest small kernels failed)",
        "gpu_harness/timing_flags.py",
        "        max(single_ms - SINGLE_FIXED_MS[device] - LAUNCH_ALLOWANCE_MS[device], 0.0)",
        "        max(single_ms - LAUNCH_ALLOWANCE_MS[device], 0.0)",
        ("tests/harness/test_judge.py::test_one_call_alone_bounds_a_claim_whose_batched_calls_overlapped",),
    ),
    Mutation(
        "compile caches: all candidates in one folder again",
        "gpu_harness/compile_cache.py",
        "    key = hashlib.sha256(os.path.realpath(candidate).encode()).hexdigest()[:32]",
        '    key = "shared"',
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "compile caches: the folder moved before its process is confined to it and warm",
        "gpu_harness/compile_cache.py",
        "    if not _ready(live, alive):",
        "    if False:",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "compile caches: the store not merged into the live folder (every evaluation cold)",
        "gpu_harness/compile_cache.py",
        "            _merge(store, live)\n",
        "",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "compile caches: a folder both have not merged (the warm-up's triton/ made every claim fail)",
        "gpu_harness/compile_cache.py",
        "        elif source.is_dir() and not source.is_symlink() and target.is_dir() and not target.is_symlink():",
        "        elif False:",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "compile caches: no seed (every ready child builds Triton's driver module again)",
        "gpu_harness/compile_cache.py",
        "    if seed.is_dir():\n",
        "    if False:\n",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "compile caches: a store in use pruned",
        "gpu_harness/compile_cache.py",
        "            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n",
        "",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "compile caches: the stores used last pruned first",
        "gpu_harness/compile_cache.py",
        "    for _used, name, size in sorted(stores):",
        "    for _used, name, size in sorted(stores, reverse=True):",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "compile caches: the stores weighed at every worker start",
        "gpu_harness/compile_cache.py",
        "        if time.time() - stamp.stat().st_mtime < PRUNE_EVERY_S:",
        "        if False:",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "confine: the candidate may write the whole scratch, the judge's temporary files too",
        "gpu_harness/ready_child.py",
        "candidate_process.confine_process(candidate_scratch, self.caches)",
        "candidate_process.confine_process(self.scratch, self.caches)",
        ("tests/harness/test_compile_cache.py",),
    ),
    Mutation(
        "faults: torch's out-of-memory whose NVML report failed left a bare exception",
        "gpu_harness/problem.py",
        "    if all(marker in text for marker in TORCH_OOM_NVML_MARKERS):\n",
        "    if False:\n",
        ("tests/harness/test_faults.py",),
    ),
    Mutation(
        "hand back: each arena asked for its address again, for every output",
        "gpu_harness/hand_back.py",
        "        offset = arena.offset_of(ptr, device_type)\n",
        "        start = arena.tensor.data_ptr()\n"
        "        offset = ptr - start if start <= ptr < start + arena.nbytes and t.device == arena.device else None\n",
        ("tests/harness/test_judge.py",),
    ),
    Mutation(
        "judge: the one-call fixed cost measured after the candidate is imported",
        "gpu_harness/evaluate.py",
        "    ev.null_batch_ms = batch_call.null_batch_ms(ev.candidate)  # before its code exists there\n"
        "    with ev.compiling():  # load_inline's nvcc runs here: not against the deadline\n"
        "        ev.candidate.load(str(ev.problem.path), str(candidate_path), caches)\n",
        "    with ev.compiling():  # load_inline's nvcc runs here: not against the deadline\n"
        "        ev.candidate.load(str(ev.problem.path), str(candidate_path), caches)\n"
        "    ev.null_batch_ms = batch_call.null_batch_ms(ev.candidate)\n",
        ("tests/harness/test_judge.py",),
    ),
    Mutation(
        "plan: comparing the answers costs nothing",
        "gpu_harness/plan.py",
        "        + CASE_COMPARES * shape.compare_s\n",
        "",
        ("tests/harness/test_time_plan.py",),
    ),
    Mutation(
        "child report: a kill while the judge checks is the candidate's hang",
        "gpu_harness/child_report.py",
        "    elif timed_out and stage in (STAGE_SETUP, STAGE_CHECK):\n",
        "    elif False:\n",
        ("tests/harness/test_budgets.py",),
    ),
    Mutation(
        "compare: the quick path takes an infinite difference for a match",
        "gpu_harness/check.py",
        "        if not (within and math.isfinite(max_abs)):  # an infinite diff: some element was infinite\n",
        "        if not within:\n",
        ("tests/harness/test_check.py",),
    ),
    Mutation(
        "memory: a problem too big for the machine is run anyway",
        "gpu_harness/timekeeping.py",
        "    memory.check_fits(ev.work, ev.problem.device)  # not run here, before the candidate exists\n",
        "",
        ("tests/harness/test_budgets.py",),
    ),
]


def run(m: Mutation) -> str:
    path = ROOT / m.path
    original = path.read_text()
    if original.count(m.old) != 1:
        return f"NOT APPLIED (snippet found {original.count(m.old)} times)"
    path.write_text(original.replace(m.old, m.new))
    try:
        return _verdict(m)
    finally:
        path.write_text(original)


def _verdict(m: Mutation) -> str:
    """What the mutation's tests said: the first that failed, SURVIVED, or an error (a hang included)."""
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "--tb=no",
                "-rf",
                "-p",
                "no:cacheprovider",
                *m.tests,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        return "error: its tests hung past 900 s (a test that cannot end under the mutation)"
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    return (
        f"caught by {failed[0]}"
        if failed
        else ("SURVIVED" if done.returncode == 0 else f"error rc={done.returncode}")
    )


def where(m: Mutation) -> str:
    """path:line of the mutation's snippet, or a line saying it is gone (the code moved)."""
    text = (ROOT / m.path).read_text()
    if m.old not in text:
        return f"{m.path}: snippet gone"
    return m.path + ":" + str(1 + text.split(m.old)[0].count("\n"))


def refresh_table(table: Path = ROOT / "tests" / "MUTATIONS.md") -> list[str]:
    """Point every row of the table named like a mutation here at its snippet's line now (code moves
    under refactors); returns the mutations whose snippet no longer applies."""
    by_name = {m.name: m for m in MUTATIONS}
    rows = table.read_text().split("\n")
    for k, row in enumerate(rows):
        cells = row.split(" | ")
        if row.startswith("| ") and len(cells) > 2 and cells[0][2:] in by_name:
            cells[1] = where(by_name[cells[0][2:]])
            rows[k] = " | ".join(cells)
    table.write_text("\n".join(rows))
    return [m.name for m in MUTATIONS if m.old not in (ROOT / m.path).read_text()]


def main(names: list[str]) -> None:
    if names == ["--refresh-table"]:
        gone = refresh_table()
        print("snippets gone:", gone or "none")
        raise SystemExit(1 if gone else 0)
    for m in MUTATIONS:
        if names and not any(n in m.name for n in names):
            continue
        print(f"| {m.name} | {where(m)} | {run(m)} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
