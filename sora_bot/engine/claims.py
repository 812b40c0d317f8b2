"""Provider slots: which queued jobs may be sent now (fair order), and each one's place.

A claim moves a job from ``queued`` to ``submitting`` before its create POST, so a crash
from then on is an interrupted submit, never a second POST. Jobs this process claimed (and
their plaintext callback tokens) are remembered here until their submit step runs.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from sora_bot.engine.events import Notifier, log_transition
from sora_bot.models import Job, JobState
from sora_bot.settings import Settings
from sora_bot.storage.jobs import JobChanges, JobStore


def token_hash(token: str) -> str:
    """What the database keeps of a callback token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SlotClaims:
    """Moves queued jobs into free provider slots and tells the rest their place."""

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        notifier: Notifier,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.settings = settings
        self.notifier = notifier
        self.clock = clock
        self._claimed: set[int] = set()  # moved to "submitting" by this process
        self._tokens: dict[int, str] = {}  # plaintext, only between claim and POST
        self.positions: dict[int, int] = {}  # last queue place told to each queued job

    @property
    def queue_waiting(self) -> bool:
        """Whether jobs were waiting for a slot at the last look."""
        return bool(self.positions)

    def take_claim(self, job_id: int) -> bool:
        """Whether this process claimed the job (asked once: the submit step consumes it)."""
        if job_id in self._claimed:
            self._claimed.discard(job_id)
            return True
        return False

    def callback_url(self, job_id: int) -> str | None:
        """The URL the provider is given for this job (None: callbacks are off)."""
        token = self._tokens.get(job_id)
        base = self.settings.callback_url
        return f"{base}/{token}" if token and base else None

    def forget_token(self, job_id: int) -> None:
        """The create POST is over: the plaintext token is never needed again."""
        self._tokens.pop(job_id, None)

    async def claim(self) -> list[Job]:
        """Claim as many queued jobs as there are free slots (fair order); tell the rest."""
        queue = await self.store.fair_queue()
        if not queue:
            self.positions = {}
            return []
        free = self.settings.max_inflight_jobs - await self.store.count_in_flight()
        now = self.clock()
        claimed: list[Job] = []
        for job in queue:
            if len(claimed) >= free:
                break
            if job.next_attempt_at is not None and job.next_attempt_at > now:
                continue  # waiting out a provider retry; keeps its place
            row = await self._claim_one(job, now)
            if row is not None:
                claimed.append(row)
        taken = {job.id for job in claimed}
        await self._announce([job for job in queue if job.id not in taken])
        return claimed

    async def _claim_one(self, job: Job, now: float) -> Job | None:
        token = secrets.token_urlsafe(32) if self.settings.callback_url else None
        # Committed before the POST: a crash from here on is an interrupted submit.
        # Only the token's hash is stored; a restarted process never POSTs this job.
        changes = JobChanges(
            next_attempt_at=now,
            callback_hash=token_hash(token) if token else None,
            callback_at=None,
        )
        row = await self.store.transition(
            job.id, [JobState.QUEUED], JobState.SUBMITTING, changes, now=now
        )
        if row is None:
            return None
        self._claimed.add(job.id)
        if token:
            self._tokens[job.id] = token
        log_transition(job, JobState.SUBMITTING)
        return row

    async def _announce(self, queue: list[Job]) -> None:
        positions = {job.id: place for place, job in enumerate(queue, start=1)}
        for job in queue:
            if self.positions.get(job.id) != positions[job.id]:
                await self.notifier.tell(job, queue_position=positions[job.id])
        self.positions = positions
