"""push's helper on the target (run by remote/push.sh with the target's python; stdlib only).

  gunzip               stdin -> stdout, like `gzip -dc` (every member) but through python's zlib:
                       stored (incompressible) data passes at memory speed where GNU gzip spends
                       2 s of CPU per 512 MiB (measured: 0.22 s against 2.0 s).
  hashes DEST STATE    stdin: NUL-separated "block_bytes" "path" pairs (paths relative to DEST).
                       stdout: per regular file, "B" path block_bytes <sha256 of each block, hex, joined>
                       (NUL-separated). A path that is not a regular file is skipped: the client
                       then sends that file whole.
  apply DEST STAGING STATE  rebuild every STAGING/delta/<path> patch into STAGING/files/<path> from the
                       old DEST/<path> and the patch's literal blocks; every block of the new file must
                       hash to the one the patch names, or nothing is placed (exit 88).

Block hashes are remembered in STATE/blocks, one file per path, with the (device, inode, size, mtime)
of the file they describe: after a delta, the rebuilt file's (the client's own hashes, checked here
while writing) and after hashing an old copy, its. The next delta against that file then reads it
only to copy. A file written in place with its mtime put back would be described wrongly: the check
of the rebuilt file fails (exit 88, push again), and its remembered hashes are dropped on the way.

Written for python 3.6 and later (no `:=`): old clusters still have it.

A patch: one JSON line {size, block, hashes, mode, mtime_ns, literal: [block indices]}, then the
literal blocks in that order. Every other block is copied from the old file at the same offset.
The old file is opened without following a link; it may change meanwhile (a job writing it): the
block hashes of what was written are what prove the result is the client's file.
"""

import hashlib
import json
import os
import stat
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

EXIT_PUSH_DELTA_MISMATCH = 88
COPY_BYTES = 4 << 20
HEX = 64
THREADS = 2  # hashlib lets go of the GIL: two blocks hash at once


