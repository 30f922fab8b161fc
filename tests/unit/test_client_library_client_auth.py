"""The relying-party library's client authentication (RFC 7523) without the stack: private_key_jwt
and client_secret_jwt assertions for the issuer or the endpoint, and client_secret_basic
encoding both parts and keeping the secret out of repr."""

from __future__ import annotations

import base64
from typing import Any

from ciba_client import ClientKey, ClientSecretBasic, ClientSecretJwt, PrivateKeyJwt
from joserfc import jwt
from joserfc.jwk import OctKey

from tests.unit.client_library_support import CLIENT_ID, ISSUER

# Client authentication (RFC 7523).

def _claims(token: str, key: Any, alg: str) -> dict[str, Any]:
    return dict(jwt.decode(token, key, algorithms=[alg]).claims)


def test_private_key_jwt_sends_a_fresh_single_use_assertion_for_the_issuer() -> None:
    key = ClientKey.generate("ES256")
    forms: list[dict[str, str]] = []
    for _ in range(2):
        form: dict[str, str] = {}
        PrivateKeyJwt(key).apply(CLIENT_ID, issuer=ISSUER, endpoint=f"{ISSUER}/token", form=form, headers={})
        forms.append(form)
    assert forms[0]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    first, second = (_claims(f["client_assertion"], key.key, "ES256") for f in forms)
    assert first["iss"] == first["sub"] == CLIENT_ID and first["aud"] == ISSUER
    assert 0 < first["exp"] - first["iat"] <= 300
    assert first["jti"] != second["jti"]


def test_client_secret_jwt_can_name_the_endpoint_as_audience() -> None:
    form: dict[str, str] = {}
    ClientSecretJwt("a-client-secret-long-enough-for-hs512", alg="HS512", audience="endpoint").apply(
        CLIENT_ID, issuer=ISSUER, endpoint=f"{ISSUER}/bc-authorize", form=form, headers={})
    claims = _claims(form["client_assertion"], OctKey.import_key(b"a-client-secret-long-enough-for-hs512"), "HS512")
    assert claims["aud"] == f"{ISSUER}/bc-authorize"


def test_client_secret_basic_form_encodes_both_parts_and_keeps_the_secret_out_of_repr() -> None:
    headers: dict[str, str] = {}
    auth = ClientSecretBasic("p:ss w%rd")
    auth.apply("id:1", issuer=ISSUER, endpoint=ISSUER, form={}, headers=headers)
    assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == b"id%3A1:p%3Ass%20w%25rd"
    assert "p:ss" not in repr(auth)
