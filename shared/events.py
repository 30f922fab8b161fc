"""Messages on the bus: the lifecycle events of a CIBA request, as pydantic models.

JSON on the wire, each with ``message_id`` (consumers deduplicate on it), ``type`` (also the
routing key) and ``version``. They are written only through the outbox
(``shared.repositories.outbox.add``) and read only through the consumer runner
(``shared.bus.consumer``), which hands a handler the typed model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.domain.auth_request import DeliveryMode


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: UUID = Field(default_factory=uuid4)
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    request_id: UUID
    delivery_mode: DeliveryMode

    @property
    def routing_key(self) -> str:
        return self.type  # type: ignore[attr-defined,no-any-return]


class AuthRequestCreated(Event):
    """A relying party started a request at /bc-authorize; the user must be reached."""

    type: Literal["auth_request.created"] = "auth_request.created"
    client_id: str


class AuthRequestDecided(Event):
    """The user approved or denied the request on the authentication device."""

    type: Literal["auth_request.decided"] = "auth_request.decided"
    decision: Literal["approved", "denied"]


class AuthRequestExpired(Event):
    """The request reached its expiry while still pending."""

    type: Literal["auth_request.expired"] = "auth_request.expired"


class AuthRequestFailed(Event):
    """The request could not be carried through (the user could not be notified)."""

    type: Literal["auth_request.failed"] = "auth_request.failed"
    reason: str


AnyEvent = Annotated[
    AuthRequestCreated | AuthRequestDecided | AuthRequestExpired | AuthRequestFailed,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(body: bytes | str) -> AnyEvent:
    return _adapter.validate_json(body)
