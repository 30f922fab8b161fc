"""Every Prometheus metric the services export, in one place: the names are an interface
(dashboards, alerts and autoscalers use them as written; README, "Operating").

Labels have bounded cardinality: route templates, statuses, modes, plugin names and results,
never a client_id, a user, an auth_req_id or a URL. ``start(service)`` creates the children of
the label values a service knows at start, so its counters read 0 before the first event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.domain.auth_request import DeliveryMode, Status

STATUSES = tuple(Status)
DELIVERY_MODES = tuple(DeliveryMode)
CONSUMER_RESULTS = ("ok", "retried", "dead_lettered", "duplicate")
DELIVERY_RESULTS = ("delivered", "retry", "failed")
NOTIFICATION_RESULTS = ("sent", "failed")
DEVICE_LOGIN_RESULTS = ("ok", "bad_credentials", "locked")
STAGES = {  # stage -> the service that observes it
    "created_to_notified": "notifier",
    "notified_to_decided": "gateway",
    "decided_to_delivered": "token-delivery",
    "decided_to_tokens_issued": "gateway",
}
# From a few milliseconds (the pipeline) to minutes (a person deciding on a phone).
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
HANDLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "ciba_http_requests", "HTTP requests the gateway answered, by route template; error is the "
    "OAuth error code, empty on success.", ["endpoint", "method", "status", "error"])
HTTP_DURATION = Histogram(
    "ciba_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["endpoint"])
TRANSITIONS = Counter(
    "ciba_auth_request_transitions", "Authentication request state changes, counted by the "
    "service that made them.", ["to_status", "delivery_mode"])
STAGE_DURATION = Histogram(
    "ciba_stage_duration_seconds", "Time a request spent between two points of its life.",
    ["stage"], buckets=STAGE_BUCKETS)
OUTBOX_BACKLOG = Gauge("ciba_outbox_backlog", "Events in the outbox not yet published to RabbitMQ.")
OUTBOX_OLDEST_AGE = Gauge("ciba_outbox_oldest_age_seconds",
                          "Age of the oldest event in the outbox; 0 when it is empty.")
QUEUE_MESSAGES = Gauge("ciba_queue_messages", "Messages ready in each work, retry and dead-letter "
                       "queue, as the broker reports them.", ["queue"])
CONSUMER_MESSAGES = Counter("ciba_consumer_messages", "Events a consumer finished with, by outcome.",
                            ["service", "result"])
CONSUMER_HANDLE = Histogram("ciba_consumer_handle_seconds", "Time a consumer spent on one event.",
                            ["service"], buckets=HANDLE_BUCKETS)
NOTIFICATION_ATTEMPTS = Counter("ciba_notification_attempts", "Calls of a notification plugin, by "
                                "outcome.", ["plugin", "result"])
DELIVERY_ATTEMPTS = Counter("ciba_delivery_attempts", "Calls of a client notification endpoint "
                            "(ping and push), by outcome.", ["mode", "result"])
DEVICE_LOGINS = Counter("ciba_device_logins", "Sign-ins on the device pages, by outcome.", ["result"])
RATE_LIMITED = Counter("ciba_rate_limited", "Requests refused by a rate limit, by limit.", ["limit"])


class PoolCollector(Collector):
    """ciba_db_pool_connections{state}: the process's Postgres pool, read at scrape time."""

    def __init__(self) -> None:
        self.read: Callable[[], tuple[int, int, int]] | None = None  # (in use, idle, max)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("ciba_db_pool_connections",
                                   "Connections of the Postgres pool: in_use, idle, and max (its size limit).",
                                   labels=["state"])
        if self.read is not None:
            in_use, idle, most = self.read()
            family.add_metric(["in_use"], in_use)
            family.add_metric(["idle"], idle)
            family.add_metric(["max"], most)
        yield family


POOL = PoolCollector()
REGISTRY.register(POOL)


RATE_LIMITS = ("bc_authorize_per_client", "token_poll_interval", "password_checks")
RETENTION_TABLES = ("auth_requests", "tokens", "auth_request_audit")
RETENTION_DELETED = Counter("ciba_retention_deleted", "Rows deleted by retention, by table (a request's "
                            "history, attempts and device links go with it).", ["table"])


def start(service: str, *, pool_state: Callable[[], tuple[int, int, int]] | None = None) -> None:
    """Create the children ``service`` can count, at 0, and attach its pool."""
    POOL.read = pool_state
    for status in STATUSES:
        for mode in DELIVERY_MODES:
            TRANSITIONS.labels(status, mode)
    for stage, observer in STAGES.items():
        if observer == service:
            STAGE_DURATION.labels(stage)
    if service in ("notifier", "token-delivery"):
        for result in CONSUMER_RESULTS:
            CONSUMER_MESSAGES.labels(service, result)
        CONSUMER_HANDLE.labels(service)
    if service == "token-delivery":
        for mode in (DeliveryMode.PING, DeliveryMode.PUSH):
            for result in DELIVERY_RESULTS:
                DELIVERY_ATTEMPTS.labels(mode, result)
    if service == "gateway":
        for result in DEVICE_LOGIN_RESULTS:
            DEVICE_LOGINS.labels(result)
        for limit in RATE_LIMITS:
            RATE_LIMITED.labels(limit)
    if service == "request-processor":
        for table in RETENTION_TABLES:
            RETENTION_DELETED.labels(table)
        OUTBOX_BACKLOG.set(0)
        OUTBOX_OLDEST_AGE.set(0)


def plugins_known(names: Iterable[str]) -> None:
    """The notifier's plugins (built in and configured), each result at 0."""
    for plugin in names:
        for result in NOTIFICATION_RESULTS:
            NOTIFICATION_ATTEMPTS.labels(plugin, result)


def transition(to_status: str, delivery_mode: str, count: int = 1) -> None:
    TRANSITIONS.labels(to_status, delivery_mode).inc(count)


def stage(name: str, start_at: datetime | None, end_at: datetime | None) -> None:
    """Observe a stage's duration when both ends are known (and in order)."""
    if start_at is not None and end_at is not None and end_at >= start_at:
        STAGE_DURATION.labels(name).observe((end_at - start_at).total_seconds())
