"""Throttling of failed logins, per login name and per client address.

Every way to prove who one is with a secret goes through here: the web login form, HTTP Basic
with a username and password, an API key and secret. Once a login name (a username or an
access key, known or not) or a client address has failed ``limit`` times within ``window``
seconds, further attempts are refused with 429 and a ``Retry-After`` before any password is
checked, until the oldest of those failures is ``window`` seconds old. Successful logins do not
count, and one clears the failures of its login name (not of its address).

An API key is the exception to counting by name: its secret is 256 random bits, which no
number of guesses finds, so its failures count only against the caller's address. Counting
them against the key as well would let anyone who knows an access key (it is no secret) lock
its agent or its scripts out by sending wrong secrets.

The counts live in memory, in each server process: several replicas behind a proxy each allow
``limit`` failures, and a restart forgets them. Memory is bounded: at most ``max_keys`` names
and as many addresses are remembered (the least recently failed are forgotten first), each with
at most ``limit`` timestamps.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TypeVar

from arno.core.errors import TooManyRequests, Unauthorized

T = TypeVar("T")

_MESSAGE = "too many failed logins; try again in {} s"


class _Window:
    """Failure timestamps per key, in a bounded LRU map."""

    def __init__(self, limit: int, window: float, max_keys: int) -> None:
        self.limit = max(1, limit)
        self.window = window
        self.max_keys = max_keys
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        fails = self._fails.get(key)
        if fails is None:
            return 0.0
        while fails and fails[0] <= now - self.window:
            fails.popleft()
        if not fails:
            del self._fails[key]
            return 0.0
        if len(fails) < self.limit:
            return 0.0
        return fails[0] + self.window - now

    def add(self, key: str, now: float) -> None:
        fails = self._fails.get(key)
        if fails is None:
            fails = self._fails[key] = deque(maxlen=self.limit)
            while len(self._fails) > self.max_keys:
                self._fails.popitem(last=False)
        else:
            self._fails.move_to_end(key)
        fails.append(now)

    def clear(self, key: str) -> None:
        self._fails.pop(key, None)


class LoginThrottle:
    def __init__(self, *, per_login: int = 10, per_address: int = 100, window: float = 300.0,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._logins = _Window(per_login, window, max_keys)
        self._addresses = _Window(per_address, window, max_keys)
        self._clock = clock
        self._lock = threading.Lock()

    def check(self, login: str, address: str | None,
              is_key: Callable[[str], bool] = lambda _login: False) -> None:
        """Raise ``TooManyRequests`` if this name or address has failed too often."""
        now = self._clock()
        with self._lock:
            wait = self._logins.wait(login, now)
            address_wait = self._addresses.wait(address, now) if address else 0.0
        if wait > 0 and is_key(login):  # asked only when the name is over its limit
            wait = 0.0
        wait = max(wait, address_wait)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(_MESSAGE.format(seconds), retry_after=seconds)

    def failed(self, login: str, address: str | None, *, by_name: bool = True) -> None:
        now = self._clock()
        with self._lock:
            if by_name:
                self._logins.add(login, now)
            if address:
                self._addresses.add(address, now)

    def succeeded(self, login: str) -> None:
        with self._lock:
            self._logins.clear(login)

    def guard(self, login: str, address: str | None, attempt: Callable[[], T],
              is_key: Callable[[str], bool] = lambda _login: False) -> T:
        """Run ``attempt`` (a credential check raising ``Unauthorized``) unless throttled,
        counting its failure. ``is_key(login)``: whether the login is an API key (counted
        by address only); asked only on a failure or over a limit."""
        self.check(login, address, is_key)
        try:
            result = attempt()
        except Unauthorized:
            self.failed(login, address, by_name=not is_key(login))
            raise
        self.succeeded(login)
        return result
