"""DPoP proofs (services/gateway/dpop_proof.py, dpop_nonce.py, dpop.py) checked with an
in-memory ledger of proofs seen: each rule of RFC 9449 4.3, replay, the server's nonce and the
binding at /token. tests/integration/test_dpop.py proves the same over HTTP, with Postgres."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.fernet import Fernet
from multidict import CIMultiDict

from services.gateway import dpop
from services.gateway.dpop_nonce import NONCE, current_nonce
from services.gateway.dpop_proof import ProofCheck, verify_proof
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain.auth_request import DeliveryMode
from shared.errors import ProtocolError
from shared.repositories.clients import CIBA_GRANT, Client
from tests.support.dpop import DpopKey

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
TOKEN_URL = "https://as.example.com/token"
USERINFO_URL = "https://as.example.com/userinfo"
SECRETS = Secrets(Fernet.generate_key())
KEY = DpopKey()
IAT = NOW.timestamp()


class FakeSeenProofs:
    def __init__(self) -> None:
        self.seen: set[tuple[str, bytes]] = set()

    async def use(self, jkt: str, jti_hash: bytes, expires_at: datetime) -> bool:
        if (jkt, jti_hash) in self.seen:
            return False
        self.seen.add((jkt, jti_hash))
        return True


def check(seen: FakeSeenProofs | None = None, **config: object) -> ProofCheck:
    return ProofCheck(ServerConfig().model_copy(update=config), NOW, SECRETS, seen or FakeSeenProofs())


async def verified(proof: str, the_check: ProofCheck | None = None, *, method: str = "POST", htu: str = TOKEN_URL,
                   resource: bool = False, access_token: str | None = None, jkt: str | None = None) -> str:
    """The proof's key thumbprint, or the error code and description it is refused with."""
    request = make_mocked_request(method, "/token")
    try:
        proof_ = await verify_proof(request, proof, the_check or check(), htu=htu, resource=resource,
                                    access_token=access_token, jkt=jkt)
    except ProtocolError as error:
        return f"{error.error}: {error.description}"
    return proof_.jkt


@pytest.mark.parametrize(("situation", "proof", "expected"), [
    ("a valid proof", KEY.proof("POST", TOKEN_URL, iat=IAT), KEY.jkt),
    ("htu with a query, default port and other case", KEY.proof("POST", "HTTPS://AS.example.com:443/token?x=1",
                                                              iat=IAT), KEY.jkt),
    ("not a JWS", "not-a-proof", "invalid_dpop_proof: the DPoP proof is not a compact JWS"),
    ("another typ", KEY.proof("POST", TOKEN_URL, iat=IAT, header={"typ": "JWT"}),
     "invalid_dpop_proof: the DPoP proof's typ must be dpop+jwt"),
    ("a private key in jwk", KEY.proof("POST", TOKEN_URL, iat=IAT, header={"jwk": KEY.key.as_dict(private=True)}),
     "invalid_dpop_proof: the jwk header must hold a public key only"),
    ("signed by another key", KEY.proof("POST", TOKEN_URL, iat=IAT, signer=DpopKey().key),
     "invalid_dpop_proof: the DPoP proof's signature does not verify with its jwk"),
    ("no jti", KEY.proof("POST", TOKEN_URL, iat=IAT, drop=("jti",)), "invalid_dpop_proof: the DPoP proof needs a jti"),
    ("another method", KEY.proof("GET", TOKEN_URL, iat=IAT), "invalid_dpop_proof: the DPoP proof's htm must be POST"),
    ("another URL", KEY.proof("POST", USERINFO_URL, iat=IAT),
     f"invalid_dpop_proof: the DPoP proof's htu must be {TOKEN_URL}"),
    ("no iat", KEY.proof("POST", TOKEN_URL, iat=IAT, drop=("iat",)),
     "invalid_dpop_proof: the DPoP proof needs a numeric iat"),
    ("issued in the future", KEY.proof("POST", TOKEN_URL, iat=IAT + 60),
     "invalid_dpop_proof: the DPoP proof was issued in the future (iat)"),
    ("too old", KEY.proof("POST", TOKEN_URL, iat=IAT - 61),
     "invalid_dpop_proof: the DPoP proof is older than 60 seconds (iat)"),
])
async def test_each_rule_of_a_proof(situation: str, proof: str, expected: str) -> None:
    assert await verified(proof) == expected


