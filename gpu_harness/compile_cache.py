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

# Written in the live folder by the candidate's process once Landlock holds the folder: a claim moves
# the folder only after it (the rule follows the folder's inode; a path that moved before the rule was
# made would be made anew, and the rule would hold that one). Forked ahead, the process is long ready.
CONFINED = ".confined"
CONFINED_WAIT_S = 60.0
LIVE_PREFIX = ".live-"  # then the host, the worker's pid, a random part
_SWEPT: set[Path] = set()


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
        _SWEPT.add(parent)
    return Path(tempfile.mkdtemp(prefix=f"{LIVE_PREFIX}{_host()}-{os.getpid()}-", dir=parent))


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


def mark_confined(live: str | os.PathLike[str]) -> None:
    """In the candidate's process, right after its confinement: the worker may move `live` now."""
    with open(os.path.join(live, CONFINED), "w"):
        pass


def claim(candidate: str | os.PathLike[str], live: Path, alive: Callable[[], bool] = lambda: True) -> Claim:
    """Move the candidate's store into `live` and `live` to the store's path, once the candidate's
    process has confined itself to `live` (while `alive()`). Where another evaluation holds the store,
    the process never got that far, or a move fails, the candidate runs in `live` as it is: cold, and
    dropped after."""
    if not _confined(live, alive):
        return Claim(live)
    store = store_of(candidate)
    try:
        lock_fd = os.open(f"{store}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return Claim(live)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _move_entries(store, live)
        os.rename(live, store)  # the store's path is empty or gone by now
    except OSError:
        os.close(lock_fd)
        return Claim(live)
    return Claim(store, lock_fd)


def _confined(live: Path, alive: Callable[[], bool]) -> bool:
    marker = live / CONFINED
    give_up = time.monotonic() + CONFINED_WAIT_S
    while not marker.exists():
        if time.monotonic() > give_up or not alive():
            return False
        time.sleep(0.002)
    marker.unlink()
    return True


def _move_entries(store: Path, live: Path) -> None:
    """The store's entries into `live` (an empty folder there is replaced), then the store's folder
    out of the way. Renames only: nothing is copied, nothing read."""
    try:
        names = os.listdir(store)
    except FileNotFoundError:
        return
    for name in names:
        target = live / name
        if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
            target.rmdir()
        os.rename(store / name, target)
    os.rmdir(store)
