"""rmsnorm: y = x * rsqrt(mean(x^2) + eps) * weight, bfloat16 in and out, float32 arithmetic."""

import torch
from task import input_t, output_t
from utils import generator, pick_device

EPS = 1e-6


def ref_kernel(data: input_t) -> output_t:
    x, weight = data
    xf = x.float()
    y = xf * torch.rsqrt(xf.square().mean(dim=-1, keepdim=True) + EPS)
    return (y * weight.float()).to(torch.bfloat16)


def generate_input(rows: int, cols: int, seed: int) -> input_t:
    device = pick_device()
    gen = generator(device, seed)
    x = torch.randn(rows, cols, device=device, generator=gen).to(torch.bfloat16)
    weight = (1.0 + 0.1 * torch.randn(cols, device=device, generator=gen)).to(torch.bfloat16)
    return x, weight
