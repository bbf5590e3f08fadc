"""push's helper on the target (run by remote/push.sh with the target's python; stdlib only).

  gunzip               stdin -> stdout, like `gzip -dc` (every member) but through python's zlib:
                       stored (incompressible) data passes at memory speed where GNU gzip spends
                       2 s of CPU per 512 MiB (measured: 0.22 s against 2.0 s).
  hashes DEST          stdin: NUL-separated "block_bytes" "path" pairs (paths relative to DEST).
                       stdout: per regular file, "B" path block_bytes <sha256 of each block, hex, joined>
                       (NUL-separated). A path that is not a regular file is skipped: the client
                       then sends that file whole.
  apply DEST STAGING   rebuild every STAGING/delta/<path> patch into STAGING/files/<path> from the
                       old DEST/<path> and the patch's literal blocks; the new file's sha256 must be
                       the one the patch names, or nothing is placed (exit 88).

Written for python 3.6 and later (no `:=`): old clusters still have it.

A patch: one JSON line {size, block, sha256, mode, mtime_ns, literal: [block indices]}, then the
literal blocks in that order. Every other block is copied from the old file at the same offset.
The old file is opened without following a link; it may change meanwhile (a job writing it): the
whole-file hash is what proves the result is the client's file.
"""

import hashlib
import json
import os
import stat
import sys
import zlib

EXIT_PUSH_DELTA_MISMATCH = 88
COPY_BYTES = 4 << 20


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


def hashes(dest):
    fields = sys.stdin.buffer.read().split(b"\0")
    out = sys.stdout.buffer
    for i in range(0, len(fields) - 1, 2):
        block, rel = int(fields[i]), fields[i + 1]
        fd = open_regular(os.path.join(os.fsencode(dest), rel))
        if fd is None:
            continue
        digests = []
        with os.fdopen(fd, "rb", buffering=0) as f:
            while True:
                data = f.read(block)
                if not data:
                    break
                digests.append(hashlib.sha256(data).hexdigest())
        out.write(b"B\0" + rel + b"\0" + str(block).encode() + b"\0" + "".join(digests).encode() + b"\0")
    out.flush()


def copy_run(src, dst, offset, length):
    """Old bytes to the same offset of the new file: copy_file_range shares the extents where the file
    system can (XFS, btrfs: nothing is written) and copies in the kernel elsewhere."""
    while length > 0:
        try:
            n = os.copy_file_range(src, dst, length, offset, offset)
        except (AttributeError, OSError):  # python < 3.8, or a file system that refuses
            n = 0
        if n <= 0:
            data = os.pread(src, min(length, COPY_BYTES), offset)
            if not data:
                return  # the old copy is shorter now: the sha256 below tells
            os.lseek(dst, offset, os.SEEK_SET)
            n = os.write(dst, data)
        offset += n
        length -= n


def rebuild(old_path, patch_path, new_path):
    """Write the new file, then hash what landed; returns its sha256 and the patch's header."""
    with open(patch_path, "rb") as patch:
        head = json.loads(patch.readline())
        block, size = head["block"], head["size"]
        literal = set(head["literal"])
        old = open_regular(old_path)
        out = os.open(new_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            run = None  # [offset, length] of old bytes not yet copied
            for index in range((size + block - 1) // block):
                offset, length = index * block, min(block, size - index * block)
                if index not in literal:
                    run = [run[0], run[1] + length] if run else [offset, length]
                    continue
                if run and old is not None:
                    copy_run(old, out, *run)
                run = None
                os.lseek(out, offset, os.SEEK_SET)
                os.write(out, patch.read(length))
            if run and old is not None:
                copy_run(old, out, *run)
            os.ftruncate(out, size)
            os.fchmod(out, head["mode"])
            digest = hashlib.sha256()
            os.lseek(out, 0, os.SEEK_SET)
            for data in iter(lambda: os.read(out, COPY_BYTES), b""):
                digest.update(data)
        finally:
            os.close(out)
            if old is not None:
                os.close(old)
        os.utime(new_path, ns=(head["mtime_ns"], head["mtime_ns"]), follow_symlinks=False)
    return digest.hexdigest(), head


def apply(dest, staging):
    patches = os.path.join(staging, "delta")
    for top, _dirs, names in os.walk(patches):
        for name in names:
            patch_path = os.path.join(top, name)
            rel = os.path.relpath(patch_path, patches)
            new_path = os.path.join(staging, "files", rel)
            os.makedirs(os.path.dirname(new_path), mode=0o700, exist_ok=True)
            got, head = rebuild(os.path.join(dest, rel), patch_path, new_path)
            if got != head["sha256"]:
                sys.stderr.write(
                    f"bifrost: {rel} changed on the target during the push (its rebuilt copy does "
                    "not match the sent file's sha256); nothing was changed\n"
                )
                sys.exit(EXIT_PUSH_DELTA_MISMATCH)


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
        hashes(sys.argv[2])
    else:
        apply(sys.argv[2], sys.argv[3])
