"""A DPoP proof (RFC 9449 4.3), checked for the request it came with.

A proof is checked as RFC 9449 4.3 lists: a compact JWS with ``typ: dpop+jwt``, an asymmetric
``alg`` of :data:`DPOP_ALGS`, a public ``jwk`` (no private members) the signature verifies
with, ``htm`` the request's method, ``htu`` the endpoint's URL as the issuer names it (compared
without query and fragment, after RFC 3986 normalisation), ``iat`` within dpopProofMaxAgeSec in
the past and :data:`FUTURE_SKEW_SEC` in the future, the server's nonce while one is required
(services/gateway/dpop_nonce.py), and a ``jti`` not seen before for that key. Seen jtis are kept
in Postgres (table ``dpop_proofs``): every gateway replica refuses the replay of a proof another
one accepted.
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
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import CompactSignature, JWSRegistry

from services.gateway.dpop_nonce import current_nonce, nonce_is_valid
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.errors import Errors, InvalidDpopProof, InvalidDpopToken, UseDpopNonce

# At /token 400; at a resource 401, with the DPoP challenge.
ERRORS: Errors = (InvalidDpopProof, InvalidDpopProof.at(401), UseDpopNonce, UseDpopNonce.at(401), InvalidDpopToken)
# Asymmetric algorithms only (RFC 9449 4.3 step 5): never none, never HS*.
DPOP_ALGS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
ALGS = " ".join(DPOP_ALGS)  # the algs="..." of a DPoP challenge (RFC 9449 7.1)
_KTY_OF_ALG = {alg: "EC" if alg.startswith("ES") else "RSA" for alg in DPOP_ALGS}
_CURVE_OF_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MIN_RSA_BITS = 2048
TYP = "dpop+jwt"
# A proof is a few hundred bytes (an RSA-4096 jwk makes it about 1.5 KiB).
MAX_PROOF_CHARS = 8192
MAX_JTI_CHARS = 512
# How far in the future a proof's iat may be: clients' clocks run a little ahead.
FUTURE_SKEW_SEC = 5
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


class SeenProofs(Protocol):
    """The proofs already accepted, by key and jti (stores/dpop.py: PostgresSeenProofs)."""

    async def use(self, jkt: str, jti_hash: bytes, expires_at: datetime) -> bool:
        """Record a proof; False when it was recorded before (a replay)."""
        ...


@dataclass(frozen=True)
class ProofCheck:
    """What checking a proof reads besides the request: the configuration's snapshot, the time,
    the master keys (nonces) and the proofs seen before."""

    config: ServerConfig
    now: datetime
    secrets: Secrets
    seen: SeenProofs


@dataclass(frozen=True)
class Proof:
    jkt: str  # RFC 7638 thumbprint of the proof's key
    jti: str
    iat: float


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


def refused(description: str, resource: bool) -> InvalidDpopProof:
    """invalid_dpop_proof; at a resource with the DPoP challenge (RFC 9449 7.1)."""
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


def _parse(proof: str, resource: bool) -> tuple[CompactSignature, dict[str, Any], dict[str, Any]]:
    """The proof's JWS, header and claims, before anything is verified."""
    if len(proof) > MAX_PROOF_CHARS or proof.count(".") != 2:
        raise refused("the DPoP proof is not a compact JWS", resource)
    try:
        compact = jws.extract_compact(proof.encode("ascii"), None, _REGISTRY)
        header = dict(compact.headers())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError, TypeError, RecursionError):
        raise refused("the DPoP proof is not a well-formed JWT", resource) from None
    if not isinstance(claims, dict):
        raise refused("the DPoP proof's payload is not a JSON object", resource)
    return compact, header, claims


