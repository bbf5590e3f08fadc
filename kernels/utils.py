"""Helpers shared by the problems in kernels/ (mapped as `utils` through each task.yml's files:)."""

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pick_device() -> torch.device:
    """cuda when there is a GPU, else cpu: the same problem runs on the H100 and in CI."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def dtype_named(name: str) -> torch.dtype:
    """task.yml names dtypes as strings ("bfloat16"); an unknown name says which ones exist."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}: use one of {sorted(DTYPES)}") from None
