"""Bad input never makes a 5xx: seeded random requests against every endpoint, asserting a
4xx with the spec's JSON error body (HTML for the device pages)."""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from tests.support.gateway_client import register

NAMES = ["grant_type", "auth_req_id", "scope", "login_hint", "login_hint_token", "id_token_hint",
         "binding_message", "requested_expiry", "acr_values", "user_code", "client_notification_token",
         "client_id", "client_secret", "client_assertion", "request", "refresh_token", "username",
         "password", "csrf_token", "decision"]
NASTY = ["", " ", "openid", "0", "-1", "1e309", "NaN", "null", "[]", "{}", "%00", "\x00", "\u202e",
         "\ud7ff", "😀" * 50, "a" * 5000, "urn:openid:params:grant-type:ciba", "refresh_token",
         "' OR 1=1 --", "<script>", "../../etc/passwd", "Basic", "eyJhbGciOiJub25lIn0.e30."]
CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json", "text/plain",
                 "multipart/form-data; boundary=x", "", "application/x-www-form-urlencoded; charset=latin1"]
AUTH = [None, "Basic", "Basic %%%", "Basic Og==", "Bearer x", "Digest y", "Basic " + "A" * 3000]


def random_body(rng: random.Random) -> bytes:
    pairs = []
    for _ in range(rng.randint(0, 8)):
        name = rng.choice(NAMES + ["".join(rng.choice("ab%=&+") for _ in range(3))])
        value = rng.choice(NASTY + [str(rng.randint(-10, 10**6))])
        pairs.append(f"{quote(name)}={quote(value, safe='') if rng.random() < 0.8 else value}")
    body = "&".join(pairs)
    if rng.random() < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    return body.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("path", ["/bc-authorize", "/token", "/register", "/userinfo"])
async def test_random_requests_to_api_endpoints_answer_4xx_json(http: TestClient, path: str) -> None:
    client = await register(http)
    rng = random.Random(f"fuzz:{path}")
    for _case in range(150):
        headers = {"Content-Type": rng.choice(CONTENT_TYPES)}
        auth = rng.choice(AUTH + [client.basic["Authorization"]] * 3)
        if auth:
            headers["Authorization"] = auth
        response = await http.post(path, data=random_body(rng), headers=headers)
        assert response.status < 500, (path, response.status, await response.text())
        body = await response.json()
        assert isinstance(body.get("error"), str), body


async def test_random_posts_to_device_pages_never_fail_with_5xx(http: TestClient) -> None:
    rng = random.Random("fuzz:device")
    for _case in range(100):
        ref = rng.choice(["x", "a" * 200, "%00", "..", "valid-looking-ref-" + "b" * 30])
        path = rng.choice([f"/device/{ref}", f"/device/{ref}/login", f"/device/{ref}/decision"])
        response = await http.post(path, data=random_body(rng),
                                   headers={"Content-Type": rng.choice(CONTENT_TYPES)})
        assert response.status < 500, (path, response.status)
