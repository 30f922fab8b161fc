"""DPoP (RFC 9449): access tokens bound to a key the client proves it holds, request by request.

A client sends a DPoP proof, a JWT it signs with its key (the public key rides in the JWT's
``jwk`` header), in a ``DPoP`` header. At /token (:func:`binding_at_token`) a valid proof binds
the new access token to that key: ``cnf.jkt`` is the key's RFC 7638 thumbprint and the token
type is DPoP. At /userinfo (:func:`check_presenter`) a DPoP-bound token must come as
``Authorization: DPoP <token>`` with a proof of the same key that also carries ``ath``, the
hash of the token; a DPoP-bound token presented as a Bearer token is refused (RFC 9449 7.2).

A proof is checked as RFC 9449 4.3 lists: exactly one header, a compact JWS with
``typ: dpop+jwt``, an asymmetric ``alg`` of :data:`DPOP_ALGS`, a public ``jwk`` (no private
members) the signature verifies with, ``htm`` the request's method, ``htu`` the endpoint's URL
as the issuer names it (compared without query and fragment, after RFC 3986 normalisation),
``iat`` within dpopProofMaxAgeSec in the past and :data:`FUTURE_SKEW_SEC` in the future, and a
``jti`` not seen before for that key. Seen jtis are kept in Postgres (table ``dpop_proofs``):
every gateway replica refuses the replay of a proof another one accepted.

With the server property dpopNonceRequired (RFC 9449 8 and 9), a proof must also carry a
nonce the server handed out in a ``DPoP-Nonce`` header. A nonce is not stored: it is an HMAC,
under the master keys, of a time window of :data:`NONCE_WINDOW_SEC`; the current and the
previous window's are accepted, so every replica verifies what any replica issued. While
nonces are required, every answer to a DPoP request at /token and /userinfo carries a fresh
one (:func:`add_nonce_header`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from services.gateway.context import Gateway
from shared.domain.token_issuance import Binding
from shared.errors import InvalidDpopProof, InvalidDpopToken, UseDpopNonce
from shared.repositories import dpop_proofs
from shared.repositories.clients import Client

# Asymmetric algorithms only (RFC 9449 4.3 step 5): never none, never HS*.
DPOP_ALGS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
ALGS = " ".join(DPOP_ALGS)  # the algs="..." of a DPoP challenge (RFC 9449 7.1)
_KTY_OF_ALG = {alg: "EC" if alg.startswith("ES") else "RSA" for alg in DPOP_ALGS}
_CURVE_OF_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MIN_RSA_BITS = 2048
HEADER = "DPoP"
TOKEN_TYPE = "DPoP"
TYP = "dpop+jwt"
# A proof is a few hundred bytes (an RSA-4096 jwk makes it about 1.5 KiB).
MAX_PROOF_CHARS = 8192
MAX_JTI_CHARS = 512
# How far in the future a proof's iat may be: clients' clocks run a little ahead.
FUTURE_SKEW_SEC = 5
NONCE_WINDOW_SEC = 300
_NONCE_LABEL = "ciba/dpop-nonce/"
# Members of a private JWK (RFC 7518 6.2.2, 6.3.2; "k" of a symmetric key).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")



class _ProofRegistry(JWSRegistry):
    """joserfc's JWS checks with room for a proof's header: an RSA jwk alone is over joserfc's
    default 512 bytes. Header parameters besides the registered ones are let through (RFC 9449
    does not forbid them); ``crit`` is refused before."""

    max_header_length = 4096
    max_payload_length = 4096


_REGISTRY = _ProofRegistry(algorithms=list(DPOP_ALGS), strict_check_header=False)

# The nonce this request's answer carries in DPoP-Nonce (set while nonces are required).
NONCE = web.RequestKey("ciba_dpop_nonce", str)


@dataclass(frozen=True)
class Proof:
    jkt: str  # RFC 7638 thumbprint of the proof's key
    jti: str
    iat: float


# --- Nonces (RFC 9449 8) ---------------------------------------------------------------------


def _window(now: datetime) -> int:
    return int(now.timestamp()) // NONCE_WINDOW_SEC


def _nonce(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def current_nonce(gw: Gateway) -> str:
    """The nonce of the current window, under the newest master key."""
    return _nonce(gw.rt.secrets.hash(f"{_NONCE_LABEL}{_window(gw.rt.clock.now())}"))


def nonce_is_valid(gw: Gateway, nonce: object) -> bool:
    """Whether ``nonce`` is this or the previous window's, under any master key."""
    if not isinstance(nonce, str) or len(nonce) > 64:
        return False
    window = _window(gw.rt.clock.now())
    candidates = [_nonce(digest) for w in (window, window - 1)
                  for digest in gw.rt.secrets.hashes(f"{_NONCE_LABEL}{w}")]
    matched = False
    for candidate in candidates:  # every candidate compared: the time taken tells nothing
        matched |= hmac.compare_digest(candidate.encode(), nonce.encode("utf-8", "surrogatepass"))
    return matched


