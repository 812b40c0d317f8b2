"""What the engine says about a job: one log line per state change, and progress for the user."""

from __future__ import annotations

import logging

from sora_bot.engine.delivery import Delivery
from sora_bot.infra.logs import event
from sora_bot.models import Job, JobState
from sora_bot.provider.errors import AuthenticationFailed, InsufficientQuota, PermissionDenied

log = logging.getLogger("sora_bot.engine.worker")  # one logger for every job's story


def job_fields(job: Job) -> dict[str, object]:
    """The ids every job log line carries."""
    return {"job": job.id, "guild": job.guild_id, "user": job.user_id, "state": job.state}


def log_transition(
    job: Job, state: JobState, *, level: int = logging.INFO, **fields: object
) -> None:
    """One log line per state change, with who asked and the provider's view."""
    event(
        log,
        level,
        "job state",
        **{**job_fields(job), "previous": job.state, "state": state},
        **fields,
    )


def log_event(job: Job, message: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Any other line about a job (retries, refusals), with the job's ids."""
    event(log, level, message, **job_fields(job), **fields)


def operator_problem(exc: BaseException | None) -> bool:
    """Key refused, account out of credit, model not allowed: only the operator can fix it."""
    return isinstance(exc, AuthenticationFailed | InsufficientQuota | PermissionDenied)


class Notifier:
    """Tells the front end a job changed; progress display is cosmetic and never stops a job."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    async def tell(self, job: Job, *, queue_position: int | None = None) -> None:
        """Pass the job as it now is to the front end, logging (not raising) any failure."""
        try:
            await self.delivery.job_updated(job, queue_position=queue_position)
        except Exception:
            log.exception("progress update failed", extra={"fields": job_fields(job)})
