"""``apns``: a push notification to each of the user's registered devices through the Apple
Push Notification service (the HTTP/2 provider API, token-based authentication).

Configuration::

    {"notifier": ["apns", "email"],
     "apns": {"team_id": "ABCDE12345",          # the 10-character Team ID
              "key_id": "XYZ9876543",           # the 10-character ID of the signing key
              "private_key": "-----BEGIN PRIVATE KEY-----\\n...",  # the .p8 file (stored sealed)
              "topic": "com.example.authenticator",  # the app's bundle ID
              "environment": "production",      # or "sandbox" (development builds); optional
              "host": "api.push.apple.com:443", # optional, overrides the environment's host
              "ca_file": "/etc/ssl/extra-ca.pem",  # optional CA trusted beside the system's
              "timeout": 10}}                   # seconds per HTTP/2 call, optional

Each device gets ``POST /3/device/{token}`` over one long-lived HTTP/2 connection (APNs speaks
nothing else, and asks providers to keep their connection open rather than reconnect). The
request carries ``authorization: bearer <provider token>``, a JWT signed ES256 with the key,
``{alg, kid}`` / ``{iss: team, iat}``. Apple refuses a token older than an hour and one renewed
more often than every 20 minutes, so the token is cached per key in the plugin instance (one per
notifier process) and renewed after 50 minutes; concurrent notifications wait for one signing.
The notification is a visible alert ("Sign-in request") whose payload also carries
``authorization_url``, ``notification_id``, ``client_name``, ``binding_message`` and
``expires_at``; ``apns-expiration`` is the request's expiry and ``apns-collapse-id`` its
notification_id, so a retried notification replaces rather than repeats itself.

Outcome: sent when at least one device accepted. Devices APNs calls dead (410; not a 400
``BadDeviceToken``, see ``errors.DEAD_DEVICE_REASONS``) are named in ``unregistered_devices``. A 403
``ExpiredProviderToken`` renews the provider token and retries that device once. 429, 5xx,
timeouts and connection errors are retried (by the notifier, with back-off); no registered
device, only dead devices, a refused provider token, an untrusted server certificate and other
client errors are final. The provider token, the key and device tokens never reach the log:
devices are logged by id, and the plugin, when made, has httpx's request log redact the token.

Modules: ``settings`` (this configuration), ``errors`` (what can go wrong, APNs's answers
included), ``client`` (the provider token, the request and the connection), ``notifier``
(the plugin).
"""

from services.notifier.plugins.apns.client import headers_for, payload_for, sign_provider_token
from services.notifier.plugins.apns.errors import ApnsConfigError, ApnsError
from services.notifier.plugins.apns.notifier import ApnsNotifier, summarise
from services.notifier.plugins.apns.settings import DEFAULT_TIMEOUT_SEC, ApnsSettings, settings_from

__all__ = [
    "DEFAULT_TIMEOUT_SEC",
    "ApnsConfigError",
    "ApnsError",
    "ApnsNotifier",
    "ApnsSettings",
    "headers_for",
    "payload_for",
    "settings_from",
    "sign_provider_token",
    "summarise",
]
