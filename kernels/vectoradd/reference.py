"""vectoradd: C = A + B in float16; C is an output buffer the reference writes and returns."""

import torch
from task import input_t, output_t
from utils import generator, pick_device


def ref_kernel(data: input_t) -> output_t:
    A, B, C = data
    torch.add(A, B, out=C)
    return C


def generate_input(size: int, seed: int) -> input_t:
    device = pick_device()
    gen = generator(device, seed)
    A = torch.randn(size, size, device=device, dtype=torch.float16, generator=gen)
    B = torch.randn(size, size, device=device, dtype=torch.float16, generator=gen)
    C = torch.empty(size, size, device=device, dtype=torch.float16)
    return A, B, C
