"""Prometheus metrics and the provider's last answer, kept per core (never module-global)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sora_bot.models import JobState

LATENCY_BUCKETS = (30, 60, 120, 180, 240, 300, 450, 600, 900, 1800, 3600, 7200)
DISCORD_HTTP_LOGGER = "discord.http"
_RATE_LIMIT_PREFIX = "We are being rate limited."


class Metrics:
    """Counters the core updates as it works; job counts are read from the database at scrape."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.registry = CollectorRegistry()
        self.last_provider_answer: float | None = None
        self.jobs = Gauge("sora_jobs", "Jobs by state.", ["state"], registry=self.registry)
        self.provider_errors = Counter(
            "sora_provider_errors",
            "Provider errors by HTTP status (or network/failed) and code or error type.",
            ["status", "code"],
            registry=self.registry,
        )
        self.polls = Counter("sora_polls", "Provider task queries.", registry=self.registry)
        self.provider_credits = Counter(
            "sora_provider_credits",
            "Provider credits reserved by accepted tasks (usage.credits_reserved).",
            registry=self.registry,
        )
        self.user_credits = Counter(
            "sora_user_credits_settled", "User credits settled on delivery.", registry=self.registry
        )
        self.delivery_latency = Histogram(
            "sora_delivery_latency_seconds",
            "From the request to the video posted.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.discord_rate_limits = Counter(
            "sora_discord_rate_limits", "HTTP 429 answers from Discord.", registry=self.registry
        )

    # -- provider observer ------------------------------------------------------------------

    def provider_answer(self, status: int | None, code: str | None = None) -> None:
        """One provider HTTP attempt ended: ``status`` None means no answer (network)."""
        if status is not None and status < 500:
            self.last_provider_answer = self.clock()
        if status is None or status >= 400:
            self.provider_errors.labels(
                "network" if status is None else str(status), code or ""
            ).inc()

    def provider_reachable(self, within: float) -> bool:
        """Whether the provider answered (anything but a 5xx) in the last ``within`` seconds."""
        last = self.last_provider_answer
        return last is not None and self.clock() - last <= within

    # -- job events -------------------------------------------------------------------------

    def task_failed(self, code: str) -> None:
        """A provider task ended ``failed`` with this business code."""
        self.provider_errors.labels("failed", code).inc()

    def delivered(self, *, waited: float, credits: int) -> None:
        """A video was posted ``waited`` seconds after the request."""
        self.delivery_latency.observe(max(0.0, waited))
        self.user_credits.inc(credits)

    def render(self, job_counts: dict[JobState, int]) -> bytes:
        """The Prometheus text exposition, with job counts read just before."""
        for state, count in job_counts.items():
            self.jobs.labels(state.value).set(count)
        return generate_latest(self.registry)

    # -- Discord -------------------------------------------------------------------------

    def count_discord_rate_limits(self) -> logging.Handler:
        """Count discord.py's 429 log lines; returns the handler (remove it at shutdown)."""
        handler = _RateLimitCounter(self.discord_rate_limits)
        logging.getLogger(DISCORD_HTTP_LOGGER).addHandler(handler)
        return handler


class _RateLimitCounter(logging.Handler):
    """discord.py has no rate-limit hook; it logs every 429 once on ``discord.http``."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.WARNING)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith(_RATE_LIMIT_PREFIX):
            self.counter.inc()
