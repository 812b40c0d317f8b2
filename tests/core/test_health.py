"""The health and metrics endpoint, scraped over HTTP after a real job."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp

from sora_bot.infra.metrics import DISCORD_HTTP_LOGGER
from sora_bot.models import Requester, VideoOptions
from sora_bot.services import running_services
from tests.doubles import (
    RecordingDelivery,
    close_all,
    make_settings,
    raw_connect,
    raw_request,
    running_core,
    running_provider,
)

ALICE = Requester("g1", "c1", "alice")


async def test_healthz_and_metrics_scraped(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    connected = [True]
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, SORA_HEALTH_LISTEN="127.0.0.1:0") as core,
        running_services(core, gateway_connected=lambda: connected[0]) as services,
        aiohttp.ClientSession() as http,
    ):
        assert services.health is not None and services.callbacks is None
        base = f"http://127.0.0.1:{services.health.port}"
        double.inject("GET", "/v1/tasks/", 503, retry_after=0.01)
        double.fail_next_task("content_policy_violation")
        await core.jobs.submit(ALICE, VideoOptions("blocked one", remove_watermark=False))
        await core.jobs.submit(ALICE, VideoOptions("a lighthouse", remove_watermark=False))
        async with asyncio.timeout(10):
            while len(delivery.videos) + len(delivery.failures) < 2:
                await asyncio.sleep(0.02)
        logging.getLogger(DISCORD_HTTP_LOGGER).warning(
            "We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds.",
            "POST",
            "/channels/1/messages",
            1.0,
        )
        async with http.get(f"{base}/healthz") as resp:
            healthy = (resp.status, await resp.json())
        connected[0] = False
        async with http.get(f"{base}/healthz") as resp:
            unhealthy = (resp.status, await resp.json())
        async with http.get(f"{base}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    assert healthy == (
        200,
        {"status": "ok", "checks": {"gateway": True, "database": True, "provider": True}},
    )
    assert unhealthy[0] == 503 and unhealthy[1]["checks"]["gateway"] is False
    assert 'sora_jobs{state="delivered"} 1.0' in text
    assert 'sora_jobs{state="failed"} 1.0' in text
    assert 'sora_jobs{state="queued"} 0.0' in text
    assert 'sora_provider_errors_total{code="content_policy_violation",status="failed"} 1.0' in text
    assert 'sora_provider_errors_total{code="service_unavailable_error",status="503"} 1.0' in text
    assert "sora_polls_total" in text
    assert "sora_provider_credits_total 10.0" in text  # the double reserves 5 per 10-s job
    assert "sora_user_credits_settled_total 10.0" in text
    assert "sora_delivery_latency_seconds_count 1.0" in text
    assert "sora_discord_rate_limits_total 1.0" in text


async def test_health_is_off_by_default_and_localhost_when_on(tmp_path: Path) -> None:
    assert make_settings(tmp_path).health_listen is None
    on = make_settings(tmp_path, SORA_HEALTH_LISTEN="127.0.0.1:9108")
    assert on.health_listen == ("127.0.0.1", 9108)


async def test_unreachable_provider_is_unhealthy(tmp_path: Path) -> None:
    async with running_provider() as double:
        base_url = double.base_url
    # The double is gone: nothing answers at base_url.
    async with (
        running_core(
            tmp_path, base_url, RecordingDelivery(), start=False, SORA_HEALTH_LISTEN="127.0.0.1:0"
        ) as core,
        running_services(core) as services,
    ):
        assert services.health is not None
        checks = await services.health.checks()
    assert checks == {"database": True, "provider": False}


async def test_idle_connections_cannot_starve_the_health_endpoint(tmp_path: Path) -> None:
    async with (
        running_provider() as double,
        running_core(
            tmp_path, double.base_url, RecordingDelivery(), SORA_HEALTH_LISTEN="127.0.0.1:0"
        ) as core,
        running_services(core) as services,
    ):
        assert services.health is not None
        port = services.health.port
        held = [await raw_connect(port) for _ in range(32)]
        refused = await raw_connect(port)
        assert await refused.closed_within(1.0)  # today: kept open, an hour per connection
        scraper = await raw_connect(port, source="127.0.0.2")
        assert await scraper.send(raw_request("/healthz", method="GET"))
        assert await scraper.reply() == 200
        await close_all([*held, scraper])
