"""The ``apns`` section of ``cibaEndUserNotificationConfig`` (its keys are listed in the
package's docstring)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, model_validator

from services.notifier.plugins.apns.errors import ApnsConfigError
from services.notifier.plugins.config import PluginSettings, as_float, problem

HOSTS = {"production": "api.push.apple.com", "sandbox": "api.sandbox.push.apple.com"}
ENVIRONMENT_ALIASES = {"development": "sandbox"}
"""Apple's entitlement calls the sandbox ``development``."""
DEFAULT_TIMEOUT_SEC = 10.0


def _pem_private_key(pem: str) -> str:
    if "PRIVATE KEY" not in pem:
        raise ValueError("not a PEM private key")
    if "\\n" in pem and "\n" not in pem.strip():
        return pem.replace("\\n", "\n")  # pasted with its newlines escaped
    return pem


def _host_and_port(host: str | None) -> str | None:
    """``host`` or ``host:port``; empty leaves the choice to the environment."""
    if not host:
        return None
    if any(c in host for c in "/?#@\\") or any(c.isspace() for c in host):
        raise ValueError("not a host name")
    parts = urlsplit(f"https://{host}")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise problem("apns.host has an invalid port") from None
    if not parts.hostname:
        raise ValueError("not a host name")
    return host


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("not a number")
    return as_float(value)


def _positive(seconds: float) -> float:
    if not seconds > 0:
        raise problem("apns.timeout must be positive")
    return seconds


AppleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{10}$")]
"""A Team ID or key ID, as Apple's developer account shows it."""
BundleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,254}$")]


class ApnsSettings(PluginSettings):
    SECTION = "apns"
    CONFIG_ERROR = ApnsConfigError
    MESSAGES = {
        "team_id": "apns.team_id must be the 10-character identifier from Apple's developer account",
        "key_id": "apns.key_id must be the 10-character identifier from Apple's developer account",
        "private_key": "apns.private_key is missing or not a PEM private key (the .p8 file)",
        "topic": "apns.topic must be the app's bundle ID",
        "environment": 'apns.environment must be "production" or "sandbox"',
        "host": "apns.host must be a host name, optionally with :port",
        "ca_file": "apns.ca_file must be a path",
        "timeout": "apns.timeout must be a number of seconds",
    }

    team_id: AppleId
    key_id: AppleId
    private_key: Annotated[str, AfterValidator(_pem_private_key)] = Field(repr=False)
    topic: BundleId
    """The app's bundle ID."""
    environment: Literal["production", "sandbox", "development"] = "production"
    host_override: Annotated[str | None, AfterValidator(_host_and_port)] = Field(default=None, alias="host")
    ca_file: Annotated[str | None, AfterValidator(lambda path: path or None)] = None
    """A CA trusted beside the system's."""
    timeout: Annotated[float, BeforeValidator(_seconds), AfterValidator(_positive)] = DEFAULT_TIMEOUT_SEC
    """Seconds per HTTP/2 call."""

    @model_validator(mode="before")
    @classmethod
    def _host_overrides_environment(cls, config: Any) -> Any:
        """With a host of its own, the environment is not read (nor judged)."""
        if isinstance(config, Mapping) and config.get("host") not in (None, ""):
            return {key: value for key, value in config.items() if key != "environment"}
        return config

    @property
    def host(self) -> str:
        """``host`` or ``host:port``."""
        return self.host_override or HOSTS[ENVIRONMENT_ALIASES.get(self.environment, self.environment)]

    @property
    def token_cache_key(self) -> tuple[str, str, str]:
        """Per signing key; a digest of the key too, so that replacing a wrong key under the
        same key_id does not keep serving tokens signed with the old one."""
        digest = hashlib.sha256(self.private_key.encode()).hexdigest()[:16]
        return (self.team_id, self.key_id, digest)

    @property
    def client_key(self) -> tuple[str, str | None]:
        """APNs does not accept tokens of several teams on one connection, and the trusted CAs
        are fixed when a connection opens."""
        return (self.team_id, self.ca_file)

    def url_for(self, device_token: str) -> str:
        return f"https://{self.host}/3/device/{quote(device_token, safe='')}"


def settings_from(config: Mapping[str, Any]) -> ApnsSettings:
    """The settings, or ApnsConfigError naming the first one that cannot work."""
    return ApnsSettings.read(config)
