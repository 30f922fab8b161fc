"""ciba-token-delivery: reaches the relying party in ping and push modes."""

from __future__ import annotations

import asyncio
from functools import partial

from services.token_delivery.deliver import DeliverToClient
from services.token_delivery.stores import PostgresCallbacks, PostgresPushTokens
from shared.bus.service import consume_until_stopped
from shared.domain.token_issuance import Minter
from shared.jose.keys import ensure_signing_keys, load_keyring
from shared.outbound import address_policy, create_session, post_json
from shared.runtime import Runtime, run_service

SERVICE = "token-delivery"


async def body(rt: Runtime, stop: asyncio.Event) -> None:
    async with rt.pool.acquire() as conn:
        await ensure_signing_keys(conn, rt.secrets, rt.clock.now())
    keyring = await load_keyring(rt.pool, rt.secrets, rt.clock)
    keyring.attach(rt.listener)
    rt.start_side_task(keyring.watch(rt.pool), "key-watcher")

    config = rt.current_config  # read once per message
    development = rt.settings.development
    http = create_session(ca_bundle=rt.settings.outbound_ca_bundle,
                          policy=lambda: address_policy(config(), development=development),
                          user_agent="ciba-token-delivery")
    async with http:
        minter = Minter(keyring, rt.secrets, rt.settings.issuer)
        handler = DeliverToClient(
            PostgresCallbacks(rt.pool, consumer=DeliverToClient.consumer),
            PostgresPushTokens(rt.pool, minter, service=rt.service), partial(post_json, http),
            secrets=rt.secrets, clock=rt.clock, config=config, development=development)
        await consume_until_stopped(rt, stop, handler, lambda: config().backchannelDeliveryMaxAttempts)


def main() -> None:
    run_service(SERVICE, body)


if __name__ == "__main__":
    main()
