# Exploit (issue 18; pygpubench's replace-torch): replace the torch functions a checker uses
# (allclose, isclose, equal, isnan, comparisons) with forgeries, then return zeros.
import torch

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)
torch.isnan = lambda t: torch.zeros_like(t, dtype=torch.bool)
torch.Tensor.__gt__ = lambda self, other: torch.zeros(self.shape, dtype=torch.bool, device=self.device)
torch.Tensor.any = lambda self, *a, **k: torch.tensor(False)


def custom_kernel(data):
    A, B, C = data
    C.zero_()
    return C
