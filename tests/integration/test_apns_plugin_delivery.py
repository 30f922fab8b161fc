"""The ``apns`` notification plugin against a local fake of Apple's provider API that speaks the
real protocol: HTTP/2 over TLS, ES256 provider tokens (README, "End-user notification"). What is
delivered: an alert to each registered device with APNs's headers and the request's payload,
authorized by a provider token naming the key and the team. No database or broker needed."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import ECKey

from tests.integration.apns_support import clocks as clocks  # pytest fixture
from tests.integration.apns_support import context
from tests.integration.apns_support import fake as fake  # pytest fixture
from tests.integration.apns_support import key as key  # pytest fixture
from tests.integration.apns_support import pki as pki  # pytest fixture
from tests.integration.apns_support import plugin as plugin  # pytest fixture
from tests.support.fake_apns import DEFAULT_TOPIC
from tests.support.notification_context import EXPIRES_AT, NOTIFICATION_ID, device

# -- delivering --------------------------------------------------------------------------


async def test_delivers_an_alert_to_each_registered_device_over_http2(fake, key, plugin, clocks):
    ctx = context(fake.config(key), [device("tok-phone"), device("tok-tablet")])

    result = await plugin.notify(ctx)

    assert result.ok, result
    assert result.unregistered_devices == ()
    assert sorted(n.device_token for n in fake.notifications) == ["tok-phone", "tok-tablet"]
    # Really HTTP/2 over TLS: ALPN chose h2 and both requests were streams of one connection.
    assert [(c.alpn, c.tls_version in ("TLSv1.2", "TLSv1.3")) for c in fake.connections] == [("h2", True)]
    assert {(n.http_version, n.alpn, n.connection) for n in fake.notifications} == {("HTTP/2", "h2", 1)}
    assert len({n.stream_id for n in fake.notifications}) == 2
    sent = fake.to("tok-phone")[0]
    assert sent.headers["authorization"] == f"bearer {fake.provider_tokens[0]}"
    assert {k: v for k, v in sent.headers.items() if k.startswith("apns-")} == {
        "apns-topic": DEFAULT_TOPIC,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int(EXPIRES_AT.timestamp())),
        "apns-collapse-id": NOTIFICATION_ID,
    }
    assert sent.headers["content-type"] == "application/json"
    assert sent.payload == {
        "aps": {"alert": {"title": "Sign-in request", "body": "Shop asks you to sign in: Pay 42 EUR"},
                "sound": "default"},
        "authorization_url": "https://as.example.com/device/Zm9vYmFy",
        "notification_id": NOTIFICATION_ID,
        "binding_message": "Pay 42 EUR",
        "client_name": "Shop",
        "expires_at": "2030-01-02T03:04:05Z",
    }


async def test_without_a_binding_message_the_payload_and_the_text_leave_it_out(fake, key, plugin):
    assert (await plugin.notify(context(fake.config(key), [device("tok-phone")], binding_message=None))).ok

    [sent] = fake.notifications
    assert "binding_message" not in sent.payload
    assert sent.payload["aps"]["alert"]["body"] == "Shop asks you to sign in"


async def test_the_provider_token_is_an_es256_jwt_naming_the_key_and_the_team(fake, key, plugin, clocks):
    before = int(clocks.wall())
    assert (await plugin.notify(context(fake.config(key), [device("tok-phone")]))).ok

    [token] = fake.provider_tokens
    verified = jwt.decode(token, ECKey.import_key(key.public_key), algorithms=["ES256"])
    assert verified.header == {"alg": "ES256", "kid": key.key_id}
    assert verified.claims == {"iss": key.team_id, "iat": verified.claims["iat"]}
    assert before <= verified.claims["iat"] <= clocks.wall()
