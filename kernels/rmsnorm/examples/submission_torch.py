# Baseline: the reference's arithmetic in torch ops (each one a pass over the row block in memory).
import torch
from task import input_t, output_t

EPS = 1e-6


def custom_kernel(data: input_t) -> output_t:
    x, weight = data
    xf = x.float()
    inv = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + EPS)
    return (xf * inv * weight.float()).to(torch.bfloat16)
