import torch
from task import input_t, output_t


def custom_kernel(data: input_t) -> output_t:
    A, B, C = data
    C.copy_(A)
    C.add_(B)
    return C
