"""A candidate's persisting-L2 carve-out undone before every timed sample (CUDA), through the runtime
torch loaded. Without this a candidate that pins its inputs in L2 at import beats the cold-cache flush.

Only the standard library (ctypes); torch is never imported here.
"""

from __future__ import annotations

import ctypes
import os

CUDA_LIMIT_PERSISTING_L2 = 0x06  # cudaLimitPersistingL2CacheSize
CUDA_STREAM_ATTR_ACCESS_POLICY_WINDOW = 1  # cudaStreamAttributeAccessPolicyWindow
_CUDART_NAMES = ("libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so")


def _cudart() -> ctypes.CDLL | None:
    """The CUDA runtime torch loaded (the same soname resolves to the loaded copy), or None."""
    for name in _CUDART_NAMES:
        try:
            lib = ctypes.CDLL(name, mode=getattr(os, "RTLD_NOLOAD", 4) | ctypes.RTLD_GLOBAL)
            return lib
        except OSError:
            continue
    for name in _CUDART_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


class _AccessPolicyWindow(ctypes.Structure):
    _fields_ = [
        ("base_ptr", ctypes.c_void_p),
        ("num_bytes", ctypes.c_size_t),
        ("hitRatio", ctypes.c_float),
        ("hitProp", ctypes.c_int),
        ("missProp", ctypes.c_int),
    ]


class _StreamAttrValue(ctypes.Union):
    _fields_ = [("accessPolicyWindow", _AccessPolicyWindow), ("pad", ctypes.c_char * 64)]


def reset_persisting_l2(stream: int | None = None) -> bool:
    """Undo a candidate's persisting-L2 carve-out before a timed sample: the set-aside goes back to 0
    (cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, 0)), lines already persisting become normal
    (cudaCtxResetPersistingL2Cache), and the access-policy window of `stream` (a cudaStream_t, default
    the legacy default stream 0) is cleared. Without this a candidate that pins its inputs in L2 at
    import beats the cold-cache flush. False where the runtime is unreachable or a call failed."""
    lib = _cudart()
    if lib is None:
        return False
    try:
        limit = ctypes.c_size_t(0)
        ok = lib.cudaDeviceGetLimit(ctypes.byref(limit), ctypes.c_int(CUDA_LIMIT_PERSISTING_L2)) == 0
        if limit.value:
            ok = (
                lib.cudaDeviceSetLimit(ctypes.c_int(CUDA_LIMIT_PERSISTING_L2), ctypes.c_size_t(0)) == 0 and ok
            )
        ok = lib.cudaCtxResetPersistingL2Cache() == 0 and ok
        value = _StreamAttrValue()  # zeros: no window
        ok = (
            lib.cudaStreamSetAttribute(
                ctypes.c_void_p(stream or 0),
                ctypes.c_int(CUDA_STREAM_ATTR_ACCESS_POLICY_WINDOW),
                ctypes.byref(value),
            )
            == 0
            and ok
        )
        lib.cudaGetLastError()  # a refused call must not surface later as torch's launch error
        return bool(ok)
    except AttributeError:
        return False
