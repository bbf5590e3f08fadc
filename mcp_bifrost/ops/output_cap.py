"""Keep the head and tail of a stream within a byte cap, counting everything."""

from __future__ import annotations


class HeadTail:
    """First cap/2 bytes and last cap/2 bytes of a stream, plus its total size and latest line."""

    def __init__(self, cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._last_line = b""

    def append(self, chunk: bytes) -> None:
        """Take the next chunk (named like list.append, so remote_command.drain fills either)."""
        self.total += len(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]
        self._remember_line()

    def _remember_line(self) -> None:
        source = self.tail or self.head
        lines = bytes(source[-4096:]).rstrip(b"\n").rsplit(b"\n", 1)
        if lines and lines[-1]:
            self._last_line = lines[-1][-300:]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    @property
    def last_line(self) -> str:
        return self._last_line.decode(errors="replace")

    def text(self, hint: str = "") -> str:
        """Head and tail; where bytes were left out, a marker says how many and `hint` where to find them."""
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode(errors="replace")
        omitted = self.total - len(self.head) - len(self.tail)
        return (
            bytes(self.head).decode(errors="replace")
            + f"\n[... {omitted} bytes omitted{'; ' + hint if hint else ''} ...]\n"
            + bytes(self.tail).decode(errors="replace")
        )
