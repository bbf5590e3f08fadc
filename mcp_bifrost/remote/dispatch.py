"""The per-connection dispatcher (targets/dispatch.py is the client side). Runs on the target with
its python (3.6+, stdlib only), started once over one ssh channel; it starts commands on request so
that a call never waits for a channel, and never pays the login shell's rc files again.

Frames both ways: type (1 byte), id (4 bytes), length (4 bytes), payload.
  client -> here: S start (payload: 1 byte stdin flag + the command), I stdin data, E stdin end,
                  A ack (8-byte count of bytes the client consumed), D detach, P ping
  here -> client: H hello (id 0), R started (pid, which leads its process group), F failed to start,
                  O stdout data, X stderr data, Z exit (shell-style status; after both streams ended)
A frame that cannot be handled (a NUL in a command, a short ack) fails its own command or is
dropped: every other command on the connection depends on this process staying up.
Output of a command pauses while more than WINDOW bytes of it are unacknowledged. When the client
is gone (end of input, or SILENCE_S without a frame) every command not detached sees its input
end, then is killed (TERM, then KILL after GRACE_S), and the dispatcher exits.
"""

import os
import select
import signal
import struct
import subprocess
import sys
import time

HEADER = struct.Struct(">cII")
WINDOW = 4 << 20
SILENCE_S = 30.0
GRACE_S = 2.0
HANDOVER_S = 0.3  # after closing their input, how long wrappers get to start their own kill
CHUNK = 1 << 16


class Child:
    def __init__(self, cid, proc):
        self.cid = cid
        self.proc = proc
        self.open = {proc.stdout.fileno(): b"O", proc.stderr.fileno(): b"X"}
        self.files = {proc.stdout.fileno(): proc.stdout, proc.stderr.fileno(): proc.stderr}
        self.status = None
        self.unacked = 0
        self.detached = False


def main():
    children = {}  # cid -> Child
    try:
        return serve(children)
    except OSError:  # the channel broke under a write
        return give_up(children)


def serve(children):
    out = sys.stdout.buffer
    inp = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    in_fd = inp.fileno()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    by_fd = {}  # fd -> Child
    buf = b""
    last_heard = time.monotonic()

    def send(kind, cid, payload=b""):
        out.write(HEADER.pack(kind, cid, len(payload)) + payload)

    send(b"H", 0, b"bifrost-dispatch 1")
    out.flush()
    while True:
        watched = [in_fd, wake_r] + [fd for fd, ch in by_fd.items() if ch.unacked < WINDOW]
        ready, _, _ = select.select(watched, [], [], 1.0)
        for fd in ready:
            if fd == wake_r:
                os.read(wake_r, 4096)
            elif fd == in_fd:
                data = os.read(in_fd, CHUNK)
                if not data:
                    return give_up(children)
                last_heard = time.monotonic()
                buf += data
                while len(buf) >= HEADER.size:
                    kind, cid, n = HEADER.unpack_from(buf)
                    if len(buf) < HEADER.size + n:
                        break
                    payload, buf = buf[HEADER.size : HEADER.size + n], buf[HEADER.size + n :]
                    handle_safely(kind, cid, payload, children, by_fd, send)
            else:
                child = by_fd[fd]
                data = os.read(fd, CHUNK)
                if data:
                    child.unacked += len(data)
                    send(child.open[fd], child.cid, data)
                else:
                    del child.open[fd]
                    del by_fd[fd]
                    child.files.pop(fd).close()
        for child in list(children.values()):
            if child.status is None:
                code = child.proc.poll()
                if code is not None:
                    child.status = 128 - code if code < 0 else code
            if child.status is not None and not child.open:
                send(b"Z", child.cid, str(child.status).encode())
                del children[child.cid]
        out.flush()
        if time.monotonic() - last_heard > SILENCE_S:
            return give_up(children)


def handle_safely(kind, cid, payload, children, by_fd, send):
    """One frame; whatever its bytes, a bad one fails its own command (or is dropped), never us."""
    try:
        handle(kind, cid, payload, children, by_fd, send)
    except Exception as exc:  # noqa: BLE001 - every other command on this connection depends on us
        if kind == b"S" and cid not in children:
            send(b"F", cid, describe(exc).encode("utf-8", "replace"))


def describe(exc):
    if isinstance(exc, ValueError) and "null" in str(exc):
        return "it contains a NUL byte, which no command line can carry: remove it"
    return f"{type(exc).__name__}: {exc}"


def handle(kind, cid, payload, children, by_fd, send):
    child = children.get(cid)
    if kind == b"S":
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", payload[1:].decode("utf-8", "surrogateescape")],
                stdin=subprocess.PIPE if payload[:1] == b"1" else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            send(b"F", cid, describe(exc).encode("utf-8", "replace"))
            return
        child = children[cid] = Child(cid, proc)
        for fd in child.open:
            by_fd[fd] = child
        send(b"R", cid, str(proc.pid).encode())
    elif child is None:
        return
    elif kind == b"I" and child.proc.stdin is not None:
        try:
            child.proc.stdin.write(payload)
            child.proc.stdin.flush()
        except OSError:
            pass
    elif kind == b"E" and child.proc.stdin is not None:
        try:
            child.proc.stdin.close()
        except OSError:
            pass
    elif kind == b"A":
        child.unacked -= struct.unpack(">Q", payload)[0]
    elif kind == b"D":
        child.detached = True
        for fd in list(child.open):
            del by_fd[fd]
            child.files.pop(fd).close()
        child.open.clear()
        if child.proc.stdin is not None:
            try:
                child.proc.stdin.close()
            except OSError:
                pass


def give_up(children):
    """The client is gone: nobody will read these commands, so stop them. Their input ends first: a
    command wrapper (remote/process.sh) then kills its command from a session of its own, sweeping the
    processes that left the group too (setsid), which a signal to the group alone would miss."""
    live = [c for c in children.values() if not c.detached and c.status is None]
    for child in live:
        if child.proc.stdin is not None:
            try:
                child.proc.stdin.close()
            except OSError:
                pass
    if live:
        time.sleep(HANDOVER_S)
    groups = [c.proc.pid for c in live]
    for sig, pause in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 0)):
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except OSError:
                pass
        time.sleep(pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
