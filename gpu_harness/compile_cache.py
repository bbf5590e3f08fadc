"""Each candidate's compile caches, apart from every other candidate's.

A cache entry is code that runs when its key is asked for, and a candidate can compute another's keys
(Triton's is a hash of the kernel's source, load_inline's a name in the source, both readable in the
workspace): with one cache for all candidates, one could plant a slow or wrong binary under a rival's
key and have the rival fail or lose (red team, 2026-12-07). Landlock grants a folder by its inode
when the candidate's process confines itself, which is before its request, and so before anyone
knows which candidate it will run. So each ready child gets a fresh, empty folder (`live_folder`)
that its candidate's process alone may write; when the request comes, the worker, outside every
candidate's reach, moves the candidate's store into that folder and the folder to the store's place
(`claim`): one path per candidate file, stable across evaluations (load_inline's build files name
their folder: a new path would rebuild every extension), writable by this evaluation only. A
candidate can spoil its own store and no other; the next edit of the same file starts warm.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpu_harness.confine import cache_root

# Written in the live folder by the candidate's process once Landlock holds the folder and its warm-up
# (CUDA, Triton's driver, whose helper module Triton compiles into its cache) is done: a claim moves
# the folder only after it (the rule follows the folder's inode, but a write under way to the old path
# would fail). Forked ahead, the process is long ready. Its path reaches the process in LIVE_ENV.
READY = ".ready"
READY_WAIT_S = 60.0
LIVE_ENV = "GPU_HARNESS_LIVE_CACHES"
LIVE_PREFIX = ".live-"  # then the host, the worker's pid, a random part
# What a candidate's process writes into its folder as it warms up (Triton's driver module, built with
# the C compiler: ~0.5 s) before any candidate code exists in it, kept by the worker and copied into
# every new live folder, so that no ready child builds it again. Nothing a candidate wrote gets in.
SEED = "seed"
_SWEPT: set[Path] = set()
# The stores together may hold this much; beyond it a worker, as it starts, removes the stores used
# longest ago (a store's lock file is touched at each claim), never one in use.
STORES_CAP_ENV = "GPU_HARNESS_CACHE_CAP_GB"
STORES_CAP_GB = 20.0
# Weighing the stores walks every file in them: at most this often (a stamp file's age), so that a
# worker's start, on the path of a first contact, seldom pays for it.
PRUNED_STAMP = ".pruned"
PRUNE_EVERY_S = 24 * 3600.0


def store_of(candidate: str | os.PathLike[str]) -> Path:
    """One candidate file's caches: its real path's hash, beneath the cache's `candidates` folder."""
    key = hashlib.sha256(os.path.realpath(candidate).encode()).hexdigest()[:32]
    return cache_root() / "candidates" / key


def live_folder() -> Path:
    """A fresh folder for one ready child's candidate caches (it confines its candidate's process to
    it before the request comes): beside the stores, so that a rename moves it into place. Its name
    says which host and worker made it; those of this host's workers that are gone (killed before
    they could remove their spare children's) are removed first."""
    parent = cache_root() / "candidates"
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if parent not in _SWEPT:  # once a worker: the folder holds every candidate file's store
        _sweep_orphans(parent)
        if _prune_due(parent / PRUNED_STAMP):
            prune_stores(parent, _cap_bytes())
        _SWEPT.add(parent)
    live = Path(tempfile.mkdtemp(prefix=f"{LIVE_PREFIX}{_host()}-{os.getpid()}-", dir=parent))
    seed = cache_root() / SEED
    if seed.is_dir():
        shutil.copytree(seed, live, symlinks=True, dirs_exist_ok=True)
    return live


def _host() -> str:
    return os.uname().nodename.replace("-", "_") or "host"


def _sweep_orphans(parent: Path) -> None:
    """Live folders of workers of this host that no longer run (a home shared by a cluster's nodes
    holds other hosts' too: never theirs)."""
    mine = f"{LIVE_PREFIX}{_host()}-"
    for entry in os.scandir(parent):
        if not entry.name.startswith(mine):
            continue
        pid = entry.name[len(mine) :].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)


def _prune_due(stamp: Path) -> bool:
    """True, and the stamp renewed, where the last weighing is older than PRUNE_EVERY_S (or none was)."""
    try:
        if time.time() - stamp.stat().st_mtime < PRUNE_EVERY_S:
            return False
    except OSError:
        pass
    try:
        stamp.touch()
    except OSError:
        pass
    return True


