"""A local stand-in for Google's OAuth token endpoint and the FCM HTTP v1 ``messages:send``.

``POST /token`` verifies the service-account assertion (RS256 signature with the public key
of an account the fake knows, iss/aud/scope/iat/exp) and issues an access token;
``POST /v1/projects/{project}/messages:send`` accepts only a Bearer token it issued and that
is unexpired, records the message and answers as scripted per device token::

    fake.answers["tok-dead"] = "UNREGISTERED"          # every time
    fake.answers["tok-busy"] = 503
    fake.answers["tok-flaky"] = [503, 200]             # in turn, then 200
    fake.answers["tok-odd"] = (400, {"error": {...}})  # a raw answer

Errors are shaped like FCM's (error.code/status/details with a FcmError errorCode).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tests.support.local_server import serve, unverified_jws

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

# errorCode -> (HTTP status, canonical status), as FCM answers them.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL"),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED"),
}
STATUS_CODES: dict[int, str] = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE",
}

Answer = int | str | tuple[int, dict[str, Any]]


def fcm_error(http_status: int, status: str, message: str, error_code: str | None = None,
              bad_field: str | None = None) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if error_code is not None:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    if bad_field is not None:
        details.append({"@type": BAD_REQUEST_TYPE,
                        "fieldViolations": [{"field": bad_field, "description": message}]})
    error: dict[str, Any] = {"code": http_status, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def scripted(answer: Answer) -> tuple[int, dict[str, Any]] | None:
    """The HTTP status and body of a scripted answer; None for success."""
    if isinstance(answer, tuple):
        return answer
    if isinstance(answer, str):
        if answer == "UNAUTHENTICATED":
            return 401, fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        http_status, status = ERROR_CODES[answer]
        message = ("The registration token is not a valid FCM registration token"
                   if answer == "INVALID_ARGUMENT" else f"{answer.lower().replace('_', ' ')}")
        return http_status, fcm_error(http_status, status, message, answer)
    if 200 <= answer < 300:
        return None
    code = STATUS_CODES.get(answer, "UNKNOWN")
    if answer == 401:
        return 401, fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    if code == "QUOTA_EXCEEDED":
        return answer, fcm_error(answer, "RESOURCE_EXHAUSTED", "quota exceeded", "QUOTA_EXCEEDED")
    return answer, fcm_error(answer, code, code.lower(), code if code in ERROR_CODES else None)


def generate_service_account(token_uri: str, *, project_id: str = "ciba-test",
                             client_email: str | None = None) -> tuple[dict[str, Any], rsa.RSAPublicKey]:
    """A service-account JSON (as Google's console downloads it) with a fresh RSA key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    email = client_email or f"notifier-{secrets.token_hex(4)}@{project_id}.iam.gserviceaccount.com"
    account = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    return account, private.public_key()


@dataclass
class SentMessage:
    project: str
    device_token: str
    message: dict[str, Any]
    access_token: str


@dataclass
class Issued:
    client_email: str
    expires_at: float


@dataclass
class FakeFcm:
    token_lifetime: int = 3600
    """expires_in of the access tokens it issues."""
    token_delay: float = 0.0
    """Seconds the token endpoint takes to answer (lets concurrent callers overlap)."""
    send_delay: float = 0.0
    answers: dict[str, Answer | list[Answer]] = field(default_factory=dict)
    """Scripted answers per device token: one (every time) or a list (in turn, then 200)."""
    port: int = 0
    accounts: dict[str, tuple[str, rsa.RSAPublicKey]] = field(default_factory=dict)
    """client_email -> (private_key_id, public key)."""
    issued: dict[str, Issued] = field(default_factory=dict)
    tokens_issued: int = 0
    issued_tokens: list[str] = field(default_factory=list)
    """Every access token it ever issued (revoked or not)."""
    token_requests: int = 0
    token_refusals: list[str] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    attempts: list[tuple[str, int]] = field(default_factory=list)
    """Every messages:send call as (device token, HTTP status answered)."""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # -- set-up ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def service_account(self, project_id: str = "ciba-test", client_email: str | None = None) -> dict[str, Any]:
        """A fresh service account this fake trusts."""
        account, public = generate_service_account(self.token_uri, project_id=project_id,
                                                   client_email=client_email)
        self.accounts[account["client_email"]] = (account["private_key_id"], public)
        return account

    def config(self, account: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """The plugin's configuration pointing at this fake."""
        return {"service_account": account, "api_base": self.base_url, "token_uri": self.token_uri,
                "timeout": 5, **extra}

    def expire_all(self) -> None:
        for issued in self.issued.values():
            issued.expires_at = 0.0

    def revoke_all(self) -> None:
        self.issued.clear()

    def sent_to(self, device_token: str) -> list[SentMessage]:
        return [m for m in self.sent if m.device_token == device_token]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        self._runner, self.port = await serve(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the token endpoint ----------------------------------------------------------------

    def _refuse(self, reason: str, status: int = 400, error: str = "invalid_grant") -> web.Response:
        self.token_refusals.append(reason)
        return web.json_response({"error": error, "error_description": reason}, status=status)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return self._refuse("unsupported grant_type", error="unsupported_grant_type")
        assertion = form.get("assertion")
        if not isinstance(assertion, str):
            return self._refuse("no assertion", error="invalid_request")
        unverified = unverified_jws(assertion)
        if unverified is None or unverified[0].get("alg") != "RS256":
            return self._refuse("Invalid JWT.")
        header, unverified_claims = unverified
        known = self.accounts.get(str(unverified_claims.get("iss")))
        if known is None:
            return self._refuse("Invalid JWT Signature.")  # Google: unknown account, same answer
        key_id, public = known
        if header.get("kid") != key_id or header.get("typ") != "JWT":
            return self._refuse("Invalid JWT: kid or typ")
        try:
            token = jwt.decode(assertion, RSAKey.import_key(public), algorithms=["RS256"])
        except (JoseError, ValueError):
            return self._refuse("Invalid JWT Signature.")
        claims = token.claims
        now = time.time()
        if claims.get("aud") != self.token_uri:
            return self._refuse("Invalid JWT: aud")
        if claims.get("scope") != SCOPE:
            return self._refuse("Invalid OAuth scope or ID token audience provided.", error="invalid_scope")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return self._refuse("Invalid JWT: iat/exp")
        if exp <= now or iat > now + 60 or exp - iat > 3600:
            return self._refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                                "reasonable timeframe.")
        access_token = "ya29.fake-" + secrets.token_urlsafe(32)
        self.issued[access_token] = Issued(str(claims["iss"]), time.monotonic() + self.token_lifetime)
        self.tokens_issued += 1
        self.issued_tokens.append(access_token)
        return web.json_response({"access_token": access_token, "expires_in": self.token_lifetime,
                                  "token_type": "Bearer"})

    # -- messages:send ---------------------------------------------------------------------

    def _next_answer(self, device_token: str) -> Answer:
        script = self.answers.get(device_token, 200)
        if isinstance(script, list):
            return script.pop(0) if script else 200
        return script

    async def _send(self, request: web.Request) -> web.Response:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        authorization = request.headers.get("Authorization", "")
        access_token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
        issued = self.issued.get(access_token)
        try:
            payload = json.loads(await request.read())
            message = payload["message"]
            device_token = message["token"]
        except (ValueError, KeyError, TypeError):
            return web.json_response(fcm_error(400, "INVALID_ARGUMENT", "Recipient of the message is not set.",
                                               "INVALID_ARGUMENT", "message"), status=400)
        if issued is None or issued.expires_at <= time.monotonic():
            self.attempts.append((device_token, 401))
            return web.json_response(fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication "
                                               "credentials. Expected OAuth 2 access token."), status=401)
        for index, value in enumerate((message.get("data") or {}).values()):
            if not isinstance(value, str):  # FCM's answer to a non-string data value
                self.attempts.append((device_token, 400))
                text = f"Invalid value at 'message.data[{index}].value' (TYPE_STRING)"
                return web.json_response(fcm_error(400, "INVALID_ARGUMENT", text, None,
                                                   f"message.data[{index}].value"), status=400)
        answer = scripted(self._next_answer(device_token))
        if answer is not None:
            self.attempts.append((device_token, answer[0]))
            return web.json_response(answer[1], status=answer[0])
        project = request.match_info["project"]
        self.attempts.append((device_token, 200))
        self.sent.append(SentMessage(project, device_token, message, access_token))
        return web.json_response({"name": f"projects/{project}/messages/{next(self._ids)}"})
