"""Process settings, read once from the environment (prefix ``CIBA_``).

These are the knobs a process needs before it can reach the database. Everything an operator
tunes at run time (the server properties) lives in Postgres instead: see ``shared.config``.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from shared.passwords import Argon2Params
from shared.secret_settings import DEVELOPMENT_SECRET_KEY, check_master_keys, read_secret_files

__all__ = ["DEVELOPMENT_SECRET_KEY", "MANAGEMENT_PORTS", "Settings", "describe_invalid"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIBA_", extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment first; then, with ``CIBA_SECRETS_DIR``, one file per setting in that
        directory, named like its variable (``CIBA_SECRET_KEY``): a Kubernetes Secret mounted
        as a volume."""
        secrets_dir = os.environ.get("CIBA_SECRETS_DIR")
        if secrets_dir:
            file_secret_settings = SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        """``CIBA_<NAME>_FILE`` for the secret settings (shared.secret_settings)."""
        return read_secret_files(data) if isinstance(data, dict) else data

    database_url: str = "postgresql://postgres@127.0.0.1:5432/ciba"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    issuer: str = "http://127.0.0.1:8080"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Gateway processes sharing the HTTP port (SO_REUSEPORT): one Python process serves on one
    # core, so give a gateway with more cores more workers (services/gateway/workers.py).
    http_workers: int = Field(default=1, ge=1, le=64)
    bus_namespace: str = Field(default="ciba", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # The type of the work, retry and dead-letter queues: quorum (replicated), or classic for a
    # single-node broker that wants them and for installs made before quorum was the default.
    bus_queue_type: Literal["quorum", "classic"] = "quorum"
    env: Literal["production", "development"] = "production"
    secret_key: SecretStr | None = None
    # The master keys during a rotation, comma-separated, newest first: encryption and new
    # hashes use the first, decryption and look-ups try each (shared/crypto.py).
    secret_keys: SecretStr | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: str = "info"
    # The services' event loop: uvloop (faster socket I/O), or asyncio's own for debugging.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    # Seconds to open a database connection before the attempt counts as an outage.
    db_connect_timeout_sec: float = Field(default=5.0, gt=0, le=120)
    # Seconds a starting service waits for Postgres, for the schema its release needs (a
    # migration job may still be running) and for RabbitMQ, before it exits with one line.
    startup_wait_sec: float = Field(default=120.0, gt=0, le=3600)
    # The most a gateway request may take (a held long poll gets its wait on top): past it the
    # answer is 503 temporarily_unavailable, never a hang.
    http_request_timeout_sec: float = Field(default=15.0, gt=0, le=600)
    # How many messages a consumer works on at once (RabbitMQ prefetch).
    consumer_prefetch: int = Field(default=16, ge=1, le=1000)
    # Seconds a stopping service waits for the message in hand before it gives up on it.
    shutdown_grace_sec: float = Field(default=20.0, ge=0)
    # Bearer token of the config API (/admin/config); the API is off while this is unset.
    admin_token: SecretStr | None = None
    # Also write the notification plugins' log lines (logger ciba.notification) to this file.
    notification_log_file: str | None = None
    # Extra CA certificates (PEM) trusted for outbound HTTPS (client notification endpoints),
    # besides the system store.
    outbound_ca_bundle: str | None = None
    # Device-page templates that override the built-in ones by name (branding).
    templates_dir: str | None = None
    # Apply pending migrations at start (under an advisory lock).
    migrate_on_start: bool = True
    # argon2id parameters for new password and user_code hashes (existing hashes keep theirs).
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65536, ge=1024, le=4 * 1024 * 1024)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    # The gateway checks passwords and user codes on this many threads of their own, and lets
    # at most this many more checks wait; past that it answers 429 with Retry-After.
    password_check_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    password_check_queue: int = Field(default=16, ge=0, le=10_000)
    # Long polls one gateway process holds open at once (each holds a connection, so a file
    # descriptor); beyond it a poll is answered at once. 0 holds none.
    long_poll_max_held: int = Field(default=1000, ge=0, le=1_000_000)
    # Reverse proxies whose X-Forwarded-For the gateway believes (addresses or CIDR networks,
    # comma-separated). Empty: the TCP peer is the client.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The management listener (/health/live, /health/ready, /metrics; the gateway's also
    # /admin/config). The port defaults per service (MANAGEMENT_PORTS); 0 turns it off.
    management_host: str = "127.0.0.1"
    management_port: int | None = Field(default=None, ge=0, le=65535)
    # Seconds between a side task's death (readiness fails at once) and the process's exit
    # with status 1, so the orchestrator restarts it.
    side_task_exit_grace_sec: float = Field(default=5.0, ge=0, le=600)
    # TLS on the gateway's own listener: its certificate (chain) and private key, PEM files,
    # both or neither. With CIBA_HTTP_TLS_CLIENT_CA (a PEM bundle) it also asks every client
    # for a certificate, optional, and verifies one that is sent against that bundle: mutual
    # TLS for client authentication and certificate-bound tokens (RFC 8705, gateway/mtls.py).
    http_tls_cert: str | None = None
    http_tls_key: str | None = None
    http_tls_client_ca: str | None = None
    # Behind a TLS-terminating proxy: the request header in which the proxy passes the
    # client's certificate (URL-encoded PEM, like nginx's $ssl_client_escaped_cert, or base64
    # DER). Believed only from CIBA_TRUSTED_PROXIES. With CIBA_TLS_CLIENT_VERIFY_HEADER, the
    # header in which it says whether it verified the certificate's chain ("SUCCESS").
    tls_client_cert_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
    tls_client_verify_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
    # The base URL of a separate host for mutual TLS (RFC 8705 5: mtls_endpoint_aliases in
    # discovery point there); unset, the aliases are the issuer's own endpoints.
    mtls_endpoint_base: str | None = None

    @field_validator("issuer")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("templates_dir")
    @classmethod
    def _a_directory(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isdir(value):
            raise ValueError(f"{value!r} is not a directory")
        return value

    @field_validator("http_tls_cert", "http_tls_key", "http_tls_client_ca")
    @classmethod
    def _a_file(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(value):
            raise ValueError(f"{value!r} is not a file")
        return value

    @field_validator("mtls_endpoint_base")
    @classmethod
    def _a_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value):
            raise ValueError("must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.secret_key is not None and self.secret_keys is not None:
            raise ValueError("set CIBA_SECRET_KEY or CIBA_SECRET_KEYS, not both")
        keys = self._configured_keys()
        if self.env == "production":
            if not keys:
                raise ValueError("CIBA_SECRET_KEY is required when CIBA_ENV=production")
            if DEVELOPMENT_SECRET_KEY in keys:
                raise ValueError("CIBA_SECRET_KEY is the published development key; generate your own")
            if not self.issuer.startswith("https://"):
                raise ValueError("CIBA_ISSUER must be an https URL when CIBA_ENV=production")
            if self.mtls_endpoint_base is not None and not self.mtls_endpoint_base.startswith("https://"):
                raise ValueError("CIBA_MTLS_ENDPOINT_BASE must be an https URL when CIBA_ENV=production")
        if (self.http_tls_cert is None) != (self.http_tls_key is None):
            raise ValueError("set CIBA_HTTP_TLS_CERT and CIBA_HTTP_TLS_KEY together, or neither")
        if self.http_tls_client_ca is not None and self.http_tls_cert is None:
            raise ValueError("CIBA_HTTP_TLS_CLIENT_CA needs CIBA_HTTP_TLS_CERT and CIBA_HTTP_TLS_KEY "
                             "(the gateway asks for client certificates only on its own TLS listener)")
        if self.tls_client_cert_header is not None and not self.trusted_proxies:
            raise ValueError("CIBA_TLS_CLIENT_CERT_HEADER needs CIBA_TRUSTED_PROXIES: the header is believed "
                             "only from those addresses")
        if self.tls_client_verify_header is not None and self.tls_client_cert_header is None:
            raise ValueError("CIBA_TLS_CLIENT_VERIFY_HEADER needs CIBA_TLS_CLIENT_CERT_HEADER")
        check_master_keys(keys)
        return self

    def _configured_keys(self) -> list[str]:
        if self.secret_keys is not None:
            return [key.strip() for key in self.secret_keys.get_secret_value().split(",") if key.strip()]
        return [self.secret_key.get_secret_value()] if self.secret_key is not None else []

    @property
    def development(self) -> bool:
        return self.env == "development"

    def management_port_of(self, service: str) -> int:
        """The management port of ``service``: the setting, else the service's default."""
        if self.management_port is not None:
            return self.management_port
        return MANAGEMENT_PORTS.get(service, 0)

    @property
    def mtls_enabled(self) -> bool:
        """Whether client certificates can reach the gateway (its own TLS listener asks for them,
        or a trusted proxy passes them on), or a separate mutual-TLS host serves the clients."""
        return any(value is not None for value in
                   (self.http_tls_client_ca, self.tls_client_cert_header, self.mtls_endpoint_base))

    @property
    def argon2_params(self) -> Argon2Params:
        return Argon2Params(self.argon2_time_cost, self.argon2_memory_kib, self.argon2_parallelism)

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Parsed once per distinct setting: the gateway reads it on every request."""
        return _networks(tuple(self.trusted_proxies))

    @property
    def master_keys(self) -> list[bytes]:
        """The master keys (url-safe base64 Fernet keys), newest first; the development key
        when none is set."""
        return [key.encode() for key in self._configured_keys()] or [DEVELOPMENT_SECRET_KEY.encode()]

    @property
    def secret_key_bytes(self) -> bytes:
        """The newest master key."""
        return self.master_keys[0]


@functools.cache
def _networks(proxies: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in proxies]


# Default management ports, one per service so that all four can run on one host.
MANAGEMENT_PORTS = {"gateway": 9180, "request-processor": 9181, "notifier": 9182, "token-delivery": 9183}


def describe_invalid(exc: ValidationError) -> str:
    """Why the settings are invalid, on one line, naming each variable."""
    parts = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        variable = "_".join(str(part) for part in error["loc"]).upper()
        parts.append(f"CIBA_{variable}: {message}" if variable else message)
    return "; ".join(parts)
