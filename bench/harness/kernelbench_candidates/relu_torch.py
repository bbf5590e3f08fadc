# KernelBench level 1, 19_ReLU: an honest torch candidate (a different op than the reference's relu).
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp_min(x, 0.0)
