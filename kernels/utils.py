"""Helpers shared by the problems in kernels/ (mapped as `utils` through each task.yml's files:)."""

import torch


def pick_device() -> torch.device:
    """cuda when there is a GPU, else cpu: the same problem runs on the H100 and in CI."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
