# Baseline: dequantise in torch with a byte -> (two values) table to float16 - exact, since an e2m1
# value times an e4m3 scale has at most 5 significant bits and lies within float16's range - in row
# blocks, then one cuBLAS GEMV per block (float32 accumulation inside). float32 on the CPU.
# Every step is a pass over memory: ~20 bytes moved per packed byte.
import torch
from task import input_t, output_t

BLOCK_ELEMENTS = 1 << 26
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)
_tables: dict = {}


def _table(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (device, dtype)
    if key not in _tables:
        values = torch.tensor(E2M1_VALUES, dtype=dtype, device=device)
        _tables[key] = torch.stack((values.repeat(16), values.repeat_interleave(16)), dim=-1)  # (256, 2)
    return _tables[key]


def _dequantize(packed: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    rows, k = packed.shape[0], packed.shape[1] * 2
    values = _table(packed.device, dtype)[packed.int()].view(rows, k // 16, 16)
    return (values * scales.to(dtype)[..., None]).view(rows, k)


def custom_kernel(data: input_t) -> output_t:
    a, a_scale, b, b_scale = data
    m, k = a.shape[0], a.shape[1] * 2
    dtype = torch.float16 if a.is_cuda else torch.float32
    vector = _dequantize(b[None], b_scale[None], dtype)[0]
    out = torch.empty(m, dtype=torch.float16, device=a.device)
    step = max(1, BLOCK_ELEMENTS // k)
    for r0 in range(0, m, step):
        out[r0 : r0 + step] = _dequantize(a[r0 : r0 + step], a_scale[r0 : r0 + step], dtype) @ vector
    return out
