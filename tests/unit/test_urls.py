"""Which client notification endpoints (and jwks_uris) the server agrees to call."""

from __future__ import annotations

import pytest

from shared.urls import check_callback_url, is_loopback_host


@pytest.mark.parametrize("development", [False, True])
@pytest.mark.parametrize(
    "url",
    [
        "https://rp.example.com/cb",
        "https://rp.example.com:8443/ciba/notify?tenant=7",
        "https://RP.Example.COM/cb",
        "HTTPS://rp.example.com/cb",
        "https://[2001:db8::1]/cb",
    ],
)
def test_https_url_is_accepted(url, development):
    assert check_callback_url(url, development=development) is None


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/cb", "http://localhost/cb", "http://LOCALHOST:3000/cb", "http://[::1]:9000/cb",
     "http://127.10.0.3/cb"],
)
def test_plain_http_on_loopback_is_accepted_only_in_development(url):
    assert check_callback_url(url, development=True) is None
    assert "must use https" in check_callback_url(url, development=False)


@pytest.mark.parametrize(
    "url",
    ["http://rp.example.com/cb", "http://10.0.0.8/cb", "http://localhost.evil.example/cb",
     "http://127.0.0.1.nip.io/cb"],
)
@pytest.mark.parametrize("development", [False, True])
def test_plain_http_elsewhere_is_refused(url, development):
    assert "must use https" in check_callback_url(url, development=development)


@pytest.mark.parametrize("development", [False, True])
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://rp.example.com/cb#fragment", "must not contain a fragment"),
        ("https://user:pass@rp.example.com/cb", "must not contain credentials"),
        ("https://user@rp.example.com/cb", "must not contain credentials"),
        ("http://user:pass@127.0.0.1/cb", "must not contain credentials"),
        ("ftp://rp.example.com/cb", "must be an absolute https URL"),
        ("javascript:alert(1)", "must be an absolute https URL"),
        ("file:///etc/passwd", "must be an absolute https URL"),
        ("data:text/plain,hello", "must be an absolute https URL"),
        ("wss://rp.example.com/cb", "must be an absolute https URL"),
        ("/relative/path", "must be an absolute https URL"),
        ("//rp.example.com/cb", "must be an absolute https URL"),
        ("rp.example.com/cb", "must be an absolute https URL"),
        ("https://", "must be an absolute https URL"),
        ("", "must be an absolute https URL"),
        ("not a url at all", "must be an absolute https URL"),
        ("https://[::1/cb", "is not a valid URL"),
        ("https://rp.example.com:99999/cb", "is not a valid URL"),
        ("https://rp.example.com:port/cb", "is not a valid URL"),
    ],
)
def test_unacceptable_url_is_refused_with_a_reason(url, reason, development):
    assert check_callback_url(url, development=development) == reason


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.255.0.1", True), ("::1", True), ("[::1]", True),
     ("10.0.0.1", False), ("example.com", False), ("localhost.example.com", False), ("0.0.0.0", False)],
)
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback

