"""prefix_sum: inclusive scan of a float32 vector, checked with a tolerance that grows as sqrt(n)."""

import math

import torch
from task import input_t, output_t
from utils import generator, pick_device

TOLERANCE_PER_SQRT_N = 1e-5  # GPU MODE's prefixsum: rtol = atol = 1e-5 * sqrt(n)


def ref_kernel(data: input_t) -> output_t:
    return torch.cumsum(data, dim=0)


def generate_input(size: int, seed: int) -> input_t:
    device = pick_device()
    return torch.randn(size, device=device, dtype=torch.float32, generator=generator(device, seed))


def check_implementation(data: input_t, output: output_t) -> tuple[bool, str]:
    """Compare with a float64 scan at rtol = atol = 1e-5 * sqrt(n): the rounding of a float32 scan
    depends on its summation order, and its error grows with n."""
    if not isinstance(output, torch.Tensor) or output.shape != data.shape or output.dtype != data.dtype:
        return False, f"expected a float32 tensor of shape {tuple(data.shape)}"
    tol = TOLERANCE_PER_SQRT_N * math.sqrt(data.numel())
    expected = torch.cumsum(data.double(), dim=0)
    got = output.double()
    bad = ~torch.isclose(got, expected, rtol=tol, atol=tol)  # NaN is never close
    if not bool(bad.any()):
        return True, ""
    first = int(bad.nonzero()[0, 0])
    return False, (
        f"{int(bad.sum())} of {data.numel()} values off by more than rtol=atol={tol:.3g}; first at "
        f"[{first}]: got {float(got[first]):.6g}, expected {float(expected[first]):.6g}"
    )
