import math

import torch
from task import input_t, output_t
from utils import generator, pick_device


def ref_kernel(data: input_t) -> output_t:
    a, b = data
    if a.device.type == "cpu":            # CPU half matmul is slow and differently rounded: go via float32
        return (a.float() @ b.float()).half()
    return a @ b


def generate_input(m: int, n: int, k: int, seed: int) -> input_t:
    device = pick_device()
    gen = generator(device, seed)
    scale = 1.0 / math.sqrt(k)
    a = (torch.randn(m, k, device=device, generator=gen) * scale).half()
    b = (torch.randn(k, n, device=device, generator=gen) * scale).half()
    return a, b


def flop_count(data: input_t) -> float:
    a, b = data
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
