"""Memory the judge and the candidate's process both see, and nothing else of the judge's.

The judge copies a case's inputs into an arena, the candidate's process calls the kernel on views
of it and writes (or copies) its outputs there, and the judge reads them back. An arena is its own
allocation, never a block of torch's caching allocator: a shared handle opens the whole
allocation it names, and a pooled segment could also hold the judge's pristine inputs or a
reference output. Arenas live as long as the judge (one evaluation) and are only reused for data
the candidate may see, so a view the candidate keeps never reaches anything else.

On the CPU an arena is a memfd, mmapped by both processes (its descriptor travels over the
channel). On the GPU it is a cuMemCreate'd block exported as a POSIX file descriptor, which travels
over the channel the same way; the candidate's process imports and maps it (the driver's virtual
memory API through ctypes: no torch IPC reference-count files, no events, nothing the candidate names
that the judge would open). Not CUDA IPC handles: on an H100 (2026-12-07) every cuIpcOpenMemHandle in
the confined candidate's process failed with CUDA_ERROR_INVALID_VALUE (likely because the driver fetches
the exporter's descriptor itself, which needs rights over the judge that the candidate must never have);
the file descriptor version ran there the same day.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from dataclasses import dataclass, field
from typing import Any

import torch

ALIGN = 512  # like cudaMalloc's: every view starts aligned for vector loads
MIN_ARENA_BYTES = 64 << 20
DTYPES = {
    str(d): d
    for d in (
        torch.float64,
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
        torch.complex64,
        torch.complex128,
    )
}
for _name in (
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "uint16",
    "uint32",
    "uint64",
    "float4_e2m1fn_x2",
):
    if hasattr(torch, _name):
        DTYPES[str(getattr(torch, _name))] = getattr(torch, _name)


class ArenaError(Exception):
    """A view that does not fit its arena, or shared memory that could not be made."""


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The strides of a contiguous tensor of `shape`, as torch gives them (a size of 0 counts as 1)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(int(size), 1)
    return tuple(reversed(strides))


def span_bytes(shape: tuple[int, ...], stride: tuple[int, ...], itemsize: int) -> int:
    if any(s == 0 for s in shape):
        return 0
    return (1 + sum((size - 1) * st for size, st in zip(shape, stride))) * itemsize


@dataclass
class Arena:
    ident: int
    nbytes: int
    device: torch.device
    tensor: torch.Tensor  # uint8, nbytes long
    keep: list[Any] = field(default_factory=list)  # what must outlive the tensor (mmap, CAI holder)
    # Read once: an output handed back is looked for in every arena, and asking torch for these per
    # arena cost ~1-2 us each, ~0.1 ms an output with 64 arenas (a candidate with 64 MB input sets).
    base: int = field(init=False)
    device_type: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = self.tensor.data_ptr()
        self.device_type = self.tensor.device.type

    def view(
        self, offset: int, dtype: torch.dtype, shape: tuple[int, ...], stride: tuple[int, ...]
    ) -> torch.Tensor:
        itemsize = dtype.itemsize
        need = span_bytes(shape, stride, itemsize)
        if offset < 0 or offset % itemsize or any(s < 0 for s in stride) or offset + need > self.nbytes:
            raise ArenaError(
                f"a view of {need} bytes at {offset} does not fit arena {self.ident} ({self.nbytes} bytes)"
            )
        count = (self.nbytes - offset) // itemsize
        flat = self.tensor[offset : offset + count * itemsize].view(dtype)
        return flat.as_strided(tuple(shape), tuple(stride))

    def offset_of(self, ptr: int, device_type: str) -> int | None:
        """Byte offset of the address `ptr` (on a `device_type` device) inside this arena, or None."""
        if device_type != self.device_type or not self.base <= ptr < self.base + self.nbytes:
            return None
        return ptr - self.base


# -- CPU: memfd ----------------------------------------------------------------------------------
def _cpu_tensor(fd: int, nbytes: int) -> tuple[torch.Tensor, mmap.mmap]:
    mapping = mmap.mmap(fd, nbytes)
    return torch.frombuffer(mapping, dtype=torch.uint8, count=nbytes), mapping


def create_cpu(ident: int, nbytes: int) -> tuple[Arena, dict[str, Any], int]:
    fd = os.memfd_create(f"gpu_harness-arena-{ident}", os.MFD_CLOEXEC)
    os.ftruncate(fd, nbytes)
    tensor, mapping = _cpu_tensor(fd, nbytes)
    return (
        Arena(ident, nbytes, torch.device("cpu"), tensor, [mapping]),
        {"ident": ident, "nbytes": nbytes, "device": "cpu"},
        fd,
    )


def open_cpu(msg: dict[str, Any], fd: int) -> Arena:
    tensor, mapping = _cpu_tensor(fd, int(msg["nbytes"]))
    os.close(fd)
    return Arena(int(msg["ident"]), int(msg["nbytes"]), torch.device("cpu"), tensor, [mapping])


# -- GPU: the driver's virtual memory API, shared as a file descriptor --------------------------
class _Location(ctypes.Structure):  # CUmemLocation
    _fields_ = [("type", ctypes.c_int), ("id", ctypes.c_int)]


class _AllocFlags(ctypes.Structure):
    _fields_ = [
        ("compressionType", ctypes.c_ubyte),
        ("gpuDirectRDMACapable", ctypes.c_ubyte),
        ("usage", ctypes.c_ushort),
        ("reserved", ctypes.c_ubyte * 4),
    ]


class _AllocProp(ctypes.Structure):  # CUmemAllocationProp
    _fields_ = [
        ("type", ctypes.c_int),
        ("requestedHandleTypes", ctypes.c_int),
        ("location", _Location),
        ("win32HandleMetaData", ctypes.c_void_p),
        ("allocFlags", _AllocFlags),
    ]


class _AccessDesc(ctypes.Structure):  # CUmemAccessDesc
    _fields_ = [("location", _Location), ("flags", ctypes.c_int)]


_PINNED, _POSIX_FD, _ON_DEVICE, _READ_WRITE, _MINIMUM = 1, 1, 1, 3, 0  # the driver API's enum values


class _Device:
    """The device pointer as an object torch can wrap (__cuda_array_interface__, no copy)."""

    def __init__(self, ptr: int, nbytes: int):
        self.__cuda_array_interface__ = {
            "shape": (nbytes,),
            "typestr": "|u1",
            "data": (ptr, False),
            "version": 2,
        }


_DRIVER: list[Any] = []


def _driver() -> Any:
    if not _DRIVER:
        lib = ctypes.CDLL("libcuda.so.1")
        u64, size = ctypes.c_uint64, ctypes.c_size_t
        lib.cuMemGetAllocationGranularity.argtypes = [
            ctypes.POINTER(size),
            ctypes.POINTER(_AllocProp),
            ctypes.c_int,
        ]
        lib.cuMemCreate.argtypes = [ctypes.POINTER(u64), size, ctypes.POINTER(_AllocProp), u64]
        lib.cuMemExportToShareableHandle.argtypes = [ctypes.c_void_p, u64, ctypes.c_int, u64]
        lib.cuMemImportFromShareableHandle.argtypes = [ctypes.POINTER(u64), ctypes.c_void_p, ctypes.c_int]
        lib.cuMemAddressReserve.argtypes = [ctypes.POINTER(u64), size, size, u64, u64]
        lib.cuMemMap.argtypes = [u64, size, size, u64, u64]
        lib.cuMemSetAccess.argtypes = [u64, size, ctypes.POINTER(_AccessDesc), size]
        lib.cuMemRelease.argtypes = [u64]
        lib.cuDevicePrimaryCtxRetain.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        lib.cuCtxSetCurrent.argtypes = [ctypes.c_void_p]
        lib.cuDeviceGet.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        _DRIVER.append(lib)
    return _DRIVER[0]


def _check(code: int, what: str) -> None:
    if code != 0:
        raise ArenaError(f"{what} failed with CUDA driver error {code}")


def _current_context(lib: Any) -> int:
    """torch's primary context, current on this thread (the driver API needs one); its device."""
    torch.cuda.init()
    device = ctypes.c_int()
    _check(lib.cuDeviceGet(ctypes.byref(device), torch.cuda.current_device()), "cuDeviceGet")
    ctx = ctypes.c_void_p()
    _check(lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), device), "cuDevicePrimaryCtxRetain")
    _check(lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    return device.value


def _map(lib: Any, handle: int, nbytes: int, device: int) -> int:
    """Map the allocation `handle` at a fresh address, readable and writable by this process's device."""
    ptr = ctypes.c_uint64()
    _check(lib.cuMemAddressReserve(ctypes.byref(ptr), nbytes, 0, 0, 0), "cuMemAddressReserve")
    _check(lib.cuMemMap(ptr.value, nbytes, 0, handle, 0), "cuMemMap")
    access = _AccessDesc(_Location(_ON_DEVICE, device), _READ_WRITE)
    _check(lib.cuMemSetAccess(ptr.value, nbytes, ctypes.byref(access), 1), "cuMemSetAccess")
    _check(lib.cuMemRelease(handle), "cuMemRelease")  # the mapping keeps the memory for the process's life
    return ptr.value


def _cuda_arena(ident: int, nbytes: int, ptr: int) -> Arena:
    holder = _Device(ptr, nbytes)
    tensor = torch.as_tensor(holder, device="cuda")
    return Arena(ident, nbytes, tensor.device, tensor, [holder])


def create_cuda(ident: int, nbytes: int) -> tuple[Arena, dict[str, Any], int]:
    lib = _driver()
    device = _current_context(lib)
    prop = _AllocProp(_PINNED, _POSIX_FD, _Location(_ON_DEVICE, device))
    granularity = ctypes.c_size_t()
    _check(
        lib.cuMemGetAllocationGranularity(ctypes.byref(granularity), ctypes.byref(prop), _MINIMUM),
        "cuMemGetAllocationGranularity",
    )
    step = max(granularity.value, 1)
    nbytes = (nbytes + step - 1) // step * step
    handle = ctypes.c_uint64()
    _check(
        lib.cuMemCreate(ctypes.byref(handle), nbytes, ctypes.byref(prop), 0), f"cuMemCreate of {nbytes} bytes"
    )
    fd = ctypes.c_int(-1)
    try:
        _check(
            lib.cuMemExportToShareableHandle(ctypes.byref(fd), handle.value, _POSIX_FD, 0),
            "cuMemExportToShareableHandle",
        )
        ptr = _map(lib, handle.value, nbytes, device)
    except ArenaError:
        lib.cuMemRelease(handle.value)
        if fd.value >= 0:
            os.close(fd.value)
        raise
    os.set_inheritable(fd.value, False)
    return _cuda_arena(ident, nbytes, ptr), {"ident": ident, "nbytes": nbytes, "device": "cuda"}, fd.value


def open_cuda(msg: dict[str, Any], fd: int) -> Arena:
    lib = _driver()
    device = _current_context(lib)
    handle = ctypes.c_uint64()
    try:
        _check(
            lib.cuMemImportFromShareableHandle(ctypes.byref(handle), ctypes.c_void_p(fd), _POSIX_FD),
            "cuMemImportFromShareableHandle",
        )
    finally:
        os.close(fd)
    nbytes = int(msg["nbytes"])
    return _cuda_arena(int(msg["ident"]), nbytes, _map(lib, handle.value, nbytes, device))


def create(ident: int, nbytes: int, device: torch.device) -> tuple[Arena, dict[str, Any], int]:
    """(the arena, the message that lets the other process open it, a descriptor to send with it)."""
    return create_cuda(ident, nbytes) if device.type == "cuda" else create_cpu(ident, nbytes)


def open_shared(msg: dict[str, Any], fd: int | None) -> Arena:
    if fd is None:
        raise ArenaError("an arena arrived without its descriptor")
    return open_cuda(msg, fd) if msg["device"] == "cuda" else open_cpu(msg, fd)


# -- the judge's side: a bump allocator over arenas kept for the whole evaluation -----------------
@dataclass
class Region:
    arena: int
    offset: int
    nbytes: int


class ArenaPool:
    """Judge side. `alloc` carves aligned regions; `reset` makes every region free again (the
    arenas stay allocated and shared: only data the candidate may see is ever written there)."""

    def __init__(self, device: torch.device, share):
        self.device, self.share = device, share  # share(msg, fd): tell the candidate's process
        self.arenas: list[Arena] = []
        self.used: list[int] = []

    def alloc(self, nbytes: int) -> Region:
        nbytes = align(max(nbytes, 1))
        for i, arena in enumerate(self.arenas):
            if self.used[i] + nbytes <= arena.nbytes:
                region = Region(arena.ident, self.used[i], nbytes)
                self.used[i] += nbytes
                return region
        size = align(max(nbytes, MIN_ARENA_BYTES if self.device.type == "cuda" else nbytes * 2, 1 << 20))
        arena, msg, fd = create(len(self.arenas), size, self.device)
        try:
            self.share(msg, fd)
        finally:
            os.close(fd)
        self.arenas.append(arena)
        self.used.append(nbytes)
        return Region(arena.ident, 0, nbytes)

    def reset(self) -> None:
        self.used = [0] * len(self.arenas)

    def mark(self) -> list[int]:
        return list(self.used)

    def rewind(self, mark: list[int]) -> None:
        self.used = mark + self.used[len(mark) :] if len(mark) < len(self.used) else list(mark)
        for i in range(len(mark), len(self.used)):
            self.used[i] = 0

    def tensor(self, like: torch.Tensor) -> tuple[torch.Tensor, Region]:
        """A contiguous arena tensor shaped like `like`."""
        region = self.alloc(like.numel() * like.element_size())
        view = self.arenas[region.arena].view(
            region.offset,
            like.dtype,
            tuple(like.shape),
            contiguous_strides(tuple(like.shape)),
        )
        return view, region

    def view(self, arena: int, offset: int, dtype: torch.dtype, shape, stride) -> torch.Tensor:
        if not 0 <= arena < len(self.arenas):
            raise ArenaError(f"no arena {arena}")
        return self.arenas[arena].view(offset, dtype, tuple(shape), tuple(stride))

    def held_bytes(self) -> int:
        return sum(a.nbytes for a in self.arenas)


@dataclass(frozen=True)
class TensorRef:
    """An input leaf as the judge sends it: where it lives in which arena (a CPU tensor that is not
    on the arena's device travels by value instead)."""

    arena: int
    offset: int
    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
