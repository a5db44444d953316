"""Bytes read from a child's stdout/stderr turned into console lines.

The rule is the one the SDK's console capture follows, so a task's console reads the same
whether it ran locally or on an agent: a carriage return followed by more text restarts the
line (``"10%\\r20%\\r100%\\n"`` is reported as ``"100%"``), ``"\\r\\n"`` ends a line, invalid
UTF-8 becomes U+FFFD, and a line longer than ``max_line`` characters is cut with a marker.
"""

from __future__ import annotations

import codecs

__all__ = ["LineSplitter"]


class LineSplitter:
    """One per stream. ``feed`` returns the lines completed by a chunk; ``finish`` the last,
    unterminated one (or None)."""

    def __init__(self, max_line: int = 1 << 20) -> None:
        self.max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._length = 0
        self._dropped = 0
        self._cr = False  # the kept text ended with "\r": more text restarts the line

    def feed(self, data: bytes) -> list[str]:
        text = self._decoder.decode(data)
        lines: list[str] = []
        start = 0
        while True:
            newline = text.find("\n", start)
            if newline < 0:
                self._append(text[start:])
                return lines
            self._append(text[start:newline])
            lines.append(self._take())
            start = newline + 1

    def finish(self) -> str | None:
        self._append(self._decoder.decode(b"", final=True))
        if not self._parts and not self._dropped:
            self._reset()
            return None
        return self._take()

    def _append(self, segment: str) -> None:
        if not segment:
            return
        if self._cr:
            self._reset()
        cut = segment.rfind("\r", 0, len(segment) - 1)
        if cut >= 0:
            self._reset()
            segment = segment[cut + 1:]
        if segment.endswith("\r"):
            segment = segment[:-1]
            self._cr = True
        room = self.max_line - self._length
        if len(segment) > room:
            if room > 0:
                self._parts.append(segment[:room])
                self._length += room
            self._dropped += len(segment) - max(room, 0)
        elif segment:
            self._parts.append(segment)
            self._length += len(segment)

    def _take(self) -> str:
        text = "".join(self._parts)
        if self._dropped:
            text += f" ... [truncated {self._dropped} characters]"
        self._reset()
        return text

    def _reset(self) -> None:
        self._parts = []
        self._length = 0
        self._dropped = 0
        self._cr = False
