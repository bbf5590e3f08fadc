import cupy


def custom_kernel(data):
    A, B, C = data
    return C
