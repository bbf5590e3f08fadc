"""Sentences that name a way to act, in the words of the surface the reader uses.

One source for each message, two vocabularies: the MCP tools' (`background=true`, `job_logs`) and
the CLI's (`--background`, `mcp-bifrost jobs logs ID`). The app object carries which one applies.
"""

from __future__ import annotations

import enum
import re
from typing import Any


class Words(enum.Enum):
    TOOL = "tool"
    CLI = "cli"


_VOCABULARY: dict[str, dict[Words, str]] = {
    "background": {Words.TOOL: "background=true", Words.CLI: "--background"},
    "timeout_opt": {Words.TOOL: "timeout_s", Words.CLI: "--timeout"},
    "job_status": {Words.TOOL: "job_status", Words.CLI: "`mcp-bifrost jobs status {job}`"},
    "job_logs": {Words.TOOL: "job_logs", Words.CLI: "`mcp-bifrost jobs logs {job}`"},
    "job_cancel": {Words.TOOL: "job_cancel", Words.CLI: "`mcp-bifrost jobs cancel {job}`"},
    "timeout_name": {Words.TOOL: "timeout_s", Words.CLI: "--timeout"},
}

_MESSAGES: dict[str, str] = {
    "timeout_name": "{timeout_opt}",
    "timed_out": "timed out after {timeout:g} s; the process group was killed (TERM, then KILL). "
    "Raise {timeout_opt} or use {background}.",
    "never_started": "never started: every channel to {target} stayed busy for the whole {timeout:g} s "
    "timeout. Wait for other commands to finish, or use {background}.",
    "became_job": "still running after the {budget:g} s call budget, so it continues as job {job} "
    "(timeout {timeout:g} s still applies). Poll {job_status} / {job_logs}, or {job_cancel} it.",
    "started_job": "started as job {job} (timeout {timeout:g} s); poll {job_status} / {job_logs}, "
    "or {job_cancel} it",
    "omitted_no_log": "no log is kept of a foreground run: redirect the output to a file and fetch it, "
    "or raise limits.output_cap_bytes in the config",
    "omitted_job": "the whole output is in the job's log: {job_logs}",
    "timeout_positive": "{timeout_opt} must be a positive number of seconds (got {value:g}); leave it out "
    "for the default of {default:g} s",
}


def say(key: str, words: Words, **fields: Any) -> str:
    """The message `key` with its fields filled in and the vocabulary of `words`."""
    fields.setdefault("job", "ID")
    vocab = {name: forms[words].format(**fields) for name, forms in _VOCABULARY.items()}
    return _MESSAGES[key].format(**{**vocab, **fields})


# The harness names its own options (its command line); the reader has only the surface's timeout.
_HARNESS_OPTIONS = [
    (re.compile(r"raise deadline_s \(--deadline\)"), "raise {timeout_opt}"),
    (
        re.compile(r"pass compile_allowance_s \(--compile-allowance\) to exclude it"),
        "raise {timeout_opt} to make room for it",
    ),
]


def reword(text: str, words: Words) -> str:
    """A harness message with its option names replaced by the ones this surface has."""
    timeout_opt = _VOCABULARY["timeout_opt"][words]
    for pattern, replacement in _HARNESS_OPTIONS:
        text = pattern.sub(replacement.format(timeout_opt=timeout_opt), text)
    return text


def reword_report(report: Any, words: Words) -> None:
    """reword() over a smoke report's summary, error and notes, in place."""
    report.summary = reword(report.summary, words)
    if report.error is not None:
        report.error.message = reword(report.error.message, words)
    for note in report.notes:
        note.detail = reword(note.detail, words)
