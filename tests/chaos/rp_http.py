"""HTTP as the chaos suite's relying parties do it, and everything they saw.

A careful relying party waits for Retry-After on 503 and 429, backs off after connection errors
and other 5xx, and bounds every wait. The Observer records each answer per endpoint, and flags
what a relying party must never see: a 5xx other than 503, a 503 without Retry-After (or, from an
OAuth endpoint, without a JSON temporarily_unavailable), a non-JSON error from an OAuth endpoint,
or an answer slower than REQUEST_BOUND.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

REQUEST_BOUND = 15.0  # seconds an answer may take, beyond a long poll's requested wait
OAUTH_ENDPOINTS = ("/bc-authorize", "/token", "/register")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None  # None: not JSON
    headers: dict[str, str]
    text: str


class Observer:
    """Every answer the clients saw (endpoint, outcome, when) and every failure they flag."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.seen: list[tuple[float, str, str, float]] = []  # sent at, endpoint, outcome, took
        self.failures: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def saw(self, endpoint: str, outcome: str, at: float) -> None:
        self.seen.append((at, endpoint, outcome, self.now() - at))

    def fail(self, what: str) -> None:
        self.failures.append(f"t={self.now():.1f}s {what}")

    def counts(self, since: float = 0.0, until: float = float("inf")) -> dict[str, dict[str, int]]:
        """Outcome counts per endpoint, for requests sent in [since, until]."""
        return _by_endpoint((endpoint, outcome) for at, endpoint, outcome, _ in self.seen if since <= at <= until)

    def in_flight(self, moment: float) -> dict[str, dict[str, int]]:
        """How the requests in flight at ``moment`` ended, per endpoint."""
        return _by_endpoint((endpoint, outcome) for at, endpoint, outcome, took in self.seen
                            if at <= moment <= at + took)

    def check(self, endpoint: str, answer: Answer, took: float) -> None:
        if answer.status >= 500 and answer.status != 503:
            self.fail(f"{endpoint} answered {answer.status}: {answer.text[:160]!r}")
        if answer.status == 503 and "Retry-After" not in answer.headers:
            self.fail(f"{endpoint} answered 503 without Retry-After: {answer.text[:160]!r}")
        if answer.status == 503 and endpoint in OAUTH_ENDPOINTS and not _temporarily_unavailable(answer):
            self.fail(f"{endpoint} answered 503 without a JSON temporarily_unavailable: {answer.text[:160]!r}")
        if endpoint in OAUTH_ENDPOINTS and answer.status >= 400 and answer.body is None:
            self.fail(f"{endpoint} answered {answer.status} with a non-JSON body: {answer.text[:160]!r}")
        if took > REQUEST_BOUND:
            self.fail(f"{endpoint} took {took:.1f}s")


def _temporarily_unavailable(answer: Answer) -> bool:
    return answer.body is not None and answer.body.get("error") == "temporarily_unavailable"


def _by_endpoint(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for endpoint, outcome in pairs:
        counts[endpoint][outcome] += 1
    return {endpoint: dict(sorted(c.items())) for endpoint, c in sorted(counts.items())}


def _json(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class Caller:
    """HTTP as a careful relying party does it: bounded waits, and retries where retrying is right."""

    def __init__(self, observer: Observer, session: aiohttp.ClientSession) -> None:
        self.observer = observer
        self.session = session

    async def send(self, endpoint: str, method: str, url: str, *, hold: float = 0.0,
                   session: aiohttp.ClientSession | None = None, **kwargs: Any) -> Answer | None:
        """One request; None when it got no answer (connection error or timeout)."""
        obs = self.observer
        timeout = aiohttp.ClientTimeout(total=REQUEST_BOUND + hold + 5)
        sent = obs.now()
        try:
            async with (session or self.session).request(method, url, timeout=timeout, **kwargs) as response:
                text = await response.text()
                answer = Answer(response.status, _json(text), dict(response.headers), text)
        except TimeoutError:
            obs.saw(endpoint, "timeout", sent)
            obs.fail(f"{endpoint} gave no answer within {timeout.total:.0f}s")
            return None
        except (aiohttp.ClientError, OSError):
            obs.saw(endpoint, "conn_error", sent)
            return None
        error = answer.body.get("error") if answer.body and answer.status >= 400 else None
        obs.saw(endpoint, f"{answer.status} {error}" if error else str(answer.status), sent)
        obs.check(endpoint, answer, obs.now() - sent - hold)
        return answer

    async def call(self, endpoint: str, method: str, url: str, *, deadline: float,
                   **kwargs: Any) -> Answer | None:
        """The first answer worth acting on, or None when ``deadline`` passed first: 503 and 429
        wait for Retry-After; other 5xx and connection errors back off and try again."""
        for attempt in itertools.count():
            if self.observer.now() >= deadline:
                return None
            answer = await self.send(endpoint, method, url, **kwargs)
            if answer is not None and not retryable(answer):
                return answer
            await asyncio.sleep(backoff(answer, attempt))
        raise AssertionError("unreachable")


def retryable(answer: Answer) -> bool:
    return answer.status in (429, 503) or answer.status >= 500


def backoff(answer: Answer | None, attempt: int) -> float:
    """Retry-After when the server said (capped), else exponential from 0.25 s."""
    try:
        return min(float(answer.headers["Retry-After"]), 10.0) if answer else min(0.25 * 2**attempt, 4.0)
    except (KeyError, ValueError):
        return min(0.25 * 2**attempt, 4.0)