def open_regular(path):
    """An fd on a regular file at `path`, never through a final symlink, never blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _stamp(st):
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _memo_path(state, path):
    return os.path.join(state, "blocks", hashlib.sha256(os.fsencode(path)).hexdigest()[:32])


def remembered(state, path, st, block):
    """The block hashes remembered for the file `st` describes, or None."""
    try:
        with open(_memo_path(state, path), "rb") as f:
            memo = json.loads(f.read())
        if memo["stamp"] == _stamp(st) and memo["block"] == block:
            hashes = memo["hashes"]
            if len(hashes) == HEX * ((st.st_size + block - 1) // block):
                return hashes
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def remember(state, path, st, block, hashes):
    """Keep the block hashes of the file `st` describes (atomically; a failure only costs a hash)."""
    memo = _memo_path(state, path)
    try:
        os.makedirs(os.path.dirname(memo), mode=0o700, exist_ok=True)
        tmp = f"{memo}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"stamp": _stamp(st), "block": block, "hashes": hashes}, f)
        os.replace(tmp, memo)
    except OSError:
        pass


def forget(state, path):
    try:
        os.unlink(_memo_path(state, path))
    except OSError:
        pass


def hash_blocks(fd, block, pool):
    """The hex sha256 of each block of the file, COPY_BYTES at a time, blocks hashed side by side."""
    out = []
    offset = 0
    while True:
        data = os.pread(fd, max(block, COPY_BYTES // block * block), offset)
        if not data:
            return "".join(out)
        view = memoryview(data)
        out.extend(pool.map(_sha, [view[i : i + block] for i in range(0, len(data), block)]))
        offset += len(data)


def hashes(dest, state):
    fields = sys.stdin.buffer.read().split(b"\0")
    out = sys.stdout.buffer
    with ThreadPoolExecutor(THREADS) as pool:
        for i in range(0, len(fields) - 1, 2):
            block, rel = int(fields[i]), fields[i + 1]
            path = os.path.join(os.fsencode(dest), rel)
            fd = open_regular(path)
            if fd is None:
                continue
            try:
                st = os.fstat(fd)
                joined = remembered(state, path, st, block)
                if joined is None:
                    joined = hash_blocks(fd, block, pool)
                    if _stamp(os.fstat(fd)) == _stamp(st):  # not written while we read it
                        remember(state, path, st, block, joined)
            finally:
                os.close(fd)
            out.write(b"B\0" + rel + b"\0" + str(block).encode() + b"\0" + joined.encode() + b"\0")
    out.flush()


def write_all(fd, blocks):
    """os.writev of every block, however many calls it takes (no joined copy of them)."""
    views = [memoryview(b) for b in blocks if b]
    while views:
        n = os.writev(fd, views[:1024])
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


def rebuild(old_path, patch_path, new_path, pool):
    """Write the new file, hashing each block as it is written (old blocks read from the old copy,
    literal ones from the patch); returns the joined block hashes and the patch's header."""
    with open(patch_path, "rb") as patch:
        head = json.loads(patch.readline())
        block, size = head["block"], head["size"]
        literal = set(head["literal"])
        old = open_regular(old_path)
        out = os.open(new_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        digests = []
        pending = None  # the previous batch's hashes, computed while this batch is written
        try:
            per_batch = max(1, COPY_BYTES // block)
            count = (size + block - 1) // block
            for first in range(0, count, per_batch):
                blocks = []
                for index in range(first, min(count, first + per_batch)):
                    offset, length = index * block, min(block, size - index * block)
                    if index in literal:
                        data = patch.read(length)
                    else:
                        data = os.pread(old, length, offset) if old is not None else b""
                    blocks.append(data)
                hashing = pool.map(_sha, blocks)
                if pending is not None:
                    digests.extend(pending)
                write_all(out, blocks)
                pending = list(hashing)
            if pending is not None:
                digests.extend(pending)
            os.ftruncate(out, size)
            os.fchmod(out, head["mode"])
        finally:
            os.close(out)
            if old is not None:
                os.close(old)
        os.utime(new_path, ns=(head["mtime_ns"], head["mtime_ns"]), follow_symlinks=False)
    return "".join(digests), head


def apply(dest, staging, state):
    patches = os.path.join(staging, "delta")
    with ThreadPoolExecutor(THREADS) as pool:
        for top, _dirs, names in os.walk(patches):
            for name in names:
                patch_path = os.path.join(top, name)
                rel = os.path.relpath(patch_path, patches)
                new_path = os.path.join(staging, "files", rel)
                os.makedirs(os.path.dirname(new_path), mode=0o700, exist_ok=True)
                old_path = os.path.join(dest, rel)
                got, head = rebuild(old_path, patch_path, new_path, pool)
                if got != head["hashes"]:
                    forget(state, os.fsencode(old_path))
                    sys.stderr.write(
                        f"bifrost: {rel} changed on the target during the push (its rebuilt copy does "
                        "not match the sent file's block hashes); nothing was changed\n"
                    )
                    sys.exit(EXIT_PUSH_DELTA_MISMATCH)
                # placed by a hard link (push.sh): the same inode, so these hashes describe it there
                remember(state, os.fsencode(old_path), os.stat(new_path), head["block"], got)


def gunzip():
    inflate, fed = zlib.decompressobj(31), False
    for chunk in iter(lambda: os.read(0, COPY_BYTES), b""):
        while chunk:
            fed = True
            view = memoryview(inflate.decompress(chunk))
            while view:
                view = view[os.write(1, view) :]
            chunk = b""
            if inflate.eof:
                chunk, inflate, fed = inflate.unused_data, zlib.decompressobj(31), False
    if fed:
        sys.exit("bifrost: the push stream ended inside a gzip member")


if __name__ == "__main__":
    if sys.argv[1] == "gunzip":
        gunzip()
    elif sys.argv[1] == "hashes":
        hashes(sys.argv[2], sys.argv[3])
    else:
        apply(sys.argv[2], sys.argv[3], sys.argv[4])
