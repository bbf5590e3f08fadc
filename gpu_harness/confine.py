"""What a candidate's process may do: files and network (process trees: reaper.py; L2: persisting_l2.py).

A candidate is arbitrary Python. It must not write outside its scratch folder (the harness's own
files, the workspace), and it has no network. Each defence is used where the host allows it and
said in the report (`Isolation`): containers often lack Landlock, and then the report says so
instead of crashing.

    confine_candidate(scratch)  caches and TMPDIR into harness folders, Landlock, seccomp (no network)

Only the standard library (ctypes); torch is looked up in sys.modules, never imported here.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import platform
import stat
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_harness.reaper import prctl as _prctl

# -- prctl ------------------------------------------------------------------------------------------
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

# Set to 0 on the host (never by a candidate: it is read before the candidate exists) to turn
# Landlock and seccomp off, e.g. to tell a confinement problem from a candidate's own.
CONFINE_ENV = "GPU_HARNESS_CONFINE"
CACHE_ENV = "GPU_HARNESS_CACHE"

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Isolation:
    """What was in force around one evaluation's candidate (`report.isolation`)."""

    subreaper: bool = False  # orphans re-parented to the harness and killed with the evaluation
    landlock_abi: int = 0  # 0: no Landlock (the candidate could write wherever the user can)
    writable: list[str] = field(default_factory=list)  # where the candidate could write (with Landlock)
    network_blocked: bool = False  # socket(AF_INET/AF_INET6) refused
    network_how: str = ""  # "seccomp", "landlock_tcp", or both
    strays_killed: int = 0  # processes the candidate left behind, killed when the evaluation ended
    survivors: int = 0  # of those, still alive after SIGKILL and KILL_WAIT_S (should be 0)
    why: list[str] = field(default_factory=list)  # each defence not in force, and why

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- files and caches -------------------------------------------------------------------------------
# The compile caches a candidate's tools write (Triton, load_inline's builds, torch.compile, CuPy,
# the driver's PTX JIT), each pointed at a folder of the harness's cache. They persist across
# evaluations (a warm Triton cache is the difference between 0.3 s and 2 s), so a candidate can write
# there: in its own folder only (compile_cache.py: one per candidate file, a rival's entries would be
# code it runs); the judge's are apart (the host's own folder where it named one, else the cache's
# `judge` folder), because a cache entry is trusted code: one a candidate planted under the key of the
# reference's kernel would change the answers its outputs are checked against (red team, 2026-12-07).
CACHE_VARS = {
    "TRITON_CACHE_DIR": "triton",
    "TORCH_EXTENSIONS_DIR": "torch_extensions",
    "TORCHINDUCTOR_CACHE_DIR": "inductor",
    "CUPY_CACHE_DIR": "cupy",
    "CUDA_CACHE_PATH": "nv",
}
# Read when CUDA starts, which is before a candidate's request names its folder: a candidate's is in
# its scratch (the PTX JIT's cache, per evaluation).
CUDA_CACHE_VAR = "CUDA_CACHE_PATH"
# Per evaluation, private: temporary files of nvcc, Triton, Python's tempfile.
TEMP_VARS = ("TMPDIR", "TEMP", "TMP")
# Device files (/dev/nvidia*, /dev/null, /dev/shm for POSIX shared memory and semaphores).
# /proc/self/task: CUDA's initialisation names its threads through /proc/<pid>/task/<tid>/comm and
# fails with error 304 (cudaErrorOperatingSystem) where Landlock refuses it. Resolved by the process
# that confines itself, the rule covers its own threads only (their files are its own).
ALWAYS_WRITABLE = ("/dev", "/proc/self/task")
# A Landlock rule names an inode, and procfs makes a new inode each time it looks a pid's folder up
# again: once the kernel prunes the cached entry (memory pressure; `drop_caches` shows it), the rule
# would no longer match and CUDA's next thread could not name itself. An fd held open for the
# process's life keeps the entry, and so the inode, in place.
_PINNED: list[int] = []
# A host that runs the CUDA MPS daemon: every CUDA client opens the named pipes in its folder for
# writing, so without it CUDA cannot start at all (its Unix permissions still say who may).
MPS_PIPE_VAR, MPS_PIPE_DEFAULT = "CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps"


def cuda_service_folders() -> list[str]:
    """Folders outside scratch that CUDA itself must write on this host (the MPS pipes, if any).
    Only a real folder owned by root or by us: in a shared /tmp another user could otherwise plant
    /tmp/nvidia-mps as a link to our workspace, or a folder of theirs, and have it made writable."""
    mps = os.environ.get(MPS_PIPE_VAR) or MPS_PIPE_DEFAULT
    try:
        st = os.lstat(mps)
    except OSError:
        return []
    return [mps] if stat.S_ISDIR(st.st_mode) and st.st_uid in (0, os.getuid()) else []


