"""Process settings (CIBA_*): what production insists on, what development lets go."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from shared.crypto import Secrets
from shared.settings import DEVELOPMENT_SECRET_KEY, Settings

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Only the variables a test sets itself."""
    for name in list(os.environ):
        if name.upper().startswith("CIBA_"):
            monkeypatch.delenv(name)


def test_production_is_the_default_env_and_refuses_to_start_without_a_secret_key():
    with pytest.raises(ValidationError, match="CIBA_SECRET_KEY is required"):
        Settings(issuer="https://as.example.com")


def test_production_requires_an_https_issuer():
    with pytest.raises(ValidationError, match="CIBA_ISSUER must be an https URL"):
        Settings(env="production", secret_key=KEY, issuer="http://as.example.com")


def test_production_with_a_key_and_an_https_issuer_is_accepted():
    settings = Settings(env="production", secret_key=KEY, issuer="https://as.example.com/")

    assert not settings.development
    assert settings.issuer == "https://as.example.com"
    assert settings.secret_key_bytes == KEY.encode()


@pytest.mark.parametrize("env", ["production", "development"])
@pytest.mark.parametrize(
    "bad_key",
    [
        "not-a-key",
        "c2hvcnQ=",  # base64 of 5 bytes
        "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2UtdG9vLWxvbmc=",  # 40 bytes
        "!!!!",
    ],
)
def test_malformed_secret_key_is_refused(env, bad_key):
    with pytest.raises(ValidationError, match="32 random bytes in url-safe base64"):
        Settings(env=env, secret_key=bad_key, issuer="https://as.example.com")


def test_secret_key_is_not_shown_in_the_settings_repr():
    assert KEY not in repr(Settings(env="production", secret_key=KEY, issuer="https://as.example.com"))


def test_development_works_without_a_key_over_plain_http():
    settings = Settings(env="development")

    assert settings.development
    assert settings.issuer == "http://127.0.0.1:8080"
    assert settings.secret_key_bytes == DEVELOPMENT_SECRET_KEY.encode()
    assert Secrets(settings.secret_key_bytes).decrypt(Secrets(settings.secret_key_bytes).encrypt("x")) == "x"


def test_documented_defaults():
    settings = Settings(env="development")

    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/ciba"
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.bus_namespace == "ciba"
    assert settings.log_format == "json"


def test_settings_are_read_from_ciba_environment_variables(monkeypatch):
    monkeypatch.setenv("CIBA_ENV", "development")
    monkeypatch.setenv("CIBA_ISSUER", "http://127.0.0.1:9000/")
    monkeypatch.setenv("CIBA_HTTP_PORT", "9000")
    monkeypatch.setenv("CIBA_BUS_NAMESPACE", "ciba_dev")
    monkeypatch.setenv("CIBA_LOG_FORMAT", "console")

    settings = Settings()

    assert settings.development
    assert settings.issuer == "http://127.0.0.1:9000"
    assert settings.http_port == 9000
    assert settings.bus_namespace == "ciba_dev"
    assert settings.log_format == "console"
    assert settings.secret_key is None


def test_production_from_the_environment_refuses_a_missing_key(monkeypatch):
    monkeypatch.setenv("CIBA_ISSUER", "https://as.example.com")

    with pytest.raises(ValidationError, match="CIBA_SECRET_KEY"):
        Settings()


def test_production_from_the_environment_refuses_a_malformed_key(monkeypatch):
    monkeypatch.setenv("CIBA_ISSUER", "https://as.example.com")
    monkeypatch.setenv("CIBA_SECRET_KEY", "too-short")

    with pytest.raises(ValidationError, match="CIBA_SECRET_KEY must be 32 random bytes"):
        Settings()


def test_production_from_the_environment_accepts_a_fernet_key(monkeypatch):
    monkeypatch.setenv("CIBA_ENV", "production")
    monkeypatch.setenv("CIBA_ISSUER", "https://as.example.com")
    monkeypatch.setenv("CIBA_SECRET_KEY", KEY)

    assert Settings().secret_key_bytes == KEY.encode()


