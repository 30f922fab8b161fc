"""ciba-gateway: every HTTP endpoint. Stateless: scale it with RP and user traffic."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from aiohttp import web

from services.gateway import tls, workers
from services.gateway.app import add_management_routes, create_app
from services.gateway.client_auth import ClientAuthenticator
from services.gateway.client_cache import ClientCache
from services.gateway.client_keys import ClientKeyStore
from services.gateway.context import Gateway
from services.gateway.device.render import Templates
from services.gateway.long_poll import RequestWaiters, descriptors_short_by
from services.gateway.mtls import CertificateSource
from services.gateway.password_checks import PasswordChecks
from services.gateway.rate_limit import RateLimiter
from services.gateway.sender_constraint import SenderConstraints
from services.gateway.stores.attempts import PostgresAttempts
from services.gateway.stores.client_auth import PostgresClientSecrets
from services.gateway.stores.clients import PostgresRegistrations
from services.gateway.stores.device import PostgresAccounts, PostgresDeviceLinks
from services.gateway.stores.devices import PostgresDevices
from services.gateway.stores.dpop import PostgresSeenProofs
from services.gateway.stores.grants import PostgresCibaRequests
from services.gateway.stores.jtis import PostgresJtis
from services.gateway.stores.requests import PostgresNewRequests
from services.gateway.stores.tokens import PostgresTokens
from services.gateway.stores.users import PostgresUsers
from shared.domain.attempts_limit import USER_CODE
from shared.domain.token_issuance import Minter
from shared.jose.keys import ensure_signing_keys, load_keyring
from shared.logging import configure_logging, get_logger
from shared.outbound import address_policy, create_session
from shared.passwords import Passwords
from shared.runtime import Runtime, load_settings, run_service, start_watchers

SERVICE = "gateway"
log = get_logger("ciba.gateway")


async def build_gateway(rt: Runtime) -> Gateway:
    async with rt.pool.acquire() as conn:
        created = await ensure_signing_keys(conn, rt.secrets, rt.clock.now())
    if created:
        log.info("signing_keys_generated", kids=created)
    keyring = await load_keyring(rt.pool, rt.secrets, rt.clock)
    keyring.attach(rt.listener)
    clients = ClientCache(rt.pool)
    clients.attach(rt.listener)
    waiters = RequestWaiters(max_held=rt.settings.long_poll_max_held)
    waiters.attach(rt.listener)
    http = create_session(ca_bundle=rt.settings.outbound_ca_bundle,
                          policy=lambda: address_policy(rt.config, development=rt.settings.development),
                          user_agent="ciba-gateway")
    checks = PasswordChecks(Passwords(rt.settings.argon2_params), threads=rt.settings.password_check_threads,
                            max_waiting=rt.settings.password_check_queue)
    minter = Minter(keyring, rt.secrets, rt.settings.issuer)
    client_keys = ClientKeyStore(http)
    jtis = PostgresJtis(rt.pool)  # client assertions and signed requests share one space per client
    certificates = CertificateSource.from_settings(rt.settings)
    client_auth = ClientAuthenticator(
        clients=clients, client_secrets=PostgresClientSecrets(rt.pool), jtis=jtis, keys=client_keys,
        secrets=rt.secrets, clock=rt.clock, issuer=rt.settings.issuer, certificates=certificates)
    sender_constraints = SenderConstraints(
        issuer=rt.settings.issuer, certificates=certificates, secrets=rt.secrets, clock=rt.clock,
        seen_proofs=PostgresSeenProofs(rt.pool))
    return Gateway(
        rt=rt, clients=clients, keyring=keyring, minter=minter, waiters=waiters, client_keys=client_keys,
        rate_limiter=RateLimiter(), http=http, password_checks=checks,
        # /bc-authorize
        new_requests=PostgresNewRequests(rt.pool, rt.service),
        users=PostgresUsers(rt.pool, lambda: rt.config.backchannelLoginHintClaims),
        user_code_attempts=PostgresAttempts(rt.pool, USER_CODE), jtis=jtis,
        # registration, introspection, revocation, device registration
        registrations=PostgresRegistrations(rt.pool), tokens=PostgresTokens(rt.pool), devices=PostgresDevices(rt.pool),
        # /token and client authentication
        client_auth=client_auth, sender_constraints=sender_constraints,
        ciba_requests=PostgresCibaRequests(rt.pool, rt.secrets, minter, rt.service),
        # the device pages
        device_links=PostgresDeviceLinks(rt.pool), device_accounts=PostgresAccounts(rt.pool),
        templates=Templates(rt.settings.templates_dir))


async def body(rt: Runtime, stop: asyncio.Event) -> None:
    ssl_context = tls.server_context(rt.settings)  # a bad certificate or key stops the start here
    # Whatever fails on the way up, what was opened is closed, in reverse order.
    async with AsyncExitStack() as opened:
        gw = await build_gateway(rt)
        opened.push_async_callback(gw.close)
        rt.start_side_task(gw.keyring.watch(rt.pool), "key-watcher")
        runner = web.AppRunner(create_app(gw), access_log=None, shutdown_timeout=10)
        await runner.setup()
        opened.push_async_callback(runner.cleanup)  # stops accepting, lets requests in flight finish
        # Only workers share the port: a lone gateway still fails when the port is taken.
        site = web.TCPSite(runner, rt.settings.http_host, rt.settings.http_port,
                           reuse_port=rt.settings.http_workers > 1, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:
            raise RuntimeError(f"cannot listen on {rt.settings.http_host}:{rt.settings.http_port}: "
                               f"{exc.strerror or exc}") from None
        await start_watchers(rt)
        await rt.serve_management(lambda app: add_management_routes(app, gw))
        short = descriptors_short_by(rt.settings.long_poll_max_held)
        if short:
            log.warning("file_descriptor_limit_low", long_poll_max_held=rt.settings.long_poll_max_held,
                        missing=short, advice="raise ulimit -n (RLIMIT_NOFILE) or lower CIBA_LONG_POLL_MAX_HELD")
        log.info("service_ready", issuer=rt.settings.issuer,
                 listen=f"{rt.settings.http_host}:{rt.settings.http_port}",
                 tls="off" if ssl_context is None else "client certificates" if rt.settings.http_tls_client_ca
                 else "on")
        await stop.wait()
        log.info("service_stopping")
        gw.stopping = True
        # Held long polls answer now (each re-reads its request) instead of being cut off.
        gw.waiters.release_all()


def main() -> None:
    settings = load_settings(SERVICE)
    if settings.http_workers == 1:
        run_service(SERVICE, body, settings)
        return
    configure_logging(SERVICE, settings.log_format, settings.log_level)
    raise SystemExit(workers.serve(settings.http_workers, lambda: run_service(SERVICE, body, settings)))


if __name__ == "__main__":
    main()