def _signing_key(compact: CompactSignature, header: dict[str, Any], resource: bool) -> ECKey | RSAKey:
    """The key of the ``jwk`` header, once the proof's signature verifies with it."""
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != TYP:
        raise refused(f"the DPoP proof's typ must be {TYP}", resource)
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise refused(f"the DPoP proof's alg must be one of {ALGS}", resource)
    if "crit" in header:
        raise refused("the DPoP proof carries critical header parameters this server does not know", resource)
    try:
        key = _import_public(header.get("jwk"))
    except ValueError as exc:
        raise refused(str(exc), resource) from None
    if key.key_type != _KTY_OF_ALG[alg] or (isinstance(key, ECKey) and key.curve_name != _CURVE_OF_ALG.get(alg)):
        raise refused(f"the jwk header's key does not fit alg {alg}", resource)
    try:
        verified = jws.validate_compact(compact, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError):
        verified = False
    if not verified:
        raise refused("the DPoP proof's signature does not verify with its jwk", resource)
    return key


def _check_claims(request: web.Request, claims: dict[str, Any], check: ProofCheck, *, htu: str,
                  resource: bool) -> tuple[str, int | float]:
    """jti, htm, htu, iat and the nonce (RFC 9449 4.3 steps 9 to 12): the jti and the iat."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise refused("the DPoP proof needs a jti", resource)
    if claims.get("htm") != request.method:
        raise refused(f"the DPoP proof's htm must be {request.method}", resource)
    claimed_htu = claims.get("htu")
    expected = normalise_uri(htu)
    if not isinstance(claimed_htu, str) or expected is None or normalise_uri(claimed_htu) != expected:
        raise refused(f"the DPoP proof's htu must be {htu}", resource)
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise refused("the DPoP proof needs a numeric iat", resource)
    max_age = check.config.dpopProofMaxAgeSec
    now = check.now.timestamp()
    if iat > now + FUTURE_SKEW_SEC:
        raise refused("the DPoP proof was issued in the future (iat)", resource)
    if iat < now - max_age:
        raise refused(f"the DPoP proof is older than {max_age} seconds (iat)", resource)
    if check.config.dpopNonceRequired and not nonce_is_valid(check.secrets, check.now, claims.get("nonce")):
        raise UseDpopNonce(current_nonce(check.secrets, check.now), "the DPoP proof must carry the nonce this "
                           "server gave (DPoP-Nonce)", resource_algs=ALGS if resource else None)
    return jti, iat


def _check_token(claims: dict[str, Any], proof_jkt: str, access_token: str | None, jkt: str | None) -> None:
    """At a resource: ``ath`` hashes the token presented, and the key is the one it is bound to."""
    ath = claims.get("ath")
    if access_token is None or not isinstance(ath, str) or \
            not hmac.compare_digest(ath.encode("utf-8", "surrogatepass"), access_token_hash(access_token).encode()):
        raise refused("the DPoP proof's ath must be the hash of the access token", resource=True)
    if jkt is None or not hmac.compare_digest(proof_jkt, jkt):
        raise InvalidDpopToken("the DPoP proof is signed by another key than the token is bound to",
                               resource_algs=ALGS)


async def verify_proof(request: web.Request, proof: str, check: ProofCheck, *, htu: str, resource: bool,
                       access_token: str | None = None, jkt: str | None = None) -> Proof:
    """The proof, checked for this request (RFC 9449 4.3) and recorded against replay. At a
    resource (``resource``) ``ath`` must hash ``access_token`` and the key must be ``jkt``'s,
    and the errors carry a DPoP challenge."""
    compact, header, claims = _parse(proof, resource)
    key = _signing_key(compact, header, resource)
    jti, iat = _check_claims(request, claims, check, htu=htu, resource=resource)
    proof_jkt = key.thumbprint()
    if resource:
        _check_token(claims, proof_jkt, access_token, jkt)
    jti_hash = hashlib.sha256(jti.encode("utf-8", "surrogatepass")).digest()
    expires_at = datetime.fromtimestamp(iat + check.config.dpopProofMaxAgeSec, UTC)
    if not await check.seen.use(proof_jkt, jti_hash, expires_at):
        raise refused("the DPoP proof was already used (jti)", resource)
    return Proof(proof_jkt, jti, float(iat))