async def test_a_proof_is_accepted_once() -> None:
    the_check, proof = check(FakeSeenProofs()), KEY.proof("POST", TOKEN_URL, iat=IAT)
    assert await verified(proof, the_check) == KEY.jkt
    assert await verified(proof, the_check) == "invalid_dpop_proof: the DPoP proof was already used (jti)"


@pytest.mark.parametrize(("nonce", "expected"), [
    (None, "use_dpop_nonce: the DPoP proof must carry the nonce this server gave (DPoP-Nonce)"),
    ("made-up", "use_dpop_nonce: the DPoP proof must carry the nonce this server gave (DPoP-Nonce)"),
    (current_nonce(SECRETS, NOW), KEY.jkt),
])
async def test_a_required_nonce(nonce: str | None, expected: str) -> None:
    proof = KEY.proof("POST", TOKEN_URL, iat=IAT, nonce=nonce)
    assert await verified(proof, check(dpopNonceRequired=True)) == expected


@pytest.mark.parametrize(("ath_of", "jkt", "expected"), [
    ("the-token", KEY.jkt, KEY.jkt),
    ("another-token", KEY.jkt, "invalid_dpop_proof: the DPoP proof's ath must be the hash of the access token"),
    ("the-token", DpopKey().jkt,
     "invalid_token: the DPoP proof is signed by another key than the token is bound to"),
])
async def test_at_a_resource_the_proof_is_for_the_token_and_its_key(ath_of: str, jkt: str, expected: str) -> None:
    proof = KEY.proof("GET", USERINFO_URL, iat=IAT, access_token=ath_of)
    assert await verified(proof, method="GET", htu=USERINFO_URL, resource=True, access_token="the-token",
                          jkt=jkt) == expected


def client(dpop_bound: bool) -> Client:
    return Client(client_id="c1", client_secret_hash=None, client_name=None,
                  token_endpoint_auth_method="private_key_jwt", grant_types=[CIBA_GRANT], scope=["openid"],
                  backchannel_token_delivery_mode=DeliveryMode.POLL, backchannel_client_notification_endpoint=None,
                  backchannel_authentication_request_signing_alg=None, backchannel_user_code_parameter=False,
                  id_token_signed_response_alg="PS256", metadata={"dpop_bound_access_tokens": dpop_bound},
                  created_at=NOW)


@pytest.mark.parametrize(("proofs", "dpop_bound", "expected"), [
    ([], False, None),
    ([KEY.proof("POST", TOKEN_URL, iat=IAT)], False, {"jkt": KEY.jkt}),
    ([], True, "invalid_dpop_proof: this client registered dpop_bound_access_tokens: send a DPoP proof"),
    ([KEY.proof("POST", TOKEN_URL, iat=IAT)] * 2, False, "invalid_dpop_proof: send exactly one DPoP header"),
])
async def test_the_binding_at_token(proofs: list[str], dpop_bound: bool, expected: object) -> None:
    request = make_mocked_request("POST", "/token", headers=CIMultiDict(("DPoP", proof) for proof in proofs))
    try:
        binding = await dpop.binding_at_token(request, check(), client(dpop_bound), htu=TOKEN_URL)
    except ProtocolError as error:
        assert f"{error.error}: {error.description}" == expected
        return
    assert (binding and binding.cnf) == expected
    assert binding is None or binding.token_type == "DPoP"


@pytest.mark.parametrize(("required", "offered"), [(False, None), (True, current_nonce(SECRETS, NOW))])
async def test_a_dpop_request_is_offered_the_nonce_while_one_is_required(required: bool, offered: str | None) -> None:
    request = make_mocked_request("POST", "/token", headers={"DPoP": KEY.proof("POST", TOKEN_URL, iat=IAT)})
    the_check = replace(check(), config=ServerConfig(dpopNonceRequired=required))
    try:
        await dpop.binding_at_token(request, the_check, client(False), htu=TOKEN_URL)
    except ProtocolError:
        pass  # without the nonce the proof is refused, and its answer carries the nonce to use
    assert request.get(NONCE) == offered
