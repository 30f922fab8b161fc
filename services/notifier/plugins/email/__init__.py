"""``email``: sends the sign-in request to the user's email address over SMTP (aiosmtplib).

Configuration (the ``email`` section of ``cibaEndUserNotificationConfig``)::

    {"notifier": "email",
     "email": {"host": "smtp.example.com", "port": 587, "from": "CIBA <no-reply@example.com>",
               "username": "ciba", "password": "...", "starttls": true, "tls": false,
               "ca_file": null, "timeout": 10, "subject": "Sign-in request from {client_name}"}}

- ``host`` and ``from`` are required; ``port`` defaults to 587 (465 with ``tls``).
- ``starttls`` (default true): the connection must be upgraded with STARTTLS before anything
  else is said; a server that does not offer it is a failure, never a reason to send in clear.
  ``tls`` (default false) connects with implicit TLS instead (port 465 style). With both off
  the message goes in clear (a relay on the same host), and credentials are then refused:
  ``username``/``password`` are only ever sent over TLS.
- The server's certificate is always verified, against the system's CAs plus ``ca_file``
  when given. ``timeout`` (seconds) bounds each SMTP step.
- ``subject`` may use ``{client_name}`` and ``{username}``.

The recipient is the user's ``email``; a user without one is a permanent failure. The message
is multipart/alternative (text and HTML, every value HTML-escaped in the HTML part) with the
client's name, the binding message, the scopes, the expiry and the authorization URL.

Outcome: the server accepting the message is success. A 5xx refusal (sender, recipient, data)
and an authentication failure are permanent; 4xx answers, refused connections, disconnects and
timeouts are retried. A missing STARTTLS, a certificate that does not verify and a bad
configuration are permanent too: retrying cannot fix them. Logs name the recipient's domain
only; the password and the authorization URL are never logged, nor put in the result's detail.

Modules: ``settings`` (this configuration), ``message`` (what the user receives), ``notifier``
(the plugin, and the SMTP conversation).
"""

from services.notifier.plugins.email.message import build_message, html_body, text_body
from services.notifier.plugins.email.notifier import EmailNotifier
from services.notifier.plugins.email.settings import ConfigError, EmailSettings, settings_from

__all__ = ["ConfigError", "EmailNotifier", "EmailSettings", "build_message", "html_body", "settings_from",
           "text_body"]