@pytest.mark.parametrize(
    ("name", "value"),
    [("CIBA_ENV", "staging"), ("CIBA_LOG_FORMAT", "xml"), ("CIBA_HTTP_PORT", "70000"),
     ("CIBA_BUS_NAMESPACE", "has spaces")],
)
def test_out_of_range_environment_values_are_refused(monkeypatch, name, value):
    monkeypatch.setenv("CIBA_ENV", "development")
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        Settings()


def test_trusted_proxies_are_a_comma_separated_list_of_addresses_and_networks(monkeypatch):
    monkeypatch.setenv("CIBA_ENV", "development")
    monkeypatch.setenv("CIBA_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")
    assert [str(n) for n in Settings().trusted_proxy_networks] == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    monkeypatch.setenv("CIBA_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")
    with pytest.raises(ValidationError, match="'proxy.internal' is not an IP address or network"):
        Settings()


def test_argon2_and_password_check_settings(monkeypatch):
    monkeypatch.setenv("CIBA_ENV", "development")
    defaults = Settings()
    assert (defaults.argon2_time_cost, defaults.argon2_memory_kib, defaults.argon2_parallelism) == (3, 65536, 4)
    assert defaults.password_check_threads == (os.cpu_count() or 1)
    monkeypatch.setenv("CIBA_ARGON2_MEMORY_KIB", "8192")
    monkeypatch.setenv("CIBA_PASSWORD_CHECK_QUEUE", "0")
    changed = Settings()
    assert changed.argon2_params.memory_kib == 8192 and changed.password_check_queue == 0


def test_long_poll_holds_are_bounded_and_checked_against_the_descriptor_limit(monkeypatch):
    import resource

    from services.gateway.long_poll import DESCRIPTOR_HEADROOM, descriptors_short_by

    monkeypatch.setenv("CIBA_ENV", "development")
    assert Settings().long_poll_max_held == 1000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        assert descriptors_short_by(soft - DESCRIPTOR_HEADROOM) == 0
        assert descriptors_short_by(soft) == DESCRIPTOR_HEADROOM


def test_secret_settings_can_come_from_files(monkeypatch, tmp_path):
    """Docker and Kubernetes mount secrets as files: CIBA_<NAME>_FILE names one."""
    (tmp_path / "key").write_text(KEY + "\n")  # the newline `echo` leaves
    (tmp_path / "token").write_text("  operator-token\n")
    (tmp_path / "db").write_text("postgresql://ciba:s3cret@db:5432/ciba")
    monkeypatch.setenv("CIBA_SECRET_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("CIBA_ADMIN_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("CIBA_DATABASE_URL_FILE", str(tmp_path / "db"))
    settings = Settings(issuer="https://as.example.com")
    assert settings.secret_key_bytes == KEY.encode()
    assert settings.admin_token.get_secret_value() == "operator-token"
    assert settings.database_url == "postgresql://ciba:s3cret@db:5432/ciba"


def test_a_secret_set_twice_or_an_unreadable_file_is_refused_with_the_variable_named(monkeypatch, tmp_path):
    (tmp_path / "key").write_text(KEY)
    monkeypatch.setenv("CIBA_SECRET_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("CIBA_SECRET_KEY", KEY)
    with pytest.raises(ValidationError, match="CIBA_SECRET_KEY and CIBA_SECRET_KEY_FILE are both set"):
        Settings(issuer="https://as.example.com")
    monkeypatch.delenv("CIBA_SECRET_KEY")
    monkeypatch.setenv("CIBA_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match=r"CIBA_SECRET_KEY_FILE: cannot read .*missing: No such file"):
        Settings(issuer="https://as.example.com")


def test_every_setting_can_come_from_a_secrets_directory(monkeypatch, tmp_path):
    """CIBA_SECRETS_DIR: a Kubernetes Secret mounted as a volume, one file per key."""
    (tmp_path / "CIBA_SECRET_KEY").write_text(KEY)
    (tmp_path / "CIBA_ADMIN_TOKEN").write_text("from-the-mount")
    monkeypatch.setenv("CIBA_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("CIBA_ADMIN_TOKEN", "from-the-environment")  # the environment wins
    settings = Settings(issuer="https://as.example.com")
    assert settings.secret_key_bytes == KEY.encode()
    assert settings.admin_token.get_secret_value() == "from-the-environment"
