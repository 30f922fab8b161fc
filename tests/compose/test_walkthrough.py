"""The README's walk-through against the stack `make up` starts in containers (make test-compose).

`deploy/compose.sh up` runs docker-compose.yml under the engine CIBA_ENGINE names (Podman on
machines without Docker), as its own Compose project beside any stack of yours. The operator's
webhook receiver runs as a container on the project's network. Then, as a relying party on the
host would: discovery, registration, /bc-authorize, the user's approval on the device pages
through the link the webhook carried, tokens, /userinfo, and the request's history from
ciba-admin. `make down VOLUMES=1` removes it all afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support.browser import decide_on_device
from tests.support.stack import free_port

pytestmark = pytest.mark.compose

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ciba-e2e"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


@dataclass
class ComposeStack:
    engine: str
    issuer: str
    env: dict[str, str]
    webhook_port: int

    def script(self, *args: str, timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(ROOT / "deploy/compose.sh"), *args], env=self.env, cwd=ROOT,
                                capture_output=True, text=True, timeout=timeout, input=input)
        assert result.returncode == 0, f"compose.sh {args[0]} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def admin(self, *args: str, input: str | None = None) -> dict:
        return json.loads(self.script("admin", *args, timeout=120, input=input).stdout)

    def engine_cli(self, *args: str) -> str:
        result = subprocess.run([self.engine, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def health(self, service: str) -> str:
        return self.engine_cli("inspect", "--format", "{{.State.Health.Status}}", f"{PROJECT}_{service}_1").strip()


def _engine() -> str:
    engine = os.environ.get("CIBA_ENGINE") or ("docker" if shutil.which("docker") and subprocess.run(
        ["docker", "info"], capture_output=True).returncode == 0 else "podman")
    if engine not in ("docker", "podman") or not shutil.which(engine):
        pytest.fail(f"the Compose e2e needs Docker or Podman (CIBA_ENGINE={engine})")
    return engine


def _product_image(engine: str) -> str:
    if os.environ.get("CIBA_IMAGE"):
        return os.environ["CIBA_IMAGE"]
    local = "localhost/ciba-server:dev"
    found = subprocess.run([engine, "image", "inspect", local], capture_output=True).returncode == 0
    return local if found else "ciba-server:dev"


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    engine = _engine()
    port, webhook_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBA_")} | {
        "CIBA_ENGINE": engine, "CIBA_COMPOSE_PROJECT": PROJECT, "CIBA_GATEWAY_PORT": str(port),
        "CIBA_ISSUER": issuer, "RUN_DIR": str(tmp_path_factory.mktemp("compose-run")),
        **{k: os.environ[k] for k in ("CIBA_IMAGE", "CIBA_POSTGRES_IMAGE", "CIBA_RABBITMQ_IMAGE")
           if k in os.environ}}
    stack = ComposeStack(engine, issuer, env, webhook_port)
    receiver = f"{PROJECT}-webhook"
    try:
        up = stack.script("up")
        assert f"CIBA server up ({engine}): issuer {issuer}" in up.stdout
        stack.engine_cli(
            "run", "-d", "--rm", "--name", receiver, "--network", f"{PROJECT}_default",
            "-p", f"127.0.0.1:{webhook_port}:8000",
            "-v", f"{ROOT / 'tests/compose/webhook_receiver.py'}:/receiver.py:ro",
            _product_image(engine), "python", "/receiver.py")
        _wait_for_receiver(webhook_port)
        yield stack
    finally:
        subprocess.run([engine, "rm", "-f", receiver], capture_output=True, timeout=60)
        stack.script("down", "--volumes")
    # `make down VOLUMES=1` leaves nothing of the project behind.
    assert not [name for name in stack.engine_cli("ps", "-a", "--format", "{{.Names}}").split()
                if name.startswith(f"{PROJECT}_")]
    assert not [name for name in stack.engine_cli("volume", "ls", "--format", "{{.Name}}").split()
                if name.startswith(f"{PROJECT}_")]


def _wait_for_receiver(port: int, timeout: float = 60) -> None:
    """The receiver answering: the walk-through starts once the container that joined the
    network is up, not while the engine is still wiring it in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/received", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the webhook receiver did not answer on 127.0.0.1:{port} within {timeout:g} s")


