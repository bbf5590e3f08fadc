"""matmul: C = A @ B, bfloat16 in, float32 accumulation, bfloat16 out (cuBLAS on the GPU)."""

import math

import torch
from task import input_t, output_t
from utils import generator, pick_device


def ref_kernel(data: input_t) -> output_t:
    a, b = data
    if a.device.type == "cpu":  # CPU bfloat16 matmul is slow: accumulate in float32 explicitly
        return (a.float() @ b.float()).to(torch.bfloat16)
    return a @ b  # cuBLAS: float32 accumulation


def generate_input(m: int, n: int, k: int, seed: int) -> input_t:
    device = pick_device()
    gen = generator(device, seed)
    scale = 1.0 / math.sqrt(k)
    a = (torch.randn(m, k, device=device, generator=gen) * scale).to(torch.bfloat16)
    b = (torch.randn(k, n, device=device, generator=gen) * scale).to(torch.bfloat16)
    return a, b


def flop_count(data: input_t) -> float:
    a, b = data
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
