"""The published OpenAPI document, and property-based fuzzing of every operation it describes.

schemathesis loads the document (the very dict /openapi.json serves, built for the test
issuer; its error responses come from the endpoint modules' ERRORS, see
tests/unit/test_openapi_errors.py) and generates requests for each operation: valid-shaped (positive) and
schema-violating (negative) data, from the document's examples, the coverage phase (boundary
values, missing, extra and mistyped parameters, wrong content types, unexpected methods) and
random fuzzing. Each operation runs twice: anonymous (only what schemathesis generates), and
with real credentials (a registered client's Basic auth at /bc-authorize and /token, a live
access token at /userinfo). Every response must be below 500 and match the document (status
code, content type, headers, body schema); a non-2xx one must carry the spec's JSON error body.

schemathesis drives requests synchronously from pytest's thread, while the in-process `http`
fixture serves on pytest-asyncio's session loop, which does not run during a synchronous
test. So the gateway under fuzz runs on its own event loop in a background thread
(LiveGateway), built the way ciba-gateway builds it, on the test session's database.

CIBA_FUZZ_SEED picks another seed (the default is fixed so that a failure reproduces);
CIBA_FUZZ_MAX_EXAMPLES changes the number of fuzzed examples per operation and variant.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
import requests
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import GATEWAY, Gateway
from services.gateway.endpoints import openapi
from shared.passwords import hash_password
from shared.repositories import users
from shared.repositories.users import User, UserExists
from shared.runtime import open_runtime, start_watchers
from shared.settings import Settings
from tests.integration.conftest import ISSUER
from tests.support.gateway_client import CIBA_GRANT, decide
from tests.unit.raised_errors import documented_errors, route_errors

SEED = int(os.environ.get("CIBA_FUZZ_SEED", "20240611"))
MAX_EXAMPLES = int(os.environ.get("CIBA_FUZZ_MAX_EXAMPLES", "50"))
# The user of the document's bc-authorize example, so the examples phase reaches a 200.
EXAMPLE_HINT = "alice@example.com"
CLIENT_AUTHENTICATED = {"/bc-authorize", "/token"}
BEARER_AUTHENTICATED = {"/userinfo"}


class LiveGateway:
    """ciba-gateway on 127.0.0.1 (a free port), on an event loop of its own in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = ""
        self.gateway: Gateway | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-gateway", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the live gateway did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("the live gateway failed to start") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the gateway's loop, from the test's thread."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with open_runtime(self.settings, "gateway") as rt:
            gw = await build_gateway(rt)
            await start_watchers(rt)  # as ciba-gateway does: readiness needs the LISTEN connection
            await asyncio.wait_for(rt.listener.connected.wait(), 10)
            runner = web.AppRunner(create_app(gw), access_log=None, shutdown_timeout=5)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                host, port = runner.addresses[0][:2]
                self.base_url = f"http://{host}:{port}"
                self.gateway, self._loop, self._stop = gw, asyncio.get_running_loop(), asyncio.Event()
                self._ready.set()
                await self._stop.wait()
            finally:
                await runner.cleanup()
                close = getattr(gw, "close", None)
                if close is not None:
                    await close()


@pytest.fixture(scope="module")
def live(settings: Settings) -> Iterator[LiveGateway]:
    server = LiveGateway(settings)
    server.start()
    yield server
    server.stop()


async def _ensure_user(gw: Gateway, email: str) -> None:
    name = f"fuzz-{uuid.uuid4().hex[:10]}"
    user = User(sub=str(uuid.uuid4()), username=name, email=email, phone_number=None,
                password_hash=hash_password("irrelevant-password"))
    async with gw.rt.pool.acquire() as conn:
        try:
            await users.insert(conn, user)
        except UserExists:  # another test made the example user first: fine, the hint still resolves
            pass


