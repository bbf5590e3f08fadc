"""Read an .ncu-rep and summarise each kernel: with NVIDIA's own ncu_report module when it is found,
else from `ncu --import REP --csv --page raw --print-units base` (one row per kernel, a column per
metric; the format of the recorded fixtures in tests/loop/ncu/). Both feed the same `kernel()`.

Numbers are quoted from the report, never derived beyond simple sums; a metric the report lacks is
null. The bound follows NVIDIA's triage rule on Speed Of Light: both SM and memory throughput under
40 % = latency-bound, else the larger side (compute > 60 % with memory < 40 % is the clear case).
"""

from __future__ import annotations

import csv
import glob
import io
import os
import re
import subprocess
import sys
from typing import Any

LATENCY_BOUND_PCT = 40.0
TOP_STALLS = 3
TOP_ADVICE = 3
STALL = re.compile(r"^smsp__average_warps_issue_stalled_(\w+)_per_issue_active\.ratio$")
TIME_US = {
    "nsecond": 1e-3,
    "ns": 1e-3,
    "usecond": 1.0,
    "us": 1.0,
    "msecond": 1e3,
    "ms": 1e3,
    "second": 1e6,
    "s": 1e6,
}
BYTES = {
    "byte": 1,
    "Kbyte": 1e3,
    "Mbyte": 1e6,
    "Gbyte": 1e9,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "Kibyte": 1024,
    "Mibyte": 1024**2,
    "Gibyte": 1024**3,
}
OCCUPANCY_LIMITS = {
    "launch__occupancy_limit_registers": "registers",
    "launch__occupancy_limit_shared_mem": "shared memory",
    "launch__occupancy_limit_warps": "warps per SM",
    "launch__occupancy_limit_blocks": "blocks per SM",
}
TENSOR_PIPE = (
    "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active",
    "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active",
    "sm__inst_executed_pipe_tensor_op_hmma.avg.pct_of_peak_sustained_active",
)


class NcuReportMissing(Exception):
    """The ncu_report Python module was not found beside ncu."""


def module_dirs(ncu: str) -> list[str]:
    """Where ncu_report may live: extras/python of the install that holds this ncu binary."""
    real = os.path.realpath(ncu)
    here = os.path.dirname(real)
    dirs = [os.path.join(here, "extras", "python"), os.path.join(os.path.dirname(here), "extras", "python")]
    dirs += sorted(glob.glob("/opt/nvidia/nsight-compute/*/extras/python"), reverse=True)
    return [d for d in dirs if os.path.isfile(os.path.join(d, "ncu_report.py"))]


def load_ncu_report(ncu: str):
    try:
        import ncu_report  # PyPI's ncu-report, or already on the path

        return ncu_report
    except ImportError:
        pass
    for d in module_dirs(ncu):
        sys.path.insert(0, d)
        try:
            import ncu_report

            return ncu_report
        except ImportError:
            sys.path.remove(d)
    raise NcuReportMissing(
        f"NVIDIA's ncu_report module was not found beside {ncu} (extras/python); "
        "reinstall Nsight Compute or `pip install ncu-report` on the host"
    )


def summarise(report_path: str, ncu: str) -> list[dict[str, Any]]:
    """Every kernel of the report, in launch order; the CSV import when ncu_report is not there."""
    try:
        ncu_report = load_ncu_report(ncu)
    except NcuReportMissing:
        return summarise_csv(import_raw_csv(report_path, ncu))
    ctx = ncu_report.load_report(report_path)
    kernels = []
    for i in range(ctx.num_ranges()):
        rng = ctx.range_by_idx(i)
        for j in range(rng.num_actions()):
            kernels.append(kernel(rng.action_by_idx(j), ncu_report))
    return kernels


# -- the CSV reader: `ncu --import REP --csv --page raw --print-units base` ---------------------------
RAW_CSV_ARGS = ("--csv", "--page", "raw", "--print-units", "base")
CSV_TIMEOUT_S = 120.0
NOT_METRICS = {
    "ID",
    "Process ID",
    "Process Name",
    "Host Name",
    "Kernel Name",
    "Context",
    "Stream",
    "Block Size",
    "Grid Size",
    "Device",
    "CC",
}


