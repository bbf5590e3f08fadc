# Exploit: the matmul on a side stream that does not even wait for its inputs; events on the current
# stream see nothing. It may read half-refilled inputs, so it may fail on values before timing: it must never pass.
import torch

_stream = None


def custom_kernel(data):
    global _stream
    a, b = data
    if _stream is None:
        _stream = torch.cuda.Stream()
    with torch.cuda.stream(_stream):
        c = a @ b
    return c
