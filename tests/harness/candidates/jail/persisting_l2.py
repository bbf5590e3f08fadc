# Attack (llm.c #851: 3530 GB/s "measured" on an 864 GB/s part): set aside L2 for persisting lines at
# import, and before each call point the stream's access-policy window at the inputs, so that they
# survive the harness's cold-cache flush and the next call reads them from L2, not DRAM.
import ctypes

import torch

_rt = None
for _name in ("libcudart.so.13", "libcudart.so.12", "libcudart.so"):
    try:
        _rt = ctypes.CDLL(_name)
        break
    except OSError:
        continue

LIMIT_PERSISTING_L2 = 0x06
ATTR_ACCESS_POLICY_WINDOW = 1
PERSISTING, STREAMING = 2, 1


class Window(ctypes.Structure):
    _fields_ = [
        ("base_ptr", ctypes.c_void_p),
        ("num_bytes", ctypes.c_size_t),
        ("hitRatio", ctypes.c_float),
        ("hitProp", ctypes.c_int),
        ("missProp", ctypes.c_int),
    ]


class AttrValue(ctypes.Union):
    _fields_ = [("accessPolicyWindow", Window), ("pad", ctypes.c_char * 64)]


props = torch.cuda.get_device_properties(0)
set_aside = int(getattr(props, "persisting_l2_cache_max_size", 0) or props.L2_cache_size * 3 // 4)
_rt.cudaDeviceSetLimit(ctypes.c_int(LIMIT_PERSISTING_L2), ctypes.c_size_t(set_aside))
MAX_WINDOW = 64 << 20
print(f"window set: set-aside {set_aside} bytes", flush=True)


def _pin(A, B):
    _rt.cudaDeviceSetLimit(ctypes.c_int(LIMIT_PERSISTING_L2), ctypes.c_size_t(set_aside))
    lo = min(A.data_ptr(), B.data_ptr())
    hi = max(A.data_ptr() + A.nbytes, B.data_ptr() + B.nbytes)
    value = AttrValue()
    value.accessPolicyWindow = Window(lo, min(hi - lo, MAX_WINDOW), 1.0, PERSISTING, STREAMING)
    _rt.cudaStreamSetAttribute(
        ctypes.c_void_p(torch.cuda.current_stream().cuda_stream),
        ctypes.c_int(ATTR_ACCESS_POLICY_WINDOW),
        ctypes.byref(value),
    )
    _rt.cudaGetLastError()


def custom_kernel(data):
    A, B, C = data
    _pin(A, B)
    return torch.add(A, B, out=C)
