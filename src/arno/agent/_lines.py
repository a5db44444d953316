"""Bytes read from a child's stdout/stderr turned into console lines.

The rule is the one the SDK's console capture follows, so a task's console reads the same
whether it ran locally or on an agent: a carriage return followed by more text restarts the
line (``"10%\\r20%\\r100%\\n"`` is reported as ``"100%"``), ``"\\r\\n"`` ends a line, invalid
UTF-8 becomes U+FFFD, and a line longer than ``max_line`` characters is cut with a marker.
"""

from __future__ import annotations

import codecs

from arno.core.lines import LineBuffer

__all__ = ["LineSplitter"]


class LineSplitter:
    """One per stream. ``feed`` returns the lines completed by a chunk; ``finish`` the last,
    unterminated one (or None)."""

    def __init__(self, max_line: int = 1 << 20) -> None:
        self.max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = LineBuffer(max_line)

    def feed(self, data: bytes) -> list[str]:
        return self._line.split(self._decoder.decode(data))

    def finish(self) -> str | None:
        self._line.append(self._decoder.decode(b"", final=True))
        if not self._line.pending:
            self._line.reset()
            return None
        return self._line.take()
