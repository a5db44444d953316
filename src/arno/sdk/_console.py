"""Console capture: tee ``sys.stdout``/``sys.stderr`` and report complete lines.

``ConsoleCapture`` replaces the two streams with thin wrappers that write everything to the
original streams first (so the terminal, ``isatty()``, ``fileno()`` and friends behave as
before) and then feed a line assembler.  Complete lines are handed to a callback as
``(stream_name, text, unix_time)`` tuples; sending them anywhere is the caller's business.

Carriage returns are collapsed the way a terminal shows them: ``"10%\\r20%\\r100%\\n"`` is
reported as ``"100%"``.  Only what the interpreter writes through ``sys.stdout``/``sys.stderr``
(text or ``.buffer``) is seen; output written straight to file descriptor 1/2 by C code or by
child processes is not.
"""

from __future__ import annotations

import codecs
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from arno.core.lines import LineBuffer

__all__ = ["ConsoleCapture", "ConsoleLine", "STREAM_NAMES"]

#: ``(stream_name, text, unix_time)``; ``stream_name`` is ``"stdout"`` or ``"stderr"``.
ConsoleLine = tuple[str, str, float]

STREAM_NAMES: tuple[str, str] = ("stdout", "stderr")


def _clean(text: str) -> str:
    """Return ``text`` encodable as UTF-8 (lone surrogates become U+FFFD)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "replace")
        return raw.decode("utf-8", "replace")


class _LineAssembler:
    """Turns chunks written to one stream into complete lines.

    Not thread-safe on its own: ``ConsoleCapture`` calls it under its lock.
    """

    __slots__ = ("name", "_line", "_decoder")

    def __init__(self, name: str, max_line: int) -> None:
        self.name = name
        self._line = LineBuffer(max_line)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed_text(self, chunk: str, now: float) -> list[ConsoleLine]:
        lines: list[ConsoleLine] = []
        if self._decoder.getstate()[0]:
            # Bytes of an unfinished UTF-8 sequence followed by text: they will never complete.
            lines += self._lines(self._decoder.decode(b"", final=True), now)
            self._decoder.reset()
        return lines + self._lines(chunk, now)

    def feed_bytes(self, data: bytes, now: float) -> list[ConsoleLine]:
        return self._lines(self._decoder.decode(data), now)

    def take_partial(self, now: float) -> ConsoleLine | None:
        """Return the unfinished line, if any, and forget it."""
        # An unfinished UTF-8 sequence decodes to U+FFFD (never to a "\n").
        self._line.append(self._decoder.decode(b"", final=True))
        self._decoder.reset()
        if not self._line.pending:
            self._line.reset()
            return None
        return (self.name, _clean(self._line.take()), now)

    def _lines(self, text: str, now: float) -> list[ConsoleLine]:
        return [(self.name, _clean(line), now) for line in self._line.split(text)]


class _TeeBinary:
    """Stands in for ``sys.stdout.buffer``: writes through, then reports the bytes."""

    def __init__(self, original: Any, name: str, capture: ConsoleCapture) -> None:
        self._original = original
        self._name = name
        self._capture = capture

    def write(self, data: Any) -> Any:
        written = self._original.write(data)
        try:
            raw = bytes(data)
            if isinstance(written, int) and 0 <= written < len(raw):
                raw = raw[:written]
            self._capture._feed(self._name, raw)
        except Exception:  # capture must never break the user's write
            pass
        return written

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._original, attr)

    def __repr__(self) -> str:
        return f"<arno console tee of {self._original!r}>"


class _TeeText:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through, then reports the text.

    Everything not defined here (``isatty``, ``fileno``, ``encoding``, ``errors``,
    ``reconfigure``, ``closed`` ...) is looked up on the original stream.
    """

    def __init__(self, original: Any, name: str, capture: ConsoleCapture) -> None:
        self._original = original
        self._name = name
        self._capture = capture
        self._buffer_tee: _TeeBinary | None = None

    def write(self, text: Any) -> Any:
        written = self._original.write(text)
        if isinstance(text, str):
            self._capture._feed(self._name, text)
        return written

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    @property
    def buffer(self) -> Any:
        raw = self._original.buffer  # AttributeError when the original has none
        tee = self._buffer_tee
        if tee is None or tee._original is not raw:
            tee = self._buffer_tee = _TeeBinary(raw, self._name, self._capture)
        return tee

    @property
    def original(self) -> Any:
        """The stream this tee writes to."""
        return self._original

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._original, attr)

    def __repr__(self) -> str:
        return f"<arno console tee of {self._original!r}>"


