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


# Places a queued job is told as it reaches them: each of the first five, then 10, 25, 50,
# 100, 250… Moving from 812th to 811th is not news; reaching the top 500 is. (Discord gives
# a channel about five message edits per five seconds, shared by every job in it.)
FRONT = 5
MANY_NEW = 50  # new jobs past which one walk of the queue beats a count for each


def place_level(place: int) -> int:
    """The step of the place ladder a queue place is on (lower is nearer the front)."""
    if place <= FRONT:
        return place
    level, bound = FRONT, 10
    while place > bound:
        level += 1
        bound = bound * 5 // 2 if str(bound)[0] == "1" else bound * 2
    return level + 1


def ladder(upto: int) -> list[int]:
    """Every place that starts a step of the ladder, up to ``upto``."""
    places, bound = list(range(1, min(FRONT, upto) + 1)), 10
    while bound <= upto:
        places.append(bound)
        bound = bound * 5 // 2 if str(bound)[0] == "1" else bound * 2
    return places


class SlotClaims:
    """Moves queued jobs into free provider slots and tells waiting jobs their place.

    A pass costs what changed, not the length of the queue: the head of the queued-jobs
    index for the free slots, and the rows of the jobs whose place is news.
    """

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
        self.told: dict[int, int] = {}  # the place last told to each queued job
        self._newest = 0  # the newest job id the last pass saw
        self.queue_waiting = False  # whether jobs waited for a slot at the last look
        self.retry_at: float | None = None  # when a job waiting out a retry may go (slot free)

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
        queued, newest = await self.store.queue_look()
        self.retry_at = None
        if not queued:
            self.told.clear()
            self.queue_waiting = False
            self._newest = newest
            return []
        now = self.clock()
        free = self.settings.max_inflight_jobs - await self.store.count_in_flight()
        claimed: list[Job] = []
        if free > 0:
            head = await self.store.queue_head(now, free)
            claimed = await self._claim_all(head, now)
            if len(head) < free:  # the rest of the queue waits out provider retries
                self.retry_at = await self.store.next_queued_at(now)
        self.queue_waiting = True
        if claimed or newest > self._newest:
            await self._announce(len(claimed), newest)
        return claimed

    async def _claim_all(self, head: list[Job], now: float) -> list[Job]:
        """Move ``head`` to ``submitting`` in one transaction (one commit for the pass)."""
        claimed: list[tuple[Job, str | None]] = []
        async with self.store.db.transaction() as conn:
            for job in head:
                token = secrets.token_urlsafe(32) if self.settings.callback_url else None
                # Committed before the POST: a crash from here on is an interrupted submit.
                # Only the token's hash is stored; a restarted process never POSTs this job.
                changes = JobChanges(
                    next_attempt_at=now,
                    callback_hash=token_hash(token) if token else None,
                    callback_at=None,
                )
                row = await self.store.transition(
                    job.id, [JobState.QUEUED], JobState.SUBMITTING, changes, now=now, conn=conn
                )
                if row is not None:
                    claimed.append((row, token))
        for row, token in claimed:  # only once committed
            self._claimed.add(row.id)
            self.told.pop(row.id, None)
            if token:
                self._tokens[row.id] = token
            log_transition(row, JobState.SUBMITTING)
        return [row for row, _ in claimed]

    async def _announce(self, moved: int, newest: int) -> None:
        """Tell the jobs whose place is news: a new place among the first five, a new step
        of the ladder reached (the ``moved`` places behind each step can have reached it),
        or a job not told yet (queued since the last look)."""
        windows = [(1, FRONT)]
        if moved:  # every queued job was told once, so the queue is about as long as told
            windows += [
                (max(FRONT + 1, step - moved + 1), min(moved, step - FRONT))
                for step in ladder(len(self.told) + moved)
                if step > FRONT
            ]
        found = await self.store.queue_windows(windows)
        if newest > self._newest:
            many = newest - self._newest > MANY_NEW
            found += await self.store.queued_since(self._newest, many=many)
        for job, place in found:
            last = self.told.get(job.id)
            if (
                last is None
                or (place <= FRONT and place != last)
                or (place_level(place) < place_level(last))
            ):
                self.told[job.id] = place
                await self.notifier.tell(job, queue_position=place)
        self._newest = newest