def import_raw_csv(report_path: str, ncu: str) -> str:
    """The report's raw page as CSV, printed by ncu itself (works wherever ncu does)."""
    try:
        done = subprocess.run(
            [ncu, "--import", report_path, *RAW_CSV_ARGS],
            capture_output=True,
            text=True,
            timeout=CSV_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NcuReportMissing(
            f"neither ncu_report nor `ncu --import {report_path} --csv` worked: {exc}"
        ) from exc
    if done.returncode != 0:
        raise NcuReportMissing(
            f"`ncu --import {report_path} --csv` exited {done.returncode}: "
            f"{(done.stderr or done.stdout)[-500:]}"
        )
    return done.stdout


def summarise_csv(text: str) -> list[dict[str, Any]]:
    return [kernel(action, CsvModule) for action in csv_actions(text)]


def csv_actions(text: str) -> list[CsvAction]:
    """Rows of the raw page: a header (`"ID",...,"Kernel Name",...,metric names`), a row of units, then
    one row per profiled kernel. Lines ncu prints before the header (==PROF==, the program's) are skipped."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID",')), None)
    if start is None:
        return []
    rows = list(csv.reader(io.StringIO("\n".join(lines[start:]))))
    header, body = rows[0], rows[1:]
    units = body.pop(0) if body and not body[0][0].strip() else [""] * len(header)
    return [
        CsvAction(dict(zip(header, row)), dict(zip(header, units))) for row in body if len(row) == len(header)
    ]


def csv_number(text: str) -> float | str:
    """ncu's CSV number ('1,048,576', '127.04', 'n/a'): a float, or the text when it is none."""
    t = text.strip().replace(",", "")
    try:
        return float(t)
    except ValueError:
        return text


class CsvMetric:
    def __init__(self, value: float | str, unit: str) -> None:
        self._value, self._unit = value, unit

    def value(self) -> float | str:
        return self._value

    def unit(self) -> str:
        return self._unit


class CsvAction:
    """One kernel row of the raw page, answering the few IAction calls `kernel()` makes."""

    NameBase_DEMANGLED = None

    def __init__(self, row: dict[str, str], units: dict[str, str]) -> None:
        self._row, self._units = row, units

    def name(self, base: Any = None) -> str:
        return self._row.get("Kernel Name", "?")

    def metric_by_name(self, name: str) -> CsvMetric | None:
        raw = self._row.get(name)
        if raw is None or not raw.strip():
            return None
        return CsvMetric(csv_number(raw), self._units.get(name, ""))

    def metric_names(self) -> tuple[str, ...]:
        return tuple(k for k in self._row if k not in NOT_METRICS)

    def rule_results(self) -> tuple:
        return ()  # the raw page carries no rule results: no advice from a CSV


class CsvModule:
    IAction = CsvAction


def _metric(action, name: str):
    try:
        m = action.metric_by_name(name)
    except Exception:  # noqa: BLE001 - a metric the report lacks is null
        return None
    return m


def _num(action, name: str) -> float | None:
    m = _metric(action, name)
    if m is None:
        return None
    try:
        v = m.value()
    except Exception:  # noqa: BLE001
        return None
    return float(v) if isinstance(v, (int, float)) else None


def _scaled(action, name: str, table: dict[str, float]) -> float | None:
    m = _metric(action, name)
    v = _num(action, name)
    if m is None or v is None:
        return None
    try:
        unit = m.unit()
    except Exception:  # noqa: BLE001
        unit = ""
    return v * table.get(unit, 1.0)


def _round(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


def _dims(action, prefix: str) -> str | None:
    dims = [_num(action, f"{prefix}_{axis}") for axis in "xyz"]
    if all(d is not None for d in dims):
        return "(" + ", ".join(str(int(d)) for d in dims) + ")"
    return None


def classify(sm_pct: float | None, mem_pct: float | None) -> str:
    if sm_pct is None or mem_pct is None:
        return "unknown"
    if sm_pct < LATENCY_BOUND_PCT and mem_pct < LATENCY_BOUND_PCT:
        return "latency"
    return "compute" if sm_pct >= mem_pct else "memory"


def kernel(action, ncu_report) -> dict[str, Any]:
    try:
        name = action.name(ncu_report.IAction.NameBase_DEMANGLED)
    except Exception:  # noqa: BLE001
        name = action.name()
    sm = _num(action, "sm__throughput.avg.pct_of_peak_sustained_elapsed")
    mem = _num(action, "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed")
    dram_pct = _num(action, "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed")
    if dram_pct is None:
        dram_pct = _num(action, "dram__throughput.avg.pct_of_peak_sustained_elapsed")
    read, write = (_scaled(action, f"dram__bytes_{d}.sum", BYTES) for d in ("read", "write"))
    duration_us = _scaled(action, "gpu__time_duration.sum", TIME_US)
    dram_bytes = (
        read + write if read is not None and write is not None else _scaled(action, "dram__bytes.sum", BYTES)
    )
    rate = _num(action, "dram__bytes.sum.per_second")  # the six default sections carry only the rate (byte/s)
    if dram_bytes is None and rate is not None and duration_us is not None:
        dram_bytes = rate * duration_us * 1e-6
    static = _scaled(action, "launch__shared_mem_per_block_static", BYTES)
    dynamic = _scaled(action, "launch__shared_mem_per_block_dynamic", BYTES)
    limits = {label: _num(action, metric) for metric, label in OCCUPANCY_LIMITS.items()}
    limits = {k: v for k, v in limits.items() if v is not None}
    regs = _num(action, "launch__registers_per_thread")
    return {
        "name": name,
        "bound": classify(sm, mem),
        "duration_us": _round(duration_us, 3),
        "grid": _dims(action, "launch__grid_dim") or _str(action, "launch__grid_size"),
        "block": _dims(action, "launch__block_dim") or _str(action, "launch__block_size"),
        "registers_per_thread": int(regs) if regs is not None else None,
        "shared_mem_bytes": int((static or 0) + (dynamic or 0))
        if static is not None or dynamic is not None
        else None,
        "sm_pct": _round(sm),
        "memory_pct": _round(mem),
        "dram_pct": _round(dram_pct),
        "dram_bytes": int(dram_bytes) if dram_bytes is not None else None,
        "l1_hit_pct": _round(_num(action, "l1tex__t_sector_hit_rate.pct")),
        "l2_hit_pct": _round(_num(action, "lts__t_sector_hit_rate.pct")),
        "achieved_occupancy_pct": _round(_num(action, "sm__warps_active.avg.pct_of_peak_sustained_active")),
        "theoretical_occupancy_pct": _round(_num(action, "sm__maximum_warps_per_active_cycle_pct")),
        "occupancy_limiter": min(limits, key=limits.get) if limits else None,
        "tensor_pipe_pct": next(
            (_round(v) for v in (_num(action, m) for m in TENSOR_PIPE) if v is not None), None
        ),
        "top_stalls": stalls(action),
        "advice": advice(action),
    }


def _str(action, name: str) -> str | None:
    v = _num(action, name)
    return None if v is None else str(int(v))


def stalls(action) -> list[str]:
    found = []
    try:
        names = list(action.metric_names())
    except Exception:  # noqa: BLE001
        names = []
    for name in names:
        match = STALL.match(name)
        if match:
            v = _num(action, name)
            if v:
                found.append((v, match.group(1)))
    found.sort(reverse=True)
    return [f"{reason} ({v:.1f} cycles per issued instruction)" for v, reason in found[:TOP_STALLS]]


def advice(action) -> list[str]:
    """ncu's own rule results that estimate a speedup, largest first."""
    scored = []
    try:
        results = action.rule_results()
    except Exception:  # noqa: BLE001 - older ncu_report without rule access
        return []
    for r in results:
        try:
            if not r.has_speedup_estimation():
                continue
            speedup = float(r.speedup_estimation().get("speedup") or 0.0)
            msg = r.rule_message() if r.has_rule_message() else {}
            text = " ".join(str(msg.get("message", "")).split())
            title = msg.get("title") or r.name()
        except Exception:  # noqa: BLE001
            continue
        if speedup > 0 and text:
            scored.append((speedup, f"[{title}, est. speedup {speedup:.0f}%] {text[:400]}"))
    scored.sort(key=lambda x: -x[0])
    return [t for _, t in scored[:TOP_ADVICE]]
