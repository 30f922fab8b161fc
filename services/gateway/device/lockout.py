"""Failed logins per username on the account pages, counted in this process's memory.

Five failures within fifteen minutes lock a username until the oldest of them leaves the
window. An attempt counts as failed from the moment it starts until it succeeds, so a burst of
concurrent guesses cannot all slip past the check while their passwords are being verified.

The counter lives in one gateway process (no table): a restart forgets it, and behind N
replicas a username gets at most 5 x N tries per window. At most ``max_tracked`` usernames are
followed; beyond that the longest-followed is forgotten first, bounding memory.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
MAX_TRACKED = 10_000


class LoginThrottle:
    def __init__(self, *, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW,
                 max_tracked: int = MAX_TRACKED) -> None:
        self._max_failures = max_failures
        self._window = window
        self._max_tracked = max_tracked
        self._failures: dict[str, deque[datetime]] = {}

    def begin(self, username: str, now: datetime) -> bool:
        """Whether ``username`` may try to log in now; if so, the attempt counts as failed
        until ``succeeded`` is called."""
        recent = self._recent(username, now)
        if len(recent) >= self._max_failures:
            return False
        if username not in self._failures and len(self._failures) >= self._max_tracked:
            self._forget_oldest(now)
        self._failures.setdefault(username, recent).append(now)
        return True

    def succeeded(self, username: str) -> None:
        self._failures.pop(username, None)

    def _recent(self, username: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(username, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times

    def _forget_oldest(self, now: datetime) -> None:
        for username in [u for u, times in self._failures.items() if not self._recent(u, now)]:
            del self._failures[username]
        if len(self._failures) >= self._max_tracked:
            del self._failures[next(iter(self._failures))]
