from typing import TypedDict, TypeVar

import torch

# (a: (m, k/2) uint8, a_scale: (m, k/16) float8_e4m3fn, b: (k/2,) uint8, b_scale: (k/16,) float8_e4m3fn)
input_t = TypeVar("input_t", bound=tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor])
output_t = TypeVar("output_t", bound=torch.Tensor)  # (m,) float16


class TestSpec(TypedDict):
    m: int
    k: int
    seed: int
