# Baseline: torch's fused softmax (float32 inside), copied into the output buffer: one extra pass,
# since torch.softmax has no out= argument.
import torch
from task import input_t, output_t


def custom_kernel(data: input_t) -> output_t:
    x, out = data
    out.copy_(torch.softmax(x, dim=-1))
    return out