class ConsoleCapture:
    """Tee ``sys.stdout`` and ``sys.stderr`` and report complete lines to ``on_lines``.

    ``on_lines`` is called from the thread that wrote the final ``"\\n"`` of the lines, outside
    any lock of this class, so it should be cheap (append to a queue).  Output it writes
    itself is passed to the terminal but not captured again.  Exceptions it raises are
    swallowed (the first one is printed once to the original stderr).  When several threads
    write, callbacks may arrive slightly out of order; the timestamps are taken under the
    lock and are non-decreasing in the order the lines were completed.
    """

    def __init__(
        self,
        on_lines: Callable[[list[ConsoleLine]], None],
        *,
        max_line: int = 1_048_576,
    ) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self._on_lines = on_lines
        self.max_line = max_line
        self._lock = threading.Lock()
        self._local = threading.local()
        self._assemblers = {name: _LineAssembler(name, max_line) for name in STREAM_NAMES}
        self._originals: dict[str, Any] = {}
        self._tees: dict[str, _TeeText] = {}
        self._active = False
        self._reported_failure = False

    @property
    def active(self) -> bool:
        return self._active

    def start(self) -> None:
        """Replace ``sys.stdout``/``sys.stderr`` with tees.  Calling it twice does nothing."""
        with self._lock:
            if self._active:
                return
            for name in STREAM_NAMES:
                original = getattr(sys, name)
                if original is None:  # e.g. pythonw: nothing to tee
                    continue
                tee = _TeeText(original, name, self)
                self._originals[name] = original
                self._tees[name] = tee
                setattr(sys, name, tee)
            self._active = True

    def stop(self) -> None:
        """Report pending partial lines and restore the original streams (idempotent).

        A stream that someone else replaced after ``start()`` is left alone; our tee, still
        referenced by them, then just writes through.
        """
        with self._lock:
            if not self._active:
                return
            self._active = False
            for name, tee in self._tees.items():
                if getattr(sys, name) is tee:
                    setattr(sys, name, self._originals[name])
            lines = self._take_partials()
            self._tees.clear()
            self._originals.clear()
        self._deliver(lines)

    def flush_partial(self) -> None:
        """Report the unfinished line of each stream now (e.g. before the process exits)."""
        with self._lock:
            if not self._active:
                return
            lines = self._take_partials()
        self._deliver(lines)

    def __enter__(self) -> ConsoleCapture:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _take_partials(self) -> list[ConsoleLine]:
        now = time.time()
        lines: list[ConsoleLine] = []
        for assembler in self._assemblers.values():
            line = assembler.take_partial(now)
            if line is not None:
                lines.append(line)
        return lines

    def _feed(self, name: str, data: str | bytes) -> None:
        """Called by the tees after the original write succeeded.  Never raises."""
        if getattr(self._local, "busy", False):
            return  # output of our own callback
        try:
            with self._lock:
                if not self._active:
                    return
                assembler = self._assemblers[name]
                now = time.time()
                if isinstance(data, str):
                    lines = assembler.feed_text(data, now)
                else:
                    lines = assembler.feed_bytes(data, now)
            if lines:
                self._deliver(lines)
        except Exception:  # capture must never break the user's print
            pass

    def _deliver(self, lines: list[ConsoleLine]) -> None:
        if not lines:
            return
        self._local.busy = True
        try:
            self._on_lines(lines)
        except Exception as exc:  # never raise into the user's print
            self._report_failure(exc)
        finally:
            self._local.busy = False

    def _report_failure(self, exc: BaseException) -> None:
        if self._reported_failure:
            return
        self._reported_failure = True
        stream = self._originals.get("stderr") or sys.__stderr__
        try:
            if stream is not None:
                stream.write(f"arno: console capture callback failed: {exc!r}\n")
        except Exception:
            pass
