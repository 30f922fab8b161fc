"""/metrics on each service after one poll flow and one ping flow: the counters and histograms
of README "Operating", with the values those two flows must produce.

A stack of its own (database and namespace), so nothing but these flows moves its counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import make_user, relying_party, stack_of_its_own
from tests.e2e.test_ping_push import BEARER, decide
from tests.support import tls
from tests.support.callback import CallbackServer
from tests.support.rp import RelyingParty
from tests.support.stack import SERVICES, Stack, free_port
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def metered(server_urls, webhook: WebhookReceiver, pki: tls.TestPKI,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack_of_its_own(server_urls, "metrics", webhook, pki, tmp_path_factory) as stack:
        yield stack


@pytest.fixture
async def metered_rp(metered: Stack) -> AsyncIterator[RelyingParty]:
    async with relying_party(metered) as party:
        yield party


async def scrape(stack: Stack, service: str) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(f"{stack.management_url(service)}/metrics") as answer:
        assert answer.status == 200
        text = await answer.text()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def one_poll_flow_and_one_ping_flow(stack: Stack, rp: RelyingParty, webhook: WebhookReceiver,
                                          callbacks: CallbackServer) -> None:
    user = make_user(stack)
    # The poll flow, with one poll before the decision (authorization_pending).
    poller = await rp.register(backchannel_token_delivery_mode="poll")
    started = await rp.bc_authorize(poller, login_hint=user.username, scope="openid")
    assert started.status == 200
    assert (await rp.token(poller, started.body["auth_req_id"])).body["error"] == "authorization_pending"
    await decide(webhook, user, "approve")
    assert (await rp.token(poller, started.body["auth_req_id"])).status == 200
    # The ping flow.
    url, key = callbacks.endpoint()
    pinged = await rp.register(backchannel_token_delivery_mode="ping", backchannel_client_notification_endpoint=url)
    started = await rp.bc_authorize(pinged, login_hint=user.username, scope="openid", client_notification_token=BEARER)
    await decide(webhook, user, "approve")
    await callbacks.wait_calls(key, 1)
    assert (await rp.token(pinged, started.body["auth_req_id"])).status == 200


async def test_each_service_counts_what_one_poll_flow_and_one_ping_flow_did(
        metered: Stack, metered_rp: RelyingParty, webhook: WebhookReceiver, callbacks: CallbackServer) -> None:
    stack, rp = metered, metered_rp
    before = {service: await scrape(stack, service) for service in SERVICES}
    # Known label values read 0 before their first event.
    assert ("ciba_device_logins_total", (("result", "locked"),)) in before["gateway"]
    dead_lettered = (("result", "dead_lettered"), ("service", "notifier"))
    assert ("ciba_consumer_messages_total", dead_lettered) in before["notifier"]
    assert ("ciba_delivery_attempts_total", (("mode", "ping"), ("result", "retry"))) in before["token-delivery"]

    await one_poll_flow_and_one_ping_flow(stack, rp, webhook, callbacks)

    after = {service: await scrape(stack, service) for service in SERVICES}

    def delta(process: str, name: str, **labels: str) -> float:
        return value(after[process], name, **labels) - value(before[process], name, **labels)

    gateway = "gateway"
    assert delta(gateway, "ciba_http_requests_total", endpoint="/bc-authorize", method="POST", status="200",
                 error="") == 2
    assert delta(gateway, "ciba_http_requests_total", endpoint="/token", method="POST", status="400",
                 error="authorization_pending") == 1
    assert delta(gateway, "ciba_http_requests_total", endpoint="/token", method="POST", status="200", error="") == 2
    assert delta(gateway, "ciba_http_request_duration_seconds_count", endpoint="/bc-authorize") == 2
    for mode in ("poll", "ping"):
        for status in ("pending", "approved", "tokens_issued"):
            assert delta(gateway, "ciba_auth_request_transitions_total", to_status=status, delivery_mode=mode) == 1
    assert delta(gateway, "ciba_device_logins_total", result="ok") == 2
    assert delta(gateway, "ciba_stage_duration_seconds_count", stage="notified_to_decided") == 2
    assert delta(gateway, "ciba_stage_duration_seconds_count", stage="decided_to_tokens_issued") == 2
    assert value(after[gateway], "ciba_db_pool_connections", state="max") == 10

    notifier = "notifier"
    assert delta(notifier, "ciba_notification_attempts_total", plugin="webhook", result="sent") == 2
    assert delta(notifier, "ciba_consumer_messages_total", service=notifier, result="ok") == 2
    assert delta(notifier, "ciba_consumer_handle_seconds_count", service=notifier) == 2
    assert delta(notifier, "ciba_stage_duration_seconds_count", stage="created_to_notified") == 2

    delivery = "token-delivery"
    assert delta(delivery, "ciba_delivery_attempts_total", mode="ping", result="delivered") == 1
    # Both decisions reach token-delivery; the poll one needs no call and still counts as done.
    assert delta(delivery, "ciba_consumer_messages_total", service=delivery, result="ok") == 2
    assert delta(delivery, "ciba_stage_duration_seconds_count", stage="decided_to_delivered") == 1

    processor = after["request-processor"]
    assert value(processor, "ciba_outbox_backlog") == 0
    assert (f"{stack.namespace}.notifier",) in {tuple(v for _, v in labels) for (name, labels) in processor
                                                if name == "ciba_queue_messages"}
    assert value(processor, "ciba_queue_messages", queue=f"{stack.namespace}.token-delivery.dead") == 0


DASHBOARD = ROOT / "deploy/grafana/ciba-dashboard.json"


@pytest.fixture
def prometheus(metered: Stack, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus, scraping the four management ports every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the dashboard check needs Prometheus (apt-get install prometheus; .ci/run does)")
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": service, "static_configs": [
                  {"targets": [f"127.0.0.1:{metered.management_ports[service]}"]}]} for service in SERVICES]}
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


async def _query(http: aiohttp.ClientSession, base: str, expr: str) -> list[dict]:
    async with http.get(f"{base}/api/v1/query", params={"query": expr}) as answer:
        body = await answer.json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


async def test_every_dashboard_panel_returns_data_from_a_real_prometheus(
        metered: Stack, metered_rp: RelyingParty, webhook: WebhookReceiver, callbacks: CallbackServer,
        prometheus: str) -> None:
    """deploy/grafana/ciba-dashboard.json cannot drift from the metric names: every panel's
    query, asked of a Prometheus that scraped the stack through some traffic, returns data."""
    targets = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel["targets"]]
    assert len(targets) >= 12
    async with aiohttp.ClientSession() as http:
        for _ in range(100):  # until it has scraped all four
            with contextlib.suppress(aiohttp.ClientError, AssertionError):
                if len(await _query(http, prometheus, "up == 1")) == 4:
                    break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("Prometheus never scraped the four services")
        await one_poll_flow_and_one_ping_flow(metered, metered_rp, webhook, callbacks)
        missing: list[str] = []
        for _ in range(30):
            missing = []
            for expr in targets:
                values = [sample["value"][1] for sample in await _query(http, prometheus, expr)]
                if not any(value != "NaN" for value in values):
                    missing.append(expr)
            if not missing:
                return
            await asyncio.sleep(1)
    raise AssertionError(f"panels without data: {missing}")


def test_the_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("needs promtool (Debian's prometheus package; .ci/run installs it)")
    checked = subprocess.run([promtool, "check", "rules", str(ROOT / "deploy/prometheus/rules.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
