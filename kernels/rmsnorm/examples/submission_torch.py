# Baseline: torch's own RMSNorm (one fused kernel on the GPU, float32 inside). Spelled out as
# x.float() * rsqrt(...) * weight.float(), the same arithmetic takes ~9 passes over memory and is
# 10x slower: the first thing to fuse.
import torch
from task import input_t, output_t

EPS = 1e-6


def custom_kernel(data: input_t) -> output_t:
    x, weight = data
    return torch.nn.functional.rms_norm(x, (x.shape[-1],), weight, EPS)
