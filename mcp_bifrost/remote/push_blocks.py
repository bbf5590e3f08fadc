"""push's block helper on the target (run by remote/push.sh with the target's python3; stdlib only).

  hashes DEST          stdin: NUL-separated "block_bytes" "path" pairs (paths relative to DEST).
                       stdout: per regular file, "B" path block_bytes <sha256 of each block, hex, joined>
                       (NUL-separated). A path that is not a regular file is skipped: the client
                       then sends that file whole.
  apply DEST STAGING   rebuild every STAGING/delta/<path> patch into STAGING/files/<path> from the
                       old DEST/<path> and the patch's literal blocks; the new file's sha256 must be
                       the one the patch names, or nothing is placed (exit 88).

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

EXIT_PUSH_DELTA_MISMATCH = 88
COPY_BYTES = 1 << 20


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


def rebuild(old_path, patch_path, new_path):
    """Write the new file; returns its sha256 and the patch's header."""
    with open(patch_path, "rb") as patch:
        head = json.loads(patch.readline())
        block, size = head["block"], head["size"]
        literal = set(head["literal"])
        fd = open_regular(old_path)
        old = os.fdopen(fd, "rb", buffering=0) if fd is not None else None
        digest = hashlib.sha256()
        out_fd = os.open(new_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(out_fd, "wb", buffering=0) as out:
                for index in range((size + block - 1) // block):
                    length = min(block, size - index * block)
                    if index in literal:
                        data = patch.read(length)
                    elif old is not None:
                        old.seek(index * block)
                        data = old.read(length)
                    else:
                        data = b""
                    digest.update(data)
                    out.write(data)
                os.fchmod(out.fileno(), head["mode"])
        finally:
            if old is not None:
                old.close()
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
                sys.stderr.write(f"bifrost: {rel} changed on the target during the push (its rebuilt copy does "
                                 "not match the sent file's sha256); nothing was changed\n")
                sys.exit(EXIT_PUSH_DELTA_MISMATCH)


if __name__ == "__main__":
    if sys.argv[1] == "hashes":
        hashes(sys.argv[2])
    else:
        apply(sys.argv[2], sys.argv[3])
