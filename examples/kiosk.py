#!/usr/bin/env python3
"""A kiosk that signs a user in with CIBA and greets them by name.

    CIBA_CLIENT_ID=... CIBA_CLIENT_SECRET=... python examples/kiosk.py http://127.0.0.1:8080 alice@example.com

The kiosk shows a short random binding message; the same message appears on the user's phone,
so they can tell this sign-in from any other before they approve it (CIBA Core 7.1). The
client is a poll-mode client using client_secret_basic (register one as in the README's
walk-through). The secret comes from the environment, never the command line, where other
users of the machine could read it in the process list.

It uses the library's synchronous wrapper: a kiosk script has no event loop of its own.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

from ciba_client import AccessDenied, CibaError, ClientSecretBasic, ExpiredToken, SyncCibaClient

# Letters and digits that cannot be mistaken for one another on a screen (no 0/O, 1/I/L).
UNAMBIGUOUS = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def binding_message() -> str:
    return "Kiosk " + "".join(secrets.choice(UNAMBIGUOUS) for _ in range(4))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Sign a user in with CIBA and print their name.")
    parser.add_argument("issuer", help="the provider's issuer URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("login_hint", help="who is signing in: username, email or phone number")
    parser.add_argument("--client-id", default=os.environ.get("CIBA_CLIENT_ID"),
                        help="the kiosk's client_id (default: $CIBA_CLIENT_ID)")
    parser.add_argument("--expiry", type=int, default=120, help="seconds the user has to approve")
    args = parser.parse_args()
    args.client_secret = os.environ.get("CIBA_CLIENT_SECRET")
    if not args.client_id or not args.client_secret:
        parser.error("set CIBA_CLIENT_ID (or --client-id) and CIBA_CLIENT_SECRET")
    return args


def main() -> int:
    args = arguments()
    message = binding_message()
    with SyncCibaClient.discover(args.issuer, client_id=args.client_id,
                                 auth=ClientSecretBasic(args.client_secret)) as kiosk:
        try:
            request = kiosk.start(scope="openid profile", login_hint=args.login_hint, binding_message=message,
                                  requested_expiry=args.expiry)
            print(f"Check your phone: approve the sign-in showing \"{message}\".", flush=True)
            tokens = kiosk.wait(request)
            # The id_token names the user (sub); their name is released by userinfo (profile scope).
            claims = kiosk.userinfo(tokens.access_token, expected_sub=tokens.claims["sub"])
        except AccessDenied:
            print("Sign-in denied.", flush=True)
            return 1
        except ExpiredToken:
            print("Sign-in timed out.", flush=True)
            return 1
        except CibaError as exc:
            print(f"Sign-in failed: {exc}", file=sys.stderr, flush=True)
            return 2
    name = claims.get("name") or claims.get("preferred_username") or claims["sub"]
    print(f"Signed in: {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
