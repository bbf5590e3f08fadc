"""Where the time of one judge's batch goes, on the GPU: the candidate's process serving it (its calls,
the hand-back of each output, the synchronisations) against the judge's wall clock around the request
and the copy-back it takes off. Diagnostic only: it wraps the harness's own functions in this process
before the smoke test forks the judge and the candidate's process from it.

    python3 bench/harness/batch_probe.py PROBLEM CANDIDATE      # prints one line per batch
"""

import sys
import time

import torch

from gpu_harness import __main__ as cli
from gpu_harness import batch_call, candidate_host


def _sync():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _timed_batch(self, msg):
    t0 = time.perf_counter()
    order = [int(s) for s in msg["order"]]
    _sync()
    t1 = time.perf_counter()
    last = {}
    for set_id in order:
        last[set_id] = self.candidate(self.sets[set_id])
    t2 = time.perf_counter()
    _sync()
    t3 = time.perf_counter()
    outs = {}
    for set_id, region in msg["ret"].items():
        doc = candidate_host.hand_back(last.get(int(set_id)), region, self.arenas, lambda: None)
        if "need" in doc:
            return doc
        outs[str(set_id)] = doc["out"]
    t4 = time.perf_counter()
    _sync()
    self.pending = None
    t5 = time.perf_counter()
    print(
        f"BATCH calls={len(order)} sync0={1e3 * (t1 - t0):.3f} launch={1e3 * (t2 - t1):.3f} "
        f"gpu_wait={1e3 * (t3 - t2):.3f} hand_back={1e3 * (t4 - t3):.3f} sync1={1e3 * (t5 - t4):.3f} ms",
        file=sys.stderr,
        flush=True,
    )
    return {"outs": outs}


_batch = batch_call.batch


def _judged_batch(remote, order, keys, last):
    t0 = time.perf_counter()
    wall_ms, outs, cores = _batch(remote, order, keys, last)
    print(
        f"JUDGE calls={len(order)} per_call={wall_ms / max(len(order), 1):.4f} ms (after copy-back) "
        f"whole={1e3 * (time.perf_counter() - t0):.3f} ms",
        file=sys.stderr,
        flush=True,
    )
    return wall_ms, outs, cores


candidate_host.Host.op_batch = _timed_batch
batch_call.batch = _judged_batch

if __name__ == "__main__":
    raise SystemExit(cli.main(["smoke", sys.argv[1], sys.argv[2], "--mode", "benchmark", "--json"]))
