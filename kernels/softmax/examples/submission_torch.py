# Baseline: torch's fused softmax computed in float32, copied into the output buffer (one extra pass).
import torch
from task import input_t, output_t


def custom_kernel(data: input_t) -> output_t:
    x, out = data
    out.copy_(torch.softmax(x, dim=-1, dtype=torch.float32))
    return out
