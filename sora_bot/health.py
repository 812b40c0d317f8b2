"""``/healthz`` and ``/metrics`` on an optional local address (``SORA_HEALTH_LISTEN``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from sora_bot.infra.listen import listen
from sora_bot.infra.logs import event

if TYPE_CHECKING:
    from sora_bot.core import Core

log = logging.getLogger(__name__)

PROVIDER_WINDOW = 600.0  # seconds: "the provider answered within the last minutes"
PROBE_EVERY = 60.0  # an idle bot probes the provider at most this often
CHECK_TIMEOUT = 10.0


class HealthServer:
    """Health checks and Prometheus metrics of one core (and the gateway, when given)."""

    def __init__(
        self,
        core: Core,
        *,
        host: str,
        port: int,
        gateway_connected: Callable[[], bool] | None = None,
    ) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.gateway_connected = gateway_connected
        self._runner: web.AppRunner | None = None
        self._last_probe = float("-inf")

    async def start(self) -> None:
        """Listen; ``port`` is updated when 0 asked for a free one."""
        app = web.Application(client_max_size=1024)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner, self.port = await listen(app, self.host, self.port)
        event(log, logging.INFO, "health endpoint listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def checks(self) -> dict[str, bool]:
        """Each check by name: gateway (when the bot runs), database, provider."""
        result: dict[str, bool] = {}
        if self.gateway_connected is not None:
            result["gateway"] = bool(self.gateway_connected())
        result["database"] = await self._database_writable()
        result["provider"] = await self._provider_reachable()
        return result

    async def _database_writable(self) -> bool:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await self.core.meta.set("health_checked_at", repr(self.core.worker.clock()))
        except Exception as exc:  # any failure is the answer, not a crash of the endpoint
            event(log, logging.WARNING, "health: database not writable", error=exc)
            return False
        return True

    async def _provider_reachable(self) -> bool:
        metrics = self.core.metrics
        if metrics.provider_reachable(PROVIDER_WINDOW):
            return True
        now = self.core.worker.clock()
        if now - self._last_probe >= PROBE_EVERY:  # idle: no job talked to it lately
            self._last_probe = now
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    await self.core.provider.check_key()
            except Exception as exc:  # the observer records any answer it did get
                event(log, logging.INFO, "health: provider probe failed", error=exc)
        return metrics.provider_reachable(PROVIDER_WINDOW)

    async def _healthz(self, _request: web.Request) -> web.Response:
        checks = await self.checks()
        healthy = all(checks.values())
        body = {"status": "ok" if healthy else "unhealthy", "checks": checks}
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        counts = await self.core.store.count_by_state()
        payload = self.core.metrics.render(counts)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
