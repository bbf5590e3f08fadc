# Exploit: do the matmul on a side stream and return at once; events on the current stream see
# nothing (0.105 ms on events against 2.72 ms real for 4096^2 fp32 on an H100). The side stream
# first waits for the current one, so its inputs are ready and its answers are right: only the
# timing rules (host clock around a device-wide synchronize) can catch it.
import torch

_stream = None


def custom_kernel(data):
    global _stream
    a, b = data
    if _stream is None:
        _stream = torch.cuda.Stream()
    _stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(_stream):
        c = a @ b
    return c
