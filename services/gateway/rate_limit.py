"""The per-client rate limit of /bc-authorize: a token bucket whose burst equals the rate
(backchannelRateLimitPerClient requests per second; 0 turns it off).

Buckets live in the gateway process: with N gateway replicas behind a balancer a client can
make up to N times the rate. That keeps the hot path free of a shared counter; size the
property for one replica.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._now = clock

    def acquire(self, key: str, rate: float) -> int | None:
        """Take one token; None when allowed, else the seconds to wait (Retry-After)."""
        if rate <= 0:
            return None
        burst = max(rate, 1.0)
        now = self._now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        self._buckets.move_to_end(key)
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))
