# Exploit: compute C correctly, but clobber an input (e.g. scratch space reuse that corrupts B).
import torch


def custom_kernel(data):
    A, B, C = data
    torch.add(A, B, out=C)
    B.zero_()
    return C