def cache_root() -> Path:
    """$GPU_HARNESS_CACHE, else $XDG_CACHE_HOME/gpu_harness, else ~/.cache/gpu_harness."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gpu_harness"


def candidate_environment(
    scratch_dir: str | os.PathLike[str], judge: bool = False, caches: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """The variables that send temporary files into `scratch_dir` and compile caches where they belong:
    a candidate's into `caches` (its own folder, compile_cache.py; without one, its scratch) whatever
    the host set, the judge's (`judge`) where the host set them, else beneath the cache's `judge`
    folder. Neither writes the other's."""
    env = {name: str(scratch_dir) for name in TEMP_VARS}
    root = cache_root()
    own = Path(caches) if caches is not None else Path(scratch_dir) / "caches"
    for name, sub in CACHE_VARS.items():
        if judge:
            env[name] = os.environ.get(name) or str(root / "judge" / sub)
        elif name == CUDA_CACHE_VAR:
            env[name] = str(Path(scratch_dir) / sub)
        else:
            env[name] = str(own / sub)
    return env


def candidate_cache_environment(caches: str | os.PathLike[str]) -> dict[str, str]:
    """The cache variables of a candidate whose folder is `caches` (those read when CUDA starts left
    out): set by the candidate's process when its request names the folder, before its code exists."""
    return {name: str(Path(caches) / sub) for name, sub in CACHE_VARS.items() if name != CUDA_CACHE_VAR}


def apply_environment(env: dict[str, str]) -> list[str]:
    """Set the variables (os.environ and tempfile's cached choice) and create their folders; a cache
    folder that cannot be created (a read-only home) moves into the scratch folder (TMPDIR). Returns
    the folders, the writable set."""
    import tempfile

    folders = []
    for name, value in env.items():
        try:
            os.makedirs(value, mode=0o700, exist_ok=True)
        except OSError:
            value = os.path.join(env["TMPDIR"], name.lower())
            try:
                os.makedirs(value, mode=0o700, exist_ok=True)
            except OSError:
                continue
        os.environ[name] = value
        if value not in folders:
            folders.append(value)
    tempfile.tempdir = None  # re-read TMPDIR on next use
    sys.dont_write_bytecode = True  # no __pycache__ beside the candidate
    return folders


# -- Landlock ---------------------------------------------------------------------------------------
_SYSCALLS = {  # machine -> (landlock_create_ruleset, add_rule, restrict_self, socket, ptrace,
    #             process_vm_readv, process_vm_writev, io_uring_setup, audit arch)
    "x86_64": (444, 445, 446, 41, 101, 310, 311, 425, 0xC000003E),
    "aarch64": (444, 445, 446, 198, 117, 270, 271, 425, 0xC00000B7),
}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_WRITE_FILE = 1 << 1
FS_REMOVE_DIR, FS_REMOVE_FILE = 1 << 4, 1 << 5
FS_MAKE = sum(1 << bit for bit in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
FS_REFER = 1 << 13  # ABI 2: link/rename across folders
FS_TRUNCATE = 1 << 14  # ABI 3
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6: no signals to processes outside
O_PATH = 0o10000000


def _syscalls() -> tuple[int, ...] | None:
    return _SYSCALLS.get(platform.machine()) if sys.platform.startswith("linux") else None


def landlock_abi() -> int:
    """Landlock's ABI version, 0 where the kernel lacks it (or it is disabled, or not Linux)."""
    numbers = _syscalls()
    if numbers is None:
        return 0
    _libc.syscall.restype = ctypes.c_long
    version = _libc.syscall(
        ctypes.c_long(numbers[0]), None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION)
    )
    return int(version) if version > 0 else 0


