"""Process settings, read once from the environment (prefix ``CIBA_``).

These are the knobs a process needs before it can reach the database. Everything an operator
tunes at run time (the server properties) lives in Postgres instead: see ``shared.config``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.passwords import Argon2Params

# A fixed key for development only: a production process refuses to start without its own.
DEVELOPMENT_SECRET_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U="


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIBA_", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/ciba"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    issuer: str = "http://127.0.0.1:8080"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    bus_namespace: str = Field(default="ciba", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    env: Literal["production", "development"] = "production"
    secret_key: SecretStr | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: str = "info"
    # The services' event loop: uvloop (faster socket I/O), or asyncio's own for debugging.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    # Seconds to open a database connection before the attempt counts as an outage.
    db_connect_timeout_sec: float = Field(default=5.0, gt=0, le=120)
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

    @field_validator("issuer")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
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
        if self.env == "production":
            if self.secret_key is None:
                raise ValueError("CIBA_SECRET_KEY is required when CIBA_ENV=production")
            if self.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY:
                raise ValueError("CIBA_SECRET_KEY is the published development key; generate your own")
            if not self.issuer.startswith("https://"):
                raise ValueError("CIBA_ISSUER must be an https URL when CIBA_ENV=production")
        if self.secret_key is not None:
            _check_fernet_key(self.secret_key.get_secret_value())
        return self

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def argon2_params(self) -> Argon2Params:
        return Argon2Params(self.argon2_time_cost, self.argon2_memory_kib, self.argon2_parallelism)

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(network, strict=False) for network in self.trusted_proxies]

    @property
    def secret_key_bytes(self) -> bytes:
        """The url-safe base64 Fernet key; the development key when none is set."""
        if self.secret_key is None:
            return DEVELOPMENT_SECRET_KEY.encode()
        return self.secret_key.get_secret_value().encode()


_FERNET_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=$")


def _check_fernet_key(value: str) -> None:
    if not _FERNET_KEY.match(value) or len(base64.urlsafe_b64decode(value)) != 32:
        raise ValueError(
            "CIBA_SECRET_KEY must be 32 random bytes in url-safe base64 "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
