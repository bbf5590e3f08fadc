# Exploit (issue 18, class 1): replace the problem's own check_implementation (the authority on
# tolerance) with one that accepts anything, then return zeros.
import sys

import torch

_reference = sys.modules.get("reference")
if _reference is None:
    import reference as _reference
_reference.check_implementation = lambda data, output: (True, "")
_reference.ref_kernel = lambda data: torch.zeros_like(data)


def custom_kernel(data):
    return torch.zeros_like(data)
