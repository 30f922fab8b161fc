"""The chaos suite's load driver, the relying party's side of a flow once /bc-authorize answered:
its tokens, by /token at the interval (poll, some with long polls), after the ping (ping), or
as pushed (push); each answer recorded, what a relying party must cope with retried."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

from tests.chaos.rp_http import Answer, Caller, Observer, backoff, retryable
from tests.support.callback import CallbackServer
from tests.support.rp import CIBA_GRANT, RegisteredClient

if TYPE_CHECKING:
    from tests.chaos.flows import Flow


LONG_POLL_WAIT = 20
# Polls are spaced a little more than the interval: the server measures it between the times it
# stamped two polls, which can be closer than the times the client sent them.
POLL_MARGIN = 0.25


class TokenRetrieval:
    """How a flow of ``Load`` gets its tokens once /bc-authorize answered: a base of ``Load``,
    whose clients, caller and observer it uses."""

    issuer: str
    callbacks: CallbackServer
    caller: Caller
    observer: Observer
    clients: dict[str, tuple[RegisteredClient, str | None]]
    long_polls_held: int

    async def _poll(self, flow: Flow, deadline: float) -> None:
        """/token until tokens, never sooner than ``interval`` after the previous poll was sent,
        whatever became of it (the interval grows on slow_down)."""
        client, _ = self.clients["poll"]
        interval = 5.0
        for attempt in itertools.count():
            sent = self.observer.now()
            if sent >= deadline:
                return
            answer = await self._token(flow, client, LONG_POLL_WAIT if flow.long_poll else 0)
            pause = sent + interval + POLL_MARGIN - self.observer.now()
            if answer is None or retryable(answer):
                pause = max(pause, backoff(answer, attempt))
            elif self._took_tokens(flow, answer):
                return
            else:
                flow.detail = f"last /token answer: {answer.status} {answer.text[:80]}"
                interval += 5 if answer.body and answer.body.get("error") == "slow_down" else 0
            await asyncio.sleep(max(0.0, pause))

    async def _ping(self, flow: Flow, deadline: float) -> None:
        client, key = self.clients["ping"]
        if await self._callback(flow, key or "", deadline):
            answer = await self._token(flow, client, 0, deadline=deadline)
            if answer is not None:
                self._took_tokens(flow, answer)

    async def _push(self, flow: Flow, deadline: float) -> None:
        _, key = self.clients["push"]
        calls = await self._callback(flow, key or "", deadline)
        if calls:
            body = calls[0].body
            flow.outcome = "tokens" if "access_token" in body else f"error:{body.get('error')}"

    async def _callback(self, flow: Flow, key: str, deadline: float) -> list[Any]:
        """The calls to the client's notification endpoint for this flow, once one arrived."""
        def ours() -> list[Any]:
            return [c for c in self.callbacks.calls[key] if c.body.get("auth_req_id") == flow.auth_req_id]
        arrived = self.callbacks.arrived[key]
        try:
            async with arrived:
                await asyncio.wait_for(arrived.wait_for(lambda: bool(ours())),
                                       max(0.0, deadline - self.observer.now()))
        except TimeoutError:
            flow.detail = "no callback before the flow's deadline"
        return ours()

    async def _token(self, flow: Flow, client: RegisteredClient, wait: int, *,
                     deadline: float | None = None) -> Answer | None:
        """One /token request; with ``deadline``, retried until an answer worth acting on."""
        url = f"{self.issuer}/token"
        kwargs: dict[str, Any] = {
            "hold": wait, "data": {"grant_type": CIBA_GRANT, "auth_req_id": flow.auth_req_id or ""},
            "headers": {**client.auth_header, **({"Prefer": f"wait={wait}"} if wait else {})}}
        self.long_polls_held += bool(wait)
        try:
            if deadline is None:
                return await self.caller.send("/token", "POST", url, **kwargs)
            return await self.caller.call("/token", "POST", url, deadline=deadline, **kwargs)
        finally:
            self.long_polls_held -= bool(wait)

    def _took_tokens(self, flow: Flow, answer: Answer) -> bool:
        """Whether the flow is over: tokens, or an error a retry cannot change."""
        body = answer.body or {}
        if answer.status == 200 and "access_token" in body:
            flow.token_sets.append(body)
            flow.outcome = "tokens"
            return True
        if body.get("error") in ("authorization_pending", "slow_down"):
            return False
        flow.outcome, flow.detail = f"error:{body.get('error')}", answer.text[:200]
        return True
