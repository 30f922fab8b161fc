"""What can go wrong with FCM: a configuration that cannot work, an access token the token
endpoint would not give, and FCM's error answers (read by the parts that decide what to do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.outbound import RETRYABLE_STATUS

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
RETRYABLE_ERROR_CODES = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}


class FcmConfigError(ValueError):
    """The plugin's configuration cannot work; retrying will not help."""


class TokenError(Exception):
    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class FcmError:
    """The parts of an FCM error answer that decide what to do (never its free text)."""

    http_status: int
    status: str | None = None
    error_code: str | None = None
    """errorCode of the google.firebase.fcm.v1.FcmError detail."""
    bad_fields: tuple[str, ...] = ()
    """Fields named by google.rpc.BadRequest field violations."""

    @classmethod
    def parse(cls, http_status: int, answer: Any) -> FcmError:
        error = answer.get("error") if isinstance(answer, dict) else None
        if not isinstance(error, dict):
            return cls(http_status)
        status = error.get("status") if isinstance(error.get("status"), str) else None
        error_code = None
        bad_fields: list[str] = []
        details = error.get("details")
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict):
                continue
            if detail.get("@type") == FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
                error_code = detail["errorCode"]
            elif detail.get("@type") == BAD_REQUEST_TYPE and isinstance(detail.get("fieldViolations"), list):
                bad_fields.extend(str(v.get("field")) for v in detail["fieldViolations"] if isinstance(v, dict))
        return cls(http_status, status, error_code, tuple(bad_fields))

    @property
    def label(self) -> str:
        parts = [f"HTTP {self.http_status}"]
        parts += [p for p in (self.status, self.error_code) if p and p not in parts]
        return " ".join(parts)

    @property
    def device_is_dead(self) -> bool:
        """UNREGISTERED, or INVALID_ARGUMENT about the token itself (FCM's token-management
        guidance). An INVALID_ARGUMENT naming another field is our message's fault."""
        if self.error_code == "UNREGISTERED":
            return True
        if self.error_code == "INVALID_ARGUMENT":
            return all(field == "message.token" for field in self.bad_fields)
        return False

    @property
    def unauthenticated(self) -> bool:
        """The access token was refused (THIRD_PARTY_AUTH_ERROR is the APNs/web-push
        credential, which a new access token does not fix)."""
        return self.http_status == 401 and self.error_code != "THIRD_PARTY_AUTH_ERROR"

    @property
    def retryable(self) -> bool:
        return (self.http_status in RETRYABLE_STATUS or self.http_status >= 500
                or self.error_code in RETRYABLE_ERROR_CODES or self.http_status < 400)
