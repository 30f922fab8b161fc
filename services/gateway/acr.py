"""Authentication context classes the device pages can satisfy (docs/architecture.md, "Interfaces others rely on").

- ``pwd``: the user's password.
- ``mfa``: the password plus a TOTP code from the user's authenticator app.

The level reached is recorded on the request at its decision and becomes the id_token's
``acr`` claim (OIDC Core 2).
"""

from __future__ import annotations

PASSWORD = "pwd"
MFA = "mfa"
ACR_VALUES_SUPPORTED = (PASSWORD, MFA)


def required_level(acr_values: list[str] | None) -> str:
    """The level a request's pages must authenticate to: the first supported value of its
    ``acr_values`` (CIBA Core 7.1: "in order of preference"), ``pwd`` when none were asked for.

    /bc-authorize refuses a list without a supported value, so one is always found for a
    stored request; a list that has none is a programming error.
    """
    if not acr_values:
        return PASSWORD
    for value in acr_values:
        if value in ACR_VALUES_SUPPORTED:
            return value
    raise ValueError("none of the acr_values is supported")
