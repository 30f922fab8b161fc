"""Rules for URLs that clients register and the server will call."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_HOSTS = {"localhost"}


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_callback_url(url: str, *, development: bool) -> str | None:
    """Why a client notification endpoint is refused, or None when it is acceptable:
    an absolute https URL without a fragment or credentials; plain http only on loopback in
    development."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return "is not a valid URL"
    if not host or parts.scheme not in ("https", "http"):
        return "must be an absolute https URL"
    if parts.fragment:
        return "must not contain a fragment"
    if parts.username or parts.password:
        return "must not contain credentials"
    if parts.scheme == "http" and not (development and is_loopback_host(host)):
        return "must use https (plain http is allowed only on loopback in development)"
    return None
