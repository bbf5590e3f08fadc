"""rmsnorm: y = x * rsqrt(mean(x^2) + eps) * weight, bfloat16 in and out, float32 arithmetic.

torch's rms_norm computes a bfloat16 input in float32 inside (on the CPU its result is bitwise that
of the expression in the docstring of ref_kernel) and is one fused kernel on the GPU, so the
reference is a fair yardstick: a spelled-out version of it is 10x slower than the memory floor.
"""

import torch
from task import input_t, output_t
from utils import generator, pick_device

EPS = 1e-6


def ref_kernel(data: input_t) -> output_t:
    """(x.float() * rsqrt(x.float().square().mean(-1, keepdim=True) + EPS) * weight.float()).bfloat16()"""
    x, weight = data
    return torch.nn.functional.rms_norm(x, (x.shape[-1],), weight, EPS)


def generate_input(rows: int, cols: int, seed: int) -> input_t:
    device = pick_device()
    gen = generator(device, seed)
    x = torch.randn(rows, cols, device=device, generator=gen).to(torch.bfloat16)
    weight = (1.0 + 0.1 * torch.randn(cols, device=device, generator=gen)).to(torch.bfloat16)
    return x, weight
