"""The ``email`` section of ``cibaEndUserNotificationConfig`` (its keys are listed in the
package's docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from services.notifier.plugins.config import PluginSettings, as_float, problem, text_or_none

DEFAULT_SUBJECT = "Sign-in request from {client_name}"
DEFAULT_TIMEOUT_SEC = 10.0
STARTTLS_PORT = 587
IMPLICIT_TLS_PORT = 465


class ConfigError(ValueError):
    """The operator's ``email`` configuration cannot work: a permanent failure."""


def _flag(value: Any, default: bool) -> bool:
    """true or false, as JSON or as text; absent is the default."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ValueError("not true or false")


def _filled_in(host: str) -> str:
    if not host.strip():
        raise ValueError("blank")
    return host.strip()


def _address(sender: str) -> str:
    if "@" not in parseaddr(sender)[1]:
        raise ValueError("not an email address")
    return sender


def _port_number(port: Any) -> int:
    try:
        return int(port)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("not a port number") from None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _seconds(value: Any) -> float:
    return as_float(value or DEFAULT_TIMEOUT_SEC)


def _template(subject: Any) -> str:
    return subject if isinstance(subject, str) and subject.strip() else DEFAULT_SUBJECT


class EmailSettings(PluginSettings):
    SECTION = "email"
    CONFIG_ERROR = ConfigError
    MESSAGES = {
        "host": "email.host is not configured",
        "tls": "email.tls must be true or false",
        "starttls": "email.starttls must be true or false",
        "port": "email.port is not a port number",
        "from": "email.from is not an email address",
        "timeout": "email.timeout is not a number",
    }

    host: Annotated[str, AfterValidator(_filled_in)]
    implicit_tls: bool = Field(default=False, alias="tls")
    """Connect with TLS (port 465 style) rather than upgrade with STARTTLS."""
    starttls: bool = Field(default=True, validate_default=True)
    """Required before anything else is said: a server that does not offer it gets nothing."""
    port: Annotated[int, BeforeValidator(_port_number), Field(gt=0, lt=65536)] = Field(
        default=None, validate_default=True)
    """Absent (or 0): the TLS mode's."""
    from_: Annotated[str, AfterValidator(_address)] = Field(alias="from")
    """As written; ``sender`` is the From header."""
    username: Annotated[str | None, BeforeValidator(text_or_none)] = None
    password: Annotated[str, BeforeValidator(_text)] = Field(default="", repr=False)
    ca_file: Annotated[str | None, BeforeValidator(text_or_none)] = None
    """A CA trusted beside the system's."""
    timeout: Annotated[float, BeforeValidator(_seconds)] = DEFAULT_TIMEOUT_SEC
    """Seconds per SMTP step."""
    subject: Annotated[str, BeforeValidator(_template)] = DEFAULT_SUBJECT
    """May use ``{client_name}`` and ``{username}``."""

    @field_validator("implicit_tls", mode="before")
    @classmethod
    def _off_unless_said(cls, tls: Any) -> bool:
        return _flag(tls, default=False)

    @field_validator("starttls", mode="before")
    @classmethod
    def _unless_implicit_tls(cls, starttls: Any, info: ValidationInfo) -> bool:
        return not info.data.get("implicit_tls") and _flag(starttls, default=True)

    @field_validator("port", mode="before")
    @classmethod
    def _or_the_tls_modes(cls, port: Any, info: ValidationInfo) -> Any:
        return port or (IMPLICIT_TLS_PORT if info.data.get("implicit_tls") else STARTTLS_PORT)

    @model_validator(mode="after")
    def _credentials_only_over_tls(self) -> EmailSettings:
        if self.username and not self.encrypted:
            raise problem("email.username is set but neither starttls nor tls is on: "
                          "credentials are never sent in clear")
        return self

    @property
    def encrypted(self) -> bool:
        return self.implicit_tls or self.starttls

    @property
    def sender(self) -> str:
        return self.from_.strip()

    @property
    def sender_domain(self) -> str:
        return parseaddr(self.from_)[1].rpartition("@")[2]


def settings_from(config: Mapping[str, Any]) -> EmailSettings:
    """The settings, or ConfigError naming the first one that cannot work."""
    return EmailSettings.read(config)
