"""softmax: row-wise softmax, destination-passing (GPU MODE's convention).

generate_input returns (x, out) with out = torch.empty(...): an output buffer. The reference ignores
it and returns a new tensor; a submission writes out and returns it (the harness poisons out before
every call, so returning it unwritten or half-written fails).
"""

import torch
from task import input_t, output_t
from utils import dtype_named, generator, pick_device


def ref_kernel(data: input_t) -> output_t:
    x, _out = data
    return torch.softmax(x, dim=-1)  # float32 inside for bfloat16 too (CPU and CUDA), one pass


def generate_input(rows: int, cols: int, dtype: str, seed: int) -> input_t:
    device = pick_device()
    x = 2.0 * torch.randn(rows, cols, device=device, dtype=torch.float32, generator=generator(device, seed))
    x = x.to(dtype_named(dtype))
    out = torch.empty(rows, cols, device=device, dtype=x.dtype)
    return x, out


def bytes_moved(data: input_t) -> float:
    """What a perfect kernel moves: x read once, out written once (for roofline tables)."""
    x, out = data
    return float(x.numel() * x.element_size() + out.numel() * out.element_size())
