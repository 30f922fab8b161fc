"""DPoP (RFC 9449): jti replay (11.1) at /token and /userinfo, also when a proof is sent twice at
once, per key, and forgotten by housekeeping once its iat refuses it; the server nonce (8, 9)
when it is required, and its lifetime."""

from __future__ import annotations

import asyncio

from services.gateway.dpop import NONCE_WINDOW_SEC
from services.request_processor import housekeeping
from tests.integration.dpop_support import TOKEN_URL, USERINFO_URL, _approved, _bound_tokens, _now, _token, _userinfo
from tests.support.dpop import DpopKey
from tests.support.gateway_client import register, server_property

# --- Replay (RFC 9449 11.1) -----------------------------------------------------------------------------


async def test_a_replayed_proof_is_refused_at_token(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    proof = key.proof("POST", TOKEN_URL, iat=_now(gateway))
    first, body = await _token(http, client, proof)
    assert body["error"] == "invalid_grant"  # the proof passed
    again, body = await _token(http, client, proof)
    assert (again.status, body["error"]) == (400, "invalid_dpop_proof")
    assert "already used" in body["error_description"]


async def test_a_proof_sent_twice_at_once_is_accepted_once(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    proof = key.proof("POST", TOKEN_URL, iat=_now(gateway))
    answers = await asyncio.gather(*[_token(http, client, proof) for _ in range(4)])
    assert sorted(body["error"] for _, body in answers) == ["invalid_dpop_proof"] * 3 + ["invalid_grant"]


async def test_a_replayed_proof_is_refused_at_userinfo(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    token = (await _bound_tokens(http, gateway, client, key))["access_token"]
    proof = key.proof("GET", USERINFO_URL, iat=_now(gateway), access_token=token)
    first, _ = await _userinfo(http, gateway, key, token, proof=proof)
    again, body = await _userinfo(http, gateway, key, token, proof=proof)
    assert (first.status, again.status, body["error"]) == (200, 401, "invalid_dpop_proof")


async def test_the_same_jti_from_another_key_is_not_a_replay(http, gateway) -> None:
    client, mine, theirs = await register(http), DpopKey(), DpopKey()
    now = _now(gateway)
    first, body = await _token(http, client, theirs.proof("POST", TOKEN_URL, iat=now, jti="shared-jti"))
    second, other = await _token(http, client, mine.proof("POST", TOKEN_URL, iat=now, jti="shared-jti"))
    assert (body["error"], other["error"]) == ("invalid_grant", "invalid_grant")


async def test_housekeeping_forgets_proofs_once_their_iat_refuses_them(http, gateway, clock) -> None:
    client, key = await register(http), DpopKey()
    await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)))
    count = "SELECT count(*) FROM dpop_proofs WHERE jkt = $1"
    assert await gateway.rt.pool.fetchval(count, key.jkt) == 1
    clock.advance(gateway.rt.config.dpopProofMaxAgeSec + 1)
    await housekeeping.clean_once(gateway.rt.pool, clock.now())
    assert await gateway.rt.pool.fetchval(count, key.jkt) == 0


# --- The server nonce (RFC 9449 8, 9) ----------------------------------------------------------------


async def test_with_nonces_required_a_proof_without_one_gets_use_dpop_nonce_then_succeeds(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    auth_req_id = await _approved(http, gateway, client)
    async with server_property(gateway, "dpopNonceRequired", True):
        response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)),
                                      auth_req_id=auth_req_id)
        assert (response.status, body["error"]) == (400, "use_dpop_nonce")
        nonce = response.headers["DPoP-Nonce"]

        made_up, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce="x" * 43),
                                     auth_req_id=auth_req_id)
        assert body["error"] == "use_dpop_nonce"

        response, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce=nonce),
                                      auth_req_id=auth_req_id)
        assert response.status == 200 and body["token_type"] == "DPoP", body
        assert response.headers["DPoP-Nonce"]  # every answer to a DPoP request carries one
        token = body["access_token"]

        refused, body = await _userinfo(http, gateway, key, token)
        assert (refused.status, body["error"]) == (401, "use_dpop_nonce")
        assert 'error="use_dpop_nonce"' in refused.headers["WWW-Authenticate"]
        nonce = refused.headers["DPoP-Nonce"]
        proof = key.proof("GET", USERINFO_URL, iat=_now(gateway), access_token=token, nonce=nonce)
        accepted, _ = await _userinfo(http, gateway, key, token, proof=proof)
        assert accepted.status == 200 and accepted.headers["DPoP-Nonce"]


async def test_a_nonce_lasts_one_more_window_and_no_longer(http, gateway, clock) -> None:
    client, key = await register(http), DpopKey()
    async with server_property(gateway, "dpopNonceRequired", True):
        response, _ = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)))
        nonce = response.headers["DPoP-Nonce"]
        clock.advance(NONCE_WINDOW_SEC)
        _, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce=nonce))
        assert body["error"] == "invalid_grant"  # the previous window's nonce still passes
        clock.advance(NONCE_WINDOW_SEC)
        _, body = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway), nonce=nonce))
        assert body["error"] == "use_dpop_nonce"


async def test_without_nonces_required_no_nonce_is_handed_out(http, gateway) -> None:
    client, key = await register(http), DpopKey()
    response, _ = await _token(http, client, key.proof("POST", TOKEN_URL, iat=_now(gateway)))
    assert "DPoP-Nonce" not in response.headers
