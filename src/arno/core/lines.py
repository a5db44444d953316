"""Console text as lines, the same way wherever it is captured (the SDK's console tee, an
agent reading a child process): a carriage return followed by more text restarts the line
(``"10%\\r20%\\r100%\\n"`` gives ``"100%"``), ``"\\r\\n"`` ends a line, and a line longer than
``max_line`` characters is cut and ends with a marker saying how much was dropped."""

from __future__ import annotations

TRUNCATION_MARKER = " ... [truncated {n} characters]"


class LineBuffer:
    """The line being written to one stream."""

    __slots__ = ("max_line", "_parts", "_length", "_dropped", "_cr")

    def __init__(self, max_line: int = 1 << 20) -> None:
        self.max_line = max_line
        self._parts: list[str] = []
        self._length = 0
        self._dropped = 0
        self._cr = False  # the kept text ended with "\r": more text (not "\n") restarts it

    @property
    def pending(self) -> bool:
        return bool(self._parts or self._dropped)

    def split(self, text: str) -> list[str]:
        """Add decoded text; return the lines it completed."""
        lines: list[str] = []
        start = 0
        while True:
            newline = text.find("\n", start)
            if newline < 0:
                self.append(text[start:])
                return lines
            self.append(text[start:newline])
            lines.append(self.take())
            start = newline + 1

    def append(self, segment: str) -> None:
        """Add text that holds no newline."""
        if not segment:
            return
        if self._cr:
            self.reset()
        cut = segment.rfind("\r", 0, len(segment) - 1)
        if cut >= 0:
            self.reset()
            segment = segment[cut + 1 :]
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

    def take(self) -> str:
        """The line so far (with the truncation marker if it was cut); the buffer empties."""
        text = "".join(self._parts)
        if self._dropped:
            text += TRUNCATION_MARKER.format(n=self._dropped)
        self.reset()
        return text

    def reset(self) -> None:
        self._parts = []
        self._length = 0
        self._dropped = 0
        self._cr = False
