"""TLS on the gateway's own listener (CIBA_HTTP_TLS_CERT, CIBA_HTTP_TLS_KEY), and with
CIBA_HTTP_TLS_CLIENT_CA, mutual TLS: every client is asked for a certificate (optional, so
clients without one, and the device pages' browsers, still connect) and one that is sent must
chain to a CA of that bundle, or the handshake fails. services/gateway/mtls.py reads the
certificate of a request.

Python's ssl module asks for client certificates only while it verifies them: it has no
"request any certificate" mode (OpenSSL's verify callback is not exposed), so a self-signed
client certificate that is not in the bundle ends the handshake. Such clients
(``self_signed_tls_client_auth``) connect through a TLS-terminating proxy that asks for any
certificate and passes it on in CIBA_TLS_CLIENT_CERT_HEADER, or the operator adds their
certificate to the bundle (which makes it a trust anchor of this listener).
"""

from __future__ import annotations

import ssl

from shared.settings import Settings


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The listener's TLS context; None for plain HTTP. RuntimeError, naming the setting,
    when a file cannot be used."""
    if settings.http_tls_cert is None or settings.http_tls_key is None:
        return None
    # Not ssl.create_default_context(Purpose.CLIENT_AUTH): without a CA file it would trust
    # the system's public CAs for client certificates, and any of them could then vouch for
    # a tls_client_auth subject.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.http_tls_cert, settings.http_tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise RuntimeError(f"CIBA_HTTP_TLS_CERT / CIBA_HTTP_TLS_KEY: cannot use {settings.http_tls_cert} with "
                           f"{settings.http_tls_key}: {exc.strerror or exc}") from None
    if settings.http_tls_client_ca is not None:
        try:
            context.load_verify_locations(cafile=settings.http_tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise RuntimeError(f"CIBA_HTTP_TLS_CLIENT_CA: cannot use {settings.http_tls_client_ca}: "
                               f"{exc.strerror or exc}") from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
