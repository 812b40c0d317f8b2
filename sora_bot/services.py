"""What runs beside the worker in a long-lived bot: callbacks, health, retention."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sora_bot.core import Core
from sora_bot.engine.callbacks import CallbackServer
from sora_bot.health import HealthServer
from sora_bot.infra.metrics import DISCORD_HTTP_LOGGER
from sora_bot.storage.retention import Retention


@dataclass
class Services:
    """The optional servers and the retention sweep, as started."""

    retention: Retention
    callbacks: CallbackServer | None = None
    health: HealthServer | None = None


@contextlib.asynccontextmanager
async def running_services(
    core: Core, *, gateway_connected: Callable[[], bool] | None = None
) -> AsyncIterator[Services]:
    """Start what the settings ask for; stop it all when the block ends."""
    settings = core.settings
    services = Services(Retention(core.store, settings, core.worker.clock))
    rate_limits = core.metrics.count_discord_rate_limits()
    try:
        if settings.callback_url:
            host, port = settings.callback_listen
            services.callbacks = CallbackServer(
                store=core.store, worker=core.worker, clock=core.worker.clock, host=host, port=port
            )
            await services.callbacks.start()
        if settings.health_listen is not None:
            host, port = settings.health_listen
            services.health = HealthServer(
                core, host=host, port=port, gateway_connected=gateway_connected
            )
            await services.health.start()
        services.retention.start()
        yield services
    finally:
        await services.retention.stop()
        for server in (services.health, services.callbacks):
            if server is not None:
                await server.stop()
        logging.getLogger(DISCORD_HTTP_LOGGER).removeHandler(rate_limits)
