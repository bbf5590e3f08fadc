import ctypes


def custom_kernel(data):
    ctypes.memset(16, 0, 16)  # write into the zero page: SIGSEGV
    return data[2]