def _landlock(abi: int, writable: list[str], scoped: bool = True) -> str:
    """Restrict this process (and what it forks, and threads it starts from now on) to writing only
    beneath `writable`; TCP bind/connect refused (ABI 4), signals out of the domain refused (ABI 6).
    Reading and executing stay allowed. Returns "" or why it failed."""
    numbers = _syscalls()
    assert numbers is not None
    fs = FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE
    fs |= FS_REFER if abi >= 2 else 0
    fs |= FS_TRUNCATE if abi >= 3 else 0
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scope = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 and scoped else 0
    attr = struct.pack("=QQQ", fs, net, scope)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _libc.syscall(ctypes.c_long(numbers[0]), buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}"
    try:
        for path in writable:
            try:
                fd = os.open(path, O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = ctypes.create_string_buffer(struct.pack("=Qi", fs, fd), 12)
                if (
                    _libc.syscall(
                        ctypes.c_long(numbers[1]),
                        ctypes.c_int(ruleset),
                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                        rule,
                        ctypes.c_uint32(0),
                    )
                    < 0
                ):
                    return f"landlock_add_rule({path}) failed: {os.strerror(ctypes.get_errno())}"
            finally:
                if path.startswith("/proc/"):
                    _PINNED.append(fd)
                else:
                    os.close(fd)
        if _libc.syscall(ctypes.c_long(numbers[2]), ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            return f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return ""


# -- seccomp ----------------------------------------------------------------------------------------
AF_INET, AF_INET6 = 2, 10
X32_SYSCALL_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _seccomp_program(numbers: tuple[int, ...]) -> bytes:
    """socket(AF_INET|AF_INET6), ptrace, process_vm_readv/writev (reading or writing the judge's
    memory), io_uring_setup (io_uring opens sockets past seccomp) and any syscall of another ABI
    (x32, i386 through int 0x80) fail with EPERM; everything else is allowed."""
    ld_w, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    _, _, _, sock, ptrace, vm_read, vm_write, uring, arch = numbers
    deny = _RET_ERRNO | errno.EPERM
    denied = (ptrace, vm_read, vm_write, uring)
    prog = [
        _bpf(ld_w, 0, 0, 4),  # arch
        _bpf(jeq, 1, 0, arch),
        _bpf(ret, 0, 0, deny),  # another ABI: refused
        _bpf(ld_w, 0, 0, 0),  # syscall number
        _bpf(jge, 0, 1, X32_SYSCALL_BIT),
        _bpf(ret, 0, 0, deny),
    ]
    for number in denied:
        prog += [_bpf(jeq, 0, 1, number), _bpf(ret, 0, 0, deny)]
    prog += [
        _bpf(jeq, 0, 4, sock),
        _bpf(ld_w, 0, 0, 16),  # args[0], low 32 bits: the address family
        _bpf(jeq, 1, 0, AF_INET),
        _bpf(jeq, 0, 1, AF_INET6),
        _bpf(ret, 0, 0, deny),
        _bpf(ret, 0, 0, _RET_ALLOW),
    ]
    return b"".join(prog)


def _seccomp() -> str:
    numbers = _syscalls()
    if numbers is None:
        return f"no seccomp filter for {platform.machine()} on {sys.platform}"
    program = _seccomp_program(numbers)
    filters = ctypes.create_string_buffer(program, len(program))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(program) // 8, ctypes.cast(filters, ctypes.c_void_p))
    result = _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    return "" if result == 0 else f"seccomp filter refused: {os.strerror(-result)}"


# -- the whole confinement --------------------------------------------------------------------------
def confine_candidate(
    scratch_dir: str | os.PathLike[str],
    writable: Iterable[str] = (),
    scoped: bool = True,
    judge: bool = False,
    caches: str | os.PathLike[str] | None = None,
) -> Isolation:
    """Confine THIS process (call it in the candidate's process, before the candidate is imported,
    while it has one thread: Landlock and seccomp bind the calling thread and what it starts later):
    temporary files into `scratch_dir`, compile caches into the harness's cache, writes anywhere else
    refused (Landlock), no IPv4/IPv6 sockets and no ptrace (seccomp). Never raises: what could not be
    done is in `Isolation.why`. `writable` adds folders (tests). `scoped` False: signals and abstract
    sockets outside the domain stay allowed (the judge, which must be able to kill its candidate).
    `judge`: the judge's own compile caches, which no candidate writes; `caches`: the candidate's own
    folder for them (compile_cache.live_folder; without one, beneath its scratch)."""
    iso = Isolation()  # `subreaper`, `strays_killed`, `survivors`: the reaping parent's to fill
    folders = apply_environment(candidate_environment(scratch_dir, judge, caches))
    if caches is not None:  # the folder itself, by its inode: it moves to the candidate's store path
        folders = [f for f in folders if not f.startswith(str(caches) + os.sep)] + [str(caches)]
    extra = (*ALWAYS_WRITABLE, *cuda_service_folders(), *writable)
    folders += [path for path in extra if path not in folders]
    if os.environ.get(CONFINE_ENV, "1") == "0":
        iso.why.append(f"confinement turned off on this host ({CONFINE_ENV}=0)")
        return iso
    if _prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
        iso.why.append("PR_SET_NO_NEW_PRIVS refused: no Landlock, no seccomp")
        return iso
    abi = landlock_abi()
    if abi == 0:
        iso.why.append(
            "no Landlock in this kernel (or it is disabled): the candidate can write wherever this user can"
        )
    else:
        failed = _landlock(abi, folders, scoped)
        if failed:
            iso.why.append(failed)
        else:
            iso.landlock_abi, iso.writable = abi, folders
            if abi >= 4:
                iso.network_blocked, iso.network_how = True, "landlock_tcp"
            else:
                iso.why.append(f"Landlock ABI {abi} cannot refuse TCP (needs 4)")
    failed = _seccomp()
    if failed:
        iso.why.append(failed)
    else:
        iso.network_blocked = True
        iso.network_how = "+".join(how for how in (iso.network_how, "seccomp") if how)
    return iso
