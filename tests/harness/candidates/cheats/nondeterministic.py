# Exploit (or bug): results depend on call history, like a race or an uninitialised read.
import torch

_calls = [0]


def custom_kernel(data):
    _calls[0] += 1
    out = torch.softmax(data, dim=-1)
    if _calls[0] % 2 == 0:
        out[..., 0] += 0.5
    return out