async def _notifications(stack: ComposeStack, username: str, timeout: float = 30) -> dict:
    url = f"http://127.0.0.1:{stack.webhook_port}/received"
    async with aiohttp.ClientSession() as http:
        for _ in range(int(timeout * 5)):
            try:
                async with http.get(url) as answer:
                    mine = [n for n in await answer.json() if n["user"]["username"] == username]
                if mine:
                    return mine[-1]
            except aiohttp.ClientConnectionError:
                pass  # the receiver is still starting
            await asyncio.sleep(0.2)
    raise AssertionError(f"no notification for {username} reached the webhook")


async def test_the_readme_walk_through_against_the_compose_stack(compose_stack: ComposeStack) -> None:
    stack = compose_stack
    issuer = stack.issuer
    for service in ("postgres", "rabbitmq", "gateway", "request-processor", "notifier", "token-delivery"):
        assert stack.health(service) == "healthy"

    # 1. A user in the directory, and the operator's webhook as the notification channel.
    added = stack.admin("user", "add", "alice", "--password-stdin", "--email", "alice@example.com",
                        input="wonderland-42\n")
    assert added["username"] == "alice"
    stack.admin("config", "set", "cibaEndUserNotificationConfig", json.dumps(
        {"notifier": "webhook", "webhook": {"url": f"http://{PROJECT}-webhook:8000/notify"}}))

    async with aiohttp.ClientSession() as http:
        # 2. Discovery and registration (RFC 7591).
        async with http.get(f"{issuer}/.well-known/openid-configuration") as answer:
            discovery = await answer.json()
        assert discovery["issuer"] == issuer
        assert discovery["backchannel_authentication_endpoint"] == f"{issuer}/bc-authorize"
        async with http.post(f"{issuer}/register", json={
                "client_name": "Kiosk", "grant_types": [CIBA_GRANT, "refresh_token"],
                "backchannel_token_delivery_mode": "poll"}) as answer:
            assert answer.status == 201
            client = await answer.json()
        auth = {"Authorization": aiohttp.BasicAuth(client["client_id"], client["client_secret"]).encode()}

        # 3. A CIBA request for alice.
        async with http.post(discovery["backchannel_authentication_endpoint"], headers=auth, data={
                "scope": "openid email", "login_hint": "alice@example.com",
                "binding_message": "Kiosk 7Q"}) as answer:
            assert answer.status == 200
            started = await answer.json()
        auth_req_id = started["auth_req_id"]
        assert started["expires_in"] > 0 and started["interval"] >= 1

        # 4. Not decided yet.
        grant = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}
        async with http.post(discovery["token_endpoint"], headers=auth, data=grant) as answer:
            assert (answer.status, (await answer.json())["error"]) == (400, "authorization_pending")

        # 5. The link reached the webhook container; alice signs in on the device pages and approves.
        note = await _notifications(stack, "alice")
        assert note["binding_message"] == "Kiosk 7Q" and note["client_name"] == "Kiosk"
        assert note["authorization_url"].startswith(f"{issuer}/device/")
        assert auth_req_id not in json.dumps(note)
        page = await decide_on_device(note["authorization_url"], "alice", "wonderland-42", "approve")
        assert page.status == 200

        # 6. Tokens at the next poll, and the user's claims.
        await asyncio.sleep(started["interval"])
        async with http.post(discovery["token_endpoint"], headers=auth, data=grant) as answer:
            assert answer.status == 200
            tokens = await answer.json()
        assert {"access_token", "id_token", "refresh_token", "expires_in", "token_type"} <= set(tokens)
        async with http.get(discovery["userinfo_endpoint"],
                            headers={"Authorization": f"Bearer {tokens['access_token']}"}) as answer:
            assert answer.status == 200
            claims = await answer.json()
        assert claims["sub"] == added["sub"] and claims["email"] == "alice@example.com"

    # 7. The request's life, as the operator sees it.
    shown = stack.admin("request", "show", auth_req_id)
    assert [h["status"] for h in shown["history"]] == ["pending", "approved", "tokens_issued"]
    assert [(n["notifier"], n["outcome"]) for n in shown["notifications"]] == [("webhook", "sent")]