@pytest.fixture(scope="module")
def credentials(live: LiveGateway) -> dict[str, dict[str, str]]:
    """Real credentials: a registered poll client's Basic header, and a live access token."""
    base = live.base_url
    registered = requests.post(f"{base}/register", timeout=10, json={
        "client_name": "fuzz", "backchannel_token_delivery_mode": "poll",
        "grant_types": [CIBA_GRANT, "refresh_token"]})
    assert registered.status_code == 201, registered.text
    client = registered.json()
    raw = f"{quote(client['client_id'], safe='')}:{quote(client['client_secret'], safe='')}"
    basic = {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}

    assert live.gateway is not None
    live.run(_ensure_user(live.gateway, EXAMPLE_HINT))
    started = requests.post(f"{base}/bc-authorize", headers=basic, timeout=10,
                            data={"scope": "openid email", "login_hint": EXAMPLE_HINT})
    assert started.status_code == 200, started.text
    live.run(decide(live.gateway, started.json()["auth_req_id"], approved=True))
    tokens = requests.post(f"{base}/token", headers=basic, timeout=10,
                           data={"grant_type": CIBA_GRANT, "auth_req_id": started.json()["auth_req_id"]})
    assert tokens.status_code == 200, tokens.text
    return {"basic": basic, "bearer": {"Authorization": f"Bearer {tokens.json()['access_token']}"}}


def load_schema() -> schemathesis.schemas.BaseSchema:
    """The document as the gateway of these tests serves it (the route test below checks that
    /openapi.json is exactly this dict); requests go to the live gateway's own address."""
    schema = schemathesis.openapi.from_dict(openapi.document(ISSUER))
    schema.config.update(request_timeout=10)
    schema.config.generation.update(modes=list(GenerationMode), max_examples=MAX_EXAMPLES, database="none")
    schema.config.seed = SEED
    return schema


def json_error_body(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A non-2xx answer of an API endpoint is the spec's JSON error object."""
    if response.status_code < 300 or case.operation.path.startswith("/health/"):
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body: {response.content[:200]!r}") from None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        raise AssertionError(f"{response.status_code} without a string `error`: {body!r}"[:300])


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]

schema = load_schema()


@hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=timedelta(seconds=5), database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
@schema.parametrize()
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "credentials"])
def test_generated_requests_never_fail_with_5xx_and_errors_are_json(
    case: schemathesis.Case, authenticated: bool, live: LiveGateway, credentials: dict[str, dict[str, str]],
) -> None:
    headers: dict[str, str] = {}
    if authenticated and case.operation.path in CLIENT_AUTHENTICATED:
        headers = credentials["basic"]
    elif authenticated and case.operation.path in BEARER_AUTHENTICATED:
        headers = credentials["bearer"]
    response = case.call(base_url=live.base_url, headers=headers)
    if response.status_code >= 500:
        request = response.request
        body = request.body.decode("utf-8", "backslashreplace") if isinstance(request.body, bytes) else request.body
        pytest.fail(f"5xx from the gateway: {response.status_code} {response.text[:300]}\n"
                    f"request: {request.method} {request.url}\nheaders: {dict(request.headers)}\n"
                    f"body: {body!r}\n{case.as_curl_command(headers=headers)}")
    case.validate_response(response, checks=CHECKS, additional_checks=[json_error_body], headers=headers)


# --- The document itself -----------------------------------------------------------------


async def test_openapi_document_describes_every_api_route(http: TestClient) -> None:
    response = await http.get(openapi.PATH)
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": http.server.app[GATEWAY].issuer}]
    assert doc == openapi.document(ISSUER)  # what the fuzz test loads
    methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item
                  if method in methods}
    handlers = {
        (route.method, route.resource.canonical): route.handler
        for route in http.server.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
        and not route.resource.canonical.startswith("/device") and route.resource.canonical != openapi.PATH
    }
    routed = set(handlers)
    assert routed - documented == set(), "routes missing from /openapi.json"
    assert documented - routed == set(), "/openapi.json documents routes that do not exist"
    # The error codes of each route are its endpoint module's ERRORS and the middleware's, which
    # tests/unit/test_openapi_errors.py checks against what the code raises.
    for (method, path), handler in handlers.items():
        assert documented_errors(doc, path, method) == route_errors(handler), (method, path)


def test_openapi_document_is_valid() -> None:
    from openapi_spec_validator import validate

    validate(openapi.document("https://issuer.example"))
