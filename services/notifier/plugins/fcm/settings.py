"""The ``fcm`` section of ``cibaEndUserNotificationConfig`` (its keys are listed in the
package's docstring). The service account supplies the project and the token endpoint the
section leaves out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from services.notifier.plugins.config import PluginSettings, as_float, problem
from services.notifier.plugins.fcm.errors import FcmConfigError

DEFAULT_API_BASE = "https://fcm.googleapis.com"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_TIMEOUT_SEC = 10.0


def _json_object(account: Any) -> Any:
    """The service account as Google hands it out: an object, or the JSON text of one."""
    if not isinstance(account, str):
        return account
    try:
        return json.loads(account)
    except ValueError:
        raise problem("fcm.service_account is not JSON") from None


def _pem_private_key(pem: str) -> str:
    if "PRIVATE KEY" not in pem:
        raise ValueError("not a PEM private key")
    return pem


def _named(key_id: Any) -> str | None:
    return key_id if isinstance(key_id, str) and key_id else None


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise problem("fcm.timeout must be positive")
    return seconds


HttpUrl = Annotated[str, Field(pattern=r"^https?://")]
"""Google's endpoints, or a test double's (``http://`` is allowed)."""


class ServiceAccount(BaseModel):
    """The parts of the Google service-account JSON the plugin uses."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    client_email: Annotated[str, Field(min_length=1)]
    private_key: Annotated[str, AfterValidator(_pem_private_key)] = Field(repr=False)
    private_key_id: Annotated[str | None, BeforeValidator(_named)] = None
    """Named in the assertion's ``kid`` when there is one."""
    project_id: Any = None
    token_uri: Any = None
    """Judged only when the section does not give its own (see FcmSettings)."""


class FcmSettings(PluginSettings):
    SECTION = "fcm"
    CONFIG_ERROR = FcmConfigError
    MESSAGES = {
        "service_account": "fcm.service_account is not configured",
        "service_account.client_email": "fcm.service_account.client_email is missing",
        "service_account.private_key": "fcm.service_account.private_key is missing or not a PEM private key",
        "project_id": "fcm.project_id (or service_account.project_id) is missing",
        "token_uri": "fcm.token_uri must be an http(s) URL",
        "api_base": "fcm.api_base must be an http(s) URL",
        "timeout": "fcm.timeout must be a number of seconds",
    }

    service_account: Annotated[ServiceAccount, BeforeValidator(_json_object)]
    project_id: Annotated[str, Field(pattern=r"^[^/]+$", validate_default=True)] = ""
    """The section's, else the service account's."""
    token_uri: Annotated[HttpUrl, Field(validate_default=True)] = ""
    """The section's, else the service account's, else Google's."""
    api_base: Annotated[HttpUrl, AfterValidator(lambda url: url.rstrip("/"))] = DEFAULT_API_BASE
    timeout: Annotated[float, BeforeValidator(as_float), AfterValidator(_positive)] = DEFAULT_TIMEOUT_SEC
    """Seconds per HTTP call."""

    @field_validator("project_id", mode="before")
    @classmethod
    def _or_the_accounts_project(cls, project_id: Any, info: ValidationInfo) -> Any:
        return project_id or getattr(info.data.get("service_account"), "project_id", None)

    @field_validator("token_uri", mode="before")
    @classmethod
    def _or_the_accounts_token_endpoint(cls, token_uri: Any, info: ValidationInfo) -> Any:
        return token_uri or getattr(info.data.get("service_account"), "token_uri", None) or DEFAULT_TOKEN_URI

    @field_validator("api_base", mode="before")
    @classmethod
    def _or_googles(cls, value: Any) -> Any:
        return value or DEFAULT_API_BASE

    @property
    def client_email(self) -> str:
        return self.service_account.client_email

    @property
    def private_key(self) -> str:
        return self.service_account.private_key

    @property
    def private_key_id(self) -> str | None:
        return self.service_account.private_key_id

    @property
    def cache_key(self) -> tuple[str, str]:
        return (self.client_email, self.token_uri)

    @property
    def send_url(self) -> str:
        return f"{self.api_base}/v1/projects/{self.project_id}/messages:send"


def settings_from(config: Mapping[str, Any]) -> FcmSettings:
    """The settings, or FcmConfigError naming the first one that cannot work."""
    return FcmSettings.read(config)