async def add_nonce_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the fresh nonce a DPoP request's answer carries, success or error."""
    nonce = request.get(NONCE)
    if nonce is not None and "DPoP-Nonce" not in response.headers:
        response.headers["DPoP-Nonce"] = nonce


# --- Proofs (RFC 9449 4.3) ---------------------------------------------------------------------


def access_token_hash(access_token: str) -> str:
    """RFC 9449 4.2: ``ath``, the base64url SHA-256 of the access token's ASCII."""
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode("ascii")).digest()).rstrip(b"=").decode()


def normalise_uri(uri: str) -> str | None:
    """The URI without query and fragment, normalised as RFC 3986 6.2.2 and 6.2.3 say (case of
    scheme and host, default port, percent-encoding, empty path); None when it is not an http(s)
    URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    path = _UNRESERVED.sub(_normalise_escape, parts.path) or "/"
    return urlunsplit((scheme, host, path, "", ""))


def _normalise_escape(match: re.Match[str]) -> str:
    char = chr(int(match[1], 16))
    if char.isascii() and (char.isalnum() or char in "-._~"):
        return char
    return "%" + match[1].upper()


def _fail(description: str, resource: bool) -> InvalidDpopProof:
    return InvalidDpopProof(description, resource_algs=ALGS if resource else None)


def _import_public(jwk: Any) -> ECKey | RSAKey:
    """The proof's public key; ValueError when it is not a public EC or RSA key we accept."""
    if not isinstance(jwk, dict) or not all(isinstance(k, str) for k in jwk):
        raise ValueError("the jwk header is not a JSON object")
    if _PRIVATE_MEMBERS & set(jwk):
        raise ValueError("the jwk header must hold a public key only")
    kty = jwk.get("kty")
    if kty not in ("EC", "RSA"):
        raise ValueError("the jwk header must be an EC or RSA key")
    if kty == "RSA":
        modulus = jwk.get("n")
        if not isinstance(modulus, str) or len(_b64decode(modulus).lstrip(b"\0")) * 8 < MIN_RSA_BITS:
            raise ValueError(f"the RSA key must have at least {MIN_RSA_BITS} bits")
    try:
        key = (ECKey if kty == "EC" else RSAKey).import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the jwk header is not a usable key ({type(exc).__name__})") from None
    if key.is_private:
        raise ValueError("the jwk header must hold a public key only")
    return key


def _b64decode(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, UnicodeError):
        return b""


def _single_header(request: web.Request, resource: bool) -> str | None:
    values = request.headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) > 1:
        raise _fail("send exactly one DPoP header", resource)
    return values[0]


