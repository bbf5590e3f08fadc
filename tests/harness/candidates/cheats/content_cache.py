# Exploit (red team, 2026-12-07): an answer cache keyed on the inputs' contents, read from a strided
# sample of a few elements (nanoseconds, whatever the size). Pointers, ids and version counters say
# nothing here; only inputs the candidate has never seen force it to compute. Where timing reuses a few
# drawn value sets, every call after the first of each set is a lookup: a correct answer, no arithmetic.
import torch

_answers = {}


def _key(t):
    flat = t.reshape(-1)
    step = max(1, flat.numel() // 16)
    return (tuple(t.shape), t.dtype, tuple(flat[::step][:16].float().tolist()))


def custom_kernel(data):
    a, b = data
    key = (_key(a), _key(b))
    if key not in _answers:  # a miss computes what the honest baseline does
        _answers[key] = torch.matmul(a.float(), b.float()).to(a.dtype) if a.device.type == "cpu" else a @ b
    return _answers[key].clone()
