"""``fcm``: a push message to each of the user's registered devices through Firebase Cloud
Messaging (HTTP v1 API).

Configuration::

    {"notifier": ["fcm", "email"],
     "fcm": {"service_account": {...the Google service-account JSON...},
             "project_id": "...",                      # optional, else the service account's
             "api_base": "https://fcm.googleapis.com",  # optional
             "token_uri": "https://oauth2.googleapis.com/token",  # optional, else the account's
             "timeout": 10}}                            # seconds per HTTP call, optional

Access tokens come from Google's service-account flow (RFC 7523): a JWT signed RS256 with the
account's private key is exchanged at ``token_uri`` for an access token, which is cached in
the plugin instance (one per notifier process) until a minute before it expires; concurrent
notifications wait for one refresh. Each device gets one ``messages:send`` call carrying
``authorization_url``, ``binding_message``, ``client_name``, ``notification_id`` and
``expires_at`` as (string) data plus a visible notification.

Outcome: sent when at least one device accepted. Devices FCM calls dead (``UNREGISTERED``, or
``INVALID_ARGUMENT`` about the registration token) are named in ``unregistered_devices``. A
401 drops the cached access token, refreshes it and retries that device once. 429, 5xx,
timeouts and connection errors are retried (by the notifier, with back-off); no registered
device, only dead devices, refused credentials and other client errors are final. Access
tokens, the private key and device tokens never reach the log: devices are logged by id.

Modules: ``settings`` (this configuration), ``errors`` (what can go wrong, FCM's answers
included), ``client`` (the access token and the ``messages:send`` call), ``notifier`` (the
plugin).
"""

from services.notifier.plugins.fcm.client import SCOPE, message_for, sign_assertion
from services.notifier.plugins.fcm.errors import FcmConfigError, FcmError, TokenError
from services.notifier.plugins.fcm.notifier import FcmNotifier, summarise
from services.notifier.plugins.fcm.settings import (
    DEFAULT_API_BASE,
    DEFAULT_TIMEOUT_SEC,
    DEFAULT_TOKEN_URI,
    FcmSettings,
    settings_from,
)

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_TIMEOUT_SEC",
    "DEFAULT_TOKEN_URI",
    "SCOPE",
    "FcmConfigError",
    "FcmError",
    "FcmNotifier",
    "FcmSettings",
    "TokenError",
    "message_for",
    "settings_from",
    "sign_assertion",
    "summarise",
]
