"""The account page's lockout: five failed logins per username within fifteen minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.gateway.device.lockout import LoginThrottle

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def test_the_sixth_attempt_within_the_window_is_refused() -> None:
    throttle = LoginThrottle()
    assert all(throttle.begin("alice", T0 + timedelta(minutes=i)) for i in range(5))
    assert not throttle.begin("alice", T0 + timedelta(minutes=5))
    assert throttle.begin("bob", T0 + timedelta(minutes=5))


def test_the_lock_lifts_as_the_oldest_failure_leaves_the_window() -> None:
    throttle = LoginThrottle()
    for i in range(5):
        throttle.begin("alice", T0 + timedelta(minutes=i))
    assert not throttle.begin("alice", T0 + timedelta(minutes=14, seconds=59))
    assert throttle.begin("alice", T0 + timedelta(minutes=15, seconds=1))
    assert not throttle.begin("alice", T0 + timedelta(minutes=15, seconds=2))


def test_a_success_clears_the_count() -> None:
    throttle = LoginThrottle()
    for _ in range(4):
        throttle.begin("alice", T0)
    throttle.begin("alice", T0)
    throttle.succeeded("alice")
    assert all(throttle.begin("alice", T0) for _ in range(5))


def test_attempts_in_flight_count_until_they_succeed() -> None:
    throttle = LoginThrottle()
    # Five concurrent attempts all started; none has finished: a sixth must wait.
    assert all(throttle.begin("alice", T0) for _ in range(5))
    assert not throttle.begin("alice", T0)


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(max_tracked=3)
    for name in ("a", "b", "c", "d"):
        throttle.begin(name, T0)
    assert len(throttle._failures) == 3 and "a" not in throttle._failures
    for name in ("e", "f", "g"):
        throttle.begin(name, T0 + timedelta(minutes=16))  # a..d expired: pruned, not evicted
    assert set(throttle._failures) == {"e", "f", "g"}
