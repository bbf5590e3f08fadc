"""nvfp4_gemv: block-scaled FP4 (e2m1 values, e4m3 scales per 16) matrix-vector product.

The reference dequantises to float32 in torch (a byte -> two values table, row blocks at a time to
bound memory) and multiplies in float32; the result is returned in float16. It moves ~40 bytes per
packed byte, so fused kernels beat it by 20-40x: task.yml raises the speedup sanity limit.
"""

import torch
from task import input_t, output_t
from utils import generator, pick_device

GROUP = 16  # elements per scale
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)
DEQUANT_ELEMENTS = 1 << 25  # matrix elements dequantised at once (bounds the temporaries)


def byte_table(device: torch.device) -> torch.Tensor:
    """(256, 2) float32: the two values packed in each byte (low nibble first)."""
    values = torch.tensor(E2M1_VALUES, dtype=torch.float32, device=device)
    return torch.stack((values.repeat(16), values.repeat_interleave(16)), dim=-1)


def dequantize(packed: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """(rows, k/2) uint8 + (rows, k/16) e4m3 -> (rows, k) float32 (exact: a value times a scale)."""
    rows, k = packed.shape[0], packed.shape[1] * 2
    values = byte_table(packed.device)[packed.int()]  # (rows, k/2, 2)
    return (values.view(rows, k // GROUP, GROUP) * scales.float()[..., None]).view(rows, k)


def ref_kernel(data: input_t) -> output_t:
    a, a_scale, b, b_scale = data
    m, k = a.shape[0], a.shape[1] * 2
    vector = dequantize(b[None], b_scale[None])[0]
    out = torch.empty(m, dtype=torch.float32, device=a.device)
    step = max(1, DEQUANT_ELEMENTS // k)
    for r0 in range(0, m, step):
        out[r0 : r0 + step] = dequantize(a[r0 : r0 + step], a_scale[r0 : r0 + step]) @ vector
    return out.to(torch.float16)


def _scales(shape: tuple, device: torch.device, gen: torch.Generator) -> torch.Tensor:
    return (0.25 + 1.5 * torch.rand(shape, device=device, generator=gen)).to(torch.float8_e4m3fn)


def generate_input(m: int, k: int, seed: int) -> input_t:
    if k % GROUP:
        raise ValueError(f"k={k} must be a multiple of {GROUP}")
    device = pick_device()
    gen = generator(device, seed)
    a = torch.randint(0, 256, (m, k // 2), device=device, dtype=torch.uint8, generator=gen)
    a_scale = _scales((m, k // GROUP), device, gen)
    b = torch.randint(0, 256, (k // 2,), device=device, dtype=torch.uint8, generator=gen)
    b_scale = _scales((k // GROUP,), device, gen)
    return a, a_scale, b, b_scale