def _cap_bytes() -> int:
    try:
        return int(float(os.environ.get(STORES_CAP_ENV, STORES_CAP_GB)) * 2**30)
    except ValueError:
        return int(STORES_CAP_GB * 2**30)


def prune_stores(parent: Path, cap_bytes: int) -> list[str]:
    """Remove the stores used longest ago until the rest fit in `cap_bytes`; a store another
    evaluation holds (its lock taken) stays. Returns the stores removed."""
    stores = []
    for entry in os.scandir(parent):
        lock = Path(parent, entry.name + ".lock")
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            used = lock.stat().st_mtime
        except OSError:
            used = 0.0
        stores.append((used, entry.name, _size(Path(entry.path))))
    total = sum(size for _, _, size in stores)
    removed = []
    for _used, name, size in sorted(stores):
        if total <= cap_bytes:
            break
        try:
            fd = os.open(parent / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(parent / name, ignore_errors=True)
            total -= size
            removed.append(name)
        except OSError:
            pass  # in use
        finally:
            os.close(fd)
    return removed


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Claim:
    """Where the candidate's caches are for this evaluation, and the lock that keeps another
    evaluation of the same file (another GPU, another worker of this user) from taking them."""

    path: Path
    lock_fd: int | None = None  # None: not claimed (the store was busy); `path` is the live folder

    def release(self) -> None:
        """After the evaluation ended (its processes swept): the store stays; an unclaimed live
        folder goes."""
        if self.lock_fd is None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        os.close(self.lock_fd)  # closing drops the flock
        self.lock_fd = None


def mark_ready(live: str | os.PathLike[str]) -> None:
    """In the candidate's process, confined and warmed up, before any candidate code: the worker may
    move `live` now."""
    with open(os.path.join(live, READY), "w"):
        pass


def claim(candidate: str | os.PathLike[str], live: Path, alive: Callable[[], bool] = lambda: True) -> Claim:
    """Move the candidate's store into `live` and `live` to the store's path, once the candidate's
    process is ready (while `alive()`). Where another evaluation holds the store, the process never got
    that far, or a move fails, the candidate runs in `live` as it is: cold, and dropped after."""
    if not _ready(live, alive):
        return Claim(live)
    _keep_seed(live)
    store = store_of(candidate)
    try:
        lock_fd = os.open(f"{store}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return Claim(live)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.utime(lock_fd)  # last used: what prune_stores goes by
        if store.is_dir():
            _merge(store, live)
            shutil.rmtree(store)  # what is left there, `live` holds too
        os.rename(live, store)
    except OSError:
        os.close(lock_fd)
        return Claim(live)
    return Claim(store, lock_fd)


def _ready(live: Path, alive: Callable[[], bool]) -> bool:
    marker = live / READY
    give_up = time.monotonic() + READY_WAIT_S
    while not marker.exists():
        if time.monotonic() > give_up or not alive():
            return False
        time.sleep(0.002)
    marker.unlink()
    return True


def _keep_seed(live: Path) -> None:
    """A ready folder's warm-up output becomes the seed where the seed lacks some of it (the first
    time, a new Triton): written by the harness alone, no candidate code having run in its process
    yet. Swapped in whole, so that a new live folder never copies half of it."""
    seed = cache_root() / SEED
    if _files(live) <= _files(seed):
        return
    partial = Path(tempfile.mkdtemp(prefix=".seed-", dir=cache_root()))
    old = partial.with_name(partial.name + "-old")
    try:
        shutil.copytree(live, partial, symlinks=True, dirs_exist_ok=True)
        if seed.exists():
            os.rename(seed, old)
        os.rename(partial, seed)
    except OSError:
        pass  # another worker swapped it meanwhile: theirs serves
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _files(folder: Path) -> set[str]:
    return {
        os.path.relpath(os.path.join(root, name), folder)
        for root, _dirs, names in os.walk(folder)
        for name in names
    }


def _merge(store: Path, live: Path) -> None:
    """The store's entries into `live`, by renames: a folder both have is merged, a file both have is
    kept as `live` has it (cache entries are named by their contents' key)."""
    for name in os.listdir(store):
        source, target = store / name, live / name
        if not os.path.lexists(target):
            os.rename(source, target)
        elif source.is_dir() and not source.is_symlink() and target.is_dir() and not target.is_symlink():
            _merge(source, target)
