import torch
from task import input_t, output_t


def custom_kernel(data: input_t) -> output_t:
    shifted = data - data.amax(dim=-1, keepdim=True)
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)
