"""How a task learns how its process ended: an uncaught exception fails it, Ctrl-C stops it,
``sys.exit`` with a non-zero code fails it, a normal end completes it (see ``Task.close``)."""

from __future__ import annotations

import atexit
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn

from arno.core.errors import ArnoError
from arno.core.status import TaskStatus

Ending = Callable[[TaskStatus, str], None]
"""Called once with the status the task should end in and its message."""


class ExitWatch:
    """Installs ``sys.excepthook``, wraps ``sys.exit`` and registers an ``atexit`` handler for
    one task; :meth:`remove` puts the originals back."""

    def __init__(self, end: Ending, close: Callable[[], None]) -> None:
        self._end = end
        self._close = close
        self._orig_excepthook: Any = None
        self._orig_exit: Any = None
        self.exit_code: object = None
        self.ended = False

    def install(self) -> None:
        atexit.register(self._at_exit)
        self._orig_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        self._orig_exit = sys.exit  # to learn the exit code: a non-zero one fails the task
        sys.exit = self._exit

    def remove(self) -> None:
        if self._orig_excepthook is not None and sys.excepthook == self._excepthook:
            sys.excepthook = self._orig_excepthook
        if self._orig_exit is not None and sys.exit == self._exit:
            sys.exit = self._orig_exit
        atexit.unregister(self._at_exit)

    def _finish(self, status: TaskStatus, message: str) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self._end(status, message)
        except ArnoError:
            pass  # the server is away: the spool keeps what was reported

    def _exit(self, code: str | int | None = None) -> NoReturn:
        self.exit_code = code
        self._orig_exit(code)
        raise SystemExit(code)  # not reached: the original raises it

    def _at_exit(self) -> None:
        try:
            code = self.exit_code
            if code not in (None, 0):
                self._finish(TaskStatus.failed, f"exit code {code}" if isinstance(code, int)
                             else f"exit code 1: {code}")
            self._close()
        except Exception:  # noqa: BLE001 - never turn a clean exit into a crash
            traceback.print_exc(file=sys.__stderr__)

    def _excepthook(self, exc_type: type[BaseException], exc: BaseException,
                    tb: TracebackType | None) -> None:
        if self._orig_excepthook is not None:
            self._orig_excepthook(exc_type, exc, tb)  # prints it: captured by the console tee
        if issubclass(exc_type, KeyboardInterrupt):
            self._finish(TaskStatus.stopped, "interrupted")
        else:
            self._finish(TaskStatus.failed,
                         "".join(traceback.format_exception(exc_type, exc, tb)))
        self._close()