async def verify_proof(request: web.Request, gw: Gateway, proof: str, *, htu: str, resource: bool,
                       access_token: str | None = None, jkt: str | None = None) -> Proof:
    """The proof, checked for this request (RFC 9449 4.3) and recorded against replay. At a
    resource (``resource``) ``ath`` must hash ``access_token`` and the key must be ``jkt``'s,
    and the errors carry a DPoP challenge."""
    if len(proof) > MAX_PROOF_CHARS or proof.count(".") != 2:
        raise _fail("the DPoP proof is not a compact JWS", resource)
    try:
        compact = jws.extract_compact(proof.encode("ascii"), None, _REGISTRY)
        header = dict(compact.headers())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError, TypeError, RecursionError):
        raise _fail("the DPoP proof is not a well-formed JWT", resource) from None
    if not isinstance(claims, dict):
        raise _fail("the DPoP proof's payload is not a JSON object", resource)
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != TYP:
        raise _fail(f"the DPoP proof's typ must be {TYP}", resource)
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise _fail(f"the DPoP proof's alg must be one of {ALGS}", resource)
    if "crit" in header:
        raise _fail("the DPoP proof carries critical header parameters this server does not know", resource)
    try:
        key = _import_public(header.get("jwk"))
    except ValueError as exc:
        raise _fail(str(exc), resource) from None
    if key.key_type != _KTY_OF_ALG[alg] or (isinstance(key, ECKey) and key.curve_name != _CURVE_OF_ALG.get(alg)):
        raise _fail(f"the jwk header's key does not fit alg {alg}", resource)
    try:
        verified = jws.validate_compact(compact, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError):
        verified = False
    if not verified:
        raise _fail("the DPoP proof's signature does not verify with its jwk", resource)

    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise _fail("the DPoP proof needs a jti", resource)
    if claims.get("htm") != request.method:
        raise _fail(f"the DPoP proof's htm must be {request.method}", resource)
    claimed_htu = claims.get("htu")
    expected = normalise_uri(htu)
    if not isinstance(claimed_htu, str) or expected is None or normalise_uri(claimed_htu) != expected:
        raise _fail(f"the DPoP proof's htu must be {htu}", resource)
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise _fail("the DPoP proof needs a numeric iat", resource)
    config = gw.rt.config
    now = gw.rt.clock.now().timestamp()
    if iat > now + FUTURE_SKEW_SEC:
        raise _fail("the DPoP proof was issued in the future (iat)", resource)
    if iat < now - config.dpopProofMaxAgeSec:
        raise _fail(f"the DPoP proof is older than {config.dpopProofMaxAgeSec} seconds (iat)", resource)
    if config.dpopNonceRequired and not nonce_is_valid(gw, claims.get("nonce")):
        raise UseDpopNonce(current_nonce(gw), "the DPoP proof must carry the nonce this server gave "
                           "(DPoP-Nonce)", resource_algs=ALGS if resource else None)

    proof_jkt = key.thumbprint()
    if resource:
        ath = claims.get("ath")
        if access_token is None or not isinstance(ath, str) or \
                not hmac.compare_digest(ath.encode("utf-8", "surrogatepass"),
                                        access_token_hash(access_token).encode()):
            raise _fail("the DPoP proof's ath must be the hash of the access token", resource)
        if jkt is None or not hmac.compare_digest(proof_jkt, jkt):
            raise InvalidDpopToken("the DPoP proof is signed by another key than the token is bound to",
                                   resource_algs=ALGS)

    jti_hash = hashlib.sha256(jti.encode("utf-8", "surrogatepass")).digest()
    expires_at = datetime.fromtimestamp(iat + config.dpopProofMaxAgeSec, UTC)
    if not await dpop_proofs.use(gw.rt.pool, proof_jkt, jti_hash, expires_at):
        raise _fail("the DPoP proof was already used (jti)", resource)
    return Proof(proof_jkt, jti, float(iat))


def _offer_nonce(request: web.Request, gw: Gateway) -> None:
    if gw.rt.config.dpopNonceRequired:
        request[NONCE] = current_nonce(gw)


# --- The token endpoint and the resources --------------------------------------------------------


def requires_dpop(client: Client) -> bool:
    """RFC 9449 5.2: the client registered dpop_bound_access_tokens: true."""
    return client.metadata.get("dpop_bound_access_tokens") is True


async def binding_at_token(request: web.Request, gw: Gateway, client: Client) -> Binding | None:
    """The DPoP binding of the tokens this /token request mints: None without a DPoP header
    (refused for a client that registered dpop_bound_access_tokens)."""
    proof = _single_header(request, resource=False)
    if proof is None and not requires_dpop(client):
        return None
    _offer_nonce(request, gw)
    if proof is None:
        raise InvalidDpopProof("this client registered dpop_bound_access_tokens: send a DPoP proof")
    checked = await verify_proof(request, gw, proof, htu=f"{gw.issuer}/token", resource=False)
    return Binding(cnf={"jkt": checked.jkt}, token_type=TOKEN_TYPE)


def authorization_scheme(request: web.Request) -> str:
    return request.headers.get("Authorization", "").partition(" ")[0].lower()


async def check_presenter(request: web.Request, gw: Gateway, jkt: str, access_token: str, *, htu: str) -> None:
    """A DPoP-bound access token at a resource: ``Authorization: DPoP`` and a proof of the key
    ``jkt`` names, for this request and this token (RFC 9449 7.1)."""
    _offer_nonce(request, gw)
    if authorization_scheme(request) != "dpop":
        raise InvalidDpopToken("the access token is DPoP-bound: send it as Authorization: DPoP, with a proof",
                               resource_algs=ALGS)
    proof = _single_header(request, resource=True)
    if proof is None:
        raise _fail("a DPoP-bound access token needs a DPoP proof", resource=True)
    await verify_proof(request, gw, proof, htu=htu, resource=True, access_token=access_token, jkt=jkt)


def refuse_unbound(request: web.Request) -> None:
    """An access token that is not DPoP-bound, presented with the DPoP scheme."""
    if authorization_scheme(request) == "dpop":
        raise InvalidDpopToken("the access token is not DPoP-bound: send it as a Bearer token", resource_algs=ALGS)
