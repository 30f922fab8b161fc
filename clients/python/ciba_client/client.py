"""The relying party's side of CIBA Core 1.0: start an authentication request, then wait for
its outcome in the client's delivery mode, and refresh the tokens later.

``CibaClient`` owns an aiohttp session (unless given one) and is used as an async context
manager. Every token response's id_token is verified before it is handed out (see
ciba_client.tokens), so ``TokenResponse.claims`` can be trusted.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

import aiohttp

from ciba_client._http import get_json, parse_object, post_form
from ciba_client.auth import ClientAuth, PrivateKeyJwt
from ciba_client.authentication_request import (
    authentication_parameters,
    authentication_response,
    request_object,
    space_separated,
)
from ciba_client.discovery import ProviderMetadata, fetch_metadata
from ciba_client.errors import (
    CibaError,
    UnexpectedResponse,
)
from ciba_client.keys import ClientKey
from ciba_client.notifications import Expected, Notifications
from ciba_client.polling import DEFAULT_INTERVAL_SEC, PollSchedule, poll_until_decided
from ciba_client.tokens import DEFAULT_LEEWAY_SEC, Bindings, IssuerKeys, TokenResponse, verify_id_token

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DeliveryMode = Literal["poll", "ping", "push"]


@dataclass(eq=False)
class CibaRequest:
    """A started authentication request (CIBA Core 7.3). The auth_req_id is a credential of
    the client: it is kept out of ``repr``."""

    auth_req_id: str = field(repr=False)
    expires_in: int
    interval: int | None
    started_at: datetime
    delivery_mode: DeliveryMode
    _client: CibaClient = field(repr=False)
    _deadline: float = field(repr=False)  # monotonic
    _expected: Expected | None = field(default=None, repr=False)

    @property
    def expires_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.expires_in)

    async def wait(self, *, timeout: float | None = None) -> TokenResponse:
        return await self._client.wait(self, timeout=timeout)


class CibaClient:
    """A CIBA client of one provider.

    ``long_poll_wait``: every poll asks the token endpoint to hold it up to this many seconds
    (``Prefer: wait``, RFC 7240), and the answer comes the moment the user decides. A provider
    that does not hold polls ignores the preference (RFC 7240 2) and answers at once; the
    interval still spaces the polls. None turns it off.
    ``ping_fallback_sec``: a ping client polls this rarely in case a ping is lost.
    ``push_grace_sec``: how long past ``expires_in`` a push client waits for the push that
    reports the expiry before giving up by itself.
    """

    def __init__(self, metadata: ProviderMetadata, *, client_id: str, auth: ClientAuth,
                 delivery_mode: DeliveryMode = "poll", session: aiohttp.ClientSession | None = None,
                 signing_key: ClientKey | None = None, sign_requests: bool = False,
                 long_poll_wait: int | None = 30, ping_fallback_sec: float = 60.0, push_grace_sec: float = 10.0,
                 id_token_algs: Sequence[str] | None = None, leeway: int = DEFAULT_LEEWAY_SEC,
                 timeout: float = 30.0) -> None:
        if metadata.backchannel_token_delivery_modes_supported and not metadata.supports_mode(delivery_mode):
            raise ValueError(f"the provider does not offer the {delivery_mode} delivery mode")
        if auth.method not in metadata.token_endpoint_auth_methods_supported:
            raise ValueError(f"the provider does not accept {auth.method} client authentication")
        self.metadata = metadata
        self.client_id = client_id
        self.auth = auth
        self.delivery_mode = delivery_mode
        self.signing_key = signing_key or (auth.key if isinstance(auth, PrivateKeyJwt) else None)
        if sign_requests and self.signing_key is None:
            raise ValueError("sign_requests needs a signing_key (or private_key_jwt authentication)")
        self.sign_requests = sign_requests
        self.long_poll_wait = long_poll_wait
        self.ping_fallback_sec = ping_fallback_sec
        self.push_grace_sec = push_grace_sec
        self.id_token_algs = tuple(id_token_algs or metadata.id_token_signing_alg_values_supported)
        self.leeway = leeway
        self.timeout = timeout
        self.notifications = Notifications()
        self._session = session
        self._owns_session = session is None
        self.issuer_keys = IssuerKeys(metadata.jwks_uri, self._fetch_json)

    @classmethod
    async def discover(cls, issuer: str, *, client_id: str, auth: ClientAuth,
                       session: aiohttp.ClientSession | None = None, allow_http: bool = False,
                       **options: Any) -> CibaClient:
        """Read the provider's discovery document (its issuer must be ``issuer``) and build a client."""
        owned = session is None
        http = session or aiohttp.ClientSession()
        try:
            metadata = await fetch_metadata(http, issuer, allow_http=allow_http)
            client = cls(metadata, client_id=client_id, auth=auth, session=http, **options)
        except BaseException:
            if owned:
                await http.close()
            raise
        client._owns_session = owned
        return client

    async def __aenter__(self) -> CibaClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def _fetch_json(self, url: str) -> Mapping[str, Any]:
        return await get_json(self.http, url, timeout=self.timeout)

    async def _post(self, endpoint: str, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None,
                    timeout: float | None = None) -> tuple[int, str]:
        """POST to a provider endpoint with the client's credentials added."""
        sent_form, sent_headers = dict(form), dict(headers or {})
        self.auth.apply(self.client_id, issuer=self.metadata.issuer, endpoint=endpoint, form=sent_form,
                        headers=sent_headers)
        return await post_form(self.http, endpoint, sent_form, headers=sent_headers, timeout=timeout or self.timeout)

    async def _post_json(self, endpoint: str, form: Mapping[str, str], **kwargs: Any) -> dict[str, Any]:
        status, text = await self._post(endpoint, form, **kwargs)
        return parse_object(text, status=status, what=f"the answer from {endpoint}")

    # The authentication request (CIBA Core 7.1, 7.1.1, 7.3).

    async def start(self, *, scope: str | Sequence[str] = "openid", login_hint: str | None = None,
                    login_hint_token: str | None = None, id_token_hint: str | None = None,
                    binding_message: str | None = None, user_code: str | None = None,
                    requested_expiry: int | None = None, acr_values: str | Sequence[str] | None = None,
                    client_notification_token: str | None = None, ui_locales: str | None = None,
                    signed: bool | None = None, extra: Mapping[str, str] | None = None) -> CibaRequest:
        """Ask the provider to authenticate a user. ``signed`` (default: the client's
        ``sign_requests``) sends the parameters as a JWT signed with the client's key. Ping and
        push clients get a random ``client_notification_token`` unless they pass one."""
        params = authentication_parameters(
            scope=scope, login_hint=login_hint, login_hint_token=login_hint_token, id_token_hint=id_token_hint,
            binding_message=binding_message, user_code=user_code, requested_expiry=requested_expiry,
            acr_values=acr_values, ui_locales=ui_locales, extra=extra)
        expected = None
        if self.delivery_mode in ("ping", "push"):
            token = client_notification_token or secrets.token_urlsafe(32)
            params["client_notification_token"] = token
            # Registered before sending: a notification may overtake the provider's answer.
            expected = self.notifications.expect(token, time.monotonic() + (requested_expiry or 1800))
        sign = self.sign_requests if signed is None else signed
        form = {"request": self._request_object(params)} if sign else params
        sent_at, started_at = time.monotonic(), datetime.now(UTC)
        try:
            body = await self._post_json(self.metadata.backchannel_authentication_endpoint, form)
            auth_req_id, expires_in, interval = authentication_response(body)
        except BaseException:
            if expected is not None:
                self.notifications.drop(expected)
            raise
        if expected is not None:
            self.notifications.bind(expected, auth_req_id)
            expected.deadline = sent_at + expires_in
        return CibaRequest(auth_req_id, expires_in, interval, started_at, self.delivery_mode, self,
                           sent_at + expires_in, expected)

    def _request_object(self, params: Mapping[str, str]) -> str:
        if self.signing_key is None:
            raise ValueError("a signed authentication request needs the client's signing key")
        return request_object(params, key=self.signing_key, client_id=self.client_id, issuer=self.metadata.issuer)

    # The outcome (CIBA Core 10 and 11).

    async def wait(self, request: CibaRequest, *, timeout: float | None = None) -> TokenResponse:
        """The tokens once the user approved. Raises AccessDenied, ExpiredToken,
        TransactionFailed (or another CibaError); TimeoutError when ``timeout`` passes first
        (the request goes on: ``wait`` may be called again)."""
        async with asyncio.timeout(timeout):
            # The keys first: tokens are handed out once, and must not arrive unverifiable.
            await self.issuer_keys.keys()
            try:
                if request.delivery_mode == "push":
                    return await self._pushed(request)
                return await self._poll(request)
            except CibaError:
                self._forget(request)
                raise

    def _forget(self, request: CibaRequest) -> None:
        if request._expected is not None:
            self.notifications.drop(request._expected)

    async def _poll(self, request: CibaRequest) -> TokenResponse:
        ping = request.delivery_mode == "ping"
        schedule = PollSchedule(deadline=request._deadline, interval=request.interval or DEFAULT_INTERVAL_SEC,
                                spacing=self.ping_fallback_sec if ping else 0.0,
                                max_wait=None if ping else self.long_poll_wait)
        tokens = await poll_until_decided(lambda wait: self.token(request.auth_req_id, prefer_wait=wait), schedule,
                                          pinged=request._expected.pinged if request._expected else None)
        self._forget(request)
        return tokens

    async def _pushed(self, request: CibaRequest) -> TokenResponse:
        if request._expected is None:
            raise ValueError("this request was not started by this client in push mode")
        tokens = await request._expected.pushed(request._deadline + self.push_grace_sec)
        self._forget(request)
        return tokens

    async def token(self, auth_req_id: str, *, prefer_wait: int | None = None) -> TokenResponse:
        """One poll of the token endpoint with the CIBA grant (CIBA Core 10.1). Raises
        AuthorizationPending or SlowDown while the user has not decided."""
        headers = {"Prefer": f"wait={prefer_wait}"} if prefer_wait else {}
        body = await self._post_json(self.metadata.token_endpoint, {"grant_type": CIBA_GRANT,
                                                                    "auth_req_id": auth_req_id},
                                     headers=headers, timeout=self.timeout + (prefer_wait or 0))
        return await self.token_response(body)

    async def refresh(self, refresh_token: str, *, scope: str | Sequence[str] | None = None) -> TokenResponse:
        """RFC 6749 6. Providers that rotate refresh tokens answer a new one: keep it."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope is not None:
            form["scope"] = space_separated(scope)
        return await self.token_response(await self._post_json(self.metadata.token_endpoint, form))

    async def token_response(self, body: Mapping[str, Any], *, push: bool = False) -> TokenResponse:
        """A token response with its id_token verified (and, for a push, bound to the
        access token, the refresh token and the auth_req_id)."""
        fields = TokenResponse.parse(body)
        if push and not fields["auth_req_id"]:
            raise UnexpectedResponse("the push carries no auth_req_id")
        claims: dict[str, Any] = {}
        if fields["id_token"] is not None:
            claims = await self.verify_id_token(
                fields["id_token"], bindings=Bindings(fields["access_token"], fields["refresh_token"],
                                                      fields["auth_req_id"] if push else None, push=push))
        elif push:
            raise UnexpectedResponse("the push carries no id_token")
        return TokenResponse(claims=claims, **fields)

    async def verify_id_token(self, id_token: str, *, bindings: Bindings | None = None) -> dict[str, Any]:
        return await verify_id_token(id_token, keys=self.issuer_keys, issuer=self.metadata.issuer,
                                     client_id=self.client_id, algorithms=self.id_token_algs,
                                     bindings=bindings or Bindings(), leeway=self.leeway)

    # Other endpoints a relying party uses.

    async def userinfo(self, access_token: str, *, expected_sub: str | None = None) -> dict[str, Any]:
        """OIDC Core 5.3. ``expected_sub`` (the id_token's sub) must match (5.3.2)."""
        if self.metadata.userinfo_endpoint is None:
            raise ValueError("the provider has no userinfo_endpoint")
        claims = await get_json(self.http, self.metadata.userinfo_endpoint, timeout=self.timeout,
                                headers={"Authorization": f"Bearer {access_token}"})
        if expected_sub is not None and claims.get("sub") != expected_sub:
            raise UnexpectedResponse("the userinfo sub is not the id_token's sub")
        return claims

    async def revoke(self, token: str, *, token_type_hint: str | None = None) -> None:
        """RFC 7009: the provider answers the same whether or not there was anything to revoke."""
        if self.metadata.revocation_endpoint is None:
            raise ValueError("the provider has no revocation_endpoint")
        form = {"token": token, **({"token_type_hint": token_type_hint} if token_type_hint else {})}
        await self._post(self.metadata.revocation_endpoint, form)

    async def introspect(self, token: str, *, token_type_hint: str | None = None) -> dict[str, Any]:
        """RFC 7662: ``{"active": false}`` for anything the client may not see."""
        if self.metadata.introspection_endpoint is None:
            raise ValueError("the provider has no introspection_endpoint")
        form = {"token": token, **({"token_type_hint": token_type_hint} if token_type_hint else {})}
        return await self._post_json(self.metadata.introspection_endpoint, form)

