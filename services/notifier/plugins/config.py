"""Reading a plugin's section of ``cibaEndUserNotificationConfig``: each plugin declares its
section as a pydantic model, and a section that does not validate becomes one message for the
operator that names the setting at fault (``apns.topic must be the app's bundle ID``).

A model says what each setting must be, with types and constraints; its ``MESSAGES`` table says
what the operator is told when a setting is not that. A validator with something more precise
to say raises ``problem(...)``, whose words are used as they are. When several settings are
wrong, the first in the model's order is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

PROBLEM = "plugin_config"


def problem(message: str) -> PydanticCustomError:
    """A validation error whose ``message`` reaches the operator word for word."""
    return PydanticCustomError(PROBLEM, message)


def as_float(value: Any) -> float:
    """``float(value)``: what the plugins have always taken for a number of seconds (a JSON
    number, or its text); ValueError for anything else."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("not a number") from None


def text_or_none(value: Any) -> str | None:
    """An optional setting taken as text (``str(value)``); anything false is absent."""
    return str(value) if value else None


class PluginSettings(BaseModel):
    """A plugin's section. Settings it does not know are ignored, as they always were."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    SECTION: ClassVar[str]
    """The plugin's name, which starts every message."""
    MESSAGES: ClassVar[Mapping[str, str]] = {}
    """What the operator is told when a setting (dotted when nested) is not what it must be."""
    CONFIG_ERROR: ClassVar[type[ValueError]] = ValueError
    """What ``read`` raises: the plugin's own "this configuration cannot work"."""

    @classmethod
    def read(cls, config: Mapping[str, Any]) -> Self:
        try:
            return cls.model_validate(config)
        except ValidationError as exc:
            raise cls.CONFIG_ERROR(first_problem(exc, cls.SECTION, cls.MESSAGES)) from None


def first_problem(exc: ValidationError, section: str, messages: Mapping[str, str]) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    if error["type"] == PROBLEM:
        return error["msg"]
    loc = [str(part) for part in error["loc"]]
    for end in range(len(loc), 0, -1):  # the setting's own message, else its section's
        message = messages.get(".".join(loc[:end]))
        if message is not None:
            return message
    return f"{section}.{'.'.join(loc)}: {error['msg']}" if loc else f"{section}: {error['msg']}"
