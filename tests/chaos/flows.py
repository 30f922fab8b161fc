"""The chaos suite's load driver: a bounded mix of poll, ping and push flows, each run the way a
well-written relying party and a patient user would run it, while a fault is injected.

A flow: /bc-authorize -> the user's notification (webhook) -> approval on the device pages ->
tokens (poll: /token, some with long polls; ping: the ping, then /token; push: the pushed token
set; tests/chaos/flow_tokens.py). Every HTTP answer is recorded per endpoint. What a relying
party must cope with (503 with Retry-After, 429, connection errors, slow_down) is retried; what
it must never see (another 5xx, a non-JSON error from an OAuth endpoint, an answer slower than
REQUEST_BOUND) is a failure."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.chaos.flow_tokens import TokenRetrieval
from tests.chaos.rp_http import Answer, Caller, Observer, backoff, retryable
from tests.e2e.conftest import Account
from tests.support.browser import parse_forms
from tests.support.callback import CallbackServer
from tests.support.rp import RegisteredClient, RelyingParty
from tests.support.webhook import Received, WebhookReceiver

MODES = ("poll", "ping", "push")
# How long the webhook and the client notification endpoint take to answer: real endpoints are
# not instant, and a service killed mid-load should find calls in flight.
ENDPOINT_LATENCY = 0.25


@dataclass
class Flow:
    index: int
    mode: str
    user: Account
    long_poll: bool = False
    auth_req_id: str | None = None
    binding: str | None = None  # the binding message of the accepted /bc-authorize
    outcome: str = "running"  # tokens | not_started | lost | error:<code>
    detail: str = ""
    token_sets: list[dict[str, Any]] = field(default_factory=list)  # poll/ping: /token answers
    pushed: list[dict[str, Any]] = field(default_factory=list)  # push: every call's body
    pings: int = 0
    started_at: float = 0.0
    completed_at: float | None = None
    marks: dict[str, float] = field(default_factory=dict)  # authorized, notified, approved: when

    @property
    def started(self) -> bool:
        return self.auth_req_id is not None


class Load(TokenRetrieval):
    """Runs ``flows`` flows started evenly over ``spread`` seconds, a third per delivery mode,
    over the given users; ``flow_timeout`` bounds each flow."""

    def __init__(self, issuer: str, webhook: WebhookReceiver, callbacks: CallbackServer, users: list[Account],
                 *, flows: int = 300, spread: float = 30.0, flow_timeout: float = 90.0, seed: int = 8) -> None:
        self.issuer = issuer
        self.webhook = webhook
        self.callbacks = callbacks
        self.users = users
        self.size, self.spread, self.flow_timeout = flows, spread, flow_timeout
        self.random = random.Random(seed)
        self.observer = Observer()
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.caller = Caller(self.observer, self.session)
        self.clients: dict[str, tuple[RegisteredClient, str | None]] = {}
        self.flows: list[Flow] = []
        self.notes: dict[str, asyncio.Queue[Received]] = defaultdict(asyncio.Queue)
        self.orphans: set[str] = set()  # binding messages of /bc-authorize calls that got no answer
        self.orphans_denied = 0  # requests those calls created after all
        self.long_polls_held = 0
        self._tasks: list[asyncio.Task[Any]] = []

    async def setup(self) -> None:
        """One client per mode (ping and push with their own callback endpoint); route the
        users' notifications to flows by binding message."""
        rp = RelyingParty(self.issuer)
        slow = [ENDPOINT_LATENCY] * (self.size + 100)
        try:
            for mode in MODES:
                url, key = self.callbacks.endpoint(slow) if mode != "poll" else (None, None)
                extra = {"backchannel_client_notification_endpoint": url} if url else {}
                client = await rp.register(backchannel_token_delivery_mode=mode, **extra)
                self.clients[mode] = (client, key)
        finally:
            await rp.close()
        for user in self.users:
            self.webhook.delays[user.username] = ENDPOINT_LATENCY
        self._tasks = [asyncio.create_task(self._route(user)) for user in self.users]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.session.close()

    async def run(self) -> list[Flow]:
        """Every flow of the load, once each has ended (tokens in hand, or given up)."""
        flows = [self._new_flow() for _ in range(self.size)]
        await asyncio.gather(*(self.run_flow(flow, after=i * self.spread / self.size) for i, flow in enumerate(flows)))
        return flows

    async def canary(self, mode: str) -> Flow:
        """One more flow of ``mode``, started now."""
        flow = self._new_flow(mode)
        await self.run_flow(flow)
        return flow

    def _new_flow(self, mode: str | None = None) -> Flow:
        index = len(self.flows)
        flow = Flow(index, mode or MODES[index % 3], self.users[index % len(self.users)],
                    long_poll=index % 6 == 0)
        self.flows.append(flow)
        return flow

    async def run_flow(self, flow: Flow, *, after: float = 0.0) -> None:
        await asyncio.sleep(after)
        obs = self.observer
        flow.started_at = obs.now()
        deadline = flow.started_at + self.flow_timeout
        if not await self._bc_authorize(flow, deadline):
            flow.outcome = "not_started"
            return
        user = asyncio.create_task(self._user_approves(flow, deadline))
        try:
            tokens = {"poll": self._poll, "ping": self._ping, "push": self._push}[flow.mode]
            await tokens(flow, deadline)
        finally:
            user.cancel()
        if flow.outcome == "running":
            flow.outcome = "lost"
        if flow.outcome == "tokens":
            flow.completed_at = obs.now()

    async def _bc_authorize(self, flow: Flow, deadline: float) -> bool:
        """Each attempt has its own binding message: an attempt that got no usable answer may
        still have created a request, which the user can then tell apart (and deny)."""
        client, _ = self.clients[flow.mode]
        for attempt in itertools.count(1):
            if self.observer.now() >= deadline:
                return False
            binding = f"chaos {flow.index} {attempt}"
            data = {"scope": "openid", "login_hint": flow.user.username, "binding_message": binding,
                    "client_notification_token": f"cnt-{flow.index}-{attempt}-{self.random.getrandbits(48)}"}
            answer = await self.caller.send("/bc-authorize", "POST", f"{self.issuer}/bc-authorize",
                                            data=data, headers=client.auth_header)
            if answer is not None and answer.status == 200 and answer.body:
                flow.auth_req_id, flow.binding = answer.body["auth_req_id"], binding
                flow.marks["authorized"] = self.observer.now()
                return True
            self.orphans.add(binding)
            if answer is not None and not retryable(answer):
                flow.detail = f"/bc-authorize {answer.status}: {answer.text[:120]}"
                return False
            await asyncio.sleep(backoff(answer, attempt))
        raise AssertionError("unreachable")

    async def _route(self, user: Account) -> None:
        queue = self.webhook.received[user.username]
        while True:
            note = await queue.get()
            self.notes[note.payload["binding_message"]].put_nowait(note)

    async def deny_orphans(self) -> None:
        """Deny the requests whose /bc-authorize answer never reached the client (a careful user
        refuses a request the screen in front of them did not ask for)."""
        for binding in self.orphans:
            queue = self.notes[binding]
            while not queue.empty():
                note = queue.get_nowait()
                user = next(u for u in self.users if u.username == note.payload["user"]["username"])
                await self._decide(note.payload["authorization_url"], user, "deny", self.observer.now() + 30)
                self.orphans_denied += 1

    async def _user_approves(self, flow: Flow, deadline: float) -> None:
        """Wait for the notification, think a moment, approve; with a newer notification when
        a link stopped working."""
        queue = self.notes[flow.binding or ""]
        note = await queue.get()
        flow.marks["notified"] = self.observer.now()
        await asyncio.sleep(self.random.uniform(1.0, 4.0))
        while self.observer.now() < deadline:
            result = await self._decide(note.payload["authorization_url"], flow.user, "approve", deadline)
            if result in ("approved", "closed"):
                flow.marks["approved"] = self.observer.now()
                return
            flow.detail = f"device pages: {result}"
            if result == "locked" or not queue.empty():  # a locked link needs a newer notification
                note = await queue.get()
            await asyncio.sleep(1)

    async def _decide(self, url: str, user: Account, decision: str, deadline: float) -> str:
        """One pass over the device pages: approved | closed | locked | <what went wrong>."""
        call = self.caller.call
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            page = await call("/device/{ref}", "GET", url, deadline=deadline, session=browser)
            for step, values in (("login", {"username": user.username, "password": user.password}),
                                 ("decision", {"decision": decision})):
                if page is None or page.status != 200 or not parse_forms(page.text):
                    return _page_result(page)
                form = parse_forms(page.text)[0]
                page = await call(f"/device/{{ref}}/{step}", "POST", f"{self.issuer}{form.action}",
                                  deadline=deadline, session=browser, data={**form.fields, **values})
        return "approved" if page is not None and page.status == 200 else _page_result(page)

    def collect_callbacks(self) -> None:
        """Count every ping and keep every push body per flow (after the load, duplicates included)."""
        by_id = {flow.auth_req_id: flow for flow in self.flows if flow.auth_req_id}
        for flow in by_id.values():
            flow.pings, flow.pushed = 0, []
        for mode in ("ping", "push"):
            for call in self.callbacks.calls[self.clients[mode][1] or ""]:
                if (flow := by_id.get(call.body.get("auth_req_id"))) is not None:
                    flow.pings += mode == "ping"
                    flow.pushed += [call.body] if mode == "push" else []


def _page_result(page: Answer | None) -> str:
    if page is None:
        return "no answer before the deadline"
    if page.status == 410:
        return "locked" if "Too many attempts" in page.text else "closed"
    return f"HTTP {page.status}"
