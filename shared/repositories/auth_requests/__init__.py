"""CIBA requests and their recorded history, one submodule per purpose:

- ``create``: a new request with its first history row and outbox event;
- ``read``: a request by id or auth_req_id hash, its history, the support staff's search;
- ``polling``: the stamp a token-endpoint poll leaves, and slow_down's interval;
- ``transitions``: pending -> approved | denied | expired | failed, approved -> tokens_issued;
- ``changes``: the NOTIFY that wakes a changed request's long polls;
- ``claims``: which event may notify the user, and requests no notifier ever claimed.

Callers use the names below (``auth_requests.get(...)``), not the submodules.
"""

from shared.repositories.auth_requests._rows import columns, from_record
from shared.repositories.auth_requests.changes import REQUEST_CHANGED_CHANNEL, notify_changed, notify_changed_many
from shared.repositories.auth_requests.claims import (
    claim_notification,
    claim_unannounced,
    release_notification_claim,
)
from shared.repositories.auth_requests.create import insert, insert_announced, insert_announced_many
from shared.repositories.auth_requests.polling import Poll, current_interval, purge_poll_marks, record_poll
from shared.repositories.auth_requests.read import (
    Listed,
    count_pending_for_user,
    get,
    get_by_hash,
    history,
    pending_for_user,
    search,
)
from shared.repositories.auth_requests.transitions import (
    Expired,
    add_history,
    decide,
    expire_due,
    fail,
    finish_delivery,
    issue_tokens,
)

__all__ = [
    "REQUEST_CHANGED_CHANNEL",
    "Expired",
    "Listed",
    "Poll",
    "add_history",
    "claim_notification",
    "claim_unannounced",
    "columns",
    "count_pending_for_user",
    "current_interval",
    "decide",
    "expire_due",
    "fail",
    "finish_delivery",
    "from_record",
    "get",
    "get_by_hash",
    "history",
    "insert",
    "insert_announced",
    "insert_announced_many",
    "issue_tokens",
    "notify_changed",
    "notify_changed_many",
    "pending_for_user",
    "purge_poll_marks",
    "record_poll",
    "release_notification_claim",
    "search",
]
